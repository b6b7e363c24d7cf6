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
                "pki repair STORE clears a stale lock",
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
