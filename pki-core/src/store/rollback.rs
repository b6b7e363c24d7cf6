//! `pki store rollback`: undo the last change the journal records, from its backup folder. A
//! file the change created is taken out of the store into a backup folder (a key is never
//! deleted); a file it replaced gets its previous bytes back. The undo is itself a change,
//! journaled, so it can be undone too. `dry_run` says what would be undone and changes
//! nothing; undoing an enrollment (which leaves no certificate) takes `force`.
//!
//! What the journal names is untrusted: an entry naming a file that is no store file, or a
//! backup folder the toolkit did not make, is refused, never opened; and every read and write
//! goes through the store's handle, so nothing outside the store can be reached.

use crate::error::Error;
use crate::finding::quoted;
use crate::read::input::Read;
use crate::store::change::{self, Change, FileWrite};
use crate::store::jail::Jail;
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
    let jail = Jail::open(dir)?;
    let manifest = Manifest::require(&jail, Some("nothing the toolkit did to undo"))?;
    let guard = if dry_run {
        None
    } else {
        Some(lock::hold(&jail)?)
    };
    let last = journal::scan(&jail, |_| {})
        .last
        .ok_or_else(|| Error::refused(dir, "the journal records no change to undo"))?;
    if let Some(why) = last.untrusted_name() {
        return Err(Error::refused(
            jail.shown(journal::JOURNAL),
            format!(
                "the last entry (change #{}) {why}: the journal was edited by hand; nothing was undone (pki repair STORE sets the edited journal aside)",
                last.seq
            ),
        ));
    }
    let mut writes = Vec::new();
    let mut removes = Vec::new();
    for f in &last.files {
        match (&f.before, &last.backup) {
            (None, _) => removes.push(f.file.clone()),
            (Some(before), _) if f.after.as_ref() == Some(before) => {}
            (Some(before), Some(backup)) => {
                let name = format!("{backup}/{}", f.file);
                let bytes = match jail.read(&name)? {
                    Read::Bytes { bytes, .. } => bytes,
                    unread => {
                        return Err(Error::refused(
                            jail.shown(&name),
                            unread.refusal().unwrap_or_default(),
                        ))
                    }
                };
                if crate::read::cert::sha256_hex(&bytes) != *before {
                    return Err(Error::refused(
                        jail.shown(&name),
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
    let entry = change::apply(&jail, &change, manifest, at)?;
    drop(guard);
    Ok(Rollback {
        undo,
        journal: Some(entry),
    })
}
