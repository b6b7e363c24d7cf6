//! The binary's own contract at the edge: help exits 0 with an example, usage errors exit 64
//! (not clap's 2, which means "critical" here). Also makes `cargo test --workspace` build
//! `target/*/pki` for the end-to-end suite in `tests/`.

use std::process::Command;

fn pki(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pki"))
        .args(args)
        .output()
        .expect("run pki");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_shows_an_example_and_exits_zero() {
    for cmd in [
        &["diagnose", "--help"][..],
        &["inspect", "--help"],
        &["policy", "check", "--help"],
    ] {
        let (code, stdout, _) = pki(cmd);
        assert_eq!(code, 0, "{cmd:?}");
        assert!(stdout.contains("Example"), "{cmd:?}: {stdout}");
    }
}

#[test]
fn usage_errors_exit_64() {
    assert_eq!(pki(&["diagnose", "--bogus"]).0, 64);
    assert_eq!(pki(&["diagnose", "--at", "yesterday", "x"]).0, 64);
    assert_eq!(pki(&["diagnose"]).0, 64, "nothing to judge");
    assert_eq!(pki(&["diagnose", "--cert", "/nonexistent/file.pem"]).0, 64);
    let (code, _, stderr) = pki(&["diagnose", "--cert", "x.pem", "--purpose", "server"]);
    assert_eq!(code, 64);
    assert!(stderr.contains("--name"), "{stderr}");
}
