//! One change to a store, made the crash-safe way every writing command shares: under the lock,
//! superseded files copied to `backup/` first, a journal entry with before/after hashes, each
//! file written to a temporary file, fsynced and renamed, and the manifest updated last.

use crate::read::cert::sha256_hex;
use crate::store::atomic;
use crate::store::journal::{self, Entry, FileChange};
use crate::store::manifest::{file_hash, Manifest};
use std::path::Path;
use time::OffsetDateTime;

pub const BACKUP: &str = "backup";

/// Files to write into a store, and why.
#[derive(Debug, Clone)]
pub struct Change {
    pub action: String,
    pub reason: String,
    pub writes: Vec<FileWrite>,
    /// Files taken out of the store: moved into the change's backup folder, never deleted.
    pub removes: Vec<String>,
}

#[derive(Clone)]
pub struct FileWrite {
    pub name: String,
    pub bytes: Vec<u8>,
    pub mode: u32,
}

impl std::fmt::Debug for FileWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // the bytes may be a private key
        write!(
            f,
            "FileWrite({}, {} bytes, {:o})",
            self.name,
            self.bytes.len(),
            self.mode
        )
    }
}

/// Applies `change` to the store `dir` (which the caller has locked), with `manifest` as the
/// store's identity; returns the journal entry written.
pub fn apply(
    dir: &Path,
    change: &Change,
    mut manifest: Manifest,
    at: OffsetDateTime,
) -> std::io::Result<Entry> {
    std::fs::create_dir_all(dir)?;
    let previous = journal::read(dir);
    let seq = previous.last().map_or(1, |e| e.seq + 1);
    let removes = change.removes.iter().filter(|name| dir.join(name).exists());
    let files: Vec<FileChange> = change
        .writes
        .iter()
        .map(|w| FileChange {
            file: w.name.clone(),
            before: file_hash(&dir.join(&w.name)),
            after: Some(sha256_hex(&w.bytes)),
        })
        .chain(removes.map(|name| FileChange {
            file: name.clone(),
            before: file_hash(&dir.join(name)),
            after: None,
        }))
        .collect();
    let superseded: Vec<&FileChange> = files
        .iter()
        .filter(|f| f.before.is_some() && f.before != f.after)
        .collect();
    let backup = if superseded.is_empty() {
        None
    } else {
        let name = format!(
            "{BACKUP}/{seq:04}-{}",
            crate::timestamp::format(at).replace(':', "")
        );
        let folder = dir.join(&name);
        std::fs::create_dir_all(&folder)?;
        for f in &superseded {
            let mode = if is_key(&f.file) { 0o600 } else { 0o644 };
            let to = folder.join(&f.file);
            if let Some(parent) = to.parent() {
                std::fs::create_dir_all(parent)?;
            }
            atomic::copy(&dir.join(&f.file), &to, mode)?;
        }
        // a removed file is in the backup now; the store keeps no second copy of a key
        atomic::sync_dir(&folder)?;
        Some(name)
    };
    let entry = Entry {
        seq,
        at: crate::timestamp::format(at),
        action: change.action.clone(),
        reason: change.reason.clone(),
        files: files.clone(),
        backup,
    };
    journal::append(dir, &entry)?;
    for w in &change.writes {
        atomic::write(dir, &w.name, &w.bytes, w.mode)?;
    }
    for f in files.iter().filter(|f| f.after.is_none()) {
        std::fs::remove_file(dir.join(&f.file))?;
    }
    atomic::sync_dir(dir)?;
    for f in files {
        match f.after {
            Some(after) => manifest.files.insert(f.file, after),
            None => manifest.files.remove(&f.file),
        };
    }
    manifest.save(dir)?;
    own_like_the_store(dir, change);
    Ok(entry)
}

/// Run as root, files written take the store folder's owner, so that the product's service
/// account can still read its key (a root-owned 0600 key is a key it cannot use).
#[cfg(unix)]
fn own_like_the_store(dir: &Path, change: &Change) {
    use std::os::unix::fs::MetadataExt;
    let running_as_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    let Ok(owner) = std::fs::metadata(dir) else {
        return;
    };
    if !running_as_root || owner.uid() == 0 {
        return;
    }
    for w in &change.writes {
        let _ = std::os::unix::fs::chown(dir.join(&w.name), Some(owner.uid()), Some(owner.gid()));
    }
}

#[cfg(not(unix))]
fn own_like_the_store(_dir: &Path, _change: &Change) {}

/// Whether a store file holds a private key by its name (backups of keys stay 0600).
pub fn is_key(name: &str) -> bool {
    name.ends_with(".key") || name.contains(".key.")
}
