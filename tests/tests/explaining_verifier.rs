//! `pki_core::judge::client_verifier::ExplainingVerifier` in a plain rustls server (not
//! `pki serve`): it accepts what `WebPkiClientVerifier` accepts, and when it refuses, the
//! explanation it hands the server names the peer and is the root cause `pki diagnose` gives
//! for the same files. Grace lets a just-expired certificate through the handshake only
//! when asked for.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pki_core::judge::client_verifier::{ExplainingVerifier, Rejection};
use pki_core::read::decode::decode;
use pki_core::Policy;
use pki_tests::ca::{enroll, init};
use pki_tests::tls::{mutual_tls_presenting, mutual_tls_with};
use pki_tests::{pki, TempDir, AT};
use std::path::Path;
use std::sync::{Arc, Mutex};

type Seen = Arc<Mutex<Vec<Rejection>>>;

fn verifier(trust: &Path, grace_days: i64) -> (Arc<ExplainingVerifier>, Seen) {
    verifier_with(trust, &[], grace_days)
}

fn verifier_with(trust: &Path, crls: &[&Path], grace_days: i64) -> (Arc<ExplainingVerifier>, Seen) {
    let seen: Seen = Arc::default();
    let sink = {
        let seen = seen.clone();
        Arc::new(move |r: &Rejection| seen.lock().unwrap().push(r.clone()))
    };
    let anchors = decode(trust, &std::fs::read(trust).unwrap()).certs;
    let crls = crls
        .iter()
        .flat_map(|p| decode(p, &std::fs::read(p).unwrap()).crls)
        .collect();
    let v = ExplainingVerifier::new(anchors, crls, Policy::default(), sink)
        .with_grace(time::Duration::days(grace_days));
    (Arc::new(v), seen)
}

#[test]
fn a_refusal_is_explained_as_diagnose_explains_it_and_names_the_peer() {
    let dir = TempDir::new("explaining");
    let ca = init(&dir, AT, &[]);
    let store = dir.join("store");
    assert_eq!(enroll(&store, &ca, "dev-x", AT, &[]).code, 0);
    let trust = ca.join("trust.pem");

    let (v, seen) = verifier(&trust, 0);
    let shared = v.clone();
    assert!(mutual_tls_with(&store, AT, move |peer| shared.for_peer(peer)).is_ok());
    assert!(
        seen.lock().unwrap().is_empty(),
        "an accepted device is not reported"
    );

    // the chain removed: refused, and explained as diagnose explains it
    std::fs::write(store.join("chain.pem"), "").unwrap();
    let shared = v.clone();
    assert!(mutual_tls_with(&store, AT, move |peer| shared.for_peer(peer)).is_err());
    let rejection = seen
        .lock()
        .unwrap()
        .pop()
        .expect("a rejection was reported");
    let diagnose = pki([
        "diagnose",
        store.to_str().unwrap(),
        "--trust",
        trust.to_str().unwrap(),
        "--at",
        AT,
        "--format",
        "json",
    ]);
    assert_eq!(diagnose.root_cause().as_deref(), Some("CHAIN_INCOMPLETE"));
    assert_eq!(rejection.code.as_str(), "CHAIN_INCOMPLETE");
    assert!(rejection.peer.is_some_and(|p| p.ip().is_loopback()));
    assert!(rejection.subject.contains("dev-x"));
    // the same finding; its fix names what applies where it was judged (diagnose knows the
    // store and its CA folder, the server only the chain the device sent)
    let finding = diagnose.finding("CHAIN_INCOMPLETE").unwrap();
    let what = |fix: &str| fix.split(':').next().unwrap_or_default().to_string();
    assert_eq!(what(&rejection.fix), what(finding["fix"].as_str().unwrap()));
    assert!(
        rejection.message.contains("O=Fleet, CN=Fleet Issuing CA"),
        "{}",
        rejection.message
    );
}

#[test]
fn grace_lets_a_just_expired_device_through_the_handshake_only_when_asked() {
    let dir = TempDir::new("explaining-grace");
    let ca = init(&dir, AT, &[]);
    let store = dir.join("store");
    assert_eq!(enroll(&store, &ca, "dev-g", AT, &[]).code, 0);
    let trust = ca.join("trust.pem");
    let a_day_late = "2027-03-02T00:00:00Z"; // the certificate ends 2027-03-01

    let (strict, seen) = verifier(&trust, 0);
    assert!(mutual_tls_with(&store, a_day_late, move |p| strict.for_peer(p)).is_err());
    assert_eq!(seen.lock().unwrap()[0].code.as_str(), "CERT_EXPIRED");

    let (lenient, seen) = verifier(&trust, 7);
    assert!(mutual_tls_with(&store, a_day_late, move |p| lenient.for_peer(p)).is_ok());
    assert!(seen.lock().unwrap().is_empty());

    let (lenient, seen) = verifier(&trust, 7);
    let a_month_late = "2027-04-01T00:00:00Z";
    assert!(mutual_tls_with(&store, a_month_late, move |p| lenient.for_peer(p)).is_err());
    assert_eq!(seen.lock().unwrap()[0].code.as_str(), "CERT_EXPIRED");
}

