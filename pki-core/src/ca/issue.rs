//! `pki ca sign`: a device certificate for a CSR. The CSR's signature is verified and its
//! public key (and, if no device id is given, its CN) is all that is taken from it: subject,
//! names, key usages, validity and the CA flag come from the policy alone. rcgen would copy
//! CA:TRUE and extensions from a CSR into its params, so none of its params are used.

use super::index::{self, Record, Status};
use super::Ca;
use crate::error::Error;
use crate::policy::{Eku, KeyUsageBit, LeafNotAfter, Policy};
use crate::read::cert::{key_algorithm, sha256_hex};
use crate::timestamp::format;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyUsagePurpose, SanType, SerialNumber,
};
use ring::rand::{SecureRandom, SystemRandom};
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;

/// The folder of the CA that keeps a copy of every certificate issued (`<serial hex>.crt`).
pub const ISSUED: &str = "issued";

/// A certificate the CA issued.
#[derive(Debug, Clone)]
pub struct Issued {
    pub pem: String,
    pub serial: String,
    pub device_id: String,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub sha256: String,
    pub issuer: String,
    /// Set when notAfter was cut to the issuer's.
    pub truncated: bool,
}

/// Signs one CSR (DER or PEM bytes from `path`) and records it in the index.
pub fn sign_csr(
    ca: &Ca,
    path: &Path,
    csr: &[u8],
    device_id: Option<&str>,
    at: OffsetDateTime,
) -> Result<Issued, Error> {
    let mut results = sign_csrs(ca, &[(path.to_path_buf(), csr.to_vec())], device_id, at)?;
    results.remove(0)
}

/// Signs many CSRs in one go (a fleet re-issue after a rotation): the issuing key is loaded
/// once and the index written once. Each CSR gets its own result.
pub fn sign_csrs(
    ca: &Ca,
    csrs: &[(PathBuf, Vec<u8>)],
    device_id: Option<&str>,
    at: OffsetDateTime,
) -> Result<Vec<Result<Issued, Error>>, Error> {
    let generation = ca.current_issuer();
    let issuer_cert = ca.cert(generation)?;
    if at > issuer_cert.not_after {
        return Err(Error::ca(
            ca.dir.join(&generation.cert),
            format!(
                "the issuing CA expired at {}; rotate it (pki ca rotate) before signing",
                format(issuer_cert.not_after)
            ),
        ));
    }
    let key = ca.key(generation)?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem(generation)?, &key)
        .map_err(|e| Error::ca(ca.dir.join(&generation.cert), e.to_string()))?;
    let mut records = index::load(&ca.dir)?;
    let results: Vec<Result<Issued, Error>> = csrs
        .iter()
        .map(|(path, bytes)| {
            let signer = Signer {
                policy: &ca.policy,
                issuer: &issuer,
                issuer_cert: &issuer_cert,
                generation: &generation.id,
            };
            signer.sign(path, bytes, device_id, at)
        })
        .collect();
    let issued_dir = ca.dir.join(ISSUED);
    std::fs::create_dir_all(&issued_dir).map_err(|e| Error::io(&issued_dir, e))?;
    for issued in results.iter().flatten() {
        let name = format!("{}.crt", issued.serial.replace(':', ""));
        crate::store::atomic::write(&issued_dir, &name, issued.pem.as_bytes(), 0o644)
            .map_err(|e| Error::io(issued_dir.join(&name), e))?;
        records.push(Record {
            serial: issued.serial.clone(),
            device_id: issued.device_id.clone(),
            issuer: issued.issuer.clone(),
            not_before: format(issued.not_before),
            not_after: format(issued.not_after),
            sha256: issued.sha256.clone(),
            status: Status::Valid,
            revoked_at: None,
            reason: None,
        });
    }
    index::save(&ca.dir, &records)?;
    Ok(results)
}

/// The issuing CA at work, loaded once: everything signing a CSR needs, in memory. Signing
/// writes nothing (the caller records what was issued).
pub struct Signer<'a> {
    pub policy: &'a Policy,
    pub issuer: &'a Issuer<'a, &'a rcgen::KeyPair>,
    pub issuer_cert: &'a crate::read::cert::Cert,
    /// The issuing generation's id, for the index.
    pub generation: &'a str,
}

impl Signer<'_> {
    /// A certificate for the CSR in `bytes` (PEM or DER, read from `path`), or the refusal
    /// naming `path`.
    pub fn sign(
        &self,
        path: &Path,
        bytes: &[u8],
        device_id: Option<&str>,
        at: OffsetDateTime,
    ) -> Result<Issued, Error> {
        let request = read_csr(path, bytes, device_id, self.policy)?;
        issue(
            self.policy,
            &request,
            self.issuer,
            self.issuer_cert,
            self.generation,
            at,
        )
        .map_err(|why| Error::refused(path, why))
    }
}

/// What is taken from a CSR: its verified public key and the device id.
struct Request {
    spki: Vec<u8>,
    device_id: String,
}

