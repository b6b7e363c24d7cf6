//! A certificate as read from a file: its DER, where it came from, and the facts every later
//! decision needs, extracted once so that nothing downstream parses it again.

use crate::origin::Origin;
use crate::read::rfc5280::{find_defects, Role};
use rustls_pki_types::CertificateDer;
use std::sync::Arc;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::oid_registry as oids;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;
use x509_parser::x509::SubjectPublicKeyInfo;

/// A certificate read from a file: where it came from and what it says. What it says is shared
/// (`Arc`), so one CA certificate read from a thousand stores is parsed once (see [`Parsed`]).
#[derive(Debug, Clone)]
pub struct Cert {
    pub origin: Origin,
    parsed: Arc<Parsed>,
}

impl std::ops::Deref for Cert {
    type Target = Parsed;

    fn deref(&self) -> &Parsed {
        &self.parsed
    }
}

/// The facts the judging code reads, extracted once from the DER.
#[derive(Debug)]
pub struct Parsed {
    pub der: CertificateDer<'static>,
    pub subject: String,
    pub issuer: String,
    pub subject_raw: Vec<u8>,
    pub issuer_raw: Vec<u8>,
    /// Colon-separated hex of the serial's DER content bytes, as `openssl x509 -serial` prints.
    pub serial: String,
    pub serial_raw: Vec<u8>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub version: u32,
    /// The basicConstraints extension, if present: (cA, pathLenConstraint).
    pub basic_constraints: Option<(bool, Option<u32>)>,
    /// keyUsage bits, if the extension is present.
    pub key_usage: Option<KeyUsage>,
    /// extendedKeyUsage, if the extension is present.
    pub eku: Option<Eku>,
    pub ski: Option<Vec<u8>>,
    pub aki: Option<Vec<u8>>,
    pub sans: Vec<String>,
    pub dns_names: Vec<String>,
    /// The nameConstraints extension (RFC 5280 4.2.1.10), if present.
    pub name_constraints: Option<NameConstraints>,
    /// The cRLDistributionPoints extension (RFC 5280 4.2.1.13), if present: the URIs of its
    /// distribution points that name the CRL by full name, without cRLIssuer or reasons (the
    /// only ones webpki matches against a CRL's IssuingDistributionPoint). `None`: the
    /// certificate has no such extension (issued before the CA partitioned its CRLs).
    pub crl_distribution_points: Option<Vec<String>>,
    pub spki: Vec<u8>,
    pub key: KeyAlgorithm,
    pub signature: SignatureAlgorithm,
    pub sha256: String,
    /// RFC 5280 defects in each role (`rfc5280::Role::ALL`), worked out during the parse.
    pub(crate) defects: [Vec<String>; 4],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyUsage {
    pub digital_signature: bool,
    pub key_cert_sign: bool,
    pub crl_sign: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eku {
    pub client_auth: bool,
    pub server_auth: bool,
    pub any: bool,
    pub names: Vec<String>,
}

/// A CA's nameConstraints: the subtrees names below it must fall in (permitted) or outside
/// (excluded).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NameConstraints {
    pub permitted: Vec<Subtree>,
    pub excluded: Vec<Subtree>,
}

/// One subtree of a name constraint, by the kind of name it constrains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subtree {
    Dns(String),
    /// An address and its mask (4 + 4 or 16 + 16 bytes).
    Ip {
        addr: Vec<u8>,
        mask: Vec<u8>,
    },
    Uri(String),
    DirectoryName(String),
    /// Any other kind (rfc822Name, otherName, …), as `kind:value`.
    Other(String),
}

impl Subtree {
    fn of(name: &GeneralName<'_>) -> Subtree {
        match name {
            GeneralName::DNSName(d) => Subtree::Dns(d.to_string()),
            GeneralName::IPAddress(b) if b.len() == 8 || b.len() == 32 => {
                let half = b.len() / 2;
                Subtree::Ip {
                    addr: b[..half].to_vec(),
                    mask: b[half..].to_vec(),
                }
            }
            GeneralName::URI(u) => Subtree::Uri(u.to_string()),
            GeneralName::DirectoryName(dn) => Subtree::DirectoryName(dn.to_string()),
            other => Subtree::Other(general_name(other)),
        }
    }
}

