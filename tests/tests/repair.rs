//! `pki repair`, one breakage at a time, as cargo's testsuite does: a store before, the
//! command, the store after. After each repair a real mutual-TLS handshake accepts the store;
//! re-linking keeps the serial; dry runs and second runs change no byte.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pki_tests::ca::{enroll, init, snapshot};
use pki_tests::tls::mutual_tls;
use pki_tests::{pki, Run, TempDir, AT};
use std::path::{Path, PathBuf};

struct Case {
    dir: TempDir,
    ca: PathBuf,
    store: PathBuf,
    serial: String,
}

fn enrolled(label: &str) -> Case {
    enrolled_for(label, 365)
}

/// A CA and a store enrolled on 2026-02-01 for `days`.
fn enrolled_for(label: &str, days: u32) -> Case {
    let dir = TempDir::new(label);
    let ca = init(&dir, "2026-01-01T00:00:00Z", &[]);
    let policy = std::fs::read_to_string(ca.join("policy.yaml"))
        .unwrap()
        .replace("lifetime_days: 365", &format!("lifetime_days: {days}"));
    let policy = dir.write("enroll-policy.yaml", policy);
    let store = dir.join("store");
    let run = enroll(
        &store,
        &ca,
        "dev-fix",
        "2026-02-01T00:00:00Z",
        &["--policy", policy.to_str().unwrap()],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let serial = run.json()["serial"].as_str().unwrap().to_string();
    Case {
        dir,
        ca,
        store,
        serial,
    }
}

fn repair(store: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "repair",
        store.to_str().unwrap(),
        "--at",
        AT,
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    pki(&args)
}

fn diagnose(store: &Path) -> Run {
    pki_tests::run::diagnose(store, AT, &[])
}

fn serial(store: &Path) -> String {
    diagnose(store).json()["certificate"]["serial"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// Breaks the store with `break_it`, checks the dry run changes nothing, repairs with `extra`
/// flags, and checks the outcome: accepted, handshake, idempotent, no STORE_TAMPERED.
fn fix(case: &Case, root_cause: &str, extra: &[&str], break_it: impl FnOnce(&Path)) -> Run {
    break_it(&case.store);
    let broken = diagnose(&case.store);
    let found = broken
        .finding(root_cause)
        .unwrap_or_else(|| panic!("no {root_cause}: {}", broken.stdout));
    if found["severity"] == "critical" {
        assert_eq!(
            broken.root_cause().as_deref(),
            Some(root_cause),
            "{}",
            broken.stdout
        );
    }

    let before = snapshot(&case.store);
    let dry = repair(&case.store, &[&["--dry-run"], extra].concat());
    assert!(
        !dry.json()["plan"].as_array().unwrap().is_empty(),
        "{}",
        dry.stdout
    );
    assert_eq!(dry.json()["applied"], false);
    assert_eq!(snapshot(&case.store), before, "--dry-run changed the store");

    let run = repair(&case.store, extra);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.json()["after"]["verdict"], "accepted", "{}", run.stdout);
    let after = diagnose(&case.store);
    assert_eq!(after.code, 0, "{}", after.stdout);
    assert!(
        after.finding("STORE_TAMPERED").is_none(),
        "own writes are never tampering: {}",
        after.stdout
    );
    let trust = std::fs::read_to_string(case.ca.join("trust.pem")).unwrap();
    mutual_tls(&case.store, &trust, AT).unwrap();

    let settled = snapshot(&case.store);
    let again = repair(&case.store, extra);
    assert_eq!(again.code, 0);
    assert!(
        again.json()["plan"].as_array().unwrap().is_empty(),
        "second run: {}",
        again.stdout
    );
    assert_eq!(
        snapshot(&case.store),
        settled,
        "a second repair changes no byte"
    );
    run
}

fn actions(run: &Run) -> Vec<String> {
    run.json()["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn chain_deleted_is_rebuilt_from_the_ca_bundle_keeping_the_serial() {
    let case = enrolled("fix-chain");
    let ca = case.ca.to_str().unwrap().to_string();
    let run = fix(&case, "CHAIN_INCOMPLETE", &["--ca", &ca], |s| {
        std::fs::remove_file(s.join("chain.pem")).unwrap()
    });
    assert_eq!(actions(&run), ["rebuild-chain"]);
    assert_eq!(serial(&case.store), case.serial);
}

#[test]
fn a_key_swapped_by_a_reinstall_is_relinked_without_a_ca() {
    let case = enrolled("fix-relink");
    let run = fix(&case, "KEY_MISMATCH", &[], |s| {
        std::fs::rename(s.join("device.key"), s.join("device.key.old")).unwrap();
        let other = rcgen::KeyPair::generate().unwrap().serialize_pem();
        std::fs::write(s.join("device.key"), other).unwrap();
        pki_tests::store::set_mode(&s.join("device.key"), 0o600);
    });
    assert_eq!(actions(&run), ["relink-key"]);
    assert_eq!(serial(&case.store), case.serial, "no needless reissue");
    // the reinstaller's key is not deleted: it is in the backup of the change
    let backup = run.json()["journal"]["backup"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(case.store.join(backup).join("device.key").exists());
}

#[test]
fn truncated_and_emptied_certificates_come_back_from_the_cas_copy() {
    for (label, cut) in [("truncated", true), ("emptied", false)] {
        let case = enrolled(label);
        let ca = case.ca.to_str().unwrap().to_string();
        let run = fix(&case, "FILE_CORRUPT", &["--ca", &ca], |s| {
            let pem = std::fs::read(s.join("device.crt")).unwrap();
            std::fs::write(
                s.join("device.crt"),
                if cut { &pem[..pem.len() / 2] } else { &[][..] },
            )
            .unwrap();
        });
        assert_eq!(actions(&run), ["restore-from-backup"], "{label}");
        assert_eq!(
            serial(&case.store),
            case.serial,
            "{label}: the same certificate, not a new one"
        );
    }
}

#[test]
fn emptied_trust_is_refreshed_from_the_ca() {
    let case = enrolled("fix-trust");
    let ca = case.ca.to_str().unwrap().to_string();
    let run = fix(&case, "FILE_CORRUPT", &["--ca", &ca], |s| {
        std::fs::write(s.join("trust.pem"), "").unwrap()
    });
    assert_eq!(actions(&run), ["refresh-trust"]);
    assert_eq!(serial(&case.store), case.serial);
}

#[test]
fn expired_revoked_and_rotated_away_certificates_are_reissued() {
    let case = enrolled_for("fix-expired", 10);
    let ca = case.ca.to_str().unwrap().to_string();
    let run = fix(&case, "CERT_EXPIRED", &["--ca", &ca], |_| {});
    assert_eq!(actions(&run), ["reissue"]);
    assert_ne!(serial(&case.store), case.serial);

    let case = enrolled("fix-revoked");
    let ca = case.ca.to_str().unwrap().to_string();
    assert_eq!(
        pki(["ca", "revoke", "--ca", &ca, &case.serial, "--at", AT]).code,
        0
    );
    let crl = pki(["ca", "crl", "--ca", &ca, "--at", AT, "--format", "json"]).json()["files"][0]
        .as_str()
        .unwrap()
        .to_string();
    let run = fix(&case, "REVOKED", &["--ca", &ca], |s| {
        std::fs::create_dir_all(s.join("crl")).unwrap();
        std::fs::copy(&crl, s.join("crl/issuing.crl")).unwrap();
    });
    assert_eq!(actions(&run), ["reissue"]);

    let case = enrolled("fix-rotated");
    let ca = case.ca.to_str().unwrap().to_string();
    assert_eq!(
        pki([
            "ca",
            "rotate",
            "--ca",
            &ca,
            "--overlap-days",
            "1",
            "--at",
            "2026-02-10T00:00:00Z"
        ])
        .code,
        0
    );
    assert_eq!(pki(["ca", "bundle", "--ca", &ca, "--at", AT]).code, 0);
    let bundle = std::fs::read(case.ca.join("chain.pem")).unwrap();
    let run = fix(&case, "CA_ROTATED", &["--ca", &ca], |s| {
        std::fs::write(s.join("chain.pem"), &bundle).unwrap()
    });
    assert_eq!(actions(&run), ["reissue"]);
}

#[test]
fn a_stale_certificate_first_is_dropped_and_an_open_key_closed() {
    let case = enrolled("fix-stale");
    let short = case.dir.write(
        "short.yaml",
        std::fs::read_to_string(case.ca.join("policy.yaml"))
            .unwrap()
            .replace("lifetime_days: 365", "lifetime_days: 10"),
    );
    let old = case.dir.join("old");
    assert_eq!(
        enroll(
            &old,
            &case.ca,
            "dev-fix",
            "2026-01-01T00:00:00Z",
            &["--policy", short.to_str().unwrap()]
        )
        .code,
        0
    );
    // concatenating by hand is itself a hand edit: STORE_TAMPERED stands beside it
    let run = fix(&case, "STORE_TAMPERED", &[], |s| {
        let both = [
            std::fs::read(old.join("device.crt")).unwrap(),
            std::fs::read(s.join("device.crt")).unwrap(),
        ]
        .concat();
        std::fs::write(s.join("device.crt"), both).unwrap();
        pki_tests::store::set_mode(&s.join("device.key"), 0o644);
    });
    assert!(
        actions(&run).contains(&"pick-certificate".to_string()),
        "{:?}",
        actions(&run)
    );
    assert!(
        actions(&run).contains(&"fix-key-permissions".to_string()),
        "{:?}",
        actions(&run)
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(case.store.join("device.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    assert_eq!(serial(&case.store), case.serial);
    assert!(diagnose(&case.store)
        .finding("MULTIPLE_CANDIDATES")
        .is_none());
}

#[test]
fn a_stale_lock_is_cleared_and_said_so_and_a_live_one_stops_repair() {
    let case = enrolled("fix-lock");
    std::fs::write(case.store.join(".lock"), "999999999").unwrap();
    std::fs::remove_file(case.store.join("chain.pem")).unwrap();
    let run = repair(&case.store, &["--ca", case.ca.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        actions(&run).contains(&"clear-stale-lock".to_string()),
        "{}",
        run.stdout
    );
    assert!(!case.store.join(".lock").exists());

    let mut holder = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .unwrap();
    std::fs::write(case.store.join(".lock"), holder.id().to_string()).unwrap();
    let before = snapshot(&case.store);
    let locked = repair(&case.store, &[]);
    // the dry run says what the real run does: stopped, not "clear-stale-lock"
    let dry = repair(&case.store, &["--dry-run"]);
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(locked.code, 3, "{}", locked.stderr);
    assert!(locked.stderr.contains("locked"), "{}", locked.stderr);
    assert_eq!(dry.code, 3, "{}{}", dry.stdout, dry.stderr);
    assert!(dry.stderr.contains("locked"), "{}", dry.stderr);
    assert_eq!(snapshot(&case.store), before);
}

#[test]
fn without_a_ca_a_request_is_left_and_store_install_finishes_the_job() {
    let case = enrolled("fix-csr");
    let run = repair(&case.store, &[]);
    assert_eq!(run.code, 0, "healthy: nothing to do");
    // a year and a half later the certificate has expired and no CA is at hand
    let later = "2027-08-01T00:00:00Z";
    let run = pki([
        "repair",
        case.store.to_str().unwrap(),
        "--at",
        later,
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    let csr = run.json()["csr"].as_str().unwrap().to_string();
    assert!(
        run.json()["plan"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("pki store install"),
        "{}",
        run.stdout
    );
    let signed = pki([
        "ca",
        "sign",
        "--ca",
        case.ca.to_str().unwrap(),
        &csr,
        "--at",
        later,
    ]);
    assert_eq!(signed.code, 0, "{}", signed.stderr);
    let cert = case.dir.write("signed.crt", &signed.stdout);
    let install = pki([
        "store",
        "install",
        case.store.to_str().unwrap(),
        cert.to_str().unwrap(),
        "--at",
        later,
    ]);
    assert_eq!(install.code, 0, "{}", install.stderr);
    let d = pki([
        "diagnose",
        case.store.to_str().unwrap(),
        "--at",
        later,
        "--format",
        "json",
    ]);
    assert_eq!(d.code, 0, "{}", d.stdout);
    assert!(
        !case.store.join("device.key.pending").exists() && !case.store.join("device.csr").exists()
    );
}

#[test]
fn rollback_undoes_the_last_repair() {
    let case = enrolled("rollback");
    std::fs::remove_file(case.store.join("chain.pem")).unwrap();
    let broken: Vec<(String, String)> = snapshot(&case.store)
        .into_iter()
        .filter(|(k, _)| {
            !k.contains('/') && !k.starts_with("journal") && !k.starts_with("store.yaml")
        })
        .collect();
    assert_eq!(
        repair(&case.store, &["--ca", case.ca.to_str().unwrap()]).code,
        0
    );
    let run = pki([
        "store",
        "rollback",
        case.store.to_str().unwrap(),
        "--at",
        AT,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let now: Vec<(String, String)> = snapshot(&case.store)
        .into_iter()
        .filter(|(k, _)| {
            !k.contains('/') && !k.starts_with("journal") && !k.starts_with("store.yaml")
        })
        .collect();
    assert_eq!(
        now, broken,
        "the role files are back as they were before the repair"
    );
    assert!(!case.store.join("chain.pem").exists());
    assert!(diagnose(&case.store).finding("STORE_TAMPERED").is_none());
}

#[test]
fn a_crash_at_any_write_step_leaves_the_old_or_the_new_store_and_repair_finishes() {
    for (label, extra_break) in [("crash-chain", false), ("crash-reissue", true)] {
        for step in 1.. {
            // the reissue: a certificate of 10 days, expired at AT (a new key and certificate
            // for the device the store proves it is)
            let case = enrolled_for(label, if extra_break { 10 } else { 365 });
            std::fs::remove_file(case.store.join("chain.pem")).unwrap();
            let original = diagnose(&case.store).root_cause();
            let out = std::process::Command::new(pki_tests::run::binary())
                .args([
                    "repair",
                    case.store.to_str().unwrap(),
                    "--ca",
                    case.ca.to_str().unwrap(),
                    "--at",
                    AT,
                    "--format",
                    "json",
                ])
                .env("PKI_CRASH_AFTER", step.to_string())
                .output()
                .unwrap();
            let crashed = out.status.code().is_none();
            let d = diagnose(&case.store);
            // the hand edits that broke the store are tampering; the toolkit's own writes,
            // even cut short, never are
            let tampered: Vec<String> = d.json()["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["code"] == "STORE_TAMPERED")
                .map(|f| f["message"].as_str().unwrap().to_string())
                .collect();
            for t in &tampered {
                let by_hand = t.contains("chain.pem: changed outside pki")
                    && t.ends_with("deleted; no journal entry explains it");
                assert!(
                    by_hand,
                    "{label} step {step}: the repair's own write shows as tampering: {t}"
                );
            }
            // a change of several files (a new key, certificate and chain) cut between two
            // renames is a mix of both, which the journal explains (no tampering above) and
            // the next repair finishes (below); a change of one file is the old or the new
            let several_files = extra_break;
            let old_or_new =
                d.verdict() == "accepted" || d.root_cause() == original || several_files;
            assert!(
                old_or_new,
                "{label} step {step}: neither old nor new: {}",
                d.stdout
            );
            let again = repair(&case.store, &["--ca", case.ca.to_str().unwrap()]);
            assert_eq!(
                again.code, 0,
                "{label} step {step}: repair after the crash: {}\n{}",
                again.stdout, again.stderr
            );
            assert_eq!(diagnose(&case.store).code, 0, "{label} step {step}");
            if !crashed {
                assert!(step > 3, "{label}: the repair took only {step} steps");
                break;
            }
        }
    }
}

#[test]
fn a_symlink_out_of_the_store_is_replaced_not_followed_and_the_outside_is_untouched() {
    let case = enrolled("fix-symlink");
    let outside = TempDir::new("outside");
    let target = outside.write("device.crt", "not mine\n");
    std::fs::remove_file(case.store.join("device.crt")).unwrap();
    std::os::unix::fs::symlink(&target, case.store.join("device.crt")).unwrap();
    let run = repair(&case.store, &["--ca", case.ca.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "not mine\n",
        "nothing outside the store is written"
    );
    assert!(!std::fs::symlink_metadata(case.store.join("device.crt"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(
        serial(&case.store),
        case.serial,
        "the CA's copy of the same certificate"
    );
}

#[test]
fn two_repairs_at_once_neither_corrupts() {
    let case = enrolled("fix-race");
    std::fs::remove_file(case.store.join("chain.pem")).unwrap();
    let spawn = || {
        std::process::Command::new(pki_tests::run::binary())
            .args([
                "repair",
                case.store.to_str().unwrap(),
                "--ca",
                case.ca.to_str().unwrap(),
                "--at",
                AT,
            ])
            .output()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(spawn);
        let b = s.spawn(spawn);
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    for out in [&a, &b] {
        let code = out.status.code().unwrap();
        assert!(
            code == 0 || code == 3,
            "{code}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        a.status.success() || b.status.success(),
        "one of them repaired"
    );
    let d = diagnose(&case.store);
    assert_eq!(d.code, 0, "{}", d.stdout);
}

#[test]
fn an_expired_generation_in_backup_is_never_restored() {
    // enrolled for 10 days, then re-enrolled: the expired generation sits in backup/
    let case = enrolled_for("fix-noexpired", 10);
    assert_eq!(
        enroll(
            &case.store,
            &case.ca,
            "dev-fix",
            "2026-02-20T00:00:00Z",
            &["--force"]
        )
        .code,
        0
    );
    std::fs::write(case.store.join("device.crt"), "").unwrap();
    // no CA at hand: the only certificate left is the expired one
    let run = repair(&case.store, &[]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(actions(&run), ["request-certificate"], "{}", run.stdout);
    assert!(
        std::fs::read(case.store.join("device.crt"))
            .unwrap()
            .is_empty(),
        "the expired certificate was not put back"
    );
}

#[test]
fn rolling_back_an_enrollment_moves_its_files_out_and_keeps_the_key() {
    let case = enrolled("rollback-enroll");
    let key = std::fs::read(case.store.join("device.key")).unwrap();
    // a working store is not thrown away by accident: the dry run says, --force does
    let before = snapshot(&case.store);
    let dry = pki([
        "store",
        "rollback",
        case.store.to_str().unwrap(),
        "--dry-run",
        "--at",
        AT,
        "--format",
        "json",
    ]);
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert_eq!(dry.json()["undo"]["action"], "enroll", "{}", dry.stdout);
    assert_eq!(
        dry.json()["needs_force"],
        true,
        "the dry run says the real run is refused without --force: {}",
        dry.stdout
    );
    let dry_text = pki([
        "store",
        "rollback",
        case.store.to_str().unwrap(),
        "--dry-run",
        "--at",
        AT,
    ]);
    assert!(
        dry_text.stdout.contains("refused without --force"),
        "{}",
        dry_text.stdout
    );
    let out: Vec<String> = dry.json()["undo"]["takes_out"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert!(
        out.contains(&"device.key".to_string()) && out.contains(&"device.crt".to_string()),
        "{out:?}"
    );
    let refused = pki([
        "store",
        "rollback",
        case.store.to_str().unwrap(),
        "--at",
        AT,
    ]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert_eq!(snapshot(&case.store), before, "neither changed a byte");
    let run = pki([
        "store",
        "rollback",
        case.store.to_str().unwrap(),
        "--force",
        "--at",
        AT,
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for f in ["device.crt", "device.key", "chain.pem", "trust.pem"] {
        assert!(!case.store.join(f).exists(), "{f} is out of the store");
    }
    let backup = run.json()["journal"]["backup"]
        .as_str()
        .unwrap()
        .to_string();
    let saved = case.store.join(backup).join("device.key");
    assert_eq!(
        std::fs::read(&saved).unwrap(),
        key,
        "the key is never deleted"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // and the rollback itself can be undone
    assert_eq!(
        pki([
            "store",
            "rollback",
            case.store.to_str().unwrap(),
            "--at",
            AT
        ])
        .code,
        0
    );
    assert_eq!(serial(&case.store), case.serial);
}

#[test]
fn a_harmless_hand_edit_is_recorded_not_rewritten() {
    let case = enrolled("fix-record");
    let crlf = std::fs::read_to_string(case.store.join("device.crt"))
        .unwrap()
        .replace('\n', "\r\n");
    std::fs::write(case.store.join("device.crt"), &crlf).unwrap();
    let tampered = diagnose(&case.store);
    assert_eq!(tampered.verdict(), "accepted", "{}", tampered.stdout);
    assert_eq!(
        tampered.finding("STORE_TAMPERED").unwrap()["severity"],
        "warning"
    );
    let run = repair(&case.store, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(actions(&run), ["record-hand-edits"]);
    assert_eq!(
        std::fs::read_to_string(case.store.join("device.crt")).unwrap(),
        crlf,
        "the bytes are kept as they are"
    );
    assert_eq!(diagnose(&case.store).code, 0);
    assert!(repair(&case.store, &[]).json()["plan"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn run_as_root_written_files_take_the_store_folders_owner() {
    use std::os::unix::fs::MetadataExt;
    if std::fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or(1)
        != 0
    {
        return; // only root can hand files to another owner; nothing to check otherwise
    }
    let case = enrolled("fix-owner");
    // the product's service account owns its store
    std::os::unix::fs::chown(&case.store, Some(4242), Some(4242)).unwrap();
    pki_tests::store::set_mode(&case.store.join("device.key"), 0o644);
    let run = repair(&case.store, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let key = std::fs::metadata(case.store.join("device.key")).unwrap();
    assert_eq!(
        (key.uid(), key.gid()),
        (4242, 4242),
        "the service account can still read its key"
    );
    assert_eq!(key.mode() & 0o777, 0o600);
}
