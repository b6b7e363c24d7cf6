//! `pki ca sign` on a request from the field: parsed, checked against the policy, its
//! signature verified, and a certificate made from its public key only — in memory, by a CA
//! made once per process.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pki_core::ca::issue::Signer;
use std::path::Path;
use time::macros::datetime;

struct Fixture {
    _dir: tempfile::TempDir,
    signer: Signer<'static>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let at = datetime!(2026-01-01 0:00 UTC);
    let ca = pki_core::ca::init(&dir.path().join("ca"), "Fuzz", &pki_core::Policy::default(), at)
        .expect("ca init");
    let ca: &'static pki_core::ca::Ca = Box::leak(Box::new(ca));
    let generation = ca.current_issuer();
    let key: &'static rcgen::KeyPair = Box::leak(Box::new(ca.key(generation).expect("key")));
    let pem = ca.cert_pem(generation).expect("issuing certificate");
    let issuer = rcgen::Issuer::from_ca_cert_pem(&pem, key).expect("issuer");
    let issuer: &'static rcgen::Issuer<'static, &'static rcgen::KeyPair> =
        Box::leak(Box::new(issuer));
    let issuer_cert = Box::leak(Box::new(ca.cert(generation).expect("issuing certificate")));
    Fixture {
        _dir: dir,
        signer: Signer {
            policy: &ca.policy,
            issuer,
            issuer_cert,
            generation: &generation.id,
        },
    }
}

thread_local! {
    static FIXTURE: Fixture = fixture();
}

fuzz_target!(|data: &[u8]| {
    FIXTURE.with(|f| {
        let at = datetime!(2026-03-01 0:00 UTC);
        if let Ok(issued) = f.signer.sign(Path::new("fuzz.csr"), data, None, at) {
            // whatever the request said, what is issued is a device certificate
            let cert = pki_core::read::decode::decode(Path::new("issued"), issued.pem.as_bytes())
                .certs
                .pop()
                .expect("the CA issued something it cannot read");
            assert!(!cert.is_ca(), "a request became a CA certificate");
        }
    });
});
