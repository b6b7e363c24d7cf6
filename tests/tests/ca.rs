//! What installers run: `pki ca` and `pki enroll`, each checked by what a user would check —
//! the files, their modes, independent verifiers, and the store diagnosing as accepted.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pki_tests::ca::{enroll, init, snapshot};
use pki_tests::run::diagnose;
use pki_tests::{openssl, pki, TempDir, AT};
use std::os::unix::fs::PermissionsExt;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn ca_init_makes_a_two_level_ca_and_never_overwrites_it() {
    let dir = TempDir::new("ca-init");
    let ca = init(&dir, AT, &["--name", "Acme"]);
    for key in ["root-1.key", "issuing-1.key"] {
        assert_eq!(mode(&ca.join(key)), 0o600, "{key}");
    }
    let before = snapshot(&ca);
    let again = pki(["ca", "init", ca.to_str().unwrap(), "--at", AT]);
    assert_eq!(again.code, 2, "{}", again.stderr);
    assert!(
        again.stderr.contains("never overwritten"),
        "{}",
        again.stderr
    );
    assert_eq!(snapshot(&ca), before, "a refused init changed nothing");

    // an endpoint store given for DIR (arguments in the wrong order): its trust.pem and
    // chain.pem would have been overwritten without a backup, the device rejected
    let store = dir.join("store");
    assert_eq!(enroll(&store, &ca, "dev-1", AT, &[]).code, 0);
    let before = snapshot(&store);
    for dry_run in [&["--dry-run"][..], &[]] {
        let mut args = vec!["ca", "init", store.to_str().unwrap(), "--at", AT];
        args.extend_from_slice(dry_run);
        let run = pki(&args);
        assert_eq!(run.code, 2, "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(
            run.stderr.contains(store.to_str().unwrap()) && run.stderr.contains("never overwrites"),
            "{}",
            run.stderr
        );
        assert_eq!(snapshot(&store), before, "{args:?} changed the store");
    }

    let inspect = pki([
        "inspect",
        ca.join("issuing-1.crt").to_str().unwrap(),
        ca.join("trust.pem").to_str().unwrap(),
        "--format",
        "json",
    ]);
    let issuing = &inspect.json()[0]["objects"][0];
    assert_eq!(issuing["subject"], "O=Acme, CN=Acme Issuing CA");
    assert_eq!(issuing["basic_constraints"], "CA:TRUE, pathlen:0");
    assert_eq!(inspect.json()[1]["objects"][0]["self_signed"], true);
}

#[test]
fn enroll_writes_a_store_that_is_accepted_and_is_idempotent() {
    let dir = TempDir::new("enroll");
    let ca = init(&dir, AT, &[]);
    let store = dir.join("store");
    let run = enroll(&store, &ca, "device-0042", AT, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(run.json()["changed"], true);
    for f in [
        "store.yaml",
        "device.crt",
        "device.key",
        "chain.pem",
        "trust.pem",
        "journal.jsonl",
    ] {
        assert!(store.join(f).exists(), "{f}");
    }
    assert!(!store.join(".lock").exists(), "the lock is released");
    assert_eq!(mode(&store.join("device.key")), 0o600);
    let d = diagnose(&store, AT, &[]);
    assert_eq!(d.code, 0, "{}", d.stdout);
    assert_eq!(
        d.json()["certificate"]["subject"],
        "O=Fleet Devices, CN=device-0042"
    );

    let before = snapshot(&store);
    let again = enroll(&store, &ca, "device-0042", AT, &[]);
    assert_eq!(again.code, 0);
    assert_eq!(again.json()["changed"], false, "{}", again.stdout);
    assert_eq!(snapshot(&store), before, "a second enroll changes no byte");

    let journal = std::fs::read_to_string(store.join("journal.jsonl")).unwrap();
    assert_eq!(journal.lines().count(), 1);
    assert!(journal.contains("\"action\":\"enroll\""));
}

#[test]
fn enroll_refuses_broken_foreign_and_other_stores_unless_forced() {
    let dir = TempDir::new("enroll-refuse");
    let ca = init(&dir, AT, &[]);
    let store = dir.join("store");
    assert_eq!(enroll(&store, &ca, "dev-a", AT, &[]).code, 0);
    std::fs::write(store.join("chain.pem"), "").unwrap();
    let before = snapshot(&store);
    let refused = enroll(&store, &ca, "dev-a", AT, &[]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("pki repair"), "{}", refused.stderr);
    assert_eq!(snapshot(&store), before);
    let other = enroll(&store, &ca, "dev-b", AT, &[]);
    assert_eq!(other.code, 2);

    let foreign = dir.join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("old-agent.pem"), "whatever\n").unwrap();
    let refused = enroll(&foreign, &ca, "dev-c", AT, &[]);
    assert_eq!(refused.code, 2);
    assert!(refused.stderr.contains("foreign"), "{}", refused.stderr);

    let old_key = std::fs::read(store.join("device.key")).unwrap();
    let forced = enroll(&store, &ca, "dev-a", AT, &["--force"]);
    assert_eq!(forced.code, 0, "{}", forced.stderr);
    assert_eq!(diagnose(&store, AT, &[]).code, 0);
    let backup = forced.json()["journal"]["backup"]
        .as_str()
        .unwrap()
        .to_string();
    let saved = store.join(&backup).join("device.key");
    assert_eq!(
        std::fs::read(&saved).unwrap(),
        old_key,
        "the superseded key is kept"
    );
    assert_eq!(mode(&saved), 0o600);
}

