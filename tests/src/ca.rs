//! A CA folder made by `pki ca init` and stores made by `pki enroll`, for the tests of what
//! installers run.

use crate::run::{pki, Run};
use crate::store::TempDir;
use std::path::{Path, PathBuf};

/// A CA made with `pki ca init` at `at` inside `dir/ca`.
pub fn init(dir: &TempDir, at: &str, extra: &[&str]) -> PathBuf {
    let ca = dir.join("ca");
    let mut args = vec!["ca", "init", ca.to_str().expect("utf-8"), "--at", at];
    args.extend_from_slice(extra);
    let run = pki(&args);
    assert_eq!(run.code, 0, "pki ca init: {}{}", run.stdout, run.stderr);
    ca
}

/// `pki enroll STORE --ca CA --device-id ID --at AT` plus `extra`.
pub fn enroll(store: &Path, ca: &Path, id: &str, at: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "enroll",
        store.to_str().expect("utf-8"),
        "--ca",
        ca.to_str().expect("utf-8"),
        "--device-id",
        id,
        "--at",
        at,
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    pki(&args)
}

/// SHA-256 of every file under `dir` (relative path → hash), to prove a command changed nothing.
pub fn snapshot(dir: &Path) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read");
                let rel = path
                    .strip_prefix(dir)
                    .expect("prefix")
                    .display()
                    .to_string();
                out.insert(rel, pki_core::read::cert::sha256_hex(&bytes));
            }
        }
    }
    out
}
