//! `pki diagnose` on managed stores built in the test: the healthy case and the breakages a
//! helpdesk meets most, each asserting the code, its severity, the verdict and the exit code.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pki_tests::{pki, Ca, Endpoint, TempDir, AT};

struct Fleet {
    root: Ca,
    issuing: Ca,
}

fn fleet() -> Fleet {
    let root = Ca::root("Fleet Root CA");
    let issuing = root.intermediate("Fleet Issuing CA");
    Fleet { root, issuing }
}

fn healthy<'a>(f: &Fleet, id: &'a str) -> Endpoint<'a> {
    let leaf = f.issuing.leaf(id);
    Endpoint {
        device_id: id,
        cert: leaf.pem.clone(),
        key: leaf.key_pem(),
        chain: f.issuing.pem.clone(),
        trust: f.root.pem.clone(),
    }
}

fn diagnose(store: &std::path::Path, extra: &[&str]) -> pki_tests::Run {
    let mut args = vec!["diagnose", store.to_str().unwrap(), "--format", "json"];
    if !extra.contains(&"--at") {
        args.extend_from_slice(&["--at", AT]);
    }
    args.extend_from_slice(extra);
    pki(args)
}

#[test]
fn a_healthy_store_is_accepted_with_exit_0() {
    let f = fleet();
    let dir = TempDir::new("healthy");
    let store = healthy(&f, "dev-1").write(&dir);
    let run = diagnose(&store, &[]);
    assert_eq!(run.verdict(), "accepted", "{}", run.stdout);
    assert_eq!(run.json()["status"], "ok", "{}", run.stdout);
    assert_eq!(run.code, 0);
    assert_eq!(
        run.json()["certificate"]["subject"],
        "O=Fleet Test, CN=dev-1"
    );
    assert!(run.codes().is_empty(), "{:?}", run.codes());
}

#[test]
fn text_output_leads_with_the_verdict() {
    let f = fleet();
    let dir = TempDir::new("text");
    let store = healthy(&f, "dev-1").write(&dir);
    let run = pki(["diagnose", store.to_str().unwrap(), "--at", AT]);
    assert_eq!(run.code, 0);
    assert!(run.stdout.starts_with("ACCEPTED (ok)"), "{}", run.stdout);
    assert!(
        !run.stdout.contains("\x1b["),
        "no colour when piped / NO_COLOR"
    );
}

#[test]
fn missing_chain_is_chain_incomplete() {
    let f = fleet();
    let dir = TempDir::new("nochain");
    let store = Endpoint {
        chain: String::new(),
        ..healthy(&f, "dev-2")
    }
    .write(&dir);
    let run = diagnose(&store, &[]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("CHAIN_INCOMPLETE"),
        "{}",
        run.stdout
    );
    assert_eq!(run.verdict(), "rejected");
    assert_eq!(run.code, 2);
    let f = run.finding("CHAIN_INCOMPLETE").unwrap();
    assert!(
        f["message"].as_str().unwrap().contains("Fleet Issuing CA"),
        "{f}"
    );
    assert!(f["fix"].as_str().unwrap().contains("pki repair"), "{f}");
}

#[test]
fn expired_certificate_is_cert_expired_not_clock_skew() {
    let f = fleet();
    let dir = TempDir::new("expired");
    let store = healthy(&f, "dev-3").write(&dir);
    let run = diagnose(&store, &["--at", "2027-02-01T00:00:00Z"]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("CERT_EXPIRED"),
        "{}",
        run.stdout
    );
    assert!(run.finding("CLOCK_SKEW_SUSPECTED").is_none());
    assert_eq!(run.code, 2);
}

#[test]
fn a_miss_of_minutes_suggests_clock_skew() {
    let f = fleet();
    let dir = TempDir::new("skew");
    let store = healthy(&f, "dev-4").write(&dir);
    let run = diagnose(&store, &["--at", "2025-12-31T23:50:00Z"]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("CERT_NOT_YET_VALID"),
        "{}",
        run.stdout
    );
    let skew = run.finding("CLOCK_SKEW_SUSPECTED").expect("skew finding");
    assert_eq!(skew["severity"], "warning");
    assert!(
        skew["message"].as_str().unwrap().contains("10 minutes"),
        "{skew}"
    );
}

#[test]
fn a_key_from_a_reinstall_is_key_mismatch() {
    let f = fleet();
    let dir = TempDir::new("mismatch");
    let other = f.issuing.leaf("dev-5");
    let store = Endpoint {
        key: other.key_pem(),
        ..healthy(&f, "dev-5")
    }
    .write(&dir);
    let run = diagnose(&store, &[]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("KEY_MISMATCH"),
        "{}",
        run.stdout
    );
    assert_eq!(run.code, 2);
}

#[test]
fn a_missing_key_is_key_missing() {
    let f = fleet();
    let dir = TempDir::new("nokey");
    let store = healthy(&f, "dev-6").write(&dir);
    std::fs::remove_file(store.join("device.key")).unwrap();
    let run = diagnose(&store, &[]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("KEY_MISSING"),
        "{}",
        run.stdout
    );
}

#[test]
fn an_emptied_trust_file_is_file_corrupt_first() {
    let f = fleet();
    let dir = TempDir::new("notrust");
    let store = Endpoint {
        trust: String::new(),
        ..healthy(&f, "dev-7")
    }
    .write(&dir);
    let run = diagnose(&store, &[]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("FILE_CORRUPT"),
        "{}",
        run.stdout
    );
    assert!(run.finding("FILE_CORRUPT").unwrap()["message"]
        .as_str()
        .unwrap()
        .contains("trust.pem"));
    assert_eq!(run.code, 2);
}

#[test]
fn a_rekeyed_issuing_ca_is_ca_rotated() {
    let f = fleet();
    let dir = TempDir::new("rotated");
    let rekeyed = f.issuing.rekeyed_by(Some(&f.root));
    let store = Endpoint {
        chain: rekeyed.pem.clone(),
        ..healthy(&f, "dev-8")
    }
    .write(&dir);
    let run = diagnose(&store, &[]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("CA_ROTATED"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_server_on_a_new_root_is_unknown_issuer() {
    let f = fleet();
    let dir = TempDir::new("newroot");
    let store = healthy(&f, "dev-9").write(&dir);
    let new_root = Ca::root("Fleet Root CA G2");
    let trust = dir.write("server-trust.pem", &new_root.pem);
    let run = diagnose(&store, &["--trust", trust.to_str().unwrap()]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("UNKNOWN_ISSUER"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_root_rekeyed_under_the_same_name_is_ca_rotated() {
    let f = fleet();
    let dir = TempDir::new("rootrekey");
    let store = healthy(&f, "dev-10").write(&dir);
    let new_root = f.root.rekeyed_by(None);
    let trust = dir.write("server-trust.pem", &new_root.pem);
    let run = diagnose(&store, &["--trust", trust.to_str().unwrap()]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("CA_ROTATED"),
        "{}",
        run.stdout
    );
}
