//! The CA's inventory: a CA made by release 0.1.0 (its `index.jsonl`, `issued/` copies and CRL
//! number, `tests/fixtures/ca-0.1.0`) is imported the first time a command opens it, and every
//! offline command then works on the database; one-time tokens are stored hashed; many
//! processes signing at once on one SQLite file lose nothing.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pki_tests::ca::init;
use pki_tests::{pki, TempDir, AT};
use std::path::{Path, PathBuf};

/// A copy of the release fixture in a temporary folder, key modes restored.
fn release_ca(dir: &TempDir) -> (PathBuf, PathBuf) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/ca-0.1.0");
    copy(&from, dir.path());
    for key in ["ca/root-1.key", "ca/issuing-1.key", "ca/issuing-2.key"] {
        pki_tests::store::set_mode(&dir.join(key), 0o600);
    }
    for id in ["dev-a", "dev-b", "dev-c", "dev-d"] {
        pki_tests::store::set_mode(&dir.join(&format!("stores/{id}/device.key")), 0o600);
    }
    (dir.join("ca"), dir.join("stores"))
}

fn copy(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
        }
    }
}

fn serial_of(stores: &Path, id: &str) -> String {
    let text = std::fs::read_to_string(stores.join(format!("{id}.json"))).unwrap();
    serde_json::from_str::<serde_json::Value>(&text).unwrap()["serial"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn a_release_ca_is_imported_once_and_every_offline_command_works_on_it() {
    let dir = TempDir::new("release-import");
    let (ca, stores) = release_ca(&dir);
    let ca_s = ca.to_str().unwrap();
    let c_serial = serial_of(&stores, "dev-c");

    // the first command that opens the CA imports it
    let run = pki([
        "ca", "revoke", "--ca", ca_s, &c_serial, "--at", AT, "--format", "json",
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.json()["revoked"]["serial"], c_serial.as_str());
    assert!(!ca.join("index.jsonl").exists(), "renamed after the import");
    assert!(
        ca.join("index.jsonl.imported").exists(),
        "kept, not deleted"
    );
    assert!(ca.join("inventory.sqlite").exists());

    let inventory = pki_core::ca::Ca::load(&ca).unwrap().inventory;
    let all = inventory.all().unwrap();
    assert_eq!(all.len(), 4, "every certificate of the index");
    assert!(
        all.iter().all(|r| r.pem.is_some()),
        "with the issued/ copies"
    );
    let status = |id: &str| {
        all.iter()
            .find(|r| r.device_id == id)
            .map(|r| r.status)
            .unwrap()
    };
    use pki_core::ca::inventory::Status;
    assert_eq!(status("dev-b"), Status::Revoked, "revoked by the release");
    assert_eq!(status("dev-c"), Status::Revoked, "revoked just now");
    assert_eq!(status("dev-a"), Status::Valid);
    assert_eq!(
        all.iter().find(|r| r.device_id == "dev-d").unwrap().issuer,
        "issuing-2"
    );

    // the CRL number goes on from the release's 2, and both revocations are in it
    let run = pki(["ca", "crl", "--ca", ca_s, "--at", AT, "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["crl_number"], 3);
    let crl = ca.join("crl/issuing-1.crl");
    let listed = pki(["inspect", crl.to_str().unwrap(), "--format", "json"]).json();
    assert_eq!(listed[0]["objects"][0]["revoked"], 2);
    assert_eq!(listed[0]["objects"][0]["number"], "3");

    // a second opening imports nothing again (the index is gone; the marker stays)
    let again = pki(["ca", "crl", "--ca", ca_s, "--at", AT, "--format", "json"]);
    assert_eq!(again.json()["crl_number"], 4);
    assert_eq!(
        pki_core::ca::Ca::load(&ca)
            .unwrap()
            .inventory
            .count()
            .unwrap(),
        4
    );

    // repair --ca restores a deleted certificate from the CA's copy, now in the database
    let store_a = stores.join("dev-a");
    let serial_a = serial_of(&stores, "dev-a");
    std::fs::remove_file(store_a.join("device.crt")).unwrap();
    let run = pki([
        "repair",
        store_a.to_str().unwrap(),
        "--ca",
        ca_s,
        "--at",
        AT,
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(
        run.json()["after"]["certificate"]["serial"],
        serial_a.as_str()
    );

    // renew --ca and enroll --ca record what they issue
    let store_d = stores.join("dev-d");
    let run = pki([
        "renew",
        store_d.to_str().unwrap(),
        "--ca",
        ca_s,
        "--force",
        "--at",
        AT,
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let renewed = run.json()["serial"].as_str().unwrap().to_string();
    let run = pki_tests::ca::enroll(&dir.join("stores/dev-e"), &ca, "dev-e", AT, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let inventory = pki_core::ca::Ca::load(&ca).unwrap().inventory;
    assert_eq!(inventory.get(&renewed).unwrap().unwrap().device_id, "dev-d");
    assert_eq!(inventory.issued_to("dev-e").unwrap().len(), 1);
    assert_eq!(inventory.count().unwrap(), 6);
}

#[test]
fn tokens_are_shown_once_stored_hashed_and_expire() {
    let dir = TempDir::new("token");
    let ca = init(&dir, AT, &[]);
    let ca_s = ca.to_str().unwrap();
    let run = pki([
        "ca",
        "token",
        "--ca",
        ca_s,
        "--device-id",
        "dev-7",
        "--ttl",
        "2h",
        "--at",
        AT,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // DEVICE_ID:SECRET, the HTTP Basic user and password of simpleenroll
    let token = run.stdout.trim().to_string();
    let (id, secret) = token.split_once(':').unwrap();
    assert_eq!(id, "dev-7", "the token names its device: {token}");
    let secret = secret.to_string();
    assert_eq!(secret.len(), 40, "160 bits, hex: {secret}");
    assert!(secret.chars().all(|c| c.is_ascii_hexdigit()), "{secret}");
    assert!(
        run.stderr.contains("2026-03-01T02:00:00Z"),
        "{}",
        run.stderr
    );

    let inventory = pki_core::ca::Ca::load(&ca).unwrap().inventory;
    let stored = inventory
        .token(&pki_core::ca::token::hash(&secret))
        .unwrap()
        .unwrap();
    assert_eq!(stored.device_id, "dev-7");
    assert_eq!(stored.expires_at, pki_tests::at("2026-03-01T02:00:00Z"));
    assert!(stored.used_by.is_none());
    // the secret itself is nowhere in the database file
    let bytes = std::fs::read(ca.join("inventory.sqlite")).unwrap();
    let wal = std::fs::read(ca.join("inventory.sqlite-wal")).unwrap_or_default();
    for file in [bytes, wal] {
        assert!(!file.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }

    let json = pki([
        "ca",
        "token",
        "--ca",
        ca_s,
        "--device-id",
        "dev-8",
        "--at",
        AT,
        "--format",
        "json",
    ])
    .json();
    assert_eq!(
        json["expires_at"], "2026-03-02T00:00:00Z",
        "24 hours by default"
    );
    assert!(
        json["token"].as_str().unwrap().starts_with("dev-8:"),
        "{json}"
    );
    for (args, why) in [
        (vec!["--device-id", "bad id!"], "not a device id"),
        (vec!["--device-id", "dev-9", "--ttl", "1w"], "unknown unit"),
    ] {
        let mut full = vec!["ca", "token", "--ca", ca_s, "--at", AT];
        full.extend(args);
        let run = pki(&full);
        assert_eq!(run.code, 64, "{why}: {}", run.stderr);
        assert!(run.stderr.contains(why), "{}", run.stderr);
    }
}

#[test]
fn many_processes_signing_at_once_on_one_database_lose_nothing() {
    let dir = TempDir::new("concurrent-sign");
    let ca = init(&dir, AT, &[]);
    let mut children = Vec::new();
    for p in 0..6 {
        let mut paths = Vec::new();
        for i in 0..5 {
            let key = rcgen::KeyPair::generate().unwrap();
            let mut params = rcgen::CertificateParams::default();
            params
                .distinguished_name
                .push(rcgen::DnType::CommonName, format!("dev-{p}-{i}"));
            let pem = params.serialize_request(&key).unwrap().pem().unwrap();
            paths.push(dir.write(&format!("csr/{p}-{i}.csr"), pem));
        }
        let out = dir.join(&format!("out-{p}"));
        let mut cmd = std::process::Command::new(pki_tests::run::binary());
        cmd.args([
            "ca",
            "sign",
            "--ca",
            ca.to_str().unwrap(),
            "--at",
            AT,
            "--out-dir",
        ])
        .arg(&out)
        .args(&paths)
        .stdout(std::process::Stdio::null());
        children.push(cmd.spawn().unwrap());
    }
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let all = pki_core::ca::Ca::load(&ca)
        .unwrap()
        .inventory
        .all()
        .unwrap();
    assert_eq!(
        all.len(),
        30,
        "every certificate of every process is recorded"
    );
    let serials: std::collections::BTreeSet<_> = all.iter().map(|r| &r.serial).collect();
    assert_eq!(serials.len(), 30);
}
