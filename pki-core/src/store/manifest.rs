//! `store.yaml`: what the toolkit last wrote into a store (device id, policy, the SHA-256 of
//! each file). A file that differs from it with no journal entry to explain is a hand edit.

use crate::error::Error;
use crate::read::input::Read;
use crate::store::jail::Jail;
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
    /// Or the `pki serve` the store was enrolled (or last repaired or renewed) over, as
    /// `https://HOST:PORT`: fix texts then name `--server URL`. At most one of `ca` and
    /// `server` is set: the last one used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
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
            server: None,
            files: BTreeMap::new(),
        }
    }

    /// Records `ca` as the store's CA folder (made absolute; left as given when it cannot be).
    pub fn record_ca(&mut self, ca: &Path) {
        let absolute = std::fs::canonicalize(ca).unwrap_or_else(|_| ca.to_path_buf());
        self.ca = Some(absolute.display().to_string());
        self.server = None;
    }

    /// Records `url` as the server the store gets its certificates from.
    pub fn record_server(&mut self, url: &str) {
        self.server = Some(url.to_string());
        self.ca = None;
    }

    /// Reads the store's `store.yaml`; `Ok(None)` when there is none, `Err` naming the problem
    /// when it cannot be read or parsed. Read as every store file is, through the store's
    /// handle: capped in size, regular files only, no symlink out of the store.
    pub fn load(jail: &Jail) -> Result<Option<Manifest>, String> {
        let path = jail.shown(crate::store::MANIFEST);
        let problem = |why: String| Err(format!("{}: {why}", path.display()));
        let bytes = match jail.read(crate::store::MANIFEST) {
            Ok(Read::Bytes { bytes, .. }) => bytes,
            Ok(unread) => return problem(unread.refusal().unwrap_or_default()),
            Err(Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e.to_string()),
        };
        let Ok(text) = std::str::from_utf8(&bytes) else {
            return problem("not UTF-8 text".to_string());
        };
        Manifest::parse(text)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses `store.yaml`'s text (untrusted: the names in it are checked where they are used).
    /// The error is one line (where and what, without the excerpt of the file's lines, which
    /// are the store writer's text).
    pub fn parse(text: &str) -> Result<Manifest, String> {
        serde_saphyr::from_str(text)
            .map_err(|e: serde_saphyr::Error| e.without_snippet().to_string())
    }

    /// The manifest of the managed store; refused when it cannot be read or there is none
    /// (`instead`: what to do then, said after the reason).
    pub fn require(jail: &Jail, instead: Option<&str>) -> Result<Manifest, Error> {
        let dir = jail.path();
        let missing = match instead {
            Some(instead) => format!("not a managed store (no store.yaml): {instead}"),
            None => "not a managed store (no store.yaml)".to_string(),
        };
        Manifest::load(jail)
            .map_err(|why| Error::refused(dir, why))?
            .ok_or_else(|| Error::refused(dir, missing))
    }

    /// Writes the store's `store.yaml` atomically (`owner`: see `Jail::write`).
    pub fn save(&self, jail: &Jail, owner: Option<(u32, u32)>) -> Result<(), Error> {
        let text = serde_saphyr::to_string(self)
            .map_err(|e| Error::io(jail.shown(crate::store::MANIFEST), std::io::Error::other(e)))?;
        jail.write(crate::store::MANIFEST, text.as_bytes(), 0o644, owner)
    }
}
