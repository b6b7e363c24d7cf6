//! `pki ca sign`: a device certificate for a CSR. The CSR's signature is verified and its
//! public key (and, if no device id is given, its CN) is all that is taken from it: subject,
//! names, key usages, validity and the CA flag come from the policy alone. rcgen would copy
//! CA:TRUE and extensions from a CSR into its params, so none of its params are used.

use super::inventory::{Issuance, Profile, Record, Status};
use super::Ca;
use crate::error::Error;
use crate::policy::{Eku, KeyUsageBit, LeafNotAfter, Policy};
use crate::read::cert::{key_algorithm, sha256_hex, Cert};
use crate::timestamp::format;
use rcgen::{
    CertificateParams, CrlDistributionPoint, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    IsCa, Issuer, KeyUsagePurpose, SanType, SerialNumber,
};
use ring::rand::{SecureRandom, SystemRandom};
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::prelude::FromDer;

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

impl Issued {
    /// Its inventory record, issued at `at`.
    pub fn record(&self, profile: Profile, at: OffsetDateTime) -> Record {
        Record {
            serial: self.serial.clone(),
            device_id: self.device_id.clone(),
            profile,
            issuer: self.issuer.clone(),
            not_before: self.not_before,
            not_after: self.not_after,
            issued_at: at,
            sha256: self.sha256.clone(),
            status: Status::Valid,
            revoked_at: None,
            reason: None,
            pem: Some(self.pem.clone()),
        }
    }
}

/// The CA's current issuing generation, ready to sign: its key loaded once, its certificate
/// parsed once. A server keeps one until the CA folder changes.
pub struct Signer {
    issuer: Issuer<'static, rcgen::KeyPair>,
    issuer_cert: Cert,
    /// The generation's id (`issuing-2`).
    pub generation: String,
    /// The URI of the generation's CRL, named in every certificate's cRLDistributionPoints.
    pub crl_url: String,
    pub policy: Policy,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Refuses to serve at `at` before the current issuing CA of `ca` is valid: a server
    /// whose clock was reset (to 1970, say) would issue its own certificate and every
    /// device's already expired at the real time. (Offline signing keeps `--at` free: the
    /// samples sign in the past.)
    pub fn check_clock(ca: &Ca, at: OffsetDateTime) -> Result<(), Error> {
        let generation = ca.current_issuer();
        let issuer_cert = ca.cert(generation)?;
        if at < issuer_cert.not_before {
            return Err(Error::ca(
                ca.dir.join(&generation.cert),
                format!(
                    "the issuing CA is valid only from {}, and this clock says {}: set the clock first (timedatectl set-ntp true)",
                    format(issuer_cert.not_before),
                    format(at)
                ),
            ));
        }
        Ok(())
    }

    /// The current issuing CA of `ca`; refused when it has expired at `at`.
    pub fn new(ca: &Ca, at: OffsetDateTime) -> Result<Signer, Error> {
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
        let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem(generation)?, key)
            .map_err(|e| Error::ca(ca.dir.join(&generation.cert), e.to_string()))?;
        Ok(Signer {
            issuer,
            issuer_cert,
            generation: generation.id.clone(),
            crl_url: generation.crl_distribution_point(),
            policy: ca.policy.clone(),
        })
    }

    /// Reads and checks a request (`bytes`, PEM or DER, from `path`) against the policy.
    pub fn read_csr(&self, path: &Path, bytes: &[u8]) -> Result<Csr, Error> {
        read_csr(path, bytes, &self.policy)
    }

    /// A device certificate for `csr`'s key, named `device_id`, every field from the policy.
    pub fn sign(&self, csr: &Csr, device_id: &str, at: OffsetDateTime) -> Result<Issued, String> {
        check_device_id(device_id)?;
        issue(self, &csr.spki, device_id, at)
    }

    /// A server certificate (serverAuth) for `names` (DNS names or IP addresses) and the
    /// public key `spki`, valid from `at` for `lifetime`, cut to the issuer's notAfter.
    pub fn sign_server(
        &self,
        names: &[String],
        spki: &[u8],
        at: OffsetDateTime,
        lifetime: Duration,
    ) -> Result<Issued, String> {
        let first = names.first().ok_or("a server certificate needs a name")?;
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, first.as_str());
        p.distinguished_name = dn;
        for name in names {
            p.subject_alt_names
                .push(match name.parse::<std::net::IpAddr>() {
                    Ok(ip) => SanType::IpAddress(ip),
                    Err(_) => SanType::DnsName(
                        rustls_pki_types::DnsName::try_from(name.as_str())
                            .ok()
                            .and_then(|_| name.clone().try_into().ok())
                            .ok_or_else(|| {
                                format!("'{name}' is neither a DNS name nor an IP address")
                            })?,
                    ),
                });
        }
        p.is_ca = IsCa::ExplicitNoCa;
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.not_before = at - Duration::minutes(5);
        p.not_after = (at + lifetime).min(self.issuer_cert.not_after);
        finish(p, spki, first, self, false)
    }
}