#[test]
fn hand_edits_are_store_tampered_and_the_toolkits_own_writes_are_not() {
    let dir = TempDir::new("tamper");
    let ca = init(&dir, AT, &[]);
    let store = dir.join("store");
    assert_eq!(enroll(&store, &ca, "dev-t", AT, &[]).code, 0);
    assert_eq!(enroll(&store, &ca, "dev-t", AT, &["--force"]).code, 0);
    assert!(
        diagnose(&store, AT, &[])
            .finding("STORE_TAMPERED")
            .is_none(),
        "own writes"
    );

    let mut trust = std::fs::read_to_string(store.join("trust.pem")).unwrap();
    trust.push_str("\n# added by hand\n");
    std::fs::write(store.join("trust.pem"), trust).unwrap();
    let run = diagnose(&store, AT, &[]);
    // a comment in trust.pem makes no server reject anyone: a warning, not a rejection
    let tampered = run.finding("STORE_TAMPERED").expect("STORE_TAMPERED");
    assert_eq!(tampered["severity"], "warning", "{}", run.stdout);
    assert_eq!(run.verdict(), "accepted", "{}", run.stdout);
    let message = tampered["message"].as_str().unwrap();
    assert!(message.contains("trust.pem"), "{message}");
    assert!(message.contains("changed outside pki since"), "{message}");
    assert_eq!(run.code, 1);
}

#[test]
fn a_certificate_of_another_device_is_identity_mismatch() {
    let dir = TempDir::new("identity");
    let ca = init(&dir, AT, &[]);
    let a = dir.join("a");
    let b = dir.join("b");
    assert_eq!(enroll(&a, &ca, "dev-a", AT, &[]).code, 0);
    assert_eq!(enroll(&b, &ca, "dev-b", AT, &[]).code, 0);
    // a cloned disk image: b's files carried into a's store, manifest and all but the id
    for f in ["device.crt", "device.key", "journal.jsonl"] {
        std::fs::copy(b.join(f), a.join(f)).unwrap();
    }
    let manifest = std::fs::read_to_string(b.join("store.yaml"))
        .unwrap()
        .replace("dev-b", "dev-a");
    std::fs::write(a.join("store.yaml"), manifest).unwrap();
    let run = diagnose(&a, AT, &[]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("IDENTITY_MISMATCH"),
        "{}",
        run.stdout
    );
    assert_eq!(run.code, 2);
}

#[test]
#[cfg_attr(
    not(have_openssl),
    ignore = "openssl is not installed here (CI installs it)"
)]
fn issued_certificates_pass_openssl_verify() {
    let dir = TempDir::new("openssl");
    let ca = init(&dir, AT, &[]);
    let store = dir.join("store");
    assert_eq!(enroll(&store, &ca, "dev-o", AT, &[]).code, 0);
    let epoch = pki_tests::at(AT).unix_timestamp().to_string();
    let out = openssl(
        &store,
        &[
            "verify",
            "-purpose",
            "sslclient",
            "-attime",
            &epoch,
            "-CAfile",
            "trust.pem",
            "-untrusted",
            "chain.pem",
            "device.crt",
        ],
    );
    assert!(out.contains("device.crt: OK"), "{out}");
    // the key is readable by OpenSSL and is the certificate's
    let from_key = openssl(&store, &["pkey", "-in", "device.key", "-pubout"]);
    let from_cert = openssl(&store, &["x509", "-in", "device.crt", "-noout", "-pubkey"]);
    assert_eq!(from_key, from_cert);
}

