//! Crash-safe writes: a temporary file in the same folder, written and fsynced, renamed over
//! the target, then the folder fsynced. At any instant the target holds the old bytes or the
//! new ones, never a mix.
//!
//! For the fault-injection tests, `PKI_CRASH_AFTER=N` aborts the process right after the N-th
//! write step (counted across the process), so every step can be interrupted in turn.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

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
    let target = dir.join(name);
    // `name` may lie in a sub-folder of `dir` (a store's `crl/`): the temporary file goes
    // beside the target, so that the rename stays inside one folder
    let folder = target.parent().unwrap_or(dir).to_path_buf();
    let file = target
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.to_string());
    if folder != dir {
        fs::create_dir_all(&folder)?;
    }
    let tmp = folder.join(format!(".{file}.tmp-{}", std::process::id()));
    let written = create(&tmp, mode).and_then(|file| {
        let mut out = io::BufWriter::new(file);
        fill(&mut out)?;
        out.into_inner().map_err(|e| e.into_error())?.sync_all()
    });
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    step();
    fs::rename(&tmp, &target)?;
    step();
    sync_dir(&folder)?;
    Ok(())
}

/// Appends `line` and a newline to `path`, fsynced (the journal).
pub fn append_line(path: &Path, line: &str) -> io::Result<()> {
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(format!("{line}\n").as_bytes())?;
    file.sync_all()?;
    step();
    Ok(())
}

/// Copies `from` into `to` (a backup), fsynced, keeping `mode`.
pub fn copy(from: &Path, to: &Path, mode: u32) -> io::Result<()> {
    let bytes = fs::read(from)?;
    let mut file = create(to, mode)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    step();
    Ok(())
}

/// fsync a folder so that a rename in it is durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    Ok(())
}

fn create(path: &Path, mode: u32) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = mode;
    Ok(file)
}

/// One write step done; aborts here when fault injection asks for it.
fn step() {
    static STEPS: AtomicU32 = AtomicU32::new(0);
    let n = STEPS.fetch_add(1, Ordering::SeqCst) + 1;
    let crash_at = std::env::var("PKI_CRASH_AFTER")
        .ok()
        .and_then(|v| v.parse::<u32>().ok());
    if crash_at == Some(n) {
        std::process::abort();
    }
}
