//! `pki renew`: nothing changes before it is due; when due (by `--at`) a new certificate and key
//! arrive the crash-safe way and the hook runs; forced renewals pass a real handshake; after a
//! CA rotation the endpoint moves to the new issuing CA; a CA that cannot sign leaves the store
//! exactly as it was.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pki_tests::ca::{enroll, init, snapshot};
use pki_tests::tls::mutual_tls;
use pki_tests::{pki, Run, TempDir, AT};
use std::path::{Path, PathBuf};

const DUE: &str = "2026-12-15T00:00:00Z";

fn setup(label: &str) -> (TempDir, PathBuf, PathBuf) {
    let dir = TempDir::new(label);
    let ca = init(&dir, "2026-01-01T00:00:00Z", &[]);
    let store = dir.join("store");
    assert_eq!(enroll(&store, &ca, "dev-renew", AT, &[]).code, 0);
    (dir, ca, store)
}

fn renew(store: &Path, ca: &Path, at: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "renew",
        store.to_str().unwrap(),
        "--ca",
        ca.to_str().unwrap(),
        "--at",
        at,
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    pki(&args)
}

fn check(store: &Path, at: &str) -> i32 {
    pki(["renew", "--check", store.to_str().unwrap(), "--at", at]).code
}

#[test]
fn not_due_changes_nothing_and_exits_0_with_the_due_time() {
    let (_dir, ca, store) = setup("renew-notdue");
    let before = snapshot(&store);
    let run = renew(&store, &ca, AT, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["renewed"], false);
    let due = pki_tests::at(run.json()["due_at"].as_str().unwrap());
    assert!(
        due > pki_tests::at(AT) && due < pki_tests::at("2027-03-01T00:00:00Z"),
        "{due}"
    );
    assert_eq!(snapshot(&store), before, "not due: not a byte changed");
    assert_eq!(check(&store, AT), 1, "--check: not due is 1");
    // instants in whole seconds, in --check's JSON too (the jittered due time had nanoseconds)
    let checked = pki([
        "renew",
        "--check",
        store.to_str().unwrap(),
        "--at",
        AT,
        "--format",
        "json",
    ]);
    for json in [&run.json(), &checked.json()] {
        let due_at = json["due_at"].as_str().unwrap();
        assert!(!due_at.contains('.'), "{due_at}");
        assert!(due_at.ends_with('Z'), "{due_at}");
    }
}

#[test]
fn due_renews_with_a_new_key_keeps_the_old_one_and_runs_the_hook() {
    let (dir, ca, store) = setup("renew-due");
    assert_eq!(check(&store, DUE), 0, "--check: due is 0");
    let old_key = std::fs::read(store.join("device.key")).unwrap();
    let old_serial = pki([
        "diagnose",
        store.to_str().unwrap(),
        "--at",
        AT,
        "--format",
        "json",
    ])
    .json()["certificate"]["serial"]
        .clone();
    let marker = dir.join("reloaded");
    let hook = format!("touch '{}'", marker.display());
    let run = renew(&store, &ca, DUE, &["--exec", &hook]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.json()["renewed"], true);
    assert!(marker.exists(), "the hook ran");
    assert_ne!(run.json()["serial"], old_serial);
    assert_ne!(
        std::fs::read(store.join("device.key")).unwrap(),
        old_key,
        "a new key by default"
    );
    let backup = run.json()["journal"]["backup"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        std::fs::read(store.join(&backup).join("device.key")).unwrap(),
        old_key,
        "the old key is kept in backup/"
    );
    assert!(store.join(&backup).join("device.crt").exists());
    let d = pki([
        "diagnose",
        store.to_str().unwrap(),
        "--at",
        DUE,
        "--format",
        "json",
    ]);
    assert_eq!(d.code, 0, "valid at the renewal time: {}", d.stdout);
    assert!(std::fs::read_to_string(store.join("journal.jsonl"))
        .unwrap()
        .contains("\"action\":\"renew\""));
    assert_eq!(check(&store, DUE), 1, "right after renewal it is not due");
}