fn read_csr(
    path: &Path,
    bytes: &[u8],
    device_id: Option<&str>,
    policy: &Policy,
) -> Result<Request, Error> {
    let der = csr_der(bytes)
        .ok_or_else(|| Error::refused(path, "not a certificate request (PEM or DER)"))?;
    let (rest, csr) = X509CertificationRequest::from_der(&der)
        .map_err(|e| Error::refused(path, format!("not a valid certificate request ({e})")))?;
    if !rest.is_empty() {
        return Err(Error::refused(
            path,
            "trailing data after the certificate request",
        ));
    }
    let spki = &csr.certification_request_info.subject_pki;
    if let Some(why) = policy.refuses_key(&key_algorithm(spki)) {
        return Err(Error::refused(path, format!("the request carries {why}")));
    }
    let algorithm = crate::read::cert::signature_algorithm(&csr.signature_algorithm.algorithm);
    if !policy.signature_algorithms.contains(&algorithm.name) {
        return Err(Error::refused(
            path,
            format!(
                "the request is signed with {}; policy '{}' accepts {}",
                algorithm.name,
                policy.name,
                policy.signature_algorithms.join(", ")
            ),
        ));
    }
    csr.verify_signature().map_err(|_| {
        Error::refused(
            path,
            "the request's signature does not verify: it was not made with the key it carries",
        )
    })?;
    let from_csr = csr
        .certification_request_info
        .subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string);
    let device_id = match (device_id, from_csr) {
        (Some(id), _) => id.to_string(),
        (None, Some(cn)) => cn,
        (None, None) => {
            return Err(Error::refused(
                path,
                "no device id: the request has no CN and --device-id was not given",
            ))
        }
    };
    check_device_id(&device_id).map_err(|why| Error::refused(path, why))?;
    Ok(Request {
        spki: spki.raw.to_vec(),
        device_id,
    })
}

fn csr_der(bytes: &[u8]) -> Option<Vec<u8>> {
    use rustls_pki_types::pem::{self, SectionKind};
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if bytes.windows(11).any(|w| w == b"-----BEGIN ") {
        let mut reader = std::io::Cursor::new(bytes);
        while let Ok(Some((kind, der))) = pem::from_buf(&mut reader) {
            if kind == SectionKind::Csr {
                return Some(der);
            }
        }
        None
    } else {
        (bytes.first() == Some(&0x30)).then(|| bytes.to_vec())
    }
}

/// A device id becomes a DNS label and a URI: letters, digits, '-', '_' and '.', 1 to 64.
pub fn check_device_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(format!("'{id}' is not a device id (1-64 of A-Z a-z 0-9 . _ -, starting with a letter or digit)"))
    }
}

fn issue(
    policy: &Policy,
    request: &Request,
    issuer: &Issuer<'_, &rcgen::KeyPair>,
    issuer_cert: &crate::read::cert::Cert,
    issuer_id: &str,
    at: OffsetDateTime,
) -> Result<Issued, String> {
    let id = &request.device_id;
    let not_before = at - Duration::minutes(policy.backdate_minutes.into());
    let mut not_after = at + Duration::days(policy.lifetime_days.into());
    let mut truncated = false;
    if not_after > issuer_cert.not_after {
        match policy.leaf_not_after {
            LeafNotAfter::Truncate => {
                not_after = issuer_cert.not_after;
                truncated = true;
            }
            LeafNotAfter::Refuse => {
                return Err(format!(
                    "the certificate would outlive its issuing CA ({}); policy '{}' refuses (leaf_not_after: refuse)",
                    format(issuer_cert.not_after),
                    policy.name
                ))
            }
        }
    }
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    if let Some(org) = &policy.subject.organization {
        dn.push(DnType::OrganizationName, Policy::fill(org, id));
    }
    dn.push(
        DnType::CommonName,
        Policy::fill(&policy.subject.common_name, id),
    );
    p.distinguished_name = dn;
    for dns in &policy.san.dns {
        let name = Policy::fill(dns, id);
        p.subject_alt_names.push(SanType::DnsName(
            name.clone()
                .try_into()
                .map_err(|_| format!("'{name}' is not a DNS name"))?,
        ));
    }
    for uri in &policy.san.uri {
        let name = Policy::fill(uri, id);
        p.subject_alt_names.push(SanType::URI(
            name.clone()
                .try_into()
                .map_err(|_| format!("'{name}' is not a URI"))?,
        ));
    }
    p.is_ca = IsCa::ExplicitNoCa;
    p.key_usages = policy
        .key_usage
        .iter()
        .map(|k| match k {
            KeyUsageBit::DigitalSignature => KeyUsagePurpose::DigitalSignature,
            KeyUsageBit::KeyEncipherment => KeyUsagePurpose::KeyEncipherment,
            KeyUsageBit::KeyAgreement => KeyUsagePurpose::KeyAgreement,
        })
        .collect();
    p.extended_key_usages = policy
        .extended_key_usage
        .iter()
        .map(|e| match e {
            Eku::ClientAuth => ExtendedKeyUsagePurpose::ClientAuth,
            Eku::ServerAuth => ExtendedKeyUsagePurpose::ServerAuth,
        })
        .collect();
    p.not_before = not_before;
    p.not_after = not_after;
    let serial = random_serial()?;
    p.serial_number = Some(serial.clone());
    p.use_authority_key_identifier_extension = true;
    p.key_identifier_method = rcgen::KeyIdMethod::Sha256;
    let public = rcgen::SubjectPublicKeyInfo::from_der(&request.spki)
        .map_err(|e| format!("the request's key cannot be used ({e})"))?;
    let cert = p
        .signed_by(&public, issuer)
        .map_err(|e| format!("signing failed ({e})"))?;
    Ok(Issued {
        pem: cert.pem(),
        serial: crate::read::cert::colon_hex(&serial.to_bytes()),
        device_id: id.clone(),
        not_before,
        not_after,
        sha256: sha256_hex(cert.der()),
        issuer: issuer_id.to_string(),
        truncated,
    })
}

/// 16 random bytes, positive and without a leading zero byte: 126 bits of entropy, never
/// derived from the key (a renewal with the same key gets a new serial).
pub(crate) fn random_serial() -> Result<SerialNumber, String> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| "the system has no entropy source for serial numbers".to_string())?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}
