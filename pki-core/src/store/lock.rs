//! The store's `.lock`: present while an operation runs, holding its pid. A lock is cleared
//! only when it is provably stale: it could be read, it holds a process id, and no such
//! process exists. Anything else — a live holder, a lock that cannot be read, garbage, a
//! FIFO or a folder under the name — is obeyed, and STORE_LOCKED says who holds the store or
//! why it cannot tell.

use crate::error::Error;
use crate::finding::{Code, Finding};
use crate::read::input::Read;
use crate::store::jail::{Jail, Kind};
use crate::store::LOCK;
use std::path::Path;

/// Who holds a store's lock, as far as can be told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// This process.
    Me,
    /// A live process.
    Alive(u32),
    /// A process that no longer exists: the lock may be cleared.
    Gone(u32),
    /// It cannot be told: why (unreadable, no pid in it, not a file).
    Unknown(String),
}

/// Who holds `jail`'s lock; `None` when there is no lock.
pub fn holder(jail: &Jail) -> Option<Holder> {
    if jail.kind(LOCK) == Some(Kind::Symlink) {
        // the toolkit's lock is a file; what a link leads to is not read (it may be a key)
        return Some(Holder::Unknown(format!(
            "it is a symlink (to {}), not a lock file",
            jail.link_text(LOCK)
        )));
    }
    let bytes = match jail.read_lock(LOCK) {
        Err(Error::NotFound { .. }) => return None,
        Err(Error::Io { error, .. }) => {
            return Some(Holder::Unknown(format!("it cannot be read ({error})")))
        }
        Err(e) => return Some(Holder::Unknown(e.to_string())),
        Ok(Read::Bytes { bytes, .. }) => bytes,
        Ok(Read::NotAFile(what)) => {
            return Some(Holder::Unknown(format!("it is {what}, not a lock file")))
        }
        Ok(Read::LeavesStore(to)) => {
            return Some(Holder::Unknown(format!(
                "it is a symlink leading out of the store (to {to}), not a lock file"
            )))
        }
        Ok(Read::TooLarge(size)) => {
            return Some(Holder::Unknown(format!(
                "it holds {size} bytes, no lock file"
            )))
        }
        Ok(unread @ Read::HardLinked(_)) => {
            return Some(Holder::Unknown(unread.refusal().unwrap_or_default()))
        }
    };
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim();
    let shown: String = text.chars().take(24).filter(|c| !c.is_control()).collect();
    let Ok(pid) = text.parse::<u32>() else {
        return Some(Holder::Unknown(if text.is_empty() {
            "it is empty: no process id in it".to_string()
        } else if text.bytes().all(|b| b.is_ascii_digit()) {
            format!("it holds '{shown}', which is no process id")
        } else {
            format!("it holds '{shown}', no process id")
        }));
    };
    Some(match pid {
        0 => Holder::Unknown("it holds '0', which is no process id".to_string()),
        pid if pid == std::process::id() => Holder::Me,
        pid => match is_alive(pid) {
            Some(false) => Holder::Gone(pid),
            Some(true) => Holder::Alive(pid),
            None => Holder::Unknown(format!(
                "whether process {pid} runs cannot be told on this system"
            )),
        },
    })
}

/// STORE_LOCKED when another process holds `jail`'s lock, or it cannot be told whether one
/// does; the finding says that a stale lock is stale.
pub fn check(jail: &Jail) -> Option<Finding> {
    let path = jail.shown(LOCK);
    let shown = path.display();
    match holder(jail)? {
        Holder::Me => None,
        Holder::Alive(pid) => Some(Finding::new(
            Code::StoreLocked,
            format!("{shown}: process {pid} holds the store; what is read now may be half-changed"),
            "wait for that operation to finish, then diagnose again",
        )),
        Holder::Gone(pid) => Some(
            Finding::new(
                Code::StoreLocked,
                format!("{shown}: stale lock (pid {pid}): no such process runs"),
                "`pki repair STORE` clears a stale lock",
            )
            .warning(),
        ),
        Holder::Unknown(why) => Some(
            Finding::new(
                Code::StoreLocked,
                format!("{shown}: {why}: it cannot be told whether an operation holds the store"),
                unknown_fix(&path),
            )
            .warning(),
        ),
    }
}

