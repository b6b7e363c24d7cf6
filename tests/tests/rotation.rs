//! CA rotation: endpoints enrolled under the old issuing CA stay accepted during the overlap;
//! after it, diagnose names CA_ROTATED; a new root's chain validates for an endpoint that
//! trusts only the old root, through the cross-signed certificate.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pki_tests::ca::{enroll, init};
use pki_tests::run::diagnose;
use pki_tests::tls::mutual_tls;
use pki_tests::{pki, TempDir, AT};

const LATER: &str = "2026-04-01T00:00:00Z";
const AFTER_OVERLAP: &str = "2026-06-01T00:00:00Z";

#[test]
fn issuing_ca_rotation_keeps_old_endpoints_during_the_overlap_then_names_ca_rotated() {
    let dir = TempDir::new("rotate");
    let ca = init(&dir, AT, &[]);
    let old = dir.join("old");
    assert_eq!(enroll(&old, &ca, "dev-old", AT, &[]).code, 0);
    let run = pki([
        "ca",
        "rotate",
        "--ca",
        ca.to_str().unwrap(),
        "--overlap-days",
        "30",
        "--at",
        LATER,
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["new_issuer"], "issuing-2");

    let new = dir.join("new");
    assert_eq!(enroll(&new, &ca, "dev-new", LATER, &[]).code, 0);
    let issuer_of = |store: &std::path::Path| {
        diagnose(store, LATER, &[]).json()["certificate"]["issuer"].clone()
    };
    assert_eq!(issuer_of(&new), issuer_of(&old), "same CA name, new key");
    let new_chain = std::fs::read_to_string(new.join("chain.pem")).unwrap();
    assert_eq!(
        new_chain.matches("BEGIN CERTIFICATE").count(),
        2,
        "both issuing CAs during the overlap"
    );

    // during the overlap: the old endpoint, with its old chain or the new bundle, is accepted
    assert_eq!(diagnose(&old, LATER, &[]).code, 0);
    let bundle = ca.join("chain.pem");
    assert_eq!(
        diagnose(&old, LATER, &["--chain", bundle.to_str().unwrap()]).code,
        0
    );
    assert_eq!(diagnose(&new, LATER, &[]).code, 0);

    // after the overlap the bundle holds only the new issuing CA
    assert_eq!(
        pki([
            "ca",
            "bundle",
            "--ca",
            ca.to_str().unwrap(),
            "--at",
            AFTER_OVERLAP
        ])
        .code,
        0
    );
    let after = diagnose(&old, AFTER_OVERLAP, &["--chain", bundle.to_str().unwrap()]);
    assert_eq!(
        after.root_cause().as_deref(),
        Some("CA_ROTATED"),
        "{}",
        after.stdout
    );
    assert_eq!(after.code, 2);
    assert_eq!(
        diagnose(&new, AFTER_OVERLAP, &["--chain", bundle.to_str().unwrap()]).code,
        0
    );
}

#[test]
fn a_new_root_validates_for_endpoints_that_trust_only_the_old_one() {
    let dir = TempDir::new("rotate-root");
    let ca = init(&dir, AT, &[]);
    let old_root = std::fs::read_to_string(ca.join("root-1.crt")).unwrap();
    let run = pki([
        "ca",
        "rotate",
        "--ca",
        ca.to_str().unwrap(),
        "--root",
        "--at",
        LATER,
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["new_root"], "root-2");
    let store = dir.join("store");
    assert_eq!(enroll(&store, &ca, "dev-root2", LATER, &[]).code, 0);

    let only_old = dir.write("old-root.pem", &old_root);
    let only_new = ca.join("root-2.crt");
    for trust in [&only_old, &only_new] {
        let d = diagnose(&store, LATER, &["--trust", trust.to_str().unwrap()]);
        assert_eq!(d.code, 0, "trusting {}: {}", trust.display(), d.stdout);
    }
    // and a real server that trusts only the old root accepts the handshake
    mutual_tls(&store, &old_root, LATER).unwrap();
    // without the cross-signed certificate in the chain, the old-root server cannot
    let chain = std::fs::read_to_string(store.join("chain.pem")).unwrap();
    let first = chain
        .split_inclusive("-----END CERTIFICATE-----\n")
        .next()
        .unwrap()
        .to_string();
    std::fs::write(store.join("chain.pem"), first).unwrap();
    let d = diagnose(&store, LATER, &["--trust", only_old.to_str().unwrap()]);
    assert_eq!(d.code, 2, "{}", d.stdout);
    assert!(mutual_tls(&store, &old_root, LATER).is_err());
}

/// A new root after an issuing rotation: the old root stays in the bundles as long as any
/// issuing generation under it, not only the current one. An endpoint enrolled under the
/// first issuing CA (rotated away, its certificate valid for a year) was refused as
/// UNKNOWN_ISSUER as soon as `ca bundle` ran after a `rotate --root`, because the old root
/// left with the second issuing CA, which had issued nothing.
#[test]
fn a_new_root_keeps_the_old_one_while_an_older_issuing_generation_is_in_use() {
    let dir = TempDir::new("rotate-root-older");
    let ca = init(&dir, AT, &[]);
    let old = dir.join("old");
    assert_eq!(enroll(&old, &ca, "dev-first", AT, &[]).code, 0);
    let ca_s = ca.to_str().unwrap();
    let rotate = |extra: &[&str]| {
        let mut args = vec!["ca", "rotate", "--ca", ca_s, "--at", LATER];
        args.extend_from_slice(extra);
        let run = pki(&args);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    };
    rotate(&[]);
    // the output says until when the old root stays: the first generation's end, later than
    // the second one's overlap it printed alone before
    let root = pki([
        "ca", "rotate", "--ca", ca_s, "--root", "--at", LATER, "--format", "json",
    ]);
    assert_eq!(root.code, 0, "{}{}", root.stdout, root.stderr);
    let out = root.json();
    let (issuing, old_root) = (
        out["overlap_until"].as_str().unwrap(),
        out["old_root_until"].as_str().unwrap(),
    );
    assert!(old_root > issuing, "{}", root.stdout);
    assert_eq!(
        pki(["ca", "bundle", "--ca", ca_s, "--at", AFTER_OVERLAP]).code,
        0
    );
    let (trust, chain) = (ca.join("trust.pem"), ca.join("chain.pem"));
    let d = diagnose(
        &old,
        AFTER_OVERLAP,
        &[
            "--trust",
            trust.to_str().unwrap(),
            "--chain",
            chain.to_str().unwrap(),
        ],
    );
    assert_eq!(d.code, 0, "{}", d.stdout);
    let anchors = std::fs::read_to_string(&trust).unwrap();
    assert_eq!(anchors.matches("BEGIN CERTIFICATE").count(), 2, "{anchors}");
}

/// A CA rotated with `--root` before the old root was kept as long as the generations under
/// it (its ca.yaml retires the old root with the second issuing CA): the bundles still hand
/// out the old root while the first issuing CA is in them, so its endpoints stay accepted.
#[test]
fn a_ca_rotated_before_keeps_the_root_its_older_issuing_generation_needs() {
    let dir = TempDir::new("rotate-root-early");
    let ca = init(&dir, AT, &[]);
    let old = dir.join("old");
    assert_eq!(enroll(&old, &ca, "dev-first", AT, &[]).code, 0);
    let ca_s = ca.to_str().unwrap();
    for extra in [&[][..], &["--root"][..]] {
        let mut args = vec!["ca", "rotate", "--ca", ca_s, "--at", LATER];
        args.extend_from_slice(extra);
        let run = pki(&args);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    }
    // what the earlier release wrote: the old root (listed first) retired at the rotation
    let yaml = std::fs::read_to_string(ca.join("ca.yaml")).unwrap();
    let at = yaml.find("retire_after: \"").unwrap() + "retire_after: \"".len();
    let end = at + yaml[at..].find('"').unwrap();
    let early = format!("{}{LATER}{}", &yaml[..at], &yaml[end..]);
    assert_ne!(early, yaml);
    std::fs::write(ca.join("ca.yaml"), early).unwrap();
    assert_eq!(
        pki(["ca", "bundle", "--ca", ca_s, "--at", AFTER_OVERLAP]).code,
        0
    );
    let (trust, chain) = (ca.join("trust.pem"), ca.join("chain.pem"));
    let d = diagnose(
        &old,
        AFTER_OVERLAP,
        &[
            "--trust",
            trust.to_str().unwrap(),
            "--chain",
            chain.to_str().unwrap(),
        ],
    );
    assert_eq!(d.code, 0, "{}", d.stdout);
}
