//! `journal.jsonl`: one JSON object per change the toolkit made to a store — what, why, and the
//! SHA-256 of each file before and after. Written before the files change, so that a crash
//! midway leaves an entry that explains the new bytes.

use crate::store::atomic;
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const JOURNAL: &str = "journal.jsonl";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub seq: u64,
    pub at: String,
    pub action: String,
    pub reason: String,
    pub files: Vec<FileChange>,
    /// The backup folder (relative to the store) holding the superseded files.
    pub backup: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileChange {
    pub file: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// Every entry of `dir`'s journal, oldest first; lines that cannot be read are skipped (a torn
/// last line after a crash).
pub fn read(dir: &Path) -> Vec<Entry> {
    std::fs::read_to_string(dir.join(JOURNAL))
        .map(|text| {
            text.lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()
        })
        .unwrap_or_default()
}

pub fn append(dir: &Path, entry: &Entry) -> std::io::Result<()> {
    let line = serde_json::to_string(entry).map_err(std::io::Error::other)?;
    atomic::append_line(&dir.join(JOURNAL), &line)
}

/// Whether some entry wrote `hash` into `file`: the toolkit's own write.
pub fn explains(entries: &[Entry], file: &str, hash: Option<&str>) -> bool {
    entries.iter().any(|e| {
        e.files
            .iter()
            .any(|f| f.file == file && f.after.as_deref() == hash)
    })
}
