//! Errors that stop a command before it can judge or write: I/O not caused by a store's
//! content, bad requests, refusals, unreadable policies. Problems *in* the files judged are
//! findings, not errors.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The I/O error is shown in the message, not chained as a source: printed with its
    /// chain (`{:#}`) the reason would otherwise appear twice.
    #[error("{path}: {error}")]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: no such file or folder")]
    NotFound { path: PathBuf },
    #[error("{path}: {reason}")]
    BadRequest { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Policy { path: PathBuf, reason: String },
    #[error("{0}")]
    Usage(String),
    /// The request was understood and refused (a hostile CSR, an existing CA, a broken store
    /// enroll will not overwrite).
    #[error("{path}: {reason}")]
    Refused { path: PathBuf, reason: String },
    /// The CA cannot do its work (a key missing, an expired issuing CA, a broken ca.yaml).
    #[error("{path}: {reason}")]
    Ca { path: PathBuf, reason: String },
    /// The CA's inventory database failed (unreachable, corrupt, owned by another CA).
    #[error("inventory {database}: {reason}")]
    Database { database: String, reason: String },
    /// Another operation holds the store.
    #[error("{path}: locked by process {pid}; try again when it has finished")]
    Locked { path: PathBuf, pid: u32 },
}

/// How an error maps to the contract's exit codes (decided in `pki-cli`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Bad flags or arguments: 64.
    Usage,
    /// Refused: the thing asked for would be wrong (2, like a rejection).
    Refused,
    /// Could not be done for reasons outside the request (I/O, a broken CA, a lock): 3.
    Unknown,
}

impl Error {
    /// An I/O error on `path`: a path that does not exist, or is a file where a folder belongs
    /// (or the other way round), is the caller's (usage); anything else could not be done (I/O).
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        use std::io::ErrorKind;
        let path = path.into();
        match source.kind() {
            ErrorKind::NotFound => Error::NotFound { path },
            ErrorKind::NotADirectory => Error::BadRequest {
                path,
                reason: "a file stands where a folder belongs".into(),
            },
            ErrorKind::IsADirectory => Error::BadRequest {
                path,
                reason: "is a folder; a file is needed here".into(),
            },
            _ => Error::Io {
                path,
                error: source,
            },
        }
    }

    pub(crate) fn ca(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Ca {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn refused(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Error::Refused {
            path: path.into(),
            reason: reason.into(),
        }
    }

    pub fn class(&self) -> Class {
        match self {
            Error::NotFound { .. }
            | Error::BadRequest { .. }
            | Error::Policy { .. }
            | Error::Usage(_) => Class::Usage,
            Error::Refused { .. } => Class::Refused,
            Error::Io { .. } | Error::Ca { .. } | Error::Locked { .. } | Error::Database { .. } => {
                Class::Unknown
            }
        }
    }

    /// Whether the fault lies with how the command was called (exit 64).
    pub fn is_usage(&self) -> bool {
        self.class() == Class::Usage
    }
}
