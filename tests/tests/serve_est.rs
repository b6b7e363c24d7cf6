//! `pki serve` driven by an independent client: `tests/est/curl.sh`, curl and openssl only,
//! through every route (cacerts, csrattrs, simpleenroll in three base64 spellings with
//! Content-Transfer-Encoding, simplereenroll, /crl, /healthz, /metrics through promtool) and
//! every refusal (no client certificate, a foreign CA, revoked, expired past grace, a changed
//! subject, a reused and an expired token, an oversize body, garbage DER), renewal in grace,
//! and a revocation and a rotation while the server runs. The script checks each answer
//! with openssl; this test runs it and requires it to pass. No wall clock: curl runs under
//! faketime at the test's instant, verifying the server's certificate as usual.

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
    assert!(stdout.contains("all EST checks passed"));
}
