//! `pki inspect`: what files hold, which certificate a key belongs to, and a clear word on a
//! file that holds nothing usable. Also STORE_LOCKED, read from a store's `.lock`.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pki_tests::{pki, Ca, Endpoint, TempDir, AT};

#[test]
fn inspect_describes_certificates_keys_and_crls() {
    let root = Ca::root("Inspect Root");
    let issuing = root.intermediate("Inspect Issuing");
    let leaf = issuing.leaf("dev-42");
    let dir = TempDir::new("inspect");
    let cert = dir.write("dev.pem", &leaf.pem);
    let key = dir.write("dev.key", leaf.key_pem());
    let crl = dir.write(
        "issuing.crl",
        issuing.crl(&[&leaf], "2026-02-01T00:00:00Z", "2026-04-01T00:00:00Z"),
    );
    let chain = dir.write("chain.pem", format!("{}{}", issuing.pem, root.pem));
    let run = pki([
        "inspect",
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
        crl.to_str().unwrap(),
        chain.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let files = run.json();
    let c = &files[0]["objects"][0];
    assert_eq!(c["type"], "certificate");
    assert_eq!(c["subject"], "O=Fleet Test, CN=dev-42");
    assert_eq!(c["extended_key_usage"][0], "clientAuth");
    assert_eq!(c["key_usage"][0], "digitalSignature");
    assert_eq!(c["basic_constraints"], "CA:FALSE");
    assert!(c["san"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s == "URI:urn:device:dev-42"));
    assert_eq!(c["key"], "ECDSA P-256");
    let k = &files[1]["objects"][0];
    assert_eq!(k["type"], "private_key");
    assert!(k["matches"][0].as_str().unwrap().contains("dev-42"), "{k}");
    assert!(
        !run.stdout.contains("PRIVATE KEY"),
        "a key is never printed"
    );
    assert_eq!(files[2]["objects"][0]["revoked"], 1);
    assert_eq!(
        files[3]["objects"][0]["basic_constraints"],
        "CA:TRUE, pathlen:0"
    );
    assert_eq!(files[3]["objects"][1]["self_signed"], true);

    let text = pki(["inspect", cert.to_str().unwrap(), key.to_str().unwrap()]);
    assert!(
        text.stdout.contains("subject:   O=Fleet Test, CN=dev-42"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("matches O=Fleet Test, CN=dev-42"),
        "{}",
        text.stdout
    );
}

#[test]
fn inspect_names_a_file_it_cannot_read() {
    let dir = TempDir::new("inspect-bad");
    let junk = dir.write("junk.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n");
    let run = pki(["inspect", junk.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(
        run.stdout.contains("junk.pem") && run.stdout.contains("truncated"),
        "{}",
        run.stdout
    );
    let missing = pki(["inspect", "/nonexistent/x.pem"]);
    assert_eq!(missing.code, 64);
    assert!(
        missing.stderr.contains("/nonexistent/x.pem"),
        "{}",
        missing.stderr
    );
}

#[test]
fn a_live_lock_is_store_locked_and_a_stale_one_says_so() {
    let root = Ca::root("Lock Root");
    let issuing = root.intermediate("Lock Issuing");
    let leaf = issuing.leaf("dev");
    let dir = TempDir::new("locked");
    let store = Endpoint {
        device_id: "dev",
        cert: leaf.pem.clone(),
        key: leaf.key_pem(),
        chain: issuing.pem.clone(),
        trust: root.pem.clone(),
    }
    .write(&dir);
    let mut holder = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    std::fs::write(store.join(".lock"), holder.id().to_string()).unwrap();
    let run = pki([
        "diagnose",
        store.to_str().unwrap(),
        "--at",
        AT,
        "--format",
        "json",
    ]);
    let _ = holder.kill();
    let _ = holder.wait();
    let f = run
        .finding("STORE_LOCKED")
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert_eq!(f["severity"], "warning");
    assert!(
        f["message"].as_str().unwrap().contains("holds the store"),
        "{f}"
    );
    assert_eq!(run.code, 1);

    std::fs::write(store.join(".lock"), "999999999").unwrap();
    let run = pki([
        "diagnose",
        store.to_str().unwrap(),
        "--at",
        AT,
        "--format",
        "json",
    ]);
    assert!(run.finding("STORE_LOCKED").unwrap()["message"]
        .as_str()
        .unwrap()
        .contains("stale"));
}
