//! `store.yaml`: what the toolkit last wrote into a store (device id, policy, the SHA-256 of
//! each file). A file that differs from it with no journal entry to explain is a hand edit.

use crate::error::Error;
use crate::read::cert::sha256_hex;
use crate::read::input::{self, Read};
use crate::store::atomic;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub schema: u32,
    pub device_id: String,
    pub policy: String,
    /// The CA folder the store was enrolled (or last repaired or renewed) from, absolute, so
    /// that fix texts name it; absent in stores written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
    /// File name → SHA-256 of its bytes as the toolkit last wrote them.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
}

impl Manifest {
    pub fn new(device_id: &str, policy: &str) -> Manifest {
        Manifest {
            schema: SCHEMA,
            device_id: device_id.to_string(),
            policy: policy.to_string(),
            ca: None,
            files: BTreeMap::new(),
        }
    }

    /// Records `ca` as the store's CA folder (made absolute; left as given when it cannot be).
    pub fn record_ca(&mut self, ca: &Path) {
        let absolute = std::fs::canonicalize(ca).unwrap_or_else(|_| ca.to_path_buf());
        self.ca = Some(absolute.display().to_string());
    }

    /// Reads `dir/store.yaml`; `Ok(None)` when there is none, `Err` naming the problem when it
    /// cannot be read or parsed. Read as every store file is (`input::read`): capped in size,
    /// and a symlink out of the store (to `/dev/zero`, say) is not followed.
    pub fn load(dir: &Path) -> Result<Option<Manifest>, String> {
        let path = dir.join(crate::store::MANIFEST);
        let problem = |why: String| Err(format!("{}: {why}", path.display()));
        let bytes = match input::read(&path, Some(dir)) {
            Ok(Read::Bytes { bytes, .. }) => bytes,
            Ok(unread) => return problem(unread.refusal().unwrap_or_default()),
            Err(Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let Ok(text) = std::str::from_utf8(&bytes) else {
            return problem("not UTF-8 text".to_string());
        };
        serde_saphyr::from_str(text)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// The manifest of the managed store `dir`; refused when it cannot be read or there is none
    /// (`instead`: what to do then, said after the reason).
    pub fn require(dir: &Path, instead: Option<&str>) -> Result<Manifest, Error> {
        let missing = match instead {
            Some(instead) => format!("not a managed store (no store.yaml): {instead}"),
            None => "not a managed store (no store.yaml)".to_string(),
        };
        Manifest::load(dir)
            .map_err(|why| Error::refused(dir, why))?
            .ok_or_else(|| Error::refused(dir, missing))
    }

    /// Writes `dir/store.yaml` atomically.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let text = serde_saphyr::to_string(self).map_err(std::io::Error::other)?;
        atomic::write(dir, crate::store::MANIFEST, text.as_bytes(), 0o644)
    }
}

/// SHA-256 of a file's bytes, or `None` when it does not exist.
pub fn file_hash(path: &Path) -> Option<String> {
    std::fs::read(path).ok().map(|bytes| sha256_hex(&bytes))
}
