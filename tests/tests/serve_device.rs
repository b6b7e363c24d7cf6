//! The device side against a real `pki serve`: `enroll`, `renew` (also in the grace period
//! after expiry), `repair` and `diagnose` with `--server URL`. Each store they leave is
//! accepted by `pki diagnose` and by a real mutual-TLS handshake (the suite's own rustls
//! server); a crash at any write step of `renew --server` leaves the old or the new store.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pki_tests::ca::{init, snapshot};
use pki_tests::run::diagnose;
use pki_tests::serve::Server;
use pki_tests::tls::mutual_tls;
use pki_tests::{pki, pki_env, Run, TempDir, AT};
use std::path::{Path, PathBuf};

/// The default policy with a renewal grace of 7 days.
fn grace_policy(dir: &TempDir) -> PathBuf {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/device.yaml"),
    )
    .unwrap()
    .replace(
        "  jitter_percent: 5\n",
        "  jitter_percent: 5\n  grace_days: 7\n",
    );
    dir.write("grace.yaml", text)
}

fn fingerprint(ca: &Path) -> String {
    let pem = std::fs::read(ca.join("root-1.crt")).unwrap();
    let der = rustls::pki_types::pem::PemObject::from_pem_slice(&pem)
        .map(|c: rustls::pki_types::CertificateDer<'static>| c.to_vec())
        .unwrap();
    pki_core::read::cert::sha256_hex(&der)
}

fn token(ca: &Path, device: &str, at: &str) -> String {
    let run = pki([
        "ca",
        "token",
        "--ca",
        ca.to_str().unwrap(),
        "--device-id",
        device,
        "--at",
        at,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout.trim().to_string()
}

fn run_at(args: &[&str], at: &str) -> Run {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--at", at, "--format", "json"]);
    pki(&all)
}

/// The store is accepted by diagnose and by a real handshake at `at`.
fn accepted(store: &Path, ca: &Path, at: &str) {
    let d = diagnose(store, at, &[]);
    assert_eq!(d.verdict(), "accepted", "{}", d.stdout);
    assert!(
        !d.codes().contains(&"STORE_TAMPERED".to_string()),
        "{}",
        d.stdout
    );
    let trust = std::fs::read_to_string(ca.join("trust.pem")).unwrap();
    mutual_tls(store, &trust, at).unwrap_or_else(|e| panic!("handshake: {e}"));
}

/// A CA (grace 7 days), a server at `at`, and `dev-1` enrolled through it by fingerprint,
/// with the contract's command (the device id is the token's).
fn enrolled(label: &str, at: &str) -> (TempDir, PathBuf, PathBuf, Server) {
    let dir = TempDir::new(label);
    let policy = grace_policy(&dir);
    let ca = init(
        &dir,
        "2025-03-01T00:00:00Z",
        &["--policy", policy.to_str().unwrap()],
    );
    let server = Server::start(&ca, at, &dir, &[]);
    let store = dir.join("store");
    let tok = token(&ca, "dev-1", at);
    let run = run_at(
        &[
            "enroll",
            store.to_str().unwrap(),
            "--server",
            &server.url,
            "--token",
            &tok,
            "--fingerprint",
            &fingerprint(&ca),
        ],
        at,
    );
    assert_eq!(
        run.code,
        0,
        "{}{}\n{}",
        run.stdout,
        run.stderr,
        server.log()
    );
    (dir, ca, store, server)
}

#[test]
fn enroll_by_fingerprint_then_renew_and_diagnose_against_the_server() {
    let (dir, ca, store, server) = enrolled("dev-enroll", AT);
    accepted(&store, &ca, AT);
    let journal = std::fs::read_to_string(store.join("journal.jsonl")).unwrap();
    assert!(
        journal.contains("\"enroll\""),
        "the same store guarantees: {journal}"
    );

    // a wrong fingerprint: refused before anything is sent, nothing written
    let other = dir.join("other");
    let tok = token(&ca, "dev-2", AT);
    let run = run_at(
        &[
            "enroll",
            other.to_str().unwrap(),
            "--server",
            &server.url,
            "--device-id",
            "dev-2",
            "--token",
            &tok,
            "--fingerprint",
            &"ab".repeat(32),
        ],
        AT,
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("not the server you meant"),
        "{}",
        run.stderr
    );
    assert!(!other.join("device.crt").exists());
    // the token was not spent: with the right trust it enrolls
    let run = run_at(
        &[
            "enroll",
            other.to_str().unwrap(),
            "--server",
            &server.url,
            "--device-id",
            "dev-2",
            "--token",
            &tok,
            "--trust",
            ca.join("trust.pem").to_str().unwrap(),
        ],
        AT,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    accepted(&other, &ca, AT);

    // renew --server: a new serial and key, still accepted
    let before = diagnose(&store, AT, &[]).json()["certificate"]["serial"].clone();
    let run = run_at(
        &[
            "renew",
            store.to_str().unwrap(),
            "--server",
            &server.url,
            "--force",
        ],
        AT,
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_ne!(run.json()["serial"], before);
    accepted(&store, &ca, AT);

    // diagnose --server: the server's view and a real handshake
    let run = run_at(
        &["diagnose", store.to_str().unwrap(), "--server", &server.url],
        AT,
    );
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let json = run.json();
    assert_eq!(json["server"]["handshake"]["result"], "accepted");
    assert_eq!(json["server"]["offset_seconds"], 0);

    // revoked on the CA side: the server's CRL says so, and the handshake is refused
    let serial = json["certificate"]["serial"].as_str().unwrap().to_string();
    assert_eq!(
        pki([
            "ca",
            "revoke",
            "--ca",
            ca.to_str().unwrap(),
            &serial,
            "--at",
            AT
        ])
        .code,
        0
    );
    assert!(
        server.wait_log("a revocation in the inventory", 10),
        "{}",
        server.log()
    );
    let run = run_at(
        &["diagnose", store.to_str().unwrap(), "--server", &server.url],
        AT,
    );
    assert_eq!(run.code, 2, "{}", run.stdout);
    assert_eq!(run.root_cause().as_deref(), Some("REVOKED"));
    let json = run.json();
    assert_eq!(json["server"]["handshake"]["result"], "refused");
    assert_eq!(json["server"]["handshake"]["alert"], "certificate_revoked");
    // a revoked certificate never renews
    let run = run_at(
        &[
            "renew",
            store.to_str().unwrap(),
            "--server",
            &server.url,
            "--force",
        ],
        AT,
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("certificate_revoked"), "{}", run.stderr);
    assert_eq!(server.stop(), 0);
}

#[test]
fn the_token_names_the_device_and_an_id_given_beside_it_must_agree() {
    let (dir, ca, store, server) = enrolled("dev-token", AT);
    let d = diagnose(&store, AT, &[]).json();
    assert_eq!(
        d["certificate"]["subject"], "O=Fleet Devices, CN=dev-1",
        "the id read from the token: {d}"
    );
    let trust = ca.join("trust.pem");
    let tok = token(&ca, "dev-2", AT);
    let (id, secret) = tok.split_once(':').unwrap();
    assert_eq!(id, "dev-2", "{tok}");
    let enroll = |store: &Path, extra: &[&str]| {
        let mut args = vec![
            "enroll",
            store.to_str().unwrap(),
            "--server",
            server.url.as_str(),
            "--trust",
            trust.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        run_at(&args, AT)
    };
    // another id beside the token, or a bare secret without one: usage errors, nothing sent
    let other = dir.join("other");
    for (extra, why) in [
        (
            vec!["--token", &tok, "--device-id", "dev-3"],
            "made for device 'dev-2', not 'dev-3'",
        ),
        (vec!["--token", secret], "names no device"),
    ] {
        let run = enroll(&other, &extra);
        assert_eq!(run.code, 64, "{extra:?}: {}", run.stderr);
        assert!(run.stderr.contains(why), "{}", run.stderr);
        assert!(
            !run.stderr.contains(secret),
            "the secret is not repeated: {}",
            run.stderr
        );
        assert!(!other.join("device.crt").exists());
    }
    // the token was not spent: with the same id beside it, or the bare secret and the id
    let run = enroll(&other, &["--token", &tok, "--device-id", "dev-2"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    accepted(&other, &ca, AT);
    let third = dir.join("third");
    let tok = token(&ca, "dev-3", AT);
    let secret = tok.split_once(':').unwrap().1;
    let run = enroll(&third, &["--token", secret, "--device-id", "dev-3"]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    accepted(&third, &ca, AT);

    // repair with a token made for another device: refused, the store left as it was
    std::fs::write(
        store.join("device.key"),
        rcgen::KeyPair::generate().unwrap().serialize_pem(),
    )
    .unwrap();
    let before = snapshot(&store);
    let tok = token(&ca, "dev-9", AT);
    let run = run_at(
        &[
            "repair",
            store.to_str().unwrap(),
            "--server",
            &server.url,
            "--token",
            &tok,
        ],
        AT,
    );
    assert_ne!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("made for device 'dev-9', not 'dev-1'"),
        "{}",
        run.stderr
    );
    assert_eq!(snapshot(&store), before);
    assert_eq!(server.stop(), 0);
}

#[test]
fn a_clock_a_year_ahead_is_told_with_the_offset_and_nothing_is_reissued() {
    let (_dir, ca, store, server) = enrolled("dev-clock", AT);
    let ahead = "2027-03-05T00:00:00Z"; // the certificate ends 2027-03-01 at the server's clock's next year
    let local = diagnose(&store, ahead, &[]);
    assert_eq!(
        local.root_cause().as_deref(),
        Some("CERT_EXPIRED"),
        "alone, the store looks expired"
    );
    let run = run_at(
        &["diagnose", store.to_str().unwrap(), "--server", &server.url],
        ahead,
    );
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.verdict(), "accepted", "judged at the server's clock");
    let skew = run.finding("CLOCK_SKEW_SUSPECTED").unwrap();
    assert!(
        skew["message"].as_str().unwrap().contains("369 days ahead"),
        "{skew}"
    );
    assert_eq!(run.json()["server"]["offset_seconds"], 369 * 86400);

    let before = snapshot(&store);
    let run = run_at(
        &["repair", store.to_str().unwrap(), "--server", &server.url],
        ahead,
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("set the clock first"), "{}", run.stderr);
    assert_eq!(
        snapshot(&store),
        before,
        "nothing reissued, nothing written"
    );
    accepted(&store, &ca, AT);
    assert_eq!(server.stop(), 0);
}

#[test]
fn just_after_expiry_renewal_works_within_grace_and_not_after() {
    let enrolled_at = AT;
    let (dir, ca, store, first) = enrolled("dev-grace", enrolled_at);
    assert_eq!(first.stop(), 0);
    // the certificate ends 2027-03-01; a day later, with the server's clock there too
    let a_day_late = "2027-03-02T00:00:00Z";
    let server = Server::start(&ca, a_day_late, &dir, &[]);
    let run = run_at(
        &["renew", store.to_str().unwrap(), "--server", &server.url],
        a_day_late,
    );
    assert_eq!(
        run.code,
        0,
        "{}{}\n{}",
        run.stdout,
        run.stderr,
        server.log()
    );
    assert!(server
        .log()
        .contains("renewing a certificate in its grace period"));
    accepted(&store, &ca, a_day_late);
    assert_eq!(server.stop(), 0);

    // a second device, a month after expiry: the server refuses in the handshake, the store stays
    let (dir2, ca2, store2, first) = enrolled("dev-grace-past", enrolled_at);
    assert_eq!(first.stop(), 0);
    let a_month_late = "2027-03-31T00:00:00Z";
    let server = Server::start(&ca2, a_month_late, &dir2, &[]);
    let before = snapshot(&store2);
    let run = run_at(
        &["renew", store2.to_str().unwrap(), "--server", &server.url],
        a_month_late,
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("certificate_expired"), "{}", run.stderr);
    assert_eq!(snapshot(&store2), before);
    assert!(server.wait_log("code=CERT_EXPIRED", 5), "{}", server.log());
    assert_eq!(server.stop(), 0);
    drop(dir);
}

#[test]
fn repair_over_the_server_rechains_refreshes_trust_and_reissues() {
    let (_dir, ca, store, server) = enrolled("dev-repair", AT);
    let repair = |extra: &[&str]| {
        let mut args = vec![
            "repair",
            store.to_str().unwrap(),
            "--server",
            server.url.as_str(),
        ];
        args.extend_from_slice(extra);
        run_at(&args, AT)
    };
    std::fs::write(store.join("chain.pem"), "").unwrap();
    let run = repair(&[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("rebuild-chain"), "{}", run.stdout);
    accepted(&store, &ca, AT);

    // trust.pem gone: the store cannot authenticate the server by it; the fingerprint can
    std::fs::write(store.join("trust.pem"), "").unwrap();
    assert_eq!(repair(&[]).code, 64);
    let fp = fingerprint(&ca);
    let run = repair(&["--fingerprint", &fp]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("refresh-trust"), "{}", run.stdout);
    accepted(&store, &ca, AT);

    // the key lost: only a new certificate helps, and the old one cannot authenticate it
    std::fs::write(
        store.join("device.key"),
        rcgen::KeyPair::generate().unwrap().serialize_pem(),
    )
    .unwrap();
    let run = repair(&[]);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("enroll again with a token"),
        "{}",
        run.stderr
    );
    let tok = token(&ca, "dev-1", AT);
    let run = repair(&["--token", &tok]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("reissue"), "{}", run.stdout);
    accepted(&store, &ca, AT);
    assert_eq!(server.stop(), 0);
}

#[test]
fn a_crash_at_any_write_step_of_renew_over_the_server_leaves_the_old_or_the_new_store() {
    let (_dir, ca, store, server) = enrolled("dev-crash", AT);
    let (mut left_old, mut left_new) = (0, 0);
    for step in 1.. {
        let before = diagnose(&store, AT, &[]).json()["certificate"]["serial"].clone();
        let out = pki_env(
            [
                "renew",
                store.to_str().unwrap(),
                "--server",
                &server.url,
                "--force",
                "--at",
                AT,
            ],
            &[("PKI_CRASH_AFTER", &step.to_string())],
        );
        let crashed = out.code == -1;
        let d = diagnose(&store, AT, &[]);
        assert_eq!(d.verdict(), "accepted", "step {step}: {}", d.stdout);
        assert!(
            !d.codes().contains(&"STORE_TAMPERED".to_string()),
            "step {step}: the renewal's own writes show as tampering: {}",
            d.stdout
        );
        let after = d.json()["certificate"]["serial"].clone();
        if crashed && after == before {
            left_old += 1;
        } else if crashed {
            left_new += 1;
        }
        // what a crash left, repair finishes (no CA needed: the files are all there)
        let again = pki(["repair", store.to_str().unwrap(), "--at", AT]);
        assert!(
            again.code <= 1,
            "step {step}: {}{}",
            again.stdout,
            again.stderr
        );
        accepted(&store, &ca, AT);
        if !crashed {
            assert_eq!(out.code, 0, "step {step}: {}", out.stderr);
            assert!(step > 3, "the renewal took only {step} write steps");
            break;
        }
    }
    assert!(
        left_old > 0 && left_new > 0,
        "crashes left the old store ({left_old}) and the new one ({left_new})"
    );
    assert_eq!(server.stop(), 0);
}

/// Runs the commands of `fix` as printed (the test adds only `--at`). The CA side's `pki ca
/// token --ca DIR` gets the CA folder (the endpoint cannot know it: DIR is left for whoever
/// runs the CA), and the token it prints goes where the fix says T.
fn close_loop(label: &str, fix: &str, ca: &Path, at: &str) {
    let mut token: Option<String> = None;
    let commands: Vec<&str> = fix.split('`').skip(1).step_by(2).collect();
    assert!(!commands.is_empty(), "{label}: no command in {fix}");
    for command in commands {
        let words = shlex::split(command).unwrap_or_else(|| panic!("{label}: {command}"));
        assert_eq!(words[0], "pki", "{label}: {fix}");
        let mut args: Vec<String> = words[1..].to_vec();
        if args.starts_with(&["ca".to_string(), "token".to_string()]) {
            for w in &mut args {
                if w == "DIR" {
                    *w = ca.display().to_string();
                }
            }
            args.extend(["--at".to_string(), at.to_string()]);
            let run = pki(&args);
            assert_eq!(run.code, 0, "{label}: {args:?}: {}", run.stderr);
            token = Some(run.stdout.trim().to_string());
            continue;
        }
        for w in &mut args {
            if w == "T" {
                *w = token
                    .clone()
                    .unwrap_or_else(|| panic!("{label}: T before a token: {fix}"));
            }
            for placeholder in ["STORE", "DIR", "ID", "TRUST", "URL"] {
                assert_ne!(w, placeholder, "{label}: a placeholder left in {fix}");
            }
        }
        assert!(!args.contains(&"--ca".to_string()), "{label}: {fix}");
        args.extend(["--at".to_string(), at.to_string()]);
        let run = pki(&args);
        assert_eq!(
            run.code, 0,
            "{label}: {args:?}:\n{}{}",
            run.stdout, run.stderr
        );
    }
}

/// The fix of the finding `code` of `run`: it names the server (the commands run on the
/// endpoint never name `--ca`: [`close_loop`] holds them to that).
fn fix_of(label: &str, run: &Run, code: &str, server: &Server) -> String {
    let finding = run
        .finding(code)
        .unwrap_or_else(|| panic!("{label}: no {code}: {}", run.stdout));
    let fix = finding["fix"].as_str().unwrap().to_string();
    assert!(
        fix.contains(&format!("--server {}", server.url)),
        "{label}: {fix}"
    );
    fix
}

#[test]
fn a_store_enrolled_over_the_server_is_told_the_server_and_its_fixes_work() {
    let (dir, ca, store, server) = enrolled("dev-fixes", AT);
    let manifest = std::fs::read_to_string(store.join("store.yaml")).unwrap();
    assert!(
        manifest.contains(&format!("server: {}", server.url)),
        "{manifest}"
    );
    assert!(!manifest.contains("\nca:"), "{manifest}");

    // the chain lost: repair over the server
    std::fs::write(store.join("chain.pem"), "").unwrap();
    let run = diagnose(&store, AT, &[]);
    let fix = fix_of("chain", &run, "CHAIN_INCOMPLETE", &server);
    close_loop("chain", &fix, &ca, AT);
    accepted(&store, &ca, AT);

    // the key lost: the certificate cannot authenticate a renewal, nor the store prove the
    // device; a token (made by whoever knows the device), then enroll anew
    std::fs::write(
        store.join("device.key"),
        rcgen::KeyPair::generate().unwrap().serialize_pem(),
    )
    .unwrap();
    let run = diagnose(&store, AT, &[]);
    let fix = fix_of("key", &run, "KEY_MISMATCH", &server);
    assert!(
        fix.contains("pki ca token --ca DIR --device-id dev-1"),
        "{fix}"
    );
    close_loop("key", &fix, &ca, AT);
    accepted(&store, &ca, AT);

    // revoked (seen against the server's CRL): a token, then enroll anew
    let serial = diagnose(&store, AT, &[]).json()["certificate"]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    let revoke = pki([
        "ca",
        "revoke",
        "--ca",
        ca.to_str().unwrap(),
        &serial,
        "--at",
        AT,
    ]);
    assert_eq!(revoke.code, 0, "{}", revoke.stderr);
    assert!(
        server.wait_log("a revocation in the inventory", 10),
        "{}",
        server.log()
    );
    let run = run_at(
        &["diagnose", store.to_str().unwrap(), "--server", &server.url],
        AT,
    );
    assert_eq!(
        run.root_cause().as_deref(),
        Some("REVOKED"),
        "{}",
        run.stdout
    );
    let fix = fix_of("revoked", &run, "REVOKED", &server);
    close_loop("revoked", &fix, &ca, AT);
    let run = run_at(
        &["diagnose", store.to_str().unwrap(), "--server", &server.url],
        AT,
    );
    assert_eq!(run.verdict(), "accepted", "{}", run.stdout);
    accepted(&store, &ca, AT);

    // near its end: the same server (its URL), its clock there too; renew over it
    let port = server.port;
    assert_eq!(server.stop(), 0);
    let late = "2027-02-20T00:00:00Z";
    let server = Server::start_on(&ca, late, &dir, port);
    let run = diagnose(&store, late, &[]);
    let fix = fix_of("expiring", &run, "CERT_EXPIRING_SOON", &server);
    close_loop("expiring", &fix, &ca, late);
    let run = diagnose(&store, late, &[]);
    assert!(
        !run.codes().contains(&"CERT_EXPIRING_SOON".to_string()),
        "{}",
        run.stdout
    );
    accepted(&store, &ca, late);
    assert_eq!(server.stop(), 0);
}

/// The bytes of the key a crashed enrollment left on disk (see [`pki_tests::store::key_left`]).
fn key_left(store: &Path) -> Option<Vec<u8>> {
    pki_tests::store::key_left(store).map(|(_, bytes)| bytes)
}

/// A crash at any write step of a first enrollment is resumed by running the same command
/// again: over the server with the same token (the key the crashed run wrote is taken again,
/// and the server sends again the certificate it issued for that token and key: one
/// certificate, not two), and with a CA folder at hand (signed anew for that key). Only a
/// crash before the key reached the disk spends the token: a new key gets nothing for it.
/// A certificate revoked meanwhile is never sent again.
#[test]
fn a_crash_at_any_write_step_of_enroll_is_resumed_by_the_same_command() {
    let (dir, ca, _store, server) = enrolled("dev-enroll-crash", AT);
    let trust = ca.join("trust.pem");
    let inventory = pki_core::ca::Ca::load(&ca).unwrap().inventory;
    let issued = |device: &str| inventory.issued_to(device).unwrap();
    // the same command each time: enroll STORE over the server with TOKEN
    let over_server = |store: &Path, tok: &str| {
        let (store, trust) = (store.to_str().unwrap(), trust.to_str().unwrap());
        let args = [
            "enroll",
            store,
            "--server",
            &server.url,
            "--token",
            tok,
            "--trust",
            trust,
        ];
        args.iter()
            .chain(&["--at", AT])
            .map(|a| a.to_string())
            .collect::<Vec<String>>()
    };
    let (mut resumed, mut lost) = (0, 0);
    for step in 1.. {
        let device = format!("crash-{step}");
        let store = dir.join(&device);
        let tok = token(&ca, &device, AT);
        let args = over_server(&store, &tok);
        let out = pki_env(&args, &[("PKI_CRASH_AFTER", &step.to_string())]);
        if out.code != -1 {
            assert_eq!(out.code, 0, "step {step}: {}", out.stderr);
            assert!(step > 5, "the enrollment took only {step} write steps");
            break;
        }
        assert_eq!(issued(&device).len(), 1, "step {step}");
        let again = pki(&args);
        match key_left(&store) {
            Some(key) => {
                assert_eq!(
                    again.code, 0,
                    "step {step}: {}{}",
                    again.stdout, again.stderr
                );
                assert_eq!(
                    std::fs::read(store.join("device.key")).unwrap(),
                    key,
                    "step {step}: the key the crashed run wrote"
                );
                assert_eq!(
                    issued(&device).len(),
                    1,
                    "step {step}: the same certificate, sent again"
                );
                resumed += 1;
            }
            None => {
                // the key was lost with the crash: the token is spent, a new one enrolls
                assert_eq!(again.code, 2, "step {step}: {}", again.stderr);
                assert!(again.stderr.contains("used"), "{}", again.stderr);
                let run = pki(over_server(&store, &token(&ca, &device, AT)));
                assert_eq!(run.code, 0, "step {step}: {}", run.stderr);
                assert_eq!(issued(&device).len(), 2, "step {step}");
                lost += 1;
            }
        }
        let leftovers: Vec<String> = std::fs::read_dir(&store)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".device.key"))
            .collect();
        assert!(leftovers.is_empty(), "step {step}: {leftovers:?}");
        accepted(&store, &ca, AT);
    }
    assert!(resumed > 0 && lost > 0, "resumed {resumed}, lost {lost}");
    assert!(server.log().contains("sent again"), "{}", server.log());

    // a key left open to others is not one pki wrote (it writes keys 0600): not taken again,
    // so a new key gets nothing for the token; and a certificate revoked after the crash is
    // not sent again
    for (device, spoil) in [("crash-open", "chmod"), ("crash-revoked", "revoke")] {
        let store = dir.join(device);
        let tok = token(&ca, device, AT);
        let args = over_server(&store, &tok);
        assert_eq!(pki_env(&args, &[("PKI_CRASH_AFTER", "4")]).code, -1);
        let key = key_left(&store).unwrap();
        if spoil == "chmod" {
            use std::os::unix::fs::PermissionsExt;
            let open = std::fs::Permissions::from_mode(0o644);
            std::fs::set_permissions(store.join("device.key"), open).unwrap();
        } else {
            let serial = issued(device)[0].serial.clone();
            let revoke = pki([
                "ca",
                "revoke",
                "--ca",
                ca.to_str().unwrap(),
                &serial,
                "--at",
                AT,
            ]);
            assert_eq!(revoke.code, 0, "{}", revoke.stderr);
        }
        let again = pki(&args);
        assert_eq!(again.code, 2, "{device}: {}{}", again.stdout, again.stderr);
        assert!(again.stderr.contains("used"), "{device}: {}", again.stderr);
        assert_eq!(std::fs::read(store.join("device.key")).unwrap(), key);
    }

    // with the CA folder at hand: the same command again finishes, with the key left
    for step in 1.. {
        let device = format!("local-{step}");
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
            assert!(step > 5, "the enrollment took only {step} write steps");
            break;
        }
        let key = key_left(&store);
        let again = pki(args);
        assert_eq!(
            again.code, 0,
            "step {step}: {}{}",
            again.stdout, again.stderr
        );
        if let Some(key) = key {
            assert_eq!(std::fs::read(store.join("device.key")).unwrap(), key);
        }
        accepted(&store, &ca, AT);
    }
    assert_eq!(server.stop(), 0);
}

/// A new root with no overlap while the server runs: the server no longer trusts the store's
/// certificate. `pki diagnose --server` says UNKNOWN_ISSUER, and its fix, run as printed,
/// leaves a store the server accepts. The fix was `pki repair STORE --server URL`, which
/// judged the store against its own trust.pem (still holding the old root) and found nothing
/// to do; and no renewal can be authenticated by a certificate the server refuses.
#[test]
fn a_root_the_server_dropped_is_repaired_by_the_fix_diagnose_server_prints() {
    let (_dir, ca, store, server) = enrolled("dev-root-dropped", AT);
    // rotated as of the day before: its overlap is over at the server's clock
    let rotate = pki([
        "ca",
        "rotate",
        "--ca",
        ca.to_str().unwrap(),
        "--root",
        "--overlap-days",
        "0",
        "--at",
        "2026-02-28T00:00:00Z",
    ]);
    assert_eq!(rotate.code, 0, "{}", rotate.stderr);
    assert!(
        server.wait_log("the CA folder changed", 10),
        "{}",
        server.log()
    );
    let diagnose_server = || {
        run_at(
            &["diagnose", store.to_str().unwrap(), "--server", &server.url],
            AT,
        )
    };
    let run = diagnose_server();
    assert_eq!(
        run.root_cause().as_deref(),
        Some("UNKNOWN_ISSUER"),
        "{}",
        run.stdout
    );
    let fix = fix_of("root", &run, "UNKNOWN_ISSUER", &server);
    close_loop("root", &fix, &ca, AT);
    let run = diagnose_server();
    assert_eq!(run.verdict(), "accepted", "{}", run.stdout);
    assert_eq!(
        run.json()["server"]["handshake"]["result"],
        "accepted",
        "{}",
        run.stdout
    );
    accepted(&store, &ca, AT);
    assert_eq!(server.stop(), 0);
}
