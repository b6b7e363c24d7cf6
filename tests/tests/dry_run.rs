//! `--dry-run` on every command that writes: the plan is printed, and nothing changes — the
//! test hashes every file and folder involved (the CA, the stores, the requests, the output
//! folders: the whole test folder) before and after, modes included.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pki_tests::ca::{enroll, init, snapshot_all as snapshot};
use pki_tests::{pki, Run, TempDir, AT};

/// Runs `args` with `--dry-run` and `--format json`; asserts exit 0, a plan in the output, and
/// not one changed byte under `dir`.
fn dry(dir: &TempDir, args: &[&str]) -> Run {
    let before = snapshot(dir.path());
    let mut all = args.to_vec();
    all.extend(["--dry-run", "--format", "json"]);
    let run = pki(&all);
    assert_eq!(run.code, 0, "{args:?}: {}{}", run.stdout, run.stderr);
    assert_eq!(run.json()["dry_run"], true, "{args:?}: {}", run.stdout);
    assert_eq!(snapshot(dir.path()), before, "{args:?} changed something");
    // and the text form says so too
    let before = snapshot(dir.path());
    let mut text = args.to_vec();
    text.push("--dry-run");
    let run_text = pki(&text);
    assert_eq!(run_text.code, 0, "{args:?}: {}", run_text.stderr);
    assert!(
        run_text.stdout.contains("dry run, nothing changed"),
        "{args:?}: {}",
        run_text.stdout
    );
    assert_eq!(
        snapshot(dir.path()),
        before,
        "{args:?} (text) changed something"
    );
    run
}

#[test]
fn every_writing_command_plans_and_changes_nothing() {
    let dir = TempDir::new("dry-run");
    let ca = init(&dir, "2025-06-01T00:00:00Z", &[]);
    let ca_s = ca.to_str().unwrap();
    let store = dir.join("store");
    let store_s = store.to_str().unwrap();
    assert_eq!(
        enroll(&store, &ca, "dev-dry", "2026-01-01T00:00:00Z", &[]).code,
        0
    );

    // ca init: not even the folder
    let new_ca = dir.join("new-ca");
    let run = dry(
        &dir,
        &[
            "ca",
            "init",
            new_ca.to_str().unwrap(),
            "--name",
            "Dry",
            "--at",
            AT,
        ],
    );
    assert!(run.stdout.contains("Dry Root CA"), "{}", run.stdout);
    assert!(!new_ca.exists());

    // ca sign: the request is checked, nothing signed (index, issued/, out-dir untouched)
    let csr = dir.join("dev.csr");
    {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::default();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "dev-csr");
        let pem = params.serialize_request(&key).unwrap().pem().unwrap();
        std::fs::write(&csr, pem).unwrap();
    }
    let out_dir = dir.join("issued-here");
    let run = dry(
        &dir,
        &[
            "ca",
            "sign",
            "--ca",
            ca_s,
            csr.to_str().unwrap(),
            "--out-dir",
            out_dir.to_str().unwrap(),
            "--at",
            AT,
        ],
    );
    assert_eq!(run.json()["requests"][0]["plan"]["device_id"], "dev-csr");
    assert!(!out_dir.exists());

    // ca revoke: the serial is found, not marked
    let serial = pki([
        "inspect",
        store.join("device.crt").to_str().unwrap(),
        "--format",
        "json",
    ])
    .json()[0]["objects"][0]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    let run = dry(
        &dir,
        &[
            "ca",
            "revoke",
            "--ca",
            ca_s,
            &serial,
            "--reason",
            "keyCompromise",
            "--at",
            AT,
        ],
    );
    assert_eq!(run.json()["plan"]["record"]["device_id"], "dev-dry");
    assert_eq!(run.json()["plan"]["already_revoked"], false);

    // ca crl, rotate (issuing and root), bundle
    let run = dry(&dir, &["ca", "crl", "--ca", ca_s, "--at", AT]);
    assert_eq!(run.json()["plan"]["number"], 1);
    let run = dry(
        &dir,
        &[
            "ca",
            "rotate",
            "--ca",
            ca_s,
            "--overlap-days",
            "30",
            "--at",
            AT,
        ],
    );
    assert!(run.json()["plan"]["new_issuer"]
        .as_str()
        .unwrap()
        .starts_with("issuing-2"));
    let run = dry(&dir, &["ca", "rotate", "--ca", ca_s, "--root", "--at", AT]);
    assert!(run.json()["plan"]["new_root"]
        .as_str()
        .unwrap()
        .starts_with("root-2"));
    dry(&dir, &["ca", "bundle", "--ca", ca_s, "--at", AT]);

    // enroll: a new store is not made, the CA signs nothing
    let new_store = dir.join("new-store");
    let run = dry(
        &dir,
        &[
            "enroll",
            new_store.to_str().unwrap(),
            "--ca",
            ca_s,
            "--device-id",
            "dev-new",
            "--at",
            AT,
        ],
    );
    assert_eq!(run.json()["plan"]["device_id"], "dev-new");
    assert!(!new_store.exists());

    // renew, forced: due or not, nothing is issued or written
    let run = dry(
        &dir,
        &["renew", store_s, "--ca", ca_s, "--force", "--at", AT],
    );
    assert_eq!(run.json()["renewed"], false);
    assert_eq!(run.json()["new_key"], true);

    // store install: the pair is proven, nothing installed
    let cert = dir.join("device-copy.crt");
    std::fs::copy(store.join("device.crt"), &cert).unwrap();
    let run = dry(
        &dir,
        &[
            "store",
            "install",
            store_s,
            cert.to_str().unwrap(),
            "--at",
            AT,
        ],
    );
    assert!(run.json()["writes"][0]
        .as_str()
        .unwrap()
        .ends_with("device.crt"));
    // the text says what would be done, not that it was
    let text = pki([
        "store",
        "install",
        store_s,
        cert.to_str().unwrap(),
        "--at",
        AT,
        "--dry-run",
    ]);
    assert!(
        text.stdout
            .starts_with("dry run, nothing changed: would write"),
        "{}",
        text.stdout
    );

    // store import
    let imported = dir.join("imported");
    let run = dry(
        &dir,
        &[
            "store",
            "import",
            imported.to_str().unwrap(),
            store.join("device.crt").to_str().unwrap(),
            store.join("device.key").to_str().unwrap(),
            store.join("chain.pem").to_str().unwrap(),
            store.join("trust.pem").to_str().unwrap(),
            "--at",
            AT,
        ],
    );
    assert_eq!(run.json()["device_id"], "dev-dry");
    assert!(!imported.exists());

    // the dry runs were honest: the real commands do what they planned
    let signed = pki([
        "ca",
        "sign",
        "--ca",
        ca_s,
        csr.to_str().unwrap(),
        "--out-dir",
        out_dir.to_str().unwrap(),
        "--at",
        AT,
    ]);
    assert_eq!(signed.code, 0, "{}", signed.stderr);
    assert!(out_dir.join("dev.crt").exists());
}