#[test]
#[cfg_attr(
    not(have_openssl),
    ignore = "openssl is not installed here (CI installs it)"
)]
fn ed25519_and_p384_policies_give_keys_openssl_reads() {
    let dir = TempDir::new("keyalgs");
    let ed = dir.write(
        "ed.yaml",
        std::fs::read_to_string(policy("device.yaml"))
            .unwrap()
            .replace("key_algorithm: ecdsa-p256", "key_algorithm: ed25519"),
    );
    let ca = init(&dir, AT, &[]);
    for (name, policy, expect) in [
        ("ed", ed, "Ed25519"),
        ("laptop", policy("laptop-short-lived.yaml"), "ECDSA P-384"),
    ] {
        let store = dir.join(name);
        let run = enroll(
            &store,
            &ca,
            "dev-k",
            AT,
            &["--policy", policy.to_str().unwrap()],
        );
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        let d = diagnose(&store, AT, &["--policy", policy.to_str().unwrap()]);
        assert_eq!(d.code, 0, "{name}: {}", d.stdout);
        assert_eq!(d.json()["certificate"]["key_algorithm"], expect);
        let from_key = openssl(&store, &["pkey", "-in", "device.key", "-pubout"]);
        let from_cert = openssl(&store, &["x509", "-in", "device.crt", "-noout", "-pubkey"]);
        assert_eq!(from_key, from_cert, "{name}");
    }
    let laptop = diagnose(&dir.join("laptop"), AT, &[]).json();
    let lifetime = pki_tests::at(laptop["certificate"]["not_after"].as_str().unwrap())
        - pki_tests::at(laptop["certificate"]["not_before"].as_str().unwrap());
    assert!(
        lifetime.whole_days() <= 7,
        "the laptop profile issues for a week: {lifetime}"
    );
}

#[test]
#[cfg_attr(
    not(have_openssl),
    ignore = "openssl is not installed here (CI installs it)"
)]
fn legacy_rsa_endpoints_enroll_with_their_existing_key() {
    let dir = TempDir::new("rsa");
    let ca = init(&dir, AT, &[]);
    openssl(
        dir.path(),
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "tpm.key",
        ],
    );
    let policy = policy("legacy-rsa.yaml");
    let store = dir.join("store");
    let without = enroll(
        &store,
        &ca,
        "legacy-1",
        AT,
        &["--policy", policy.to_str().unwrap()],
    );
    assert_eq!(
        without.code, 64,
        "RSA cannot be generated here: {}",
        without.stderr
    );
    let run = enroll(
        &store,
        &ca,
        "legacy-1",
        AT,
        &[
            "--policy",
            policy.to_str().unwrap(),
            "--key",
            dir.join("tpm.key").to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let d = diagnose(&store, AT, &["--policy", policy.to_str().unwrap()]);
    assert_eq!(d.code, 0, "{}", d.stdout);
    assert_eq!(d.json()["certificate"]["key_algorithm"], "RSA 2048");
}

#[test]
fn policy_check_accepts_the_shipped_profiles_and_locates_errors() {
    for name in ["device.yaml", "laptop-short-lived.yaml", "legacy-rsa.yaml"] {
        let run = pki(["policy", "check", policy(name).to_str().unwrap()]);
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
    }
    let dir = TempDir::new("policy");
    let bad = dir.write(
        "bad.yaml",
        std::fs::read_to_string(policy("device.yaml"))
            .unwrap()
            .replace(
                "lifetime_days: 365",
                "lifetime_days: 365\nlifetime_weeks: 3",
            ),
    );
    let run = pki(["policy", "check", bad.to_str().unwrap()]);
    assert_eq!(run.code, 64);
    assert!(
        run.stderr.contains("lifetime_weeks") && run.stderr.contains("line"),
        "{}",
        run.stderr
    );
}

fn policy(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../policies")
        .join(name)
}

#[test]
fn a_ca_flag_that_names_no_ca_folder_is_a_usage_error() {
    // 64 like any path named on the command line that does not exist (it was 3, "could not
    // judge", for a typo in --ca)
    let dir = TempDir::new("no-ca-folder");
    let store = dir.join("store");
    let real = init(&dir, AT, &[]);
    let enrolled = dir.join("enrolled");
    assert_eq!(enroll(&enrolled, &real, "e", AT, &[]).code, 0);
    let missing = dir.join("no-such-ca");
    let plain = dir.join("plain");
    std::fs::create_dir(&plain).unwrap();
    for ca in [&missing, &plain] {
        let ca_arg = ca.to_str().unwrap();
        let store_arg = store.to_str().unwrap();
        for args in [
            vec!["enroll", store_arg, "--ca", ca_arg, "--device-id", "d"],
            vec!["repair", enrolled.to_str().unwrap(), "--ca", ca_arg],
            vec!["ca", "crl", "--ca", ca_arg],
        ] {
            let mut args = args.clone();
            args.extend(["--at", AT]);
            let run = pki(&args);
            assert_eq!(run.code, 64, "{args:?}: {}", run.stderr);
            assert!(run.stderr.contains(ca_arg), "{}", run.stderr);
        }
    }
    assert!(!store.exists(), "nothing written");
    // a store path that does not exist is one too (it was 2, "not a managed store")
    let store_arg = store.to_str().unwrap();
    for args in [
        vec!["repair", store_arg],
        vec!["store", "rollback", store_arg],
        vec!["renew", store_arg, "--ca", "unused"],
    ] {
        let mut args = args.clone();
        args.extend(["--at", AT]);
        let run = pki(&args);
        assert_eq!(run.code, 64, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(store_arg), "{}", run.stderr);
    }
}
