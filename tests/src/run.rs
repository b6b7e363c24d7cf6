//! Running the `pki` binary and reading what it said.

use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

/// What one run of `pki` produced.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The `pki` binary built by `cargo test --workspace` (or `$PKI_BIN`).
pub fn binary() -> PathBuf {
    if let Some(bin) = std::env::var_os("PKI_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test binary> -> target/<profile>/pki
    let profile_dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    let bin = profile_dir.join(format!("pki{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run the suite with `cargo test --workspace` (it builds the binary)",
        bin.display()
    );
    bin
}

/// Runs `pki` with `args` and no colour.
pub fn pki<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    pki_env(args, &[])
}

/// The same with extra environment variables.
pub fn pki_env<I, S>(args: I, env: &[(&str, &str)]) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let out = Command::new(binary())
        .args(args)
        .env("NO_COLOR", "1")
        .envs(env.iter().copied())
        .output()
        .expect("run pki");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `pki diagnose STORE --at AT --format json` plus `extra` flags.
pub fn diagnose(store: &std::path::Path, at: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "diagnose",
        store.to_str().expect("utf-8 path"),
        "--at",
        at,
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    pki(&args)
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// The finding codes, in order.
    pub fn codes(&self) -> Vec<String> {
        self.json()["findings"]
            .as_array()
            .map(|fs| {
                fs.iter()
                    .filter_map(|f| f["code"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The finding with `code`, if any.
    pub fn finding(&self, code: &str) -> Option<Value> {
        self.json()["findings"]
            .as_array()?
            .iter()
            .find(|f| f["code"] == code)
            .cloned()
    }

    /// The root cause: the first critical finding's code.
    pub fn root_cause(&self) -> Option<String> {
        self.json()["findings"]
            .as_array()?
            .iter()
            .find(|f| f["severity"] == "critical")
            .and_then(|f| f["code"].as_str().map(String::from))
    }

    pub fn verdict(&self) -> String {
        self.json()["verdict"].as_str().unwrap_or("").to_string()
    }
}
