//! What a CA command would do (`--dry-run`): the same checks the command makes, and the plan
//! it would carry out, with nothing generated, signed or written.

use super::config::CONFIG;
use super::inventory::{normalise_serial, Record, Status};
use super::revoke::{parse_reason, CRL_DIR};
use super::{Ca, CHAIN_BUNDLE, TRUST_BUNDLE};
use crate::error::Error;
use crate::policy::Policy;
use crate::read::cert::sha256_hex;
use serde::Serialize;
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// `ca init`: the CAs and files that would be made.
#[derive(Debug, Clone, Serialize)]
pub struct InitPlan {
    pub root: String,
    pub issuing: String,
    pub policy: String,
    pub files: Vec<PathBuf>,
}

pub fn init(dir: &Path, name: &str, policy: &Policy) -> Result<InitPlan, Error> {
    super::init::refuse_occupied(dir)?;
    let files = [
        "root-1.key",
        "root-1.crt",
        "issuing-1.key",
        "issuing-1.crt",
        super::init::POLICY_FILE,
        super::inventory::sqlite::FILE,
        TRUST_BUNDLE,
        CHAIN_BUNDLE,
        CONFIG,
    ]
    .iter()
    .map(|f| dir.join(f))
    .collect();
    Ok(InitPlan {
        root: format!("O={name}, CN={name} Root CA (ECDSA P-256, 20 years)"),
        issuing: format!("O={name}, CN={name} Issuing CA (ECDSA P-256, 10 years, pathlen 0)"),
        policy: policy.name.clone(),
        files,
    })
}

/// `ca revoke`: the record that would be marked.
#[derive(Debug, Clone, Serialize)]
pub struct RevokePlan {
    pub record: Record,
    /// Already revoked: nothing would change.
    pub already_revoked: bool,
}

pub fn revoke(ca: &Ca, serial: &str, reason: &str) -> Result<RevokePlan, Error> {
    let wanted = normalise_serial(serial)
        .ok_or_else(|| Error::Usage(format!("'{serial}' is not a serial number (hex)")))?;
    parse_reason(reason)
        .ok_or_else(|| Error::Usage(format!("'{reason}' is not a revocation reason")))?;
    let record = ca.inventory.get(&wanted)?.ok_or_else(|| {
        Error::refused(
            ca.inventory.describe(),
            format!("this CA never issued serial {wanted}"),
        )
    })?;
    Ok(RevokePlan {
        already_revoked: record.status == Status::Revoked,
        record,
    })
}

/// `ca crl`: the CRLs that would be issued.
#[derive(Debug, Clone, Serialize)]
pub struct CrlPlan {
    pub number: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub next_update: OffsetDateTime,
    /// Each file with the count of revoked certificates it would list.
    pub files: Vec<(PathBuf, usize)>,
}

pub fn crl(ca: &Ca, at: OffsetDateTime) -> Result<CrlPlan, Error> {
    let revoked = ca.inventory.revoked()?;
    let mut files = Vec::new();
    for generation in &ca.config.issuers {
        ca.key(generation)?; // the key must be there to sign
        let revoked = revoked.iter().filter(|r| r.issuer == generation.id).count();
        files.push((
            ca.dir.join(CRL_DIR).join(format!("{}.crl", generation.id)),
            revoked,
        ));
    }
    Ok(CrlPlan {
        number: ca.inventory.crl_number()? + 1,
        next_update: at + Duration::days(ca.policy.crl_validity_days.into()),
        files,
    })
}

/// `ca rotate`: the generations that would be made.
#[derive(Debug, Clone, Serialize)]
pub struct RotatePlan {
    pub new_issuer: String,
    pub new_root: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub overlap_until: OffsetDateTime,
}

pub fn rotate(
    ca: &Ca,
    new_root: bool,
    overlap: Option<Duration>,
    at: OffsetDateTime,
) -> Result<RotatePlan, Error> {
    let old_issuer = ca.current_issuer();
    let overlap_until = match overlap {
        Some(d) => at + d,
        None => ca
            .inventory
            .last_expiry(&old_issuer.id)?
            .unwrap_or(at)
            .max(at),
    };
    // the keys that would sign the new generation must be there
    ca.key(ca.current_root())?;
    let name = &ca.config.name;
    Ok(RotatePlan {
        new_issuer: format!(
            "issuing-{} ({name} Issuing CA, new key)",
            ca.config.issuers.len() + 1
        ),
        new_root: new_root.then(|| {
            let n = ca.config.roots.len() + 1;
            format!("root-{n} ({name} Root CA G{n}, cross-signed by the current root)")
        }),
        overlap_until,
    })
}

/// `ca bundle`: whether each bundle would change.
#[derive(Debug, Clone, Serialize)]
pub struct BundlePlan {
    /// Each bundle file, the number of certificates it would hold, and whether it changes.
    pub files: Vec<(PathBuf, usize, bool)>,
}

pub fn bundle(ca: &Ca, at: OffsetDateTime) -> Result<BundlePlan, Error> {
    let mut files = Vec::new();
    for (name, text) in [
        (TRUST_BUNDLE, ca.trust_bundle(at)?),
        (CHAIN_BUNDLE, ca.chain_bundle(at)?),
    ] {
        let path = ca.dir.join(name);
        let now = std::fs::read(&path).ok().map(|b| sha256_hex(&b));
        let count = text.matches("-----BEGIN CERTIFICATE-----").count();
        files.push((path, count, now != Some(sha256_hex(text.as_bytes()))));
    }
    Ok(BundlePlan { files })
}