/// What the CA would issue (a dry run): nothing is signed, nothing recorded.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Planned {
    pub device_id: String,
    pub subject: String,
    pub names: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Set when notAfter would be cut to the issuer's.
    pub truncated: bool,
    /// The issuing CA generation that would sign.
    pub issuer: String,
}

impl Signer {
    /// What [`Signer::sign`] would issue to `device_id` at `at`, every check made; nothing
    /// signed.
    pub fn plan(&self, device_id: &str, at: OffsetDateTime) -> Result<Planned, String> {
        check_device_id(device_id)?;
        let policy = &self.policy;
        let (not_before, not_after, truncated) = validity(policy, &self.issuer_cert, at)?;
        let mut subject = format!(
            "CN={}",
            Policy::fill(&policy.subject.common_name, device_id)
        );
        if let Some(org) = &policy.subject.organization {
            subject = format!("O={}, {subject}", Policy::fill(org, device_id));
        }
        let dns = policy
            .san
            .dns
            .iter()
            .map(|d| format!("DNS:{}", Policy::fill(d, device_id)));
        let uri = policy
            .san
            .uri
            .iter()
            .map(|u| format!("URI:{}", Policy::fill(u, device_id)));
        Ok(Planned {
            device_id: device_id.to_string(),
            subject,
            names: dns.chain(uri).collect(),
            not_before,
            not_after,
            truncated,
            issuer: self.generation.clone(),
        })
    }
}

/// What `sign_csrs` would issue for each request, every check made (the CA's readiness, the
/// requests against the policy, their signatures); nothing signed, nothing recorded.
pub fn plan_csrs(
    ca: &Ca,
    csrs: &[(PathBuf, Vec<u8>)],
    device_id: Option<&str>,
    at: OffsetDateTime,
) -> Result<Vec<Result<Planned, Error>>, Error> {
    let signer = Signer::new(ca, at)?;
    Ok(csrs
        .iter()
        .map(|(path, bytes)| {
            let csr = signer.read_csr(path, bytes)?;
            let id = match (device_id, &csr.common_name) {
                (Some(id), _) => id.to_string(),
                (None, Some(cn)) => cn.clone(),
                (None, None) => {
                    return Err(Error::refused(
                        path,
                        "no device id: the request has no CN and --device-id was not given",
                    ))
                }
            };
            signer
                .plan(&id, at)
                .map_err(|why| Error::refused(path, why))
        })
        .collect())
}

/// What the CA would issue to `device_id` at `at` (enroll and renew in a dry run).
pub fn plan_for(ca: &Ca, device_id: &str, at: OffsetDateTime) -> Result<Planned, Error> {
    check_device_id(device_id).map_err(Error::Usage)?;
    Signer::new(ca, at)?
        .plan(device_id, at)
        .map_err(|why| Error::refused(&ca.dir, why))
}

/// notBefore (backdated), notAfter (cut to the issuer's or refused, as the policy says), and
/// whether it was cut.
fn validity(
    policy: &Policy,
    issuer_cert: &Cert,
    at: OffsetDateTime,
) -> Result<(OffsetDateTime, OffsetDateTime, bool), String> {
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
    Ok((not_before, not_after, truncated))
}

