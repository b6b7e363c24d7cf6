//! `pki repair` keeps its promises: a dry run changes nothing anywhere (nothing is signed at
//! the CA); `--trust` is the server's anchors (judged against, planned for, refused when it
//! holds no certificate); no key or request is made when no new certificate is needed; a
//! request left pending is named by diagnose and cleared once a repair succeeds.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pki_tests::ca::{enroll, init, snapshot};
use pki_tests::{pki, Run, TempDir, AT};
use std::path::{Path, PathBuf};

const LATER: &str = "2026-04-01T00:00:00Z";

fn repair(store: &Path, at: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "repair",
        store.to_str().unwrap(),
        "--at",
        at,
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    pki(&args)
}

fn actions(run: &Run) -> Vec<String> {
    run.json()["plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().unwrap().to_string())
        .collect()
}

/// A CA made at 2026-01-01 and a store enrolled on 2026-02-01 for `days`.
fn enrolled(label: &str, days: u32) -> (TempDir, PathBuf, PathBuf) {
    let dir = TempDir::new(label);
    let ca = init(&dir, "2026-01-01T00:00:00Z", &[]);
    let policy = std::fs::read_to_string(ca.join("policy.yaml"))
        .unwrap()
        .replace("lifetime_days: 365", &format!("lifetime_days: {days}"));
    let policy = dir.write("policy.yaml", policy);
    let store = dir.join("store");
    let run = enroll(
        &store,
        &ca,
        "dev-r",
        "2026-02-01T00:00:00Z",
        &["--policy", policy.to_str().unwrap()],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    (dir, ca, store)
}

#[test]
fn a_dry_run_with_a_ca_signs_nothing_and_changes_no_byte_anywhere() {
    let (_dir, ca, store) = enrolled("dry-ca", 10);
    let (ca_before, store_before) = (snapshot(&ca), snapshot(&store));
    let run = repair(&store, AT, &["--ca", ca.to_str().unwrap(), "--dry-run"]);
    assert_eq!(actions(&run), ["reissue"], "{}", run.stdout);
    assert!(
        run.json()["plan"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("nothing signed"),
        "{}",
        run.stdout
    );
    assert_eq!(
        snapshot(&ca),
        ca_before,
        "the CA folder (index, issued/) is untouched"
    );
    assert_eq!(snapshot(&store), store_before, "the store is untouched");
    // the real run does issue, so the dry run had something to hold back
    let real = repair(&store, AT, &["--ca", ca.to_str().unwrap()]);
    assert_eq!(real.code, 0, "{}", real.stdout);
    assert_ne!(snapshot(&ca), ca_before);
}

#[test]
fn a_dry_run_without_a_ca_says_the_request_would_be_left_and_leaves_none() {
    let (_dir, _ca, store) = enrolled("dry-request", 10);
    let before = snapshot(&store);
    let run = repair(&store, AT, &["--dry-run"]);
    assert_eq!(actions(&run), ["request-certificate"], "{}", run.stdout);
    let detail = run.json()["plan"][0]["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        detail.contains("would be left") && detail.contains("dry run: nothing made"),
        "a dry run does not say it left files: {detail}"
    );
    assert_eq!(
        run.json()["csr"],
        serde_json::Value::Null,
        "no request made"
    );
    assert_eq!(snapshot(&store), before);
}

#[test]
fn without_a_ca_a_missing_chain_or_trust_makes_no_key_and_says_what_it_needs() {
    for missing in ["chain.pem", "trust.pem"] {
        let (_dir, ca, store) = enrolled(&format!("needs-{missing}"), 365);
        std::fs::remove_file(store.join(missing)).unwrap();
        let before = snapshot(&store);
        let run = repair(&store, AT, &[]);
        assert_eq!(run.code, 2, "{missing}: {}", run.stdout);
        assert_eq!(actions(&run), ["needs-input"], "{missing}: {}", run.stdout);
        let detail = run.json()["plan"][0]["detail"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(detail.contains("no new certificate is needed"), "{detail}");
        // the CA the store was enrolled from is known (store.yaml): no placeholder for it
        let known = std::fs::canonicalize(&ca).unwrap();
        assert!(
            detail.contains(&format!("--ca {}", known.display())),
            "{detail}"
        );
        if missing == "trust.pem" {
            assert!(detail.contains("--trust FILE"), "{detail}");
        }
        assert_eq!(run.json()["csr"], serde_json::Value::Null);
        assert!(!store.join("device.key.pending").exists());
        assert!(!store.join("device.csr").exists());
        assert_eq!(snapshot(&store), before, "{missing}: nothing written");
        // what it needs does the job, keeping the certificate
        let serial =
            pki_tests::run::diagnose(&store, AT, &[]).json()["certificate"]["serial"].clone();
        let fixed = repair(&store, AT, &["--ca", ca.to_str().unwrap()]);
        assert_eq!(fixed.code, 0, "{missing}: {}", fixed.stdout);
        assert_eq!(
            pki_tests::run::diagnose(&store, AT, &[]).json()["certificate"]["serial"],
            serial
        );
    }
}

#[test]
fn a_pending_request_is_named_by_diagnose_and_cleared_once_a_repair_succeeds() {
    let (_dir, ca, store) = enrolled("pending", 10);
    let run = repair(&store, AT, &[]);
    assert_eq!(actions(&run), ["request-certificate"], "{}", run.stdout);
    let detail = run.json()["plan"][0]["detail"]
        .as_str()
        .unwrap()
        .to_string();
    let known = std::fs::canonicalize(&ca).unwrap();
    assert!(
        detail.contains(&format!("`pki ca sign --ca {} ", known.display())),
        "the CA store.yaml records, not a placeholder: {detail}"
    );
    let pending_key = std::fs::read(store.join("device.key.pending")).unwrap();
    // a second run without a CA names the same request, makes no second key
    let again = repair(&store, AT, &[]);
    assert_eq!(actions(&again), ["request-certificate"]);
    assert_eq!(
        std::fs::read(store.join("device.key.pending")).unwrap(),
        pending_key
    );

    let d = pki_tests::run::diagnose(&store, AT, &[]);
    let f = d
        .finding("REQUEST_PENDING")
        .unwrap_or_else(|| panic!("{}", d.stdout));
    assert_eq!(f["severity"], "info");
    let message = f["message"].as_str().unwrap();
    assert!(
        message.contains(store.join("device.key.pending").to_str().unwrap()),
        "{message}"
    );
    assert!(
        message.contains(store.join("device.csr").to_str().unwrap()),
        "{message}"
    );

    let run = repair(&store, AT, &["--ca", ca.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        actions(&run).contains(&"clear-pending-request".to_string()),
        "{}",
        run.stdout
    );
    assert!(!store.join("device.key.pending").exists());
    assert!(!store.join("device.csr").exists());
    let backup = store.join(run.json()["journal"]["backup"].as_str().unwrap());
    assert_eq!(
        std::fs::read(backup.join("device.key.pending")).unwrap(),
        pending_key,
        "the key is kept"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(backup.join("device.key.pending"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    let d = pki_tests::run::diagnose(&store, AT, &[]);
    assert_eq!(d.code, 0, "{}", d.stdout);
    assert!(d.finding("REQUEST_PENDING").is_none());
}

#[test]
fn a_renewal_supersedes_a_pending_request_and_a_leftover_one_is_not_offered_for_signing() {
    let (dir, ca, store) = enrolled("pending-renewed", 10);
    let run = repair(&store, AT, &[]);
    assert_eq!(actions(&run), ["request-certificate"], "{}", run.stdout);
    let pending_key = std::fs::read(store.join("device.key.pending")).unwrap();
    let pending_csr = std::fs::read(store.join("device.csr")).unwrap();
    // the CERT_EXPIRED fix: renew from the CA; the request it supersedes goes to backup/
    let renewed = pki([
        "renew",
        store.to_str().unwrap(),
        "--ca",
        ca.to_str().unwrap(),
        "--force",
        "--at",
        AT,
        "--format",
        "json",
    ]);
    assert_eq!(renewed.code, 0, "{}{}", renewed.stdout, renewed.stderr);
    assert!(!store.join("device.key.pending").exists());
    assert!(!store.join("device.csr").exists());
    let backup = store.join(renewed.json()["journal"]["backup"].as_str().unwrap());
    assert_eq!(
        std::fs::read(backup.join("device.key.pending")).unwrap(),
        pending_key,
        "the pending key is kept"
    );
    let d = pki_tests::run::diagnose(&store, AT, &[]);
    assert_eq!(d.code, 0, "{}", d.stdout);

    // a request left over beside a working certificate is not offered for signing: that
    // would only replace the certificate that works
    let other = dir.join("other");
    assert_eq!(
        enroll(&other, &ca, "dev-o", "2026-02-20T00:00:00Z", &[]).code,
        0
    );
    std::fs::write(other.join("device.key.pending"), &pending_key).unwrap();
    std::fs::write(other.join("device.csr"), &pending_csr).unwrap();
    let d = pki_tests::run::diagnose(&other, AT, &[]);
    assert_eq!(d.verdict(), "accepted", "{}", d.stdout);
    let f = d.finding("REQUEST_PENDING").unwrap();
    let fix = f["fix"].as_str().unwrap();
    assert!(
        !fix.contains("ca sign") && !fix.contains("install"),
        "{fix}"
    );
    assert_eq!(
        fix.split('`').nth(1),
        Some(format!("pki repair {}", other.display()).as_str())
    );
    let run = repair(&other, AT, &[]);
    assert_eq!(actions(&run), ["clear-pending-request"], "{}", run.stdout);
    assert!(pki_tests::run::diagnose(&other, AT, &[])
        .finding("REQUEST_PENDING")
        .is_none());
}

#[test]
fn a_trust_file_without_a_certificate_is_refused_before_anything_is_planned() {
    let (dir, ca, store) = enrolled("trust-garbage", 365);
    let key = dir.write(
        "key.pem",
        rcgen::KeyPair::generate().unwrap().serialize_pem(),
    );
    let garbage = dir.write(
        "garbage.pem",
        "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
    );
    let empty = dir.write("empty.pem", "");
    let before = (snapshot(&store), snapshot(&ca));
    for (file, says) in [
        (&key, "a private key"),
        (&garbage, "no certificate"),
        (&empty, "no certificate"),
    ] {
        let run = repair(
            &store,
            AT,
            &[
                "--trust",
                file.to_str().unwrap(),
                "--ca",
                ca.to_str().unwrap(),
            ],
        );
        assert_eq!(
            run.code,
            64,
            "{}: {}{}",
            file.display(),
            run.stdout,
            run.stderr
        );
        assert!(run.stdout.is_empty(), "nothing planned: {}", run.stdout);
        assert!(
            run.stderr.contains(file.to_str().unwrap()),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains(says), "{}", run.stderr);
        assert!(
            run.stderr
                .contains("--trust must be the server's trust anchors"),
            "{}",
            run.stderr
        );
    }
    assert_eq!((snapshot(&store), snapshot(&ca)), before);
}

#[test]
fn a_trust_file_that_is_no_file_is_a_usage_error_not_read() {
    let (dir, ca, store) = enrolled("trust-folder", 365);
    let folder = dir.join("anchors.d");
    std::fs::create_dir(&folder).unwrap();
    let before = (snapshot(&store), snapshot(&ca));
    let folder_arg = folder.to_str().unwrap();
    let run = repair(
        &store,
        AT,
        &["--trust", folder_arg, "--ca", ca.to_str().unwrap()],
    );
    assert_eq!(run.code, 64, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains(folder_arg), "{}", run.stderr);
    assert!(run.stderr.contains("not a regular file"), "{}", run.stderr);
    assert_eq!((snapshot(&store), snapshot(&ca)), before);
}

#[test]
fn diagnose_and_audit_refuse_a_trust_file_without_a_certificate_as_repair_does() {
    // judged against it, every fix would name a `pki repair … --trust F` that repair refuses
    let (dir, _ca, store) = enrolled("trust-diagnose", 365);
    let key = dir.write(
        "key.pem",
        rcgen::KeyPair::generate().unwrap().serialize_pem(),
    );
    let empty = dir.write("empty.pem", "");
    let folder = dir.join("anchors.d");
    std::fs::create_dir(&folder).unwrap();
    for (file, says) in [
        (&key, "a private key"),
        (&empty, "no certificate"),
        (&folder, "not a regular file"),
    ] {
        let arg = file.to_str().unwrap();
        for run in [
            pki_tests::run::diagnose(&store, AT, &["--trust", arg]),
            pki(["audit", store.to_str().unwrap(), "--trust", arg, "--at", AT]),
        ] {
            assert_eq!(run.code, 64, "{arg}: {}{}", run.stdout, run.stderr);
            assert!(run.stdout.is_empty(), "nothing judged: {}", run.stdout);
            assert!(run.stderr.contains(arg), "{}", run.stderr);
            assert!(run.stderr.contains(says), "{}", run.stderr);
        }
    }
}

#[test]
fn a_repair_for_a_server_this_ca_cannot_reach_makes_and_signs_nothing() {
    // the server trusts a root of this CA's root name, re-keyed elsewhere: a certificate
    // from this CA would be rejected too, so none is made (it used to reissue, sign, record
    // at the CA, and print the same fix again)
    let (dir, ca, store) = enrolled("unreachable", 365);
    let root_file = ca.join("root-1.crt");
    let root = pki_core::read::decode::decode(&root_file, &std::fs::read(&root_file).unwrap());
    let (_, parsed) = x509_parser::parse_x509_certificate(&root.certs[0].der).unwrap();
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    for attr in parsed.subject().iter_attributes() {
        let oid: Vec<u64> = attr.attr_type().iter().unwrap().collect();
        params
            .distinguished_name
            .push(rcgen::DnType::from_oid(&oid), attr.as_str().unwrap());
    }
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.not_before = pki_tests::at("2026-01-01T00:00:00Z");
    let elsewhere = params
        .self_signed(&rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let server = dir.write("server.pem", elsewhere.pem());
    let server_arg = server.to_str().unwrap();
    let d = pki_tests::run::diagnose(&store, AT, &["--trust", server_arg]);
    assert_eq!(
        d.root_cause().as_deref(),
        Some("CA_ROTATED"),
        "{}",
        d.stdout
    );
    let before = (snapshot(&store), snapshot(&ca));
    for dry in [true, false] {
        let mut args = vec!["--ca", ca.to_str().unwrap(), "--trust", server_arg];
        if dry {
            args.push("--dry-run");
        }
        let run = repair(&store, AT, &args);
        assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
        assert_eq!(actions(&run), ["outside-the-store"], "{}", run.stdout);
        let detail = run.json()["plan"][0]["detail"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(detail.contains("would be rejected too"), "{detail}");
        assert!(detail.contains(server_arg), "{detail}");
        assert!(
            detail.contains(ca.join("trust.pem").to_str().unwrap()),
            "{detail}"
        );
        assert_eq!(
            (snapshot(&store), snapshot(&ca)),
            before,
            "nothing made, signed or written (dry run: {dry})"
        );
    }
}

/// A root rotation (`ca rotate --root`): the new root's name is "… Root CA G2".
fn rotated_root(label: &str) -> (TempDir, PathBuf, PathBuf) {
    let (dir, ca, store) = enrolled(label, 365);
    let run = pki([
        "ca",
        "rotate",
        "--ca",
        ca.to_str().unwrap(),
        "--root",
        "--overlap-days",
        "30",
        "--at",
        "2026-02-15T00:00:00Z",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    (dir, ca, store)
}

#[test]
fn after_a_root_rotation_repair_against_the_servers_new_anchors_reissues_and_closes_the_loop() {
    let (dir, ca, store) = rotated_root("trust-root-moved");
    // the server moved to the new root only (the overlap is over for it)
    let server = dir.write("server.pem", std::fs::read(ca.join("root-2.crt")).unwrap());
    let server_arg = server.to_str().unwrap();
    let d = pki_tests::run::diagnose(&store, LATER, &["--trust", server_arg]);
    assert_eq!(d.code, 2, "{}", d.stdout);
    let fix = d.json()["findings"][0]["fix"].as_str().unwrap().to_string();
    let expected = format!(
        "`pki repair {} --ca {} --trust {server_arg}`",
        store.display(),
        std::fs::canonicalize(&ca).unwrap().display()
    );
    assert!(fix.contains(&expected), "{fix}");

    let run = repair(
        &store,
        LATER,
        &["--ca", ca.to_str().unwrap(), "--trust", server_arg],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.json()["before"]["verdict"],
        "rejected",
        "judged against the server's anchors"
    );
    assert_eq!(
        actions(&run),
        ["refresh-trust", "reissue"],
        "{}",
        run.stdout
    );
    assert_eq!(run.json()["after"]["verdict"], "accepted");
    assert_eq!(
        pki_tests::run::diagnose(&store, LATER, &["--trust", server_arg]).code,
        0
    );
    assert_eq!(
        pki_tests::run::diagnose(&store, LATER, &[]).code,
        0,
        "and against its own trust.pem"
    );
    // a real server holding only the new root accepts the handshake
    let anchors = std::fs::read_to_string(&server).unwrap();
    pki_tests::tls::mutual_tls(&store, &anchors, LATER).unwrap();
    let again = repair(
        &store,
        LATER,
        &["--ca", ca.to_str().unwrap(), "--trust", server_arg],
    );
    assert!(actions(&again).is_empty(), "{}", again.stdout);
}

#[test]
fn a_device_under_the_new_root_and_a_server_on_the_old_one_is_rechained_through_the_cross_certificate(
) {
    let (dir, ca, _) = rotated_root("trust-cross");
    let store = dir.join("new-store");
    assert_eq!(enroll(&store, &ca, "dev-x", LATER, &[]).code, 0);
    // a hand-trimmed chain: the issuing CA only, no cross-certificate
    let chain = std::fs::read_to_string(store.join("chain.pem")).unwrap();
    let first = chain
        .split_inclusive("-----END CERTIFICATE-----\n")
        .next()
        .unwrap()
        .to_string();
    std::fs::write(store.join("chain.pem"), first).unwrap();
    let serial =
        pki_tests::run::diagnose(&store, LATER, &[]).json()["certificate"]["serial"].clone();
    let old_server = dir.write(
        "old-server.pem",
        std::fs::read(ca.join("root-1.crt")).unwrap(),
    );
    let server_arg = old_server.to_str().unwrap();
    let d = pki_tests::run::diagnose(&store, LATER, &["--trust", server_arg]);
    assert_eq!(d.code, 2, "{}", d.stdout);

    let run = repair(
        &store,
        LATER,
        &["--ca", ca.to_str().unwrap(), "--trust", server_arg],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        actions(&run).contains(&"rebuild-chain".to_string()),
        "{}",
        run.stdout
    );
    assert!(
        !actions(&run).contains(&"reissue".to_string()),
        "{}",
        run.stdout
    );
    let after = pki_tests::run::diagnose(&store, LATER, &["--trust", server_arg]);
    assert_eq!(after.code, 0, "{}", after.stdout);
    assert_eq!(
        after.json()["certificate"]["serial"],
        serial,
        "the same certificate"
    );
    let anchors = std::fs::read_to_string(&old_server).unwrap();
    pki_tests::tls::mutual_tls(&store, &anchors, LATER).unwrap();
}
