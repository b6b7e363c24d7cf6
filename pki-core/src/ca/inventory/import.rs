//! `index.jsonl`, the index releases before the inventory kept in the CA folder (one JSON line
//! per certificate: serial, device id, issuing generation, validity, SHA-256, status,
//! revocation), with the copies in `issued/<serial>.crt` and the CRL number in `ca.yaml`.
//! It is imported into the inventory the first time a command opens the CA, in one
//! transaction, and then renamed `index.jsonl.imported` so that nobody reads a stale copy.

use super::sql::Value;
use super::{Inventory, Profile, Record, Status};
use crate::error::Error;
use crate::timestamp::parse;
use serde::Deserialize;
use std::path::Path;

pub const INDEX: &str = "index.jsonl";
pub const IMPORTED: &str = "index.jsonl.imported";
/// The folder of copies the old index pointed to.
const ISSUED: &str = "issued";

/// The longest index line read (a record is a few hundred bytes).
const MAX_LINE: usize = 64 * 1024;

/// One line of `index.jsonl`.
#[derive(Debug, Clone, Deserialize)]
struct Line {
    serial: String,
    device_id: String,
    issuer: String,
    not_before: String,
    not_after: String,
    sha256: String,
    status: LineStatus,
    #[serde(default)]
    revoked_at: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum LineStatus {
    Valid,
    Revoked,
}

/// What an import brought in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported {
    pub certificates: usize,
    pub crl_number: u64,
}

/// Imports `dir/index.jsonl` into `inventory` unless this database has imported one before
/// (another node, or an earlier run that was cut short before the rename). `crl_number` is
/// the last number `ca.yaml` recorded; the inventory's counter never goes below it.
pub fn import(
    inventory: &Inventory,
    dir: &Path,
    crl_number: u64,
) -> Result<Option<Imported>, Error> {
    let path = dir.join(INDEX);
    let file = match crate::read::input::stream(&path) {
        Ok(file) => file,
        Err(Error::NotFound { .. }) => return Ok(None),
        Err(Error::BadRequest { path, reason }) => return Err(Error::Ca { path, reason }),
        Err(e) => return Err(e),
    };
    // streamed, a line at a time (the index grew with every certificate issued)
    let mut records = Vec::new();
    let mut failed = None;
    crate::read::input::lines(file, MAX_LINE, |n, line| {
        let parsed = match line {
            Ok(line) if line.iter().all(u8::is_ascii_whitespace) => return true,
            Ok(line) => serde_json::from_slice::<Line>(line)
                .map_err(|e| e.to_string())
                .and_then(|l| record(dir, &l)),
            Err(_) => Err(format!("longer than {MAX_LINE} bytes")),
        };
        match parsed {
            Ok(record) => records.push(record),
            Err(why) => failed = Some(format!("line {n}: {why}")),
        }
        failed.is_none()
    })
    .map_err(|e| Error::io(&path, e))?;
    if let Some(why) = failed {
        return Err(Error::ca(&path, why));
    }
    let count = records.len();
    let done = inventory.write(|c| {
        c.lock_schema()?;
        let seen = c.query("SELECT value FROM meta WHERE key = 'imported'", &[])?;
        if !seen.is_empty() {
            return Ok(false);
        }
        for r in &records {
            c.execute(
                &format!("INSERT INTO certificates ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING", super::COLUMNS),
                &[
                    r.serial.as_str().into(),
                    r.device_id.as_str().into(),
                    "device".into(),
                    r.issuer.as_str().into(),
                    super::unix(r.not_before).into(),
                    super::unix(r.not_after).into(),
                    super::unix(r.issued_at).into(),
                    r.sha256.as_str().into(),
                    r.revoked_at.map(super::unix).into(),
                    r.reason.clone().into(),
                    r.pem.clone().into(),
                ],
            )?;
        }
        c.execute(
            "UPDATE counters SET value = $1 WHERE name = 'crl_number' AND value < $2",
            &[Value::Int(crl_number as i64), Value::Int(crl_number as i64)],
        )?;
        c.execute(
            "UPDATE counters SET value = value + 1 WHERE name = 'revision'",
            &[],
        )?;
        c.execute(
            "INSERT INTO meta (key, value) VALUES ('imported', $1)",
            &[format!("{} certificates from {}", records.len(), path.display()).into()],
        )?;
        Ok(true)
    })?;
    std::fs::rename(&path, dir.join(IMPORTED)).map_err(|e| Error::io(&path, e))?;
    Ok(done.then_some(Imported {
        certificates: count,
        crl_number,
    }))
}

fn record(dir: &Path, l: &Line) -> Result<Record, String> {
    let serial = super::normalise_serial(&l.serial)
        .ok_or_else(|| format!("'{}' is not a serial number", l.serial))?;
    let not_before = parse(&l.not_before)?;
    let revoked_at = match (&l.status, &l.revoked_at) {
        (LineStatus::Revoked, Some(t)) => Some(parse(t)?),
        (LineStatus::Revoked, None) => Some(not_before),
        (LineStatus::Valid, _) => None,
    };
    let copy = dir
        .join(ISSUED)
        .join(format!("{}.crt", serial.replace(':', "")));
    Ok(Record {
        serial,
        device_id: l.device_id.clone(),
        profile: Profile::Device,
        issuer: l.issuer.clone(),
        not_before,
        not_after: parse(&l.not_after)?,
        issued_at: not_before,
        sha256: l.sha256.clone(),
        status: if revoked_at.is_some() {
            Status::Revoked
        } else {
            Status::Valid
        },
        revoked_at,
        reason: l.reason.clone(),
        pem: std::fs::read_to_string(copy).ok(),
    })
}
