//! Which folders an audit judges. A PATH with `store.yaml` is a store. A PATH whose
//! sub-folders are stores is a fleet, whatever else lies beside them: each sub-folder is
//! judged, and a certificate-looking file at its top is reported (a warning naming the file),
//! not allowed to turn the whole fleet into one broken store. Otherwise a PATH holding
//! certificate files is a (foreign) store; and a PATH under which nothing is found is said
//! to be so (`unknown`), never audited as "0 stores, all fine": a wrong mount point must not
//! look healthy to a scheduler.

use crate::error::Error;
use crate::read::input::{self, Read};
use crate::store;
use std::path::{Path, PathBuf};

/// What lies under the audit's paths.
#[derive(Debug, Default)]
pub struct Discovery {
    /// The stores to judge, each path's in name order.
    pub stores: Vec<PathBuf>,
    /// Certificate-looking files beside a fleet's stores: not judged, reported.
    pub strays: Vec<PathBuf>,
    /// Paths under which no store was found.
    pub empty: Vec<PathBuf>,
}

/// Sorts `paths` into stores, stray files and paths without a store. A path that does not
/// exist or is not a folder is an error (usage).
pub fn discover(paths: &[PathBuf]) -> Result<Discovery, Error> {
    let mut found = Discovery::default();
    for path in paths {
        input::folder(path)?;
        if path.join(store::MANIFEST).exists() {
            found.stores.push(path.clone());
            continue;
        }
        let (folders, files) = entries(path)?;
        // a store's own sub-folders (crl/, backup/) do not make it a fleet
        let fleet = folders
            .iter()
            .any(|f| !is_part_of_a_store(f) && is_store(f));
        if !fleet && !files.is_empty() && files.iter().any(|f| holds_pki(f)) {
            found.stores.push(path.clone());
        } else if folders.is_empty() {
            found.empty.push(path.clone());
        } else {
            found
                .strays
                .extend(files.into_iter().filter(|f| holds_pki(f)));
            found.stores.extend(folders);
        }
    }
    // a store reached twice (a fleet and one of its stores both given, `st` and `st/`, a
    // symlink to a store beside it) is judged once: twice, it would pass for a cloned disk
    let mut seen = std::collections::HashSet::new();
    let mut first =
        |p: &PathBuf| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()));
    found.stores.retain(&mut first);
    found.strays.retain(&mut first);
    Ok(found)
}

/// The sub-folders and regular files of `dir`, each sorted by name.
fn entries(dir: &Path) -> Result<(Vec<PathBuf>, Vec<PathBuf>), Error> {
    let mut folders = Vec::new();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let Ok(entry) = entry else { continue };
        // the entry's type comes with the listing; only a symlink needs a stat
        let (is_dir, is_file) = match entry.file_type() {
            Ok(t) if t.is_symlink() => (entry.path().is_dir(), entry.path().is_file()),
            Ok(t) => (t.is_dir(), t.is_file()),
            Err(_) => (false, false),
        };
        if is_dir {
            folders.push(entry.path());
        } else if is_file {
            files.push(entry.path());
        }
    }
    folders.sort();
    files.sort();
    Ok((folders, files))
}

/// `crl/` and `backup/`: folders inside a store.
fn is_part_of_a_store(dir: &Path) -> bool {
    dir.file_name()
        .is_some_and(|n| n == store::CRL_DIR || n == crate::store::change::BACKUP)
}

/// A folder that is a store: `store.yaml`, or a file that holds certificates or keys.
fn is_store(dir: &Path) -> bool {
    dir.join(store::MANIFEST).exists()
        || entries(dir).is_ok_and(|(_, files)| files.iter().any(|f| holds_pki(f)))
}

/// Whether a file is meant to hold certificates, keys or CRLs: named so, or PEM inside.
fn holds_pki(file: &Path) -> bool {
    let bytes = match input::read(file) {
        Ok(Read::Bytes { bytes, .. }) => bytes,
        _ => Vec::new(),
    };
    store::looks_like_pki(file, &bytes)
}
