//! `pki ca revoke` and `pki ca crl`: marking a certificate revoked in the index, and a CRL per
//! issuing CA with a number that only grows and nextUpdate from the policy.

use super::index::{self, normalise_serial, Status};
use super::Ca;
use crate::error::Error;
use crate::store::atomic;
use crate::timestamp::format;
use rcgen::{
    CertificateRevocationListParams, Issuer, RevocationReason, RevokedCertParams, SerialNumber,
};
use std::path::PathBuf;
use time::{Duration, OffsetDateTime};

pub const CRL_DIR: &str = "crl";

/// Marks `serial` revoked at `at` for `reason` (RFC 5280 reason names: keyCompromise,
/// superseded, cessationOfOperation, affiliationChanged, unspecified). Revoking twice is a no-op.
pub fn revoke(
    ca: &Ca,
    serial: &str,
    reason: &str,
    at: OffsetDateTime,
) -> Result<index::Record, Error> {
    let path = ca.dir.join(index::INDEX);
    let wanted = normalise_serial(serial)
        .ok_or_else(|| Error::Usage(format!("'{serial}' is not a serial number (hex)")))?;
    parse_reason(reason)
        .ok_or_else(|| Error::Usage(format!("'{reason}' is not a revocation reason")))?;
    let mut records = index::load(&ca.dir)?;
    let record = records
        .iter_mut()
        .find(|r| r.serial == wanted)
        .ok_or_else(|| Error::refused(&path, format!("this CA never issued serial {wanted}")))?;
    if record.status != Status::Revoked {
        record.status = Status::Revoked;
        record.revoked_at = Some(format(at));
        record.reason = Some(reason.to_string());
    }
    let record = record.clone();
    index::save(&ca.dir, &records)?;
    Ok(record)
}

/// Issues a CRL for every issuing CA generation into `crl/<id>.crl`; returns the files.
pub fn crl(ca: &mut Ca, at: OffsetDateTime) -> Result<Vec<PathBuf>, Error> {
    let records = index::load(&ca.dir)?;
    let dir = ca.dir.join(CRL_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    ca.config.crl_number += 1;
    let number = ca.config.crl_number;
    let mut written = Vec::new();
    for generation in ca.config.issuers.clone() {
        let key = ca.key(&generation)?;
        let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem(&generation)?, &key)
            .map_err(|e| Error::ca(ca.dir.join(&generation.cert), e.to_string()))?;
        let revoked = records
            .iter()
            .filter(|r| r.issuer == generation.id && r.status == Status::Revoked)
            .map(|r| {
                let bytes = hex_bytes(&r.serial);
                let when = r
                    .revoked_at
                    .as_deref()
                    .and_then(|t| crate::timestamp::parse(t).ok())
                    .unwrap_or(at);
                RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&bytes),
                    revocation_time: when,
                    reason_code: r.reason.as_deref().and_then(parse_reason),
                    invalidity_date: None,
                }
            })
            .collect();
        let params = CertificateRevocationListParams {
            this_update: at,
            next_update: at + Duration::days(ca.policy.crl_validity_days.into()),
            crl_number: SerialNumber::from(number),
            issuing_distribution_point: None,
            revoked_certs: revoked,
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        let pem = params
            .signed_by(&issuer)
            .and_then(|crl| crl.pem())
            .map_err(|e| {
                Error::ca(
                    ca.dir.join(&generation.cert),
                    format!("CRL signing failed ({e})"),
                )
            })?;
        let name = format!("{}.crl", generation.id);
        atomic::write(&dir, &name, pem.as_bytes(), 0o644)
            .map_err(|e| Error::io(dir.join(&name), e))?;
        written.push(dir.join(name));
    }
    ca.save()?;
    Ok(written)
}

fn parse_reason(reason: &str) -> Option<RevocationReason> {
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