#[test]
fn a_revoked_device_is_refused_with_and_without_grace_and_after_a_rotation() {
    let dir = TempDir::new("explaining-crl");
    let ca = init(&dir, AT, &[]);
    let (old, new) = (dir.join("old"), dir.join("new"));
    assert_eq!(enroll(&old, &ca, "dev-old", AT, &[]).code, 0);
    let serial = pki([
        "diagnose",
        old.to_str().unwrap(),
        "--at",
        AT,
        "--format",
        "json",
    ])
    .json()["certificate"]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    let ca_s = ca.to_str().unwrap();
    assert_eq!(
        pki(["ca", "revoke", "--ca", ca_s, &serial, "--at", AT]).code,
        0
    );
    // a rotation: the new issuing CA has the old one's name, and a CRL of its own
    assert_eq!(pki(["ca", "rotate", "--ca", ca_s, "--at", AT]).code, 0);
    assert_eq!(enroll(&new, &ca, "dev-new", AT, &[]).code, 0);
    assert_eq!(pki(["ca", "crl", "--ca", ca_s, "--at", AT]).code, 0);
    let crl1 = ca.join("crl/issuing-1.crl");
    let crl2 = ca.join("crl/issuing-2.crl");
    let trust = ca.join("trust.pem");
    for grace in [0, 7] {
        for crls in [
            vec![crl1.as_path()],
            vec![crl1.as_path(), crl2.as_path()],
            vec![crl2.as_path(), crl1.as_path()],
        ] {
            let (v, seen) = verifier_with(&trust, &crls, grace);
            let shared = v.clone();
            assert!(
                mutual_tls_with(&old, AT, move |p| shared.for_peer(p)).is_err(),
                "revoked, grace {grace}, {crls:?}"
            );
            assert_eq!(seen.lock().unwrap().pop().unwrap().code.as_str(), "REVOKED");
            if crls.len() == 2 {
                // the new generation's device is judged with its own CRL, not the old one's
                let shared = v.clone();
                assert!(
                    mutual_tls_with(&new, AT, move |p| shared.for_peer(p)).is_ok(),
                    "{crls:?}: {:?}",
                    seen.lock().unwrap()
                );
            }
        }
    }
}

/// A certificate shown without its private key (copied from another device, or a store whose
/// key was replaced without its certificate) passes the chain check, then fails the handshake
/// signature: refused, and reported as the store's diagnosis names it, KEY_MISMATCH.
#[test]
fn a_certificate_presented_without_its_key_is_reported_as_key_mismatch() {
    let dir = TempDir::new("explaining-copied");
    let ca = init(&dir, AT, &[]);
    let store = dir.join("store");
    assert_eq!(enroll(&store, &ca, "dev-c", AT, &[]).code, 0);
    let trust = ca.join("trust.pem");
    std::fs::write(
        store.join("device.key"),
        rcgen::KeyPair::generate().unwrap().serialize_pem(),
    )
    .unwrap();
    let (v, seen) = verifier(&trust, 0);
    let result = mutual_tls_presenting(&store, AT, move |peer| v.for_peer(peer));
    assert!(result.is_err(), "{result:?}");
    let rejection = seen
        .lock()
        .unwrap()
        .pop()
        .expect("the refusal was reported");
    let diagnose = pki([
        "diagnose",
        store.to_str().unwrap(),
        "--at",
        AT,
        "--format",
        "json",
    ]);
    assert_eq!(diagnose.root_cause().as_deref(), Some("KEY_MISMATCH"));
    assert_eq!(rejection.code.as_str(), "KEY_MISMATCH", "{rejection}");
    assert!(rejection.peer.is_some_and(|p| p.ip().is_loopback()));
    assert!(rejection.subject.contains("dev-c"), "{rejection}");
    assert_eq!(
        rejection.serial,
        diagnose.json()["certificate"]["serial"].as_str().unwrap()
    );
    assert!(rejection.issuer.contains("Fleet Issuing CA"), "{rejection}");
    assert!(
        rejection
            .message
            .contains("does not hold the certificate's private key"),
        "{rejection}"
    );
}
