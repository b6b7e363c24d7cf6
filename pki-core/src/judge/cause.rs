//! The one place where rustls' and webpki's errors become this toolkit's vocabulary, as
//! rustls' own `pki_error()` does for webpki. What comes out is the *kind* of failure; the
//! explanation (which certificate, which file, why) is [`crate::judge::explain`]'s work.

use rustls::{CertRevocationListError, CertificateError, Error as RustlsError};

/// Why rustls rejected a chain, in the contract's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// A certificate on the path (the leaf, or an intermediate) is past notAfter.
    Expired,
    /// A certificate on the path is before notBefore.
    NotYetValid,
    /// No path to a trust anchor: a missing issuer, an untrusted root, a replaced CA.
    UnknownIssuer,
    /// A signature on the path does not verify.
    BadSignature,
    /// A signature or key algorithm webpki does not support (SHA-1, RSA < 2048, P-521, …).
    UnsupportedAlgorithm(String),
    /// The extended key usage does not allow the purpose.
    WrongEku(String),
    Revoked,
    NameMismatch(String),
    NameConstraint,
    PathLen(String),
    /// webpki's budget for building a path (signature checks, path-building calls) was spent
    /// before a path was found: too many candidate issuers at hand, or a loop.
    PathBuilding(String),
    /// A certificate used as an issuer is not a CA.
    NotACa,
    /// The certificate judged is a CA certificate.
    CaAsLeaf,
    /// Parseable, but invalid for the validator; the detail says how.
    Malformed(String),
    /// A CRL could not be used; `bad_signature` when its signature failed.
    Crl {
        detail: String,
        bad_signature: bool,
    },
    /// Anything else rustls said, verbatim.
    Other(String),
}

/// Maps rustls' error for a rejected chain to its [`Cause`].
pub fn cause(err: &RustlsError) -> Cause {
    match err {
        RustlsError::InvalidCertificate(e) => certificate_error(e),
        RustlsError::InvalidCertRevocationList(e) => Cause::Crl {
            detail: format!("{e:?}"),
            bad_signature: matches!(e, CertRevocationListError::BadSignature),
        },
        other => Cause::Other(other.to_string()),
    }
}

fn certificate_error(e: &CertificateError) -> Cause {
    use CertificateError::*;
    match e {
        Expired | ExpiredContext { .. } => Cause::Expired,
        NotValidYet | NotValidYetContext { .. } => Cause::NotYetValid,
        UnknownIssuer => Cause::UnknownIssuer,
        BadSignature => Cause::BadSignature,
        #[allow(deprecated)]
        UnsupportedSignatureAlgorithm => Cause::UnsupportedAlgorithm(String::new()),
        UnsupportedSignatureAlgorithmContext {
            signature_algorithm_id,
            ..
        } => Cause::UnsupportedAlgorithm(format!(
            "signature algorithm {} is not supported",
            algorithm_name(signature_algorithm_id)
        )),
        UnsupportedSignatureAlgorithmForPublicKeyContext {
            signature_algorithm_id,
            ..
        } => Cause::UnsupportedAlgorithm(format!(
            "signature algorithm {} is not supported for the issuer's key",
            algorithm_name(signature_algorithm_id)
        )),
        InvalidPurpose => Cause::WrongEku(String::new()),
        // rustls' list of the purposes presented misreads OID arcs of 128 and more (an arc of
        // 99999 comes out as 396575): the explanation names them from the certificate itself
        InvalidPurposeContext { required, .. } => {
            Cause::WrongEku(format!("rustls requires {}", purpose_name(required)))
        }
        Revoked => Cause::Revoked,
        NotValidForName => Cause::NameMismatch(String::new()),
        NotValidForNameContext {
            expected,
            presented,
        } => Cause::NameMismatch(format!(
            "expected {}, the certificate names {}",
            expected.to_str(),
            if presented.is_empty() {
                "nothing usable".to_string()
            } else {
                presented.join(", ")
            }
        )),
        BadEncoding => Cause::Malformed("the certificate's DER encoding is invalid".to_string()),
        UnhandledCriticalExtension => {
            Cause::Malformed("an unsupported critical extension".to_string())
        }
        Other(other) => match other.0.downcast_ref::<webpki::Error>() {
            Some(w) => webpki_error(w),
            None => Cause::Other(other.to_string()),
        },
        other => Cause::Other(format!("{other:?}")),
    }
}

/// The webpki errors rustls passes through as `CertificateError::Other`.
fn webpki_error(e: &webpki::Error) -> Cause {
    use webpki::Error::*;
    match e {
        NameConstraintViolation => Cause::NameConstraint,
        PathLenConstraintViolated => {
            Cause::PathLen("a CA's pathLenConstraint is exceeded".to_string())
        }
        MaximumPathDepthExceeded => {
            Cause::PathLen("the chain is longer than webpki's maximum depth".to_string())
        }
        EndEntityUsedAsCa => Cause::NotACa,
        CaUsedAsEndEntity => Cause::CaAsLeaf,
        CertDistrusted => Cause::Other("the certificate is distrusted".to_string()),
        UnsupportedCriticalExtension => {
            Cause::Malformed("an unsupported critical extension".to_string())
        }
        EmptyEkuExtension => Cause::WrongEku("the extendedKeyUsage extension is empty".into()),
        MaximumSignatureChecksExceeded => {
            Cause::PathBuilding("webpki stops after 100 signature checks".to_string())
        }
        MaximumPathBuildCallsExceeded => {
            Cause::PathBuilding("webpki stops after 200,000 path-building steps".to_string())
        }
        other => Cause::Malformed(format!("webpki: {other:?}")),
    }
}

/// A key purpose by its name, or its dotted OID (rustls displays other purposes as
/// comma-separated arcs: "2, 5, 29, 37, 0").
fn purpose_name(p: &rustls::ExtendedKeyPurpose) -> String {
    match p {
        rustls::ExtendedKeyPurpose::ClientAuth => "clientAuth".to_string(),
        rustls::ExtendedKeyPurpose::ServerAuth => "serverAuth".to_string(),
        rustls::ExtendedKeyPurpose::Other(arcs) => {
            let dotted = arcs
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(".");
            match crate::read::cert::eku_name(&dotted) {
                name if name == dotted => dotted,
                name => format!("{name} ({dotted})"),
            }
        }
    }
}

/// A readable name for a DER AlgorithmIdentifier's content, as rustls reports it.
fn algorithm_name(der: &[u8]) -> String {
    // rustls gives the AlgorithmIdentifier contents (OID TLV + parameters).
    if der.len() > 2 && der[0] == 0x06 {
        let len = der[1] as usize;
        if let Some(body) = der.get(2..2 + len) {
            let oid = x509_parser::der_parser::oid::Oid::new(body.into()).to_id_string();
            return match oid.as_str() {
                "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption".into(),
                "1.2.840.10045.4.1" => "ecdsa-with-SHA1".into(),
                "1.2.840.113549.1.1.4" => "md5WithRSAEncryption".into(),
                "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512".into(),
                _ => oid,
            };
        }
    }
    "(unknown)".to_string()
}
