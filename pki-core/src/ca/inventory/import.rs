//! `index.jsonl`: everything the CA issued — serial, device id, validity, SHA-256, status — for
//! revocation, audits and renewal.

use crate::error::Error;
use crate::store::atomic;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const INDEX: &str = "index.jsonl";

/// The longest index line read (a record is a few hundred bytes).
const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Colon hex, as `pki inspect` and diagnose print it.
    pub serial: String,
    pub device_id: String,
    /// The issuing CA generation.
    pub issuer: String,
    pub not_before: String,
    pub not_after: String,
    pub sha256: String,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Valid,
    Revoked,
}

pub fn load(dir: &Path) -> Result<Vec<Record>, Error> {
    let path = dir.join(INDEX);
    let file = match crate::read::input::stream(&path) {
        Ok(file) => file,
        Err(Error::NotFound { .. }) => return Ok(Vec::new()),
        Err(Error::BadRequest { path, reason }) => return Err(Error::Ca { path, reason }),
        Err(e) => return Err(e),
    };
    // streamed, a line at a time (the index grows with every certificate issued)
    let mut records = Vec::new();
    let mut failed = None;
    crate::read::input::lines(file, MAX_LINE, |n, line| {
        let parsed = match line {
            Ok(line) if line.iter().all(u8::is_ascii_whitespace) => return true,
            Ok(line) => serde_json::from_slice(line).map_err(|e| e.to_string()),
            Err(_) => Err(format!("longer than {MAX_LINE} bytes")),
        };
        match parsed {
            Ok(record) => records.push(record),
            Err(why) => failed = Some(format!("line {n}: {why}")),
        }
        failed.is_none()
    })
    .map_err(|e| Error::io(&path, e))?;
    match failed {
        Some(why) => Err(Error::ca(&path, why)),
        None => Ok(records),
    }
}

pub fn save(dir: &Path, records: &[Record]) -> Result<(), Error> {
    let mut text = String::new();
    for r in records {
        text.push_str(
            &serde_json::to_string(r).map_err(|e| Error::ca(dir.join(INDEX), e.to_string()))?,
        );
        text.push('\n');
    }
    atomic::write(dir, INDEX, text.as_bytes(), 0o644).map_err(|e| Error::io(dir.join(INDEX), e))
}

/// `serial` in the index's spelling: upper-case colon hex, whatever the user typed
/// (`0a1b`, `0A:1B`, `0x0a1b`).
pub fn normalise_serial(serial: &str) -> Option<String> {
    let hex: String = serial
        .trim()
        .trim_start_matches("0x")
        .chars()
        .filter(|c| *c != ':')
        .collect();
    if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let hex = if hex.len() % 2 == 1 {
        format!("0{hex}")
    } else {
        hex
    };
    let bytes: Vec<String> = hex
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).to_uppercase())
        .collect();
    Some(bytes.join(":"))
}