impl std::fmt::Display for Subtree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Subtree::Dns(d) => write!(f, "DNS:{d}"),
            Subtree::Ip { addr, mask } => {
                let bits: u32 = mask.iter().map(|b| b.count_ones()).sum();
                match general_name(&GeneralName::IPAddress(addr)).strip_prefix("IP:") {
                    Some(ip) => write!(f, "IP:{ip}/{bits}"),
                    None => write!(f, "IP:{}/{bits}", colon_hex(addr)),
                }
            }
            Subtree::Uri(u) => write!(f, "URI:{u}"),
            Subtree::DirectoryName(dn) => write!(f, "DirName:{dn}"),
            Subtree::Other(o) => f.write_str(o),
        }
    }
}

/// The name of an extended key usage purpose given as a dotted OID, with the OID for the
/// purposes without a short name ("anyExtendedKeyUsage (2.5.29.37.0)"), never rustls'
/// comma-separated arcs.
pub fn eku_name(dotted: &str) -> String {
    let name = match dotted {
        "1.3.6.1.5.5.7.3.1" => "serverAuth",
        "1.3.6.1.5.5.7.3.2" => "clientAuth",
        "1.3.6.1.5.5.7.3.3" => "codeSigning",
        "1.3.6.1.5.5.7.3.4" => "emailProtection",
        "1.3.6.1.5.5.7.3.8" => "timeStamping",
        "1.3.6.1.5.5.7.3.9" => "OCSPSigning",
        "2.5.29.37.0" => "anyExtendedKeyUsage",
        other => return other.to_string(),
    };
    name.to_string()
}

/// A public key's algorithm and size, as far as judging needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyAlgorithm {
    Rsa { bits: usize },
    Ec { curve: &'static str, bits: usize },
    Ed25519,
    Other(String),
}

impl KeyAlgorithm {
    /// Why rustls (ring provider) cannot use a key of this algorithm, if it cannot.
    pub fn weakness(&self) -> Option<String> {
        match self {
            KeyAlgorithm::Rsa { bits } if *bits < 2048 => Some(format!(
                "an RSA key of {bits} bits (rustls with ring needs at least 2048)"
            )),
            KeyAlgorithm::Ec { curve, .. } if *curve != "P-256" && *curve != "P-384" => Some(
                format!("an EC key on {curve} (rustls with ring supports P-256 and P-384)"),
            ),
            KeyAlgorithm::Other(name) => Some(format!(
                "{} {name} key (rustls with ring uses ECDSA P-256 and P-384, Ed25519 and RSA of 2048 bits or more)",
                article(name)
            )),
            _ => None,
        }
    }
}

/// "a" or "an", as the name is spoken ("an Ed448 key", "an RSA-PSS key", "a DSA key").
fn article(name: &str) -> &'static str {
    let spoken_vowel = name.starts_with(|c: char| "AEIOaeiou".contains(c))
        || ["RSA", "ML-", "SM2", "X25519", "X448", "EC "]
            .iter()
            .any(|p| name.starts_with(p));
    if spoken_vowel {
        "an"
    } else {
        "a"
    }
}

impl std::fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyAlgorithm::Rsa { bits } => write!(f, "RSA {bits}"),
            KeyAlgorithm::Ec { curve, .. } => write!(f, "ECDSA {curve}"),
            KeyAlgorithm::Ed25519 => f.write_str("Ed25519"),
            KeyAlgorithm::Other(name) => f.write_str(name),
        }
    }
}

/// The algorithm a certificate is signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureAlgorithm {
    pub name: String,
    /// SHA-1, MD5 or DSA: refused by rustls/webpki.
    pub weak: bool,
}

impl Cert {
    /// Parses a DER certificate; the error says what is wrong with it.
    pub fn from_der(der: Vec<u8>, origin: Origin) -> Result<Cert, String> {
        Ok(Cert {
            origin,
            parsed: Arc::new(Parsed::from_der(der)?),
        })
    }

    /// The same certificate found at another place (no parsing).
    pub fn with_origin(&self, origin: Origin) -> Cert {
        Cert {
            origin,
            parsed: Arc::clone(&self.parsed),
        }
    }

    /// `subject (serial S, file F)`: how findings name a certificate.
    pub fn describe(&self) -> String {
        format!(
            "'{}' (serial {}, {})",
            self.subject, self.serial, self.origin
        )
    }
}

impl Parsed {
    fn from_der(der: Vec<u8>) -> Result<Parsed, String> {
        let facts = {
            let (rest, x509) = X509Certificate::from_der(&der)
                .map_err(|e| format!("not a valid X.509 certificate ({})", der_problem(&e)))?;
            if !rest.is_empty() {
                return Err(format!(
                    "{} bytes of trailing data after the certificate",
                    rest.len()
                ));
            }
            let mut facts = Self::facts(&x509);
            facts.defects = Role::ALL.map(|role| find_defects(&facts, &x509, role));
            facts
        };
        Ok(Parsed {
            der: CertificateDer::from(der),
            ..facts
        })
    }

