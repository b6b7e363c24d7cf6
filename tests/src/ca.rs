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
    entries(dir, false)
}

/// Every entry under `dir`: a file's SHA-256 and mode, a folder's mode (relative path →
/// either), to prove a dry run changed nothing — not a byte, not a mode, not an empty folder.
/// A `dir` that does not exist is an empty map.
pub fn snapshot_all(dir: &Path) -> std::collections::BTreeMap<String, String> {
    entries(dir, true)
}

fn entries(dir: &Path, all: bool) -> std::collections::BTreeMap<String, String> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = std::collections::BTreeMap::new();
    if !dir.exists() {
        return out;
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("stat");
            let mode = meta.permissions().mode() & 0o7777;
            let rel = path
                .strip_prefix(dir)
                .expect("prefix")
                .display()
                .to_string();
            if meta.is_dir() {
                stack.push(path);
                if all {
                    out.insert(rel, format!("folder {mode:o}"));
                }
            } else {
                let bytes = std::fs::read(&path).expect("read");
                let hash = pki_core::read::cert::sha256_hex(&bytes);
                out.insert(
                    rel,
                    if all {
                        format!("{hash} {mode:o}")
                    } else {
                        hash
                    },
                );
            }
        }
    }
    out
}
