//! `pki ca revoke` and `pki ca crl`: marking a certificate revoked in the inventory, and a CRL
//! per issuing CA with a number that only grows (the inventory's counter, shared by every
//! process and server node) and nextUpdate from the policy.

use super::config::Generation;
use super::inventory::{normalise_serial, Record, Revoked};
use super::Ca;
use crate::error::Error;
use crate::store::atomic;
use rcgen::{
    CertificateRevocationListParams, CrlDistributionPoint, CrlIssuingDistributionPoint, CrlScope,
    Issuer, RevocationReason, RevokedCertParams, SerialNumber,
};
use std::path::PathBuf;
use time::{Duration, OffsetDateTime};

pub const CRL_DIR: &str = "crl";

/// Marks `serial` revoked at `at` for `reason` (RFC 5280 reason names: keyCompromise,
/// superseded, cessationOfOperation, affiliationChanged, unspecified). Revoking twice is a no-op.
pub fn revoke(ca: &Ca, serial: &str, reason: &str, at: OffsetDateTime) -> Result<Record, Error> {
    let wanted = normalise_serial(serial)
        .ok_or_else(|| Error::Usage(format!("'{serial}' is not a serial number (hex)")))?;
    parse_reason(reason)
        .ok_or_else(|| Error::Usage(format!("'{reason}' is not a revocation reason")))?;
    ca.inventory.revoke(&wanted, reason, at)?.ok_or_else(|| {
        Error::refused(
            ca.inventory.describe(),
            format!("this CA never issued serial {wanted}"),
        )
    })
}

/// What `pki ca crl` wrote.
#[derive(Debug, Clone)]
pub struct Crls {
    pub number: u64,
    pub files: Vec<PathBuf>,
}

/// Issues a CRL for every issuing CA generation into `crl/<id>.crl`, under the next number.
pub fn crl(ca: &Ca, at: OffsetDateTime) -> Result<Crls, Error> {
    let revoked = ca.inventory.revoked()?;
    let dir = ca.dir.join(CRL_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let number = ca.inventory.next_crl_number()?;
    let mut files = Vec::new();
    for generation in &ca.config.issuers {
        let der = sign_crl(ca, generation, number, &revoked, at)?;
        let pem = crate::read::decode::encode_pem("X509 CRL", &der);
        let name = format!("{}.crl", generation.id);
        atomic::write(&dir, &name, pem.as_bytes(), 0o644)
            .map_err(|e| Error::io(dir.join(&name), e))?;
        files.push(dir.join(name));
    }
    Ok(Crls { number, files })
}

/// The CRL of `generation` numbered `number`, listing the `revoked` it issued, valid from `at`
/// for the policy's `crl_validity_days`; DER. It carries an IssuingDistributionPoint naming
/// the generation's CRL URI, scope end-entity certificates (RFC 5280 §5.2.5; critical), as
/// the certificates of that generation name it in their cRLDistributionPoints: a rustls
/// server loading every generation's CRL then checks each certificate against its own
/// generation's CRL only ([`crate::read::crl::Crl::authoritative_for`]). See `partitioned`
/// for the one case it does not.
pub fn sign_crl(
    ca: &Ca,
    generation: &Generation,
    number: u64,
    revoked: &[Revoked],
    at: OffsetDateTime,
) -> Result<Vec<u8>, Error> {
    let key = ca.key(generation)?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem(generation)?, key)
        .map_err(|e| Error::ca(ca.dir.join(&generation.cert), e.to_string()))?;
    let revoked_certs = revoked
        .iter()
        .filter(|r| r.issuer == generation.id)
        .map(|r| RevokedCertParams {
            serial_number: SerialNumber::from_slice(&hex_bytes(&r.serial)),
            revocation_time: r.at,
            reason_code: r.reason.as_deref().and_then(parse_reason),
            invalidity_date: None,
        })
        .collect();
    let params = CertificateRevocationListParams {
        this_update: at,
        next_update: at + Duration::days(ca.policy.crl_validity_days.into()),
        crl_number: SerialNumber::from(number),
        issuing_distribution_point: partitioned(ca, generation).then(|| {
            CrlIssuingDistributionPoint {
                distribution_point: CrlDistributionPoint {
                    uris: vec![generation.crl_distribution_point()],
                },
                scope: Some(CrlScope::UserCertsOnly),
            }
        }),
        revoked_certs,
        key_identifier_method: rcgen::KeyIdMethod::Sha256,
    };
    params
        .signed_by(&issuer)
        .map(|crl| crl.der().to_vec())
        .map_err(|e| {
            Error::ca(
                ca.dir.join(&generation.cert),
                format!("CRL signing failed ({e})"),
            )
        })
}

/// Whether `generation`'s CRLs carry an IssuingDistributionPoint: always, except for the one
/// issuing generation of a CA made before CRLs were partitioned (no `crl_url` in `ca.yaml`).
/// Its certificates issued before carry no cRLDistributionPoints, and OpenSSL applies a CRL
/// with an IDP only to certificates that name it ("different CRL scope"): while the CA has a
/// single issuing key there is nothing to keep apart, so its CRL stays as it was. From its
/// first rotation on, every generation's CRL is partitioned (webpki applies one to
/// certificates without distribution points too: the first CRL of their issuer's name).
fn partitioned(ca: &Ca, generation: &Generation) -> bool {
    generation.crl_url.is_some() || ca.config.issuers.len() > 1
}

pub(super) fn parse_reason(reason: &str) -> Option<RevocationReason> {
    Some(match reason {
        "unspecified" => RevocationReason::Unspecified,
        "keyCompromise" => RevocationReason::KeyCompromise,
        "caCompromise" => RevocationReason::CaCompromise,
        "affiliationChanged" => RevocationReason::AffiliationChanged,
        "superseded" => RevocationReason::Superseded,
        "cessationOfOperation" => RevocationReason::CessationOfOperation,
        "certificateHold" => RevocationReason::CertificateHold,
        "privilegeWithdrawn" => RevocationReason::PrivilegeWithdrawn,
        _ => return None,
    })
}

fn hex_bytes(colon_hex: &str) -> Vec<u8> {
    colon_hex
        .split(':')
        .filter_map(|b| u8::from_str_radix(b, 16).ok())
        .collect()
}