#[test]
fn forced_renewal_passes_a_real_handshake() {
    let (_dir, ca, store) = setup("renew-force");
    let run = renew(&store, &ca, AT, &["--force"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["renewed"], true);
    let trust = std::fs::read_to_string(ca.join("trust.pem")).unwrap();
    mutual_tls(&store, &trust, AT).unwrap();
}

#[test]
fn after_a_ca_rotation_renewal_moves_to_the_new_issuing_ca() {
    let (_dir, ca, store) = setup("renew-rotated");
    assert_eq!(
        pki([
            "ca",
            "rotate",
            "--ca",
            ca.to_str().unwrap(),
            "--at",
            "2026-06-01T00:00:00Z"
        ])
        .code,
        0
    );
    let run = renew(&store, &ca, DUE, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["issuer"], "issuing-2");
    let chain = std::fs::read_to_string(store.join("chain.pem")).unwrap();
    let new_ca = std::fs::read_to_string(ca.join("issuing-2.crt")).unwrap();
    assert!(
        chain.starts_with(&new_ca),
        "the new issuing CA leads the chain"
    );
    assert_eq!(
        pki(["diagnose", store.to_str().unwrap(), "--at", DUE]).code,
        0
    );
}

#[test]
fn after_a_ca_rotation_the_old_generations_crl_gives_way_to_the_new_issuers() {
    // the store keeps its issuing CA's CRL; after the rotation the new issuing CA bears the
    // same name. A CRL from before the CA partitioned its CRLs covers the renewed certificate
    // too, and rustls would check it against that CRL; the CA's old generation's CRL covers
    // only certificates the device no longer has, and nothing would refresh it: either way it
    // goes to backup/ and the new issuer's comes in
    for partitioned in [true, false] {
        let (_dir, ca, store) = setup("renew-rotated-crl");
        let ca_arg = ca.to_str().unwrap();
        assert_eq!(pki(["ca", "crl", "--ca", ca_arg, "--at", AT]).code, 0);
        std::fs::create_dir(store.join("crl")).unwrap();
        let old = if partitioned {
            std::fs::read_to_string(ca.join("crl/issuing-1.crl")).unwrap()
        } else {
            pki_tests::ca::unpartitioned_crl(&ca, "issuing-1", 1, AT, &[])
        };
        std::fs::write(store.join("crl/issuing-1.crl"), old).unwrap();
        let recorded = pki(["repair", store.to_str().unwrap(), "--at", AT]);
        assert_eq!(recorded.code, 0, "{}", recorded.stdout);
        let rotated = pki([
            "ca",
            "rotate",
            "--ca",
            ca_arg,
            "--at",
            "2026-06-01T00:00:00Z",
        ]);
        assert_eq!(rotated.code, 0, "{}", rotated.stderr);
        assert_eq!(pki(["ca", "crl", "--ca", ca_arg, "--at", DUE]).code, 0);
        let run = renew(&store, &ca, DUE, &[]);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        let after = pki_tests::run::diagnose(&store, DUE, &[]);
        assert_eq!(after.code, 0, "{}", after.stdout);
        assert!(
            store.join("crl/issuing-2.crl").exists(),
            "the new issuer's own CRL"
        );
        assert!(after.codes().is_empty(), "{:?}", after.codes());
        assert!(
            !store.join("crl/issuing-1.crl").exists(),
            "the old generation's CRL"
        );
        let backup = store.join(run.json()["journal"]["backup"].as_str().unwrap());
        assert!(backup.join("crl/issuing-1.crl").exists(), "kept in backup/");
    }
}

#[test]
fn a_ca_that_cannot_sign_leaves_the_store_exactly_as_it_was() {
    let (_dir, ca, store) = setup("renew-noca");
    let before = snapshot(&store);
    // the issuing CA's key is gone
    std::fs::rename(ca.join("issuing-1.key"), ca.join("issuing-1.key.away")).unwrap();
    let run = renew(&store, &ca, DUE, &[]);
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("issuing-1.key") && run.stderr.contains("cannot sign"),
        "{}",
        run.stderr
    );
    assert_eq!(snapshot(&store), before);
    std::fs::rename(ca.join("issuing-1.key.away"), ca.join("issuing-1.key")).unwrap();
    // the issuing CA has expired (ten years on)
    let run = renew(&store, &ca, "2036-06-01T00:00:00Z", &["--force"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("expired"), "{}", run.stderr);
    assert_eq!(snapshot(&store), before);
}

#[test]
fn an_expired_certificate_is_renewed_only_when_forced_or_in_grace() {
    let (dir, ca, store) = setup("renew-expired");
    let expired = "2027-03-10T00:00:00Z";
    let before = snapshot(&store);
    let run = renew(&store, &ca, expired, &[]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert!(
        run.stderr.contains("expired") && run.stderr.contains("--force"),
        "{}",
        run.stderr
    );
    assert_eq!(snapshot(&store), before);
    let grace = dir.write(
        "grace.yaml",
        std::fs::read_to_string(ca.join("policy.yaml"))
            .unwrap()
            .replace("grace_days: 0", "grace_days: 30"),
    );
    let run = renew(&store, &ca, expired, &["--policy", grace.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["renewed"], true);
}

#[test]
fn a_failing_hook_is_reported_and_the_new_certificate_kept() {
    let (_dir, ca, store) = setup("renew-hook");
    let run = renew(&store, &ca, DUE, &["--exec", "false"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.json()["hook"]["ok"], false);
    assert_eq!(
        pki(["diagnose", store.to_str().unwrap(), "--at", DUE]).code,
        0,
        "the new certificate is in place"
    );
}