    fn facts(x509: &X509Certificate<'_>) -> Parsed {
        let validity = x509.validity();
        let mut cert = Parsed {
            der: CertificateDer::from(Vec::new()),
            subject: display_name(x509.subject()),
            issuer: display_name(x509.issuer()),
            subject_raw: x509.subject().as_raw().to_vec(),
            issuer_raw: x509.issuer().as_raw().to_vec(),
            serial: colon_hex(x509.raw_serial()),
            serial_raw: x509.raw_serial().to_vec(),
            not_before: validity.not_before.to_datetime(),
            not_after: validity.not_after.to_datetime(),
            version: x509.version().0 + 1,
            basic_constraints: None,
            key_usage: None,
            eku: None,
            ski: None,
            aki: None,
            sans: Vec::new(),
            dns_names: Vec::new(),
            name_constraints: None,
            crl_distribution_points: None,
            spki: x509.public_key().raw.to_vec(),
            key: key_algorithm(x509.public_key()),
            signature: signature_algorithm(&x509.signature_algorithm.algorithm),
            sha256: sha256_hex(x509.as_raw()),
            defects: Default::default(),
        };
        for ext in x509.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::BasicConstraints(bc) => {
                    cert.basic_constraints = Some((bc.ca, bc.path_len_constraint))
                }
                ParsedExtension::KeyUsage(ku) => {
                    cert.key_usage = Some(KeyUsage {
                        digital_signature: ku.digital_signature(),
                        key_cert_sign: ku.key_cert_sign(),
                        crl_sign: ku.crl_sign(),
                    })
                }
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    let mut names = Vec::new();
                    for (on, name) in [
                        (eku.server_auth, "serverAuth"),
                        (eku.client_auth, "clientAuth"),
                        (eku.code_signing, "codeSigning"),
                        (eku.email_protection, "emailProtection"),
                        (eku.time_stamping, "timeStamping"),
                        (eku.ocsp_signing, "OCSPSigning"),
                        (eku.any, "anyExtendedKeyUsage"),
                    ] {
                        if on {
                            names.push(name.to_string());
                        }
                    }
                    names.extend(eku.other.iter().map(|oid| eku_name(&oid.to_id_string())));
                    cert.eku = Some(Eku {
                        client_auth: eku.client_auth,
                        server_auth: eku.server_auth,
                        any: eku.any,
                        names,
                    });
                }
                ParsedExtension::SubjectKeyIdentifier(ki) => cert.ski = Some(ki.0.to_vec()),
                ParsedExtension::AuthorityKeyIdentifier(aki) => {
                    cert.aki = aki.key_identifier.as_ref().map(|ki| ki.0.to_vec())
                }
                ParsedExtension::SubjectAlternativeName(san) => {
                    for name in &san.general_names {
                        if let GeneralName::DNSName(dns) = name {
                            cert.dns_names.push(dns.to_string());
                        }
                        cert.sans.push(general_name(name));
                    }
                }
                ParsedExtension::NameConstraints(nc) => {
                    let subtrees =
                        |s: &Option<Vec<x509_parser::extensions::GeneralSubtree<'_>>>| {
                            s.iter().flatten().map(|t| Subtree::of(&t.base)).collect()
                        };
                    cert.name_constraints = Some(NameConstraints {
                        permitted: subtrees(&nc.permitted_subtrees),
                        excluded: subtrees(&nc.excluded_subtrees),
                    });
                }
                ParsedExtension::CRLDistributionPoints(points) => {
                    cert.crl_distribution_points = Some(
                        points
                            .iter()
                            .filter(|p| p.crl_issuer.is_none() && p.reasons.is_none())
                            .filter_map(|p| match &p.distribution_point {
                                Some(DistributionPointName::FullName(names)) => Some(names),
                                _ => None,
                            })
                            .flatten()
                            .filter_map(|n| match n {
                                GeneralName::URI(uri) => Some(uri.to_string()),
                                _ => None,
                            })
                            .collect(),
                    )
                }
                _ => {}
            }
        }
        cert
    }

    /// The certificate as PEM.
    pub fn der_pem(&self) -> Vec<u8> {
        crate::read::decode::encode_pem("CERTIFICATE", &self.der).into_bytes()
    }

    /// A CA certificate: basicConstraints with cA set.
    pub fn is_ca(&self) -> bool {
        matches!(self.basic_constraints, Some((true, _)))
    }

    pub fn is_self_issued(&self) -> bool {
        self.subject_raw == self.issuer_raw
    }

    /// Whether `at` falls inside notBefore..=notAfter.
    pub fn is_valid_at(&self, at: OffsetDateTime) -> bool {
        self.not_before <= at && at <= self.not_after
    }

    /// The subject's first common name, or the whole subject.
    pub fn common_name(&self) -> String {
        common_name_of(&self.subject).to_string()
    }

    /// Whether `issuer` could have issued this certificate by name and key identifier (no
    /// signature check).
    pub fn names_issuer(&self, issuer: &Cert) -> bool {
        self.issuer_raw == issuer.subject_raw
            && match (&self.aki, &issuer.ski) {
                (Some(aki), Some(ski)) => aki == ski,
                _ => true,
            }
    }

    /// The RSA modulus of the certificate's key, without leading zeros (for matching RSA keys
    /// that ring refuses to load).
    pub fn rsa_modulus(&self) -> Option<Vec<u8>> {
        let (_, spki) = SubjectPublicKeyInfo::from_der(&self.spki).ok()?;
        match spki.parsed().ok()? {
            PublicKey::RSA(rsa) => Some(strip_zeros(rsa.modulus).to_vec()),
            _ => None,
        }
    }

    /// Checks this certificate's signature against `issuer`'s public key.
    pub fn is_signed_by(&self, issuer: &Cert) -> bool {
        let (Ok((_, child)), Ok((_, parent))) = (
            X509Certificate::from_der(&self.der),
            X509Certificate::from_der(&issuer.der),
        ) else {
            return false;
        };
        child.verify_signature(Some(parent.public_key())).is_ok()
    }
}

