use crate::args::Format;
use pki_core::Policy;
use std::io::Write;
use std::path::Path;

pub fn policy_ok(path: &Path, policy: &Policy, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            super::json(&serde_json::json!({"file": path, "valid": true, "policy": policy}))
        }
        Format::Text => {
            let text = format!("{}: policy '{}' is valid", path.display(), policy.name);
            writeln!(std::io::stdout().lock(), "{}", super::clean(&text))?;
            Ok(())
        }
    }
}

pub fn policy_error(path: &Path, reason: &str, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            super::json(&serde_json::json!({"file": path, "valid": false, "error": reason}))
        }
        Format::Text => {
            eprintln!(
                "{}",
                super::clean_lines(&format!("{}: {reason}", path.display()))
            );
            Ok(())
        }
    }
}
