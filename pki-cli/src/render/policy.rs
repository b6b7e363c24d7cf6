use crate::args::Format;
use pki_core::Policy;
use std::io::Write;
use std::path::Path;

pub fn policy_ok(path: &Path, policy: &Policy, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            super::json(&serde_json::json!({"file": path, "valid": true, "policy": policy}))
        }
        Format::Text | Format::Prometheus => {
            writeln!(
                std::io::stdout().lock(),
                "{}: policy '{}' is valid",
                path.display(),
                policy.name
            )?;
            Ok(())
        }
    }
}

pub fn policy_error(path: &Path, reason: &str, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            super::json(&serde_json::json!({"file": path, "valid": false, "error": reason}))
        }
        Format::Text | Format::Prometheus => {
            eprintln!("{}: {reason}", path.display());
            Ok(())
        }
    }
}
