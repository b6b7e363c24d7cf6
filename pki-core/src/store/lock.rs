//! The store's `.lock`: present while an operation runs, holding its pid. A lock whose process
//! is gone is stale: reported, never obeyed forever.

use crate::finding::{Code, Finding};
use crate::store::LOCK;
use std::path::Path;

/// STORE_LOCKED when another live process holds `dir`'s lock; a note when the lock is stale.
pub fn check(dir: &Path) -> Option<Finding> {
    let path = dir.join(LOCK);
    let text = std::fs::read_to_string(&path).ok()?;
    let pid = text.trim().parse::<u32>().ok();
    match pid {
        Some(pid) if pid == std::process::id() => None,
        Some(pid) if is_alive(pid) => Some(Finding::new(
            Code::StoreLocked,
            format!(
                "{}: process {pid} holds the store; what is read now may be half-changed",
                path.display()
            ),
            "wait for that operation to finish, then diagnose again",
        )),
        _ => Some(
            Finding::new(
                Code::StoreLocked,
                format!(
                    "{}: stale lock ({}): no such process runs",
                    path.display(),
                    pid.map(|p| format!("pid {p}"))
                        .unwrap_or_else(|| "no pid in it".into())
                ),
                "`pki repair STORE` clears a stale lock",
            )
            .warning(),
        ),
    }
}

/// Whether a process with `pid` exists (Linux: /proc; elsewhere assumed alive).
fn is_alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new(&format!("/proc/{pid}")).exists()
    } else {
        true
    }
}

/// A held store lock; released (the file removed) on drop.
#[derive(Debug)]
pub struct Guard {
    path: std::path::PathBuf,
}

/// Why a lock could not be taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockError {
    /// A live process holds it.
    Held {
        pid: u32,
    },
    Io(String),
}

/// [`acquire`], with its failures in the crate's error vocabulary (a live holder is
/// `Error::Locked`, exit 3), for every command that writes.
pub fn hold(dir: &Path) -> Result<(Guard, Option<String>), crate::error::Error> {
    acquire(dir).map_err(|e| match e {
        LockError::Held { pid } => crate::error::Error::Locked {
            path: dir.to_path_buf(),
            pid,
        },
        LockError::Io(why) => crate::error::Error::BadRequest {
            path: dir.to_path_buf(),
            reason: why,
        },
    })
}

/// Takes `dir`'s lock: creates `.lock` holding our pid. A stale lock (its process gone) is
/// replaced, and `cleared` says whose it was.
pub fn acquire(dir: &Path) -> Result<(Guard, Option<String>), LockError> {
    let path = dir.join(LOCK);
    let mut cleared = None;
    for _ in 0..3 {
        // the pid goes in first and the lock appears whole (hard link), so nobody ever
        // reads an empty lock and takes it for a stale one
        let mine = dir.join(format!("{LOCK}.{}", std::process::id()));
        std::fs::write(&mine, std::process::id().to_string())
            .and_then(|()| std::fs::File::open(&mine).and_then(|f| f.sync_all()))
            .map_err(|e| LockError::Io(format!("{}: {e}", mine.display())))?;
        let linked = std::fs::hard_link(&mine, &path);
        let _ = std::fs::remove_file(&mine);
        match linked {
            Ok(()) => return Ok((Guard { path }, cleared)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                match text.trim().parse::<u32>() {
                    Ok(pid) if is_alive(pid) => return Err(LockError::Held { pid }),
                    _ => {
                        match std::fs::remove_file(&path) {
                            Ok(()) => {
                                cleared = Some(format!("stale lock ({}) cleared", text.trim()))
                            }
                            // its holder finished meanwhile and removed it: just try again
                            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                            Err(e) => {
                                return Err(LockError::Io(format!("{}: {e}", path.display())))
                            }
                        }
                    }
                }
            }
            Err(e) => return Err(LockError::Io(format!("{}: {e}", path.display()))),
        }
    }
    Err(LockError::Io(format!(
        "{}: could not be taken",
        path.display()
    )))
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