pub(crate) fn display_name(name: &x509_parser::x509::X509Name<'_>) -> String {
    let text = name.to_string();
    if text.is_empty() {
        "(empty name)".to_string()
    } else {
        text
    }
}

pub(crate) fn general_name(name: &GeneralName<'_>) -> String {
    match name {
        GeneralName::DNSName(dns) => format!("DNS:{dns}"),
        GeneralName::URI(uri) => format!("URI:{uri}"),
        GeneralName::RFC822Name(mail) => format!("email:{mail}"),
        GeneralName::IPAddress(bytes) => match bytes.len() {
            4 => format!(
                "IP:{}",
                std::net::Ipv4Addr::from([bytes[0], bytes[1], bytes[2], bytes[3]])
            ),
            16 => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(bytes);
                format!("IP:{}", std::net::Ipv6Addr::from(octets))
            }
            _ => format!("IP:{}", colon_hex(bytes)),
        },
        GeneralName::DirectoryName(dn) => format!("DirName:{dn}"),
        GeneralName::OtherName(oid, _) => format!("otherName:{}", oid.to_id_string()),
        GeneralName::RegisteredID(oid) => format!("registeredID:{}", oid.to_id_string()),
        other => format!("{other:?}"),
    }
}

/// What a parse error means, for people: the parser's own text (`Der(UnexpectedTag {
/// expected: Some(Tag(16)) … })`) says nothing to a helpdesk.
pub(crate) fn der_problem(
    e: &x509_parser::nom::Err<x509_parser::error::X509Error>,
) -> &'static str {
    use x509_parser::der_parser::error::BerError;
    use x509_parser::error::X509Error;
    match e {
        x509_parser::nom::Err::Incomplete(_) => "the data ends early: truncated",
        x509_parser::nom::Err::Error(e) | x509_parser::nom::Err::Failure(e) => match e {
            X509Error::Der(BerError::Incomplete(_))
            | X509Error::NomError(x509_parser::nom::error::ErrorKind::Eof) => {
                "the data ends early: truncated"
            }
            X509Error::Der(BerError::UnexpectedTag { .. } | BerError::UnexpectedClass { .. }) => {
                "its structure is not the one expected: damaged, or another kind of object"
            }
            X509Error::InvalidDate => "a date in it is invalid",
            X509Error::InvalidSerial => "its serial number is invalid",
            X509Error::InvalidExtensions => "an extension in it is malformed",
            X509Error::InvalidSignatureValue => "its signature value is malformed",
            X509Error::InvalidVersion => "its version field is invalid",
            _ => "malformed DER",
        },
    }
}

