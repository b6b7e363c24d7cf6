//! `pki store rollback`: undo the last change the journal records, from its backup folder. A
//! file the change created is taken out of the store into a backup folder (a key is never
//! deleted); a file it replaced gets its previous bytes back. The undo is itself a change,
//! journaled, so it can be undone too. `dry_run` says what would be undone and changes
//! nothing; undoing an enrollment (which leaves no certificate) takes `force`.

use crate::error::Error;
use crate::finding::quoted;
use crate::store::change::{self, Change, FileWrite};
use crate::store::journal::{self, Entry};
use crate::store::lock;
use crate::store::manifest::Manifest;
use serde::Serialize;
use std::path::Path;
use time::OffsetDateTime;

/// What undoing the last change does.
#[derive(Debug, Clone, Serialize)]
pub struct Undo {
    /// The journal entry undone.
    pub seq: u64,
    pub action: String,
    pub reason: String,
    /// Files that get their previous bytes back.
    pub restores: Vec<String>,
    /// Files the change created, taken out of the store (to backup/).
    pub takes_out: Vec<String>,
}

/// What a rollback did (or, in a dry run, would do).
#[derive(Debug, Serialize)]
pub struct Rollback {
    pub undo: Undo,
    /// `None` in a dry run.
    pub journal: Option<Entry>,
}

pub fn rollback(
    dir: &Path,
    at: OffsetDateTime,
    dry_run: bool,
    force: bool,
) -> Result<Rollback, Error> {
    let manifest = Manifest::require(dir, Some("nothing the toolkit did to undo"))?;
    let guard = if dry_run {
        None
    } else {
        Some(lock::hold(dir)?)
    };
    let entries = journal::read(dir);
    let last = entries
        .last()
        .ok_or_else(|| Error::refused(dir, "the journal records no change to undo"))?;
    let mut writes = Vec::new();
    let mut removes = Vec::new();
    for f in &last.files {
        match (&f.before, &last.backup) {
            (None, _) => removes.push(f.file.clone()),
            (Some(before), _) if f.after.as_ref() == Some(before) => {}
            (Some(before), Some(backup)) => {
                let path = dir.join(backup).join(&f.file);
                let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
                if crate::read::cert::sha256_hex(&bytes) != *before {
                    return Err(Error::refused(
                        &path,
                        "the backup does not hold the bytes the journal recorded: not restoring it",
                    ));
                }
                let mode = if change::is_key(&f.file) {
                    0o600
                } else {
                    0o644
                };
                writes.push(FileWrite {
                    name: f.file.clone(),
                    bytes,
                    mode,
                });
            }
            (Some(_), None) => {
                return Err(Error::refused(
                    dir,
                    format!("change #{} kept no backup of {}", last.seq, f.file),
                ))
            }
        }
    }
    let undo = Undo {
        seq: last.seq,
        action: last.action.clone(),
        reason: last.reason.clone(),
        restores: writes.iter().map(|w| w.name.clone()).collect(),
        takes_out: removes.clone(),
    };
    if dry_run {
        return Ok(Rollback {
            undo,
            journal: None,
        });
    }
    if last.action == "enroll" && !force {
        return Err(Error::refused(
            dir,
            format!(
                "the last change (#{}) is the enrollment: undoing it takes {} out of the store (to backup/) and leaves it without a certificate; pass --force to undo it anyway (pki store rollback {} --dry-run shows what it undoes)",
                last.seq,
                removes.join(", "),
                quoted(dir)
            ),
        ));
    }
    let change = Change {
        action: "rollback".into(),
        reason: format!(
            "undo change #{} ({}: {})",
            last.seq, last.action, last.reason
        ),
        writes,
        removes,
    };
    let entry = change::apply(dir, &change, manifest, at).map_err(|e| Error::io(dir, e))?;
    drop(guard);
    Ok(Rollback {
        undo,
        journal: Some(entry),
    })
}
