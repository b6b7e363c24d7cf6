//! Loose files for `pki diagnose --cert --key --chain --trust --crl`, written to a temporary
//! folder, and a runner that judges them at a fixed instant.

use crate::run::{pki, Run};
use crate::store::TempDir;
use std::path::PathBuf;

/// The files of one situation. Empty strings are not written.
#[derive(Default, Clone)]
pub struct Files {
    pub cert: String,
    pub key: String,
    pub chain: String,
    pub trust: String,
    pub crls: Vec<String>,
}

pub struct Written {
    pub dir: TempDir,
    pub cert: PathBuf,
    pub key: Option<PathBuf>,
    pub chain: Option<PathBuf>,
    pub trust: Option<PathBuf>,
    pub crls: Vec<PathBuf>,
}

impl Files {
    pub fn write(&self, label: &str) -> Written {
        let dir = TempDir::new(label);
        let cert = dir.write("device.crt", &self.cert);
        let opt =
            |name: &str, content: &str| (!content.is_empty()).then(|| dir.write(name, content));
        let key = opt("device.key", &self.key);
        if let Some(key) = &key {
            crate::store::set_mode(key, 0o600);
        }
        let chain = opt("chain.pem", &self.chain);
        let trust = opt("trust.pem", &self.trust);
        let crls = self
            .crls
            .iter()
            .enumerate()
            .map(|(i, crl)| dir.write(&format!("crl-{i}.pem"), crl))
            .collect();
        Written {
            cert,
            key,
            chain,
            trust,
            crls,
            dir,
        }
    }

    /// `pki diagnose` on these files at `at`, JSON output, plus `extra` flags.
    pub fn diagnose(&self, at: &str, extra: &[&str]) -> Run {
        let w = self.write("loose");
        let mut args: Vec<String> = vec![
            "diagnose".into(),
            "--format".into(),
            "json".into(),
            "--at".into(),
            at.into(),
        ];
        args.push("--cert".into());
        args.push(w.cert.display().to_string());
        for (flag, path) in [
            ("--key", &w.key),
            ("--chain", &w.chain),
            ("--trust", &w.trust),
        ] {
            if let Some(path) = path {
                args.push(flag.into());
                args.push(path.display().to_string());
            }
        }
        for crl in &w.crls {
            args.push("--crl".into());
            args.push(crl.display().to_string());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        pki(args)
    }
}

/// Runs `openssl` with `args` in `dir`; panics with its stderr on failure.
pub fn openssl(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
