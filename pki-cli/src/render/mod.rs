//! Output for people (text, coloured on a terminal unless NO_COLOR is set) and for programs
//! (JSON exactly as the contract shows).

mod diagnose;
mod inspect;
mod policy;
mod style;

pub use diagnose::diagnose;
pub use inspect::inspect;
pub use policy::{policy_error, policy_ok};

use std::io::Write;

/// Writes `text` as it is to stdout (a PEM certificate).
pub fn raw(text: &str) -> anyhow::Result<()> {
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(())
}

/// Writes one line of text to stdout.
pub fn line(text: &str) -> anyhow::Result<()> {
    writeln!(std::io::stdout().lock(), "{text}")?;
    Ok(())
}

/// Writes `value` as pretty JSON and a newline to stdout.
pub fn json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}