/// The algorithm and size of a SubjectPublicKeyInfo.
pub(crate) fn key_algorithm(spki: &SubjectPublicKeyInfo<'_>) -> KeyAlgorithm {
    let alg = &spki.algorithm.algorithm;
    if *alg == oids::OID_PKCS1_RSAENCRYPTION || *alg == oids::OID_PKCS1_RSASSAPSS {
        let bits = match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => bit_length(strip_zeros(rsa.modulus)),
            _ => 0,
        };
        KeyAlgorithm::Rsa { bits }
    } else if *alg == oids::OID_KEY_TYPE_EC_PUBLIC_KEY {
        match spki.algorithm.parameters.as_ref() {
            Some(p) => match p.as_oid() {
                Ok(curve) => crate::read::key_algorithm::ec_curve(&curve),
                Err(_) => KeyAlgorithm::Other("EC (explicit curve parameters)".to_string()),
            },
            None => KeyAlgorithm::Other("EC without a curve".to_string()),
        }
    } else if *alg == oids::OID_SIG_ED25519 {
        KeyAlgorithm::Ed25519
    } else {
        KeyAlgorithm::Other(
            crate::read::key_algorithm::other_algorithm(alg)
                .map_or_else(|| alg.to_id_string(), str::to_string),
        )
    }
}

/// The name and weakness of a signature algorithm OID.
pub(crate) fn signature_algorithm(
    oid: &x509_parser::der_parser::oid::Oid<'_>,
) -> SignatureAlgorithm {
    let known: &[(&x509_parser::der_parser::oid::Oid<'_>, &str, bool)] = &[
        (
            &oids::OID_PKCS1_SHA256WITHRSA,
            "sha256WithRSAEncryption",
            false,
        ),
        (
            &oids::OID_PKCS1_SHA384WITHRSA,
            "sha384WithRSAEncryption",
            false,
        ),
        (
            &oids::OID_PKCS1_SHA512WITHRSA,
            "sha512WithRSAEncryption",
            false,
        ),
        (&oids::OID_PKCS1_RSASSAPSS, "RSASSA-PSS", false),
        (&oids::OID_SIG_ECDSA_WITH_SHA256, "ecdsa-with-SHA256", false),
        (&oids::OID_SIG_ECDSA_WITH_SHA384, "ecdsa-with-SHA384", false),
        (&oids::OID_SIG_ECDSA_WITH_SHA512, "ecdsa-with-SHA512", false),
        (&oids::OID_SIG_ED25519, "Ed25519", false),
        (&oids::OID_PKCS1_SHA1WITHRSA, "sha1WithRSAEncryption", true),
        (&oids::OID_SHA1_WITH_RSA, "sha1WithRSA", true),
        (&oids::OID_PKCS1_MD5WITHRSAENC, "md5WithRSAEncryption", true),
        (&oids::OID_SIG_DSA_WITH_SHA1, "dsa-with-SHA1", true),
        (
            &oids::OID_PKCS1_SHA224WITHRSA,
            "sha224WithRSAEncryption",
            true,
        ),
        (&oids::OID_SIG_ECDSA_WITH_SHA224, "ecdsa-with-SHA224", true),
    ];
    let ecdsa_sha1 = x509_parser::der_parser::oid!(1.2.840 .10045 .4 .1);
    if *oid == ecdsa_sha1 {
        return SignatureAlgorithm {
            name: "ecdsa-with-SHA1".to_string(),
            weak: true,
        };
    }
    known
        .iter()
        .find(|(known, _, _)| *known == oid)
        .map(|(_, name, weak)| SignatureAlgorithm {
            name: name.to_string(),
            weak: *weak,
        })
        .unwrap_or_else(|| SignatureAlgorithm {
            name: oid.to_id_string(),
            weak: true,
        })
}

/// Lower-case hex of the SHA-256 digest of `bytes`.
/// The first CN of a name as this module displays it (`O=…, CN=…`), or the whole name.
pub fn common_name_of(name: &str) -> &str {
    name.split(", ")
        .find_map(|part| part.strip_prefix("CN="))
        .unwrap_or(name)
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

pub(crate) fn colon_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut s = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

/// The length in bits of a big-endian unsigned integer without leading zero bytes.
pub(crate) fn bit_length(n: &[u8]) -> usize {
    match n.first() {
        Some(first) => n.len() * 8 - first.leading_zeros() as usize,
        None => 0,
    }
}

pub(crate) fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_forms_are_those_of_sha256sum_and_openssl() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(colon_hex(&[0x00, 0x0f, 0xa5, 0xff]), "00:0F:A5:FF");
        assert_eq!(colon_hex(&[0x7b]), "7B");
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
