//! Which folders an audit judges: a path that is a store itself, or each sub-folder of one
//! that is not (a file share of collected stores, a test lab).

use crate::error::Error;
use crate::store;
use std::path::{Path, PathBuf};

/// The stores under `paths`: a path that is a store itself, or each sub-folder of one that is not.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut stores = Vec::new();
    for path in paths {
        crate::read::input::folder(path)?;
        if is_store(path) {
            stores.push(path.clone());
            continue;
        }
        let first = stores.len();
        for entry in std::fs::read_dir(path).map_err(|e| Error::io(path, e))? {
            let Ok(entry) = entry else { continue };
            // the entry's type comes with the listing; only a symlink needs a stat
            let is_dir = match entry.file_type() {
                Ok(t) if t.is_symlink() => entry.path().is_dir(),
                Ok(t) => t.is_dir(),
                Err(_) => false,
            };
            if is_dir {
                stores.push(entry.path());
            }
        }
        stores[first..].sort();
    }
    Ok(stores)
}

fn is_store(dir: &Path) -> bool {
    dir.join(store::MANIFEST).exists()
        || std::fs::read_dir(dir)
            .map(|entries| {
                entries.filter_map(Result::ok).any(|e| {
                    let p = e.path();
                    p.is_file()
                        && matches!(
                            p.extension().and_then(|x| x.to_str()),
                            Some("crt" | "pem" | "key" | "der" | "cer")
                        )
                })
            })
            .unwrap_or(false)
}