/// Signs one CSR (DER or PEM bytes from `path`) and records it in the inventory.
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
/// once and every certificate recorded in one transaction before any is returned. Each CSR
/// gets its own result.
pub fn sign_csrs(
    ca: &Ca,
    csrs: &[(PathBuf, Vec<u8>)],
    device_id: Option<&str>,
    at: OffsetDateTime,
) -> Result<Vec<Result<Issued, Error>>, Error> {
    let signer = Signer::new(ca, at)?;
    let mut results: Vec<Result<Issued, Error>> = csrs
        .iter()
        .map(|(path, bytes)| {
            let csr = signer.read_csr(path, bytes)?;
            let id = match (device_id, &csr.common_name) {
                (Some(id), _) => id.to_string(),
                (None, Some(cn)) => cn.clone(),
                (None, None) => {
                    return Err(Error::refused(
                        path,
                        "no device id: the request has no CN and --device-id was not given",
                    ))
                }
            };
            signer
                .sign(&csr, &id, at)
                .map_err(|why| Error::refused(path, why))
        })
        .collect();
    let batch: Vec<Issuance> = results
        .iter()
        .flatten()
        .map(|issued| Issuance {
            record: issued.record(Profile::Device, at),
            token: None,
            renews: None,
        })
        .collect();
    let mut answers = ca.inventory.record(&batch)?.into_iter();
    for (result, (path, _)) in results.iter_mut().zip(csrs) {
        if result.is_ok() {
            if let Some(Err(refusal)) = answers.next() {
                *result = Err(Error::refused(path, refusal.to_string()));
            }
        }
    }
    Ok(results)
}

/// What is read from a CSR whose signature verified: its public key and its names. Only the
/// key is ever put in a certificate; the names are for checking who asks.
#[derive(Debug, Clone)]
pub struct Csr {
    /// The SubjectPublicKeyInfo, DER.
    pub spki: Vec<u8>,
    /// The subject as x509-parser prints it (RFC 4514 order reversed, as `pki inspect` shows).
    pub subject: String,
    pub common_name: Option<String>,
    /// subjectAltName entries from the extensionRequest attribute, as `DNS:…`, `URI:…`, `IP:…`.
    pub sans: Vec<String>,
}

fn read_csr(path: &Path, bytes: &[u8], policy: &Policy) -> Result<Csr, Error> {
    let der = csr_der(bytes)
        .ok_or_else(|| Error::refused(path, "not a certificate request (PEM or DER)"))?;
    let (rest, csr) = X509CertificationRequest::from_der(&der).map_err(|e| {
        Error::refused(
            path,
            format!(
                "not a valid certificate request ({})",
                crate::read::cert::der_problem(&e)
            ),
        )
    })?;
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
    let common_name = csr
        .certification_request_info
        .subject
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string);
    Ok(Csr {
        spki: spki.raw.to_vec(),
        subject: csr.certification_request_info.subject.to_string(),
        common_name,
        sans: requested_sans(&csr),
    })
}

fn requested_sans(csr: &X509CertificationRequest<'_>) -> Vec<String> {
    use x509_parser::extensions::ParsedExtension;
    let mut out = Vec::new();
    for ext in csr.requested_extensions().into_iter().flatten() {
        if let ParsedExtension::SubjectAlternativeName(san) = ext {
            out.extend(
                san.general_names
                    .iter()
                    .map(crate::read::cert::general_name),
            );
        }
    }
    out
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

fn issue(signer: &Signer, spki: &[u8], id: &str, at: OffsetDateTime) -> Result<Issued, String> {
    let (policy, issuer_cert) = (&signer.policy, &signer.issuer_cert);
    let (not_before, not_after, truncated) = validity(policy, issuer_cert, at)?;
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
    finish(p, spki, id, signer, truncated)
}

/// Serial, key identifiers, the CRL distribution point and the signature: what every
/// certificate the CA issues shares. The distribution point names the issuing generation's
/// CRL, whose IssuingDistributionPoint names it too: that is what keeps the CRLs of two keys
/// of one issuing CA name apart for rustls (see [`crate::read::crl::Crl::authoritative_for`]).
fn finish(
    mut p: CertificateParams,
    spki: &[u8],
    id: &str,
    signer: &Signer,
    truncated: bool,
) -> Result<Issued, String> {
    let serial = random_serial()?;
    p.serial_number = Some(serial.clone());
    p.use_authority_key_identifier_extension = true;
    p.key_identifier_method = rcgen::KeyIdMethod::Sha256;
    p.crl_distribution_points = vec![CrlDistributionPoint {
        uris: vec![signer.crl_url.clone()],
    }];
    let public = rcgen::SubjectPublicKeyInfo::from_der(spki)
        .map_err(|e| format!("the request's key cannot be used ({e})"))?;
    let cert = p
        .signed_by(&public, &signer.issuer)
        .map_err(|e| format!("signing failed ({e})"))?;
    Ok(Issued {
        pem: cert.pem(),
        serial: crate::read::cert::colon_hex(&serial.to_bytes()),
        device_id: id.to_string(),
        not_before: p.not_before,
        not_after: p.not_after,
        sha256: sha256_hex(cert.der()),
        issuer: signer.generation.clone(),
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
