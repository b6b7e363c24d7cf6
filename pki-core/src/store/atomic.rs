//! Crash-safe writes into a folder named by path (a CA folder, an audit's output folder): the
//! folder is opened as a [`Jail`] and written the way every store file is — a temporary file
//! created new in the same folder, written and fsynced, renamed over the target, then the
//! folder fsynced. At any instant the target holds the old bytes or the new ones, never a mix.

use crate::store::jail::Jail;
use std::io::{self, Write};
use std::path::Path;

/// Writes `bytes` to `dir/name` atomically with permission `mode` (Unix); `name` may name a
/// file in a sub-folder (`crl/issuing-1.crl`), made if missing.
pub fn write(dir: &Path, name: &str, bytes: &[u8], mode: u32) -> io::Result<()> {
    write_with(dir, name, mode, |w| w.write_all(bytes))
}

/// The same for output made as it is written (an audit report): `fill` writes it. When `fill`
/// fails, the temporary file is removed and the target left as it was.
pub fn write_with(
    dir: &Path,
    name: &str,
    mode: u32,
    fill: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let jail = Jail::open(dir).map_err(io::Error::other)?;
    jail.write_with(name, mode, None, fill)
        .map_err(|e| match e {
            // the caller names the file; keep the OS error as it was
            crate::error::Error::Io { error, .. } => error,
            other => io::Error::other(other.to_string()),
        })
}
