//! `pki store rollback`: undo the last change the journal records, from its backup folder. A
//! file the change created is taken out of the store into a backup folder (a key is never
//! deleted); a file it replaced gets its previous bytes back. The undo is itself a change,
//! journaled, so it can be undone too.

use crate::error::Error;
use crate::store::change::{self, Change, FileWrite};
use crate::store::journal::{self, Entry};
use crate::store::lock;
use crate::store::manifest::Manifest;
use std::path::Path;
use time::OffsetDateTime;

pub fn rollback(dir: &Path, at: OffsetDateTime) -> Result<Entry, Error> {
    let manifest = Manifest::require(dir, Some("nothing the toolkit did to undo"))?;
    let (_guard, _) = lock::hold(dir)?;
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
    let change = Change {
        action: "rollback".into(),
        reason: format!(
            "undo change #{} ({}: {})",
            last.seq, last.action, last.reason
        ),
        writes,
        removes,
    };
    change::apply(dir, &change, manifest, at).map_err(|e| Error::io(dir, e))
}