#[test]
fn a_dry_run_refuses_what_the_command_would_refuse() {
    let dir = TempDir::new("dry-refuse");
    let ca = init(&dir, "2025-06-01T00:00:00Z", &[]);
    let ca_s = ca.to_str().unwrap();
    let before = snapshot(dir.path());
    // an existing CA
    let run = pki(["ca", "init", ca_s, "--dry-run", "--at", AT]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("never overwritten"), "{}", run.stderr);
    // a serial the CA never issued
    let run = pki([
        "ca",
        "revoke",
        "--ca",
        ca_s,
        "0a1b2c",
        "--dry-run",
        "--at",
        AT,
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    // an issuing CA that has expired by then
    let store = dir.join("late");
    let run = enroll(
        &store,
        &ca,
        "dev-late",
        "2040-01-01T00:00:00Z",
        &["--dry-run"],
    );
    assert_eq!(run.code, 3, "the CA could not sign: {}", run.stderr);
    assert!(run.stderr.contains("expired"), "{}", run.stderr);
    assert_eq!(snapshot(dir.path()), before);
}

/// An enrollment a crash cut short after its key reached the disk: the dry run of the same
/// command names that key (it is taken again), not a new one, changes nothing, and the run
/// that follows does take it.
#[test]
fn a_dry_run_over_an_interrupted_enrollment_names_the_key_it_takes_again() {
    use pki_tests::pki_env;
    let dir = TempDir::new("dry-run-interrupted");
    let ca = init(&dir, "2025-06-01T00:00:00Z", &[]);
    let mut checked = 0;
    for step in 1.. {
        let device = format!("dev-{step}");
        let store = dir.join(&device);
        let args = [
            "enroll",
            store.to_str().unwrap(),
            "--ca",
            ca.to_str().unwrap(),
            "--device-id",
            &device,
            "--at",
            AT,
        ];
        let out = pki_env(args, &[("PKI_CRASH_AFTER", &step.to_string())]);
        if out.code != -1 {
            assert_eq!(out.code, 0, "step {step}: {}", out.stderr);
            break;
        }
        // the key that reached the disk, whole, under its name or its temporary one
        let left = pki_tests::store::key_left(&store).map(|(_, bytes)| bytes);
        if store.join("store.yaml").exists() {
            continue; // the crash came after the last write: enrolled, nothing to plan
        }
        // the crashed process left the CA inventory's write-ahead log, which SQLite folds
        // back into the database on the next open, whatever the command: done first (a dry
        // run of another device), so the snapshot in `dry` sees what this dry run changes
        let other = dir.join("other");
        let recover = [
            "enroll",
            other.to_str().unwrap(),
            "--ca",
            ca.to_str().unwrap(),
            "--device-id",
            "other",
            "--at",
            AT,
            "--dry-run",
        ];
        assert_eq!(pki(recover).code, 0);
        let plan = dry(&dir, &args);
        let key = plan.json()["key"].as_str().unwrap().to_string();
        match &left {
            Some(bytes) if bytes.ends_with(b"-----END PRIVATE KEY-----\n") => {
                assert!(
                    key.contains("interrupted enrollment") && key.contains("taken again"),
                    "step {step}: {key}"
                );
                assert!(!key.contains("a new"), "step {step}: {key}");
                let run = pki(args);
                assert_eq!(run.code, 0, "step {step}: {}", run.stderr);
                assert_eq!(
                    &std::fs::read(store.join("device.key")).unwrap(),
                    bytes,
                    "step {step}: the key the plan named"
                );
                checked += 1;
            }
            _ => assert!(key.starts_with("a new"), "step {step}: {key}"),
        }
    }
    assert!(checked > 0, "no crash step left a key");
}

/// The key an interrupted enrollment left, under a policy (given now) that refuses its
/// algorithm: the run that would take it again is refused by the CA, so the dry run is refused
/// too (naming the key's file), not told "taken again".
#[test]
fn a_dry_run_refuses_a_left_key_the_policy_refuses() {
    use pki_tests::pki_env;
    let dir = TempDir::new("dry-run-left-refused");
    let ca = init(&dir, "2025-06-01T00:00:00Z", &[]);
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/device.yaml");
    let ed_only = std::fs::read_to_string(shipped)
        .unwrap()
        .replace("key_algorithm: ecdsa-p256", "key_algorithm: ed25519")
        .replace(
            "accepted_keys: [ecdsa-p256, ecdsa-p384, ed25519]",
            "accepted_keys: [ed25519]",
        );
    assert!(ed_only.contains("accepted_keys: [ed25519]"));
    let policy = dir.join("ed-only.yaml");
    std::fs::write(&policy, ed_only).unwrap();
    // the first crash steps that leave the key: under its temporary name, then as device.key
    let mut checked = Vec::new();
    for step in 1.. {
        let device = format!("dev-{step}");
        let store = dir.join(&device);
        let args = [
            "enroll",
            store.to_str().unwrap(),
            "--ca",
            ca.to_str().unwrap(),
            "--device-id",
            &device,
            "--at",
            AT,
        ];
        let out = pki_env(args, &[("PKI_CRASH_AFTER", &step.to_string())]);
        assert_eq!(out.code, -1, "step {step}: no key was left before the end");
        let Some((left, _)) = pki_tests::store::key_left(&store) else {
            continue;
        };
        let mut with_policy = args.to_vec();
        with_policy.extend(["--policy", policy.to_str().unwrap()]);
        let before = snapshot(&store);
        let mut dry = with_policy.clone();
        dry.push("--dry-run");
        let plan = pki(&dry);
        assert_eq!(plan.code, 2, "step {step}: {}{}", plan.stdout, plan.stderr);
        assert!(
            plan.stderr.contains(&left) && plan.stderr.contains("policy"),
            "step {step}: {}",
            plan.stderr
        );
        assert_eq!(snapshot(&store), before, "step {step}: the dry run wrote");
        let run = pki(&with_policy);
        assert_eq!(
            run.code, 2,
            "step {step}: the run is refused too: {}",
            run.stderr
        );
        checked.push(left);
        if checked.iter().any(|n| n == "device.key") {
            break;
        }
    }
    assert!(checked[0].starts_with(".device.key.tmp-"), "{checked:?}");
}
