//! A real mutual-TLS handshake on loopback accepts what `pki enroll` wrote, and refuses a
//! store whose certificate the server does not trust — the same verdict diagnose gives.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pki_tests::ca::{enroll, init};
use pki_tests::tls::mutual_tls;
use pki_tests::{pki, TempDir, AT};

#[test]
fn an_enrolled_store_completes_a_mutual_tls_handshake() {
    let dir = TempDir::new("mtls");
    let ca = init(&dir, AT, &[]);
    let store = dir.join("store");
    assert_eq!(enroll(&store, &ca, "dev-tls", AT, &[]).code, 0);
    let trust = std::fs::read_to_string(ca.join("trust.pem")).unwrap();
    let seen = mutual_tls(&store, &trust, AT).unwrap();
    assert_eq!(
        seen,
        std::fs::read(store.join("device.crt"))
            .map(|pem| {
                rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
                    .next()
                    .unwrap()
                    .unwrap()
                    .to_vec()
            })
            .unwrap(),
        "the server saw the store's certificate"
    );
}

#[test]
fn the_handshake_fails_where_diagnose_says_rejected() {
    let dir = TempDir::new("mtls-no");
    let ca = init(&dir, AT, &[]);
    let store = dir.join("store");
    assert_eq!(enroll(&store, &ca, "dev-tls", AT, &[]).code, 0);
    let trust = std::fs::read_to_string(ca.join("trust.pem")).unwrap();
    // expired: a year and a day later
    let later = "2027-03-02T00:00:00Z";
    assert!(mutual_tls(&store, &trust, later).is_err());
    assert_eq!(
        pki(["diagnose", store.to_str().unwrap(), "--at", later]).code,
        2
    );
    // chain removed
    std::fs::write(store.join("chain.pem"), "").unwrap();
    assert!(mutual_tls(&store, &trust, AT).is_err());
    assert_eq!(
        pki(["diagnose", store.to_str().unwrap(), "--at", AT]).code,
        2
    );
}

use rustls::pki_types::pem::PemObject;