fn unknown_fix(path: &Path) -> String {
    format!(
        "if no pki command is working on this store, remove the lock by hand (rm -r {}), then run the command again",
        path.display()
    )
}

/// Whether a process with `pid` exists: `kill(pid, 0)` (Unix); `None` where it cannot be told.
fn is_alive(pid: u32) -> Option<bool> {
    #[cfg(unix)]
    {
        let pid = rustix::process::Pid::from_raw(i32::try_from(pid).ok()?)?;
        match rustix::process::test_kill_process(pid) {
            Ok(()) => Some(true),
            // it exists, and belongs to someone else
            Err(rustix::io::Errno::PERM) => Some(true),
            Err(rustix::io::Errno::SRCH) => Some(false),
            Err(_) => None,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        None
    }
}

/// A held store lock; released (the file removed) on drop.
#[derive(Debug)]
pub struct Guard {
    jail: Jail,
}

/// Takes the store's lock: `.lock` appears whole, holding our pid (written to `.lock.PID`
/// first, then hard-linked), so nobody ever reads an empty lock. A provably stale lock is
/// cleared, and the second value says whose it was. A live holder is `Error::Locked` (exit 3);
/// a lock that cannot be told stale is refused naming it (exit 2); a store the caller cannot
/// write is an I/O error naming the file (exit 3).
pub fn hold(jail: &Jail) -> Result<(Guard, Option<String>), Error> {
    let mine = format!("{LOCK}.{}", std::process::id());
    let mut cleared = None;
    for _ in 0..3 {
        write_pid(jail, &mine)?;
        let linked = jail.hard_link(Path::new(&mine), LOCK);
        let _ = jail.remove_file(&mine);
        match linked {
            Ok(()) => {
                let guard = Guard {
                    jail: jail.try_clone()?,
                };
                return Ok((guard, cleared));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match holder(jail) {
                // its holder finished meanwhile: try again
                None => {}
                Some(Holder::Me) => {
                    return Err(Error::Locked {
                        path: jail.path().to_path_buf(),
                        pid: std::process::id(),
                    })
                }
                Some(Holder::Alive(pid)) => {
                    return Err(Error::Locked {
                        path: jail.path().to_path_buf(),
                        pid,
                    })
                }
                Some(Holder::Gone(pid)) => match jail.remove_file(LOCK) {
                    Ok(()) => cleared = Some(format!("stale lock (pid {pid}) cleared")),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(jail.error(LOCK, e)),
                },
                Some(Holder::Unknown(why)) => return Err(unknown(jail, &why)),
            },
            Err(e) => return Err(jail.error(LOCK, e)),
        }
    }
    Err(Error::Locked {
        path: jail.path().to_path_buf(),
        pid: 0,
    })
}

/// What [`hold`] would do, without doing it (a dry run): `Some` saying which stale lock it
/// would clear; the error it would return for a live or unknown holder.
pub fn probe(jail: &Jail) -> Result<Option<String>, Error> {
    match holder(jail) {
        None | Some(Holder::Me) => Ok(None),
        Some(Holder::Gone(pid)) => Ok(Some(format!("stale lock (pid {pid}) would be cleared"))),
        Some(Holder::Alive(pid)) => Err(Error::Locked {
            path: jail.path().to_path_buf(),
            pid,
        }),
        Some(Holder::Unknown(why)) => Err(unknown(jail, &why)),
    }
}

fn unknown(jail: &Jail, why: &str) -> Error {
    let path = jail.shown(LOCK);
    Error::refused(
        &path,
        format!(
            "{why}: it cannot be told whether another operation holds the store; {}",
            unknown_fix(&path)
        ),
    )
}

/// `.lock.PID` holding our pid, fsynced (created anew: a name planted there is not followed).
fn write_pid(jail: &Jail, name: &str) -> Result<(), Error> {
    use std::io::Write;
    let mut file = jail
        .create_new(Path::new(name), 0o644)
        .map_err(|e| jail.error(name, e))?;
    file.write_all(std::process::id().to_string().as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| jail.error(name, e))
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.jail.remove_file(LOCK);
    }
}
