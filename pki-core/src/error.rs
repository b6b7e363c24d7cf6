//! Errors that stop a command before it can judge: I/O not caused by a store's content, bad
//! requests, unreadable policies. Problems *in* the files judged are findings, not errors.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: no such file or folder")]
    NotFound { path: PathBuf },
    #[error("{path}: {reason}")]
    BadRequest { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Policy { path: PathBuf, reason: String },
    #[error("{0}")]
    Usage(String),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        if source.kind() == std::io::ErrorKind::NotFound {
            Error::NotFound { path }
        } else {
            Error::Io { path, source }
        }
    }

    /// Whether the fault lies with how the command was called (exit 64) rather than with the
    /// machine (exit 3).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Error::NotFound { .. }
                | Error::BadRequest { .. }
                | Error::Policy { .. }
                | Error::Usage(_)
        )
    }
}
