//! Reading files from the field safely: a size cap, no symlinks out of a store, the mode bits
//! that tell whether a key is exposed.

use crate::error::Error;
use std::fs;
use std::io::Read as _;
use std::path::{Path, PathBuf};

/// Larger files are not read: no certificate, key or CRL an endpoint holds comes near it.
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;

/// A folder with more entries than this is not an endpoint store.
pub const MAX_STORE_ENTRIES: usize = 10_000;

/// A file read, or the reason it was not.
#[derive(Debug)]
pub enum Read {
    Bytes {
        bytes: Vec<u8>,
        mode: Option<u32>,
    },
    TooLarge(u64),
    /// A symlink whose target lies outside the store: not followed.
    LeavesStore(PathBuf),
    NotAFile,
}

impl Read {
    /// Why the file was not read, as a finding says it; `None` when it was.
    pub fn refusal(&self) -> Option<String> {
        match self {
            Read::Bytes { .. } => None,
            Read::TooLarge(size) => Some(format!(
                "{size} bytes, larger than the {MAX_FILE_SIZE} byte limit; not read"
            )),
            Read::LeavesStore(target) => Some(format!(
                "a symlink leading out of the store (to {}); not followed",
                target.display()
            )),
            Read::NotAFile => Some("not a regular file".to_string()),
        }
    }
}

/// `Ok` when `dir` is a folder; else why not (missing, or something else).
pub fn folder(dir: &Path) -> Result<(), Error> {
    if dir.is_dir() {
        Ok(())
    } else if dir.exists() {
        Err(Error::BadRequest {
            path: dir.to_path_buf(),
            reason: "is not a folder".into(),
        })
    } else {
        Err(Error::NotFound {
            path: dir.to_path_buf(),
        })
    }
}

/// Reads `path`. With `within`, a symlink is followed only when its target stays inside that
/// folder. A missing file is `Error::NotFound`; other I/O failures are `Error::Io`.
pub fn read(path: &Path, within: Option<&Path>) -> Result<Read, Error> {
    let link = fs::symlink_metadata(path).map_err(|e| Error::io(path, e))?;
    if link.file_type().is_symlink() {
        if let Some(root) = within {
            let target = fs::canonicalize(path).map_err(|e| Error::io(path, e))?;
            let root = fs::canonicalize(root).map_err(|e| Error::io(root, e))?;
            if !target.starts_with(&root) {
                return Ok(Read::LeavesStore(target));
            }
        }
    }
    // a symlink that stays inside is followed; anything else was described by lstat already
    let meta = if link.file_type().is_symlink() {
        fs::metadata(path).map_err(|e| Error::io(path, e))?
    } else {
        link
    };
    if !meta.is_file() {
        return Ok(Read::NotAFile);
    }
    if meta.len() > MAX_FILE_SIZE {
        return Ok(Read::TooLarge(meta.len()));
    }
    // read at most one byte past the cap: a file that grew meanwhile is still refused
    let mut bytes = Vec::with_capacity(meta.len() as usize + 1);
    fs::File::open(path)
        .and_then(|file| file.take(MAX_FILE_SIZE + 1).read_to_end(&mut bytes))
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Ok(Read::TooLarge(bytes.len() as u64));
    }
    Ok(Read::Bytes {
        bytes,
        mode: mode(&meta),
    })
}

#[cfg(unix)]
fn mode(meta: &fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(meta.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn mode(_meta: &fs::Metadata) -> Option<u32> {
    None
}

/// The entries of a store folder, sorted by name, capped at [`MAX_STORE_ENTRIES`].
pub fn list(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut entries = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        entries.push(entry.path());
        if entries.len() > MAX_STORE_ENTRIES {
            return Err(Error::BadRequest {
                path: dir.to_path_buf(),
                reason: format!(
                    "holds more than {MAX_STORE_ENTRIES} entries; that is no endpoint store"
                ),
            });
        }
    }
    entries.sort();
    Ok(entries)
}
