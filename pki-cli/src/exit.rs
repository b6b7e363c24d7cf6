//! The process exit code, decided here and nowhere else (the contract's table).

use pki_core::Status;
use std::process::ExitCode;

/// What a command ended with, for the exit code.
pub enum Outcome {
    /// A judgement: ok 0, warning 1, critical 2.
    Judged(Status),
    /// Success with nothing to judge.
    Done,
    /// The input was refused as a usage error (e.g. an invalid policy): 64.
    Usage,
    /// A command-specific code (`renew --check`: 0 due, 1 not due).
    Code(u8),
}

pub const USAGE: u8 = 64;
pub const UNKNOWN: u8 = 3;

pub fn code(outcome: Outcome) -> ExitCode {
    ExitCode::from(match outcome {
        Outcome::Judged(Status::Ok) | Outcome::Done => 0,
        Outcome::Judged(Status::Warning) => 1,
        Outcome::Judged(Status::Critical) => 2,
        Outcome::Usage => USAGE,
        Outcome::Code(code) => code,
    })
}

/// Whether `err` is a write to a closed pipe, anywhere in its chain.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        let kind = cause
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            // serde_json keeps the I/O error's kind, not the error, in its chain
            .or_else(|| {
                cause
                    .downcast_ref::<serde_json::Error>()
                    .and_then(serde_json::Error::io_error_kind)
            });
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}

/// An error that stopped a command: a usage error (64) or one the tool could not judge (3).
pub fn for_error(err: &anyhow::Error) -> ExitCode {
    use pki_core::error::Class;
    if err.downcast_ref::<crate::args::UsageError>().is_some() {
        return ExitCode::from(USAGE);
    }
    ExitCode::from(
        match err
            .downcast_ref::<pki_core::Error>()
            .map(pki_core::Error::class)
        {
            Some(Class::Usage) => USAGE,
            Some(Class::Refused) => 2,
            Some(Class::Unknown) | None => UNKNOWN,
        },
    )
}
