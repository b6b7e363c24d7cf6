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
    signer: Signer,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let at = datetime!(2026-01-01 0:00 UTC);
    let ca = pki_core::ca::init(
        &dir.path().join("ca"),
        "Fuzz",
        &pki_core::Policy::default(),
        None,
        None,
        at,
    )
    .expect("ca init");
    let signer = Signer::new(&ca, at).expect("the issuing CA");
    Fixture { _dir: dir, signer }
}

thread_local! {
    static FIXTURE: Fixture = fixture();
}

fuzz_target!(|data: &[u8]| {
    FIXTURE.with(|f| {
        let at = datetime!(2026-03-01 0:00 UTC);
        let Ok(csr) = f.signer.read_csr(Path::new("fuzz.csr"), data) else {
            return;
        };
        let id = csr.common_name.clone().unwrap_or_else(|| "fuzz".into());
        if let Ok(issued) = f.signer.sign(&csr, &id, at) {
            // whatever the request said, what is issued is a device certificate
            let cert = pki_core::read::decode::decode(Path::new("issued"), issued.pem.as_bytes())
                .certs
                .pop()
                .expect("the CA issued something it cannot read");
            assert!(!cert.is_ca(), "a request became a CA certificate");
        }
    });
});
