//! One change to a store, made the crash-safe way every writing command shares: under the lock,
//! superseded files copied to `backup/` first, a journal entry with before/after hashes, each
//! file written to a temporary file, fsynced and renamed, files taken out moved into the
//! backup folder, and the manifest updated last. Every step goes through the store's handle
//! (`jail.rs`), so none can reach outside the store.

use crate::error::Error;
use crate::read::cert::sha256_hex;
use crate::store::jail::{Jail, Kind};
use crate::store::journal::{self, Entry, FileChange};
use crate::store::manifest::Manifest;
use time::OffsetDateTime;

pub const BACKUP: &str = "backup";

/// Files to write into a store, and why.
#[derive(Debug, Clone)]
pub struct Change {
    pub action: String,
    pub reason: String,
    pub writes: Vec<FileWrite>,
    /// Files taken out of the store: moved into the change's backup folder, never deleted.
    /// [`JOURNAL`](journal::JOURNAL) among them sets a journal that cannot be used (not a
    /// regular file, edited by hand) aside before this change's entry starts a new one.
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

/// Applies `change` to the store (which the caller has locked), with `manifest` as the store's
/// identity; returns the journal entry written. A change that fails before its journal entry
/// is written leaves nothing behind (its backup folder, holding only copies, is removed);
/// errors name the file that failed.
pub fn apply(
    jail: &Jail,
    change: &Change,
    mut manifest: Manifest,
    at: OffsetDateTime,
) -> Result<Entry, Error> {
    let seq = journal::scan(jail, |_| {}).max_seq + 1;
    let owner = jail.heir();
    let set_aside = change.removes.iter().any(|n| n == journal::JOURNAL)
        && jail.kind(journal::JOURNAL).is_some();
    let removes: Vec<&String> = change
        .removes
        .iter()
        .filter(|name| *name != journal::JOURNAL && jail.kind(name.as_str()).is_some())
        .collect();
    let files: Vec<FileChange> = change
        .writes
        .iter()
        .map(|w| FileChange {
            file: w.name.clone(),
            before: jail.hash(&w.name),
            after: Some(sha256_hex(&w.bytes)),
        })
        .chain(removes.iter().map(|name| FileChange {
            file: name.to_string(),
            before: jail.hash(name.as_str()),
            after: None,
        }))
        .collect();
    let superseded: Vec<&FileChange> = files
        .iter()
        .filter(|f| f.after.is_some() && f.before.is_some() && f.before != f.after)
        .collect();
    // what is under a written name but could not be read (over the size cap, a FIFO, a link
    // out): moved into the backup folder as it is, never overwritten unseen
    let displaced: Vec<&str> = change
        .writes
        .iter()
        .zip(&files)
        .filter(|(w, f)| f.before.is_none() && jail.kind(w.name.as_str()).is_some())
        .map(|(w, _)| w.name.as_str())
        .collect();
    let backup =
        if superseded.is_empty() && removes.is_empty() && displaced.is_empty() && !set_aside {
            None
        } else {
            let folder = backup_folder(jail, seq, at, owner)?;
            if let Err(e) = copy_superseded(jail, &folder, &superseded, owner) {
                let _ = jail.remove_dir_all(&folder);
                return Err(e);
            }
            Some(folder)
        };
    let aside = match (&backup, set_aside) {
        (Some(folder), true) => {
            let to = format!("{folder}/{}", journal::JOURNAL);
            jail.rename(journal::JOURNAL, &to)?;
            Some(to)
        }
        _ => None,
    };
    let entry = Entry {
        seq,
        at: crate::timestamp::format(at),
        action: change.action.clone(),
        reason: change.reason.clone(),
        files: files.clone(),
        backup: backup.clone(),
    };
    if let Err(e) = journal::append(jail, &entry, owner) {
        // nothing has changed yet: the copies are not needed, and no entry names them
        let restored = aside
            .as_ref()
            .is_none_or(|to| jail.rename(to, journal::JOURNAL).is_ok());
        if let (Some(folder), true) = (&backup, restored) {
            let _ = jail.remove_dir_all(folder);
        }
        return Err(e);
    }
    if let Some(folder) = &backup {
        for name in &displaced {
            move_into(jail, folder, name, owner)?;
        }
    }
    for w in &change.writes {
        jail.write(&w.name, &w.bytes, w.mode, owner)?;
    }
    if let Some(folder) = &backup {
        for name in &removes {
            move_into(jail, folder, name, owner)?;
        }
        jail.sync(folder)?;
    }
    jail.sync("")?;
    // names that are no store file were never the toolkit's: they are not recorded again
    manifest
        .files
        .retain(|name, _| crate::store::is_store_file(name));
    for f in files {
        match f.after {
            Some(after) => manifest.files.insert(f.file, after),
            None => manifest.files.remove(&f.file),
        };
    }
    manifest.save(jail, owner)?;
    Ok(entry)
}

/// Moves the entry `name` into the backup `folder` (the entry itself: a link is moved, not
/// followed); nothing is deleted.
fn move_into(
    jail: &Jail,
    folder: &str,
    name: &str,
    owner: Option<(u32, u32)>,
) -> Result<(), Error> {
    let to = format!("{folder}/{name}");
    if let Some((parent, _)) = to.rsplit_once('/') {
        jail.create_dir(parent, owner)?;
    }
    jail.rename(name, &to)
}

/// Makes the change's backup folder `backup/<seq>-<time>` (a new name, never one already
/// there) and returns its name relative to the store.
fn backup_folder(
    jail: &Jail,
    seq: u64,
    at: OffsetDateTime,
    owner: Option<(u32, u32)>,
) -> Result<String, Error> {
    // the toolkit's own folder or none: a link (even one that stays in the store) or a file
    // under the name is no place for backups (they would land where it leads)
    let not_ours = match jail.kind(BACKUP) {
        None | Some(Kind::Dir) => None,
        Some(Kind::Symlink) => Some(format!("a symlink (to {})", jail.link_text(BACKUP))),
        Some(Kind::File) => Some("a file".to_string()),
        Some(Kind::Other) => Some("a FIFO, device or socket".to_string()),
    };
    if let Some(what) = not_ours {
        return Err(Error::refused(
            jail.shown(BACKUP),
            format!("{what}, not the toolkit's backup folder: nothing was changed; remove it (or move it out of the store), then run again"),
        ));
    }
    jail.create_dir(BACKUP, owner)?;
    let stamp = crate::timestamp::format(at).replace(':', "");
    for n in 0..1000 {
        let name = match n {
            0 => format!("{BACKUP}/{seq:04}-{stamp}"),
            n => format!("{BACKUP}/{seq:04}-{stamp}-{n}"),
        };
        if jail.create_dir(&name, owner)? {
            return Ok(name);
        }
    }
    Err(Error::refused(
        jail.shown(BACKUP),
        format!("holds a thousand folders named for change #{seq}: the backups were tampered with"),
    ))
}

/// Copies each superseded file into `folder`, with the store's `owner`: keys (by name, or a
/// private key pasted into another file) mode 0600; other files never more open than they
/// were.
fn copy_superseded(
    jail: &Jail,
    folder: &str,
    superseded: &[&FileChange],
    owner: Option<(u32, u32)>,
) -> Result<(), Error> {
    for f in superseded {
        let to = format!("{folder}/{}", f.file);
        if let Some((parent, _)) = to.rsplit_once('/') {
            jail.create_dir(parent, owner)?;
        }
        // a private key pasted into another file (device.crt) is a key all the same
        let (was, holds_key) = match jail.read(&f.file)? {
            crate::read::input::Read::Bytes { mode, bytes } => (
                mode.unwrap_or(0o644),
                memchr::memmem::find(&bytes, b"PRIVATE KEY-----").is_some(),
            ),
            _ => (0o600, false),
        };
        let mode = if is_key(&f.file) || holds_key {
            0o600
        } else {
            was & 0o644
        };
        jail.copy(&f.file, &to, mode, owner)?;
    }
    jail.sync(folder)
}

/// Whether a store file holds a private key by its name (backups of keys stay 0600).
pub fn is_key(name: &str) -> bool {
    name.ends_with(".key") || name.contains(".key.")
}

/// Whether `name` is a backup folder the toolkit makes: `backup/<seq>-<time>[-n]`, digits and
/// letters only after the sequence number.
pub fn is_backup_folder(name: &str) -> bool {
    name.strip_prefix("backup/").is_some_and(is_generation)
}

/// Whether a name in `backup/` is one of the toolkit's change folders (see [`is_backup_folder`]).
pub fn is_generation(name: &str) -> bool {
    let Some((seq, rest)) = name.split_once('-') else {
        return false;
    };
    seq.len() >= 4
        && seq.bytes().all(|b| b.is_ascii_digit())
        && !rest.is_empty()
        && rest.len() <= 40
        && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}
