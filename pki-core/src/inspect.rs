//! `pki inspect`: what each file holds, as `openssl x509 -text` would tell, plus which
//! certificate each key belongs to.

use crate::error::Error;
use crate::read::cert::{hex, Cert};
use crate::read::decode::{decode_opts, Decoded, Options};
use crate::read::input::{self, Read};
use crate::read::password::Password;
use serde::Serialize;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

#[derive(Debug, Serialize)]
pub struct FileReport {
    #[serde(serialize_with = "crate::lossy::path")]
    pub path: PathBuf,
    pub objects: Vec<Object>,
    /// Why (part of) the file could not be read, password-protected content included.
    pub problems: Vec<String>,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Object {
    Certificate(Box<CertReport>),
    PrivateKey(KeyReport),
    Crl(CrlReport),
    CertificateRequest(RequestReport),
    Other { what: String },
}

/// A certificate request: what it asks the CA for.
#[derive(Debug, Serialize)]
pub struct RequestReport {
    pub subject: String,
    pub key: String,
    /// The subjectAltName entries requested.
    pub requested_names: Vec<String>,
    pub signature_algorithm: String,
    /// Whether its signature verifies with the key it carries.
    pub signature_valid: bool,
    pub sha256: String,
}

#[derive(Debug, Serialize)]
pub struct CertReport {
    pub subject: String,
    pub issuer: String,
    pub serial: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    pub key: String,
    pub signature_algorithm: String,
    pub san: Vec<String>,
    pub extended_key_usage: Option<Vec<String>>,
    pub key_usage: Option<Vec<&'static str>>,
    /// `CA:TRUE, pathlen:0`, `CA:FALSE`, or absent.
    pub basic_constraints: Option<String>,
    pub subject_key_id: Option<String>,
    pub authority_key_id: Option<String>,
    /// The URIs of its cRLDistributionPoints (where its issuer's CRL for it is published).
    pub crl_distribution_points: Option<Vec<String>>,
    pub self_signed: bool,
    pub sha256: String,
}

#[derive(Debug, Serialize)]
pub struct KeyReport {
    pub format: String,
    pub algorithm: Option<String>,
    /// SHA-256 of the public key (never the private key).
    pub public_key_sha256: Option<String>,
    /// Set when rustls cannot use the key.
    pub unusable: Option<String>,
    /// Certificates among the files given that this key belongs to.
    pub matches: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct CrlReport {
    pub issuer: String,
    #[serde(with = "time::serde::rfc3339")]
    pub this_update: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_update: Option<OffsetDateTime>,
    pub number: Option<String>,
    pub revoked: usize,
    /// The key identifier of the CA that signed it (which generation, for a rotated CA).
    pub authority_key_id: Option<String>,
    /// The URIs of its IssuingDistributionPoint: it covers only certificates naming one.
    pub distribution_point: Option<Vec<String>>,
}

/// Describes each file in `paths`, opening encrypted keys and PKCS#12 files with `password`.
/// A missing file is an error; a file that cannot be parsed is a report with problems.
pub fn inspect(paths: &[PathBuf], password: Option<&Password>) -> Result<Vec<FileReport>, Error> {
    let opts = Options {
        cache: None,
        password,
    };
    let mut decoded = Vec::new();
    for path in paths {
        let read = match input::read(path)? {
            Read::Bytes { bytes, .. } => Ok(decode_opts(path, &bytes, &opts)),
            unread => Err(unread.refusal().unwrap_or_default()),
        };
        decoded.push((path.clone(), read));
    }
    let all_certs: Vec<Cert> = decoded
        .iter()
        .filter_map(|(_, d)| d.as_ref().ok())
        .flat_map(|d| d.certs.iter().cloned())
        .collect();
    Ok(decoded
        .into_iter()
        .map(|(path, d)| match d {
            Ok(d) => report(&path, d, &all_certs),
            Err(why) => problem(&path, why),
        })
        .collect())
}

fn report(path: &Path, d: Decoded, all_certs: &[Cert]) -> FileReport {
    let mut objects: Vec<(usize, Object)> = Vec::new();
    for cert in &d.certs {
        objects.push((
            cert.origin.index,
            Object::Certificate(Box::new(cert_report(cert))),
        ));
    }
    for key in &d.keys {
        let matches = all_certs
            .iter()
            .filter(|c| key.matches(c))
            .map(|c| format!("{} ({})", c.subject, c.origin))
            .collect();
        objects.push((
            key.origin.index,
            Object::PrivateKey(KeyReport {
                format: key.format.to_string(),
                algorithm: key.algorithm.as_ref().map(|a| a.to_string()),
                public_key_sha256: key.fingerprint(),
                unusable: key.signer().err().map(str::to_string),
                matches,
            }),
        ));
    }
    for crl in &d.crls {
        objects.push((
            crl.origin.index,
            Object::Crl(CrlReport {
                issuer: crl.issuer.clone(),
                this_update: crl.this_update,
                next_update: crl.next_update,
                number: crl.number.clone(),
                revoked: crl.revoked.len(),
                authority_key_id: crl.aki.as_deref().map(hex),
                distribution_point: crl.idp.as_ref().map(|idp| idp.uris.clone()),
            }),
        ));
    }
    objects.sort_by_key(|(i, _)| *i);
    let mut objects: Vec<Object> = objects.into_iter().map(|(_, o)| o).collect();
    objects.extend(d.requests.iter().map(|r| {
        Object::CertificateRequest(RequestReport {
            subject: r.subject.clone(),
            key: r.key.to_string(),
            requested_names: r.names.clone(),
            signature_algorithm: r.signature_algorithm.clone(),
            signature_valid: r.signature_valid,
            sha256: r.sha256.clone(),
        })
    }));
    objects.extend(d.others.iter().map(|what| Object::Other {
        what: what.to_string(),
    }));
    let mut problems = d.problems;
    problems.extend(d.locked);
    FileReport {
        path: path.to_path_buf(),
        objects,
        problems,
    }
}

fn problem(path: &Path, why: String) -> FileReport {
    FileReport {
        path: path.to_path_buf(),
        objects: Vec::new(),
        problems: vec![why],
    }
}

fn cert_report(c: &Cert) -> CertReport {
    CertReport {
        subject: c.subject.clone(),
        issuer: c.issuer.clone(),
        serial: c.serial.clone(),
        not_before: c.not_before,
        not_after: c.not_after,
        key: c.key.to_string(),
        signature_algorithm: c.signature.name.clone(),
        san: c.sans.clone(),
        extended_key_usage: c.eku.as_ref().map(|e| e.names.clone()),
        key_usage: c.key_usage.map(|ku| {
            let mut v = Vec::new();
            if ku.digital_signature {
                v.push("digitalSignature");
            }
            if ku.key_cert_sign {
                v.push("keyCertSign");
            }
            if ku.crl_sign {
                v.push("cRLSign");
            }
            v
        }),
        basic_constraints: c.basic_constraints.map(|(ca, len)| match (ca, len) {
            (true, Some(n)) => format!("CA:TRUE, pathlen:{n}"),
            (true, None) => "CA:TRUE".to_string(),
            (false, _) => "CA:FALSE".to_string(),
        }),
        subject_key_id: c.ski.as_deref().map(hex),
        authority_key_id: c.aki.as_deref().map(hex),
        crl_distribution_points: c.crl_distribution_points.clone(),
        self_signed: c.is_self_issued() && c.is_signed_by(c),
        sha256: c.sha256.clone(),
    }
}
