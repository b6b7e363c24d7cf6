//! `pki serve` driven by an independent client: `tests/est/curl.sh`, curl and openssl only,
//! through every route (cacerts, csrattrs, simpleenroll in three base64 spellings with
//! Content-Transfer-Encoding, simplereenroll, /crl, /healthz, /metrics through promtool) and
//! every refusal (no client certificate, a foreign CA, revoked, expired past grace, a changed
//! subject, a reused token (the same request gets its certificate sent again; another key, a
//! broken signature or a revoked certificate nothing) and an expired one, an oversize body,
//! garbage DER), renewal in grace,
//! and a revocation and a rotation while the server runs. The script checks each answer
//! with openssl; this test runs it and requires it to pass. No wall clock: curl runs under
//! faketime at the test's instant, verifying the server's certificate as usual.
//!
//! A tool missing here fails the test under `CI` and is said loudly otherwise; the last two
//! tests hold that to be so.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pki_tests::serve::have;
use pki_tests::TempDir;
use std::path::Path;

#[test]
#[cfg_attr(
    not(all(have_curl, have_openssl)),
    ignore = "curl or openssl is not installed here (CI installs them)"
)]
fn curl_and_openssl_drive_every_route_and_every_refusal() {
    if !have("curl") || !have("openssl") || !have("faketime") {
        return;
    }
    let dir = TempDir::new("est-curl");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("est/curl.sh");
    let out = std::process::Command::new("bash")
        .arg(&script)
        .arg(pki_tests::run::binary())
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(out.status.success(), "{stdout}\n{stderr}");
    // the script's own skips (promtool; a failure under CI), said as loudly as the suite's
    for line in stdout.lines() {
        if let Some(why) = line.strip_prefix("SKIPPED: ") {
            pki_tests::say_skipped(why);
        }
    }
    assert!(stdout.contains("all EST checks passed"));
}

/// Run only by the next test, in a child process: looks for a tool that does not exist.
#[test]
fn probe_a_missing_tool() {
    if std::env::var_os("PKI_TEST_SKIP_PROBE").is_some() {
        assert!(!have("pki-test-no-such-tool"));
    }
}

#[test]
fn a_missing_tool_fails_under_ci_and_is_said_loudly_otherwise() {
    let probe = |ci: Option<&str>| {
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args(["--exact", "probe_a_missing_tool", "--test-threads", "1"])
            .env("PKI_TEST_SKIP_PROBE", "1")
            .env_remove("CI");
        if let Some(ci) = ci {
            cmd.env("CI", ci);
        }
        cmd.output().unwrap()
    };
    // not under CI: the test passes, and SKIPPED reaches the harness's output uncaptured
    let out = probe(None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("SKIPPED: pki-test-no-such-tool is not installed here"),
        "a skip must be seen without --nocapture: {stderr}"
    );
    // under CI: the test fails, naming the tool
    let out = probe(Some("true"));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "{all}");
    assert!(all.contains("pki-test-no-such-tool"), "{all}");
}
