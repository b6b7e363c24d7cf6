//! Bytes from the field (any file of a store) → certificates, keys, CRLs: `read::decode`, and
//! what every later step asks of what it found.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pki_core::read::rfc5280::{defects, Role};
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let d = pki_core::read::decode::decode(Path::new("fuzz.pem"), data);
    for cert in &d.certs {
        let _ = cert.describe();
        let _ = cert.common_name();
        let _ = defects(cert, Role::Leaf { server: false });
        let _ = cert.is_signed_by(cert);
    }
    for key in &d.keys {
        let _ = key.describe();
        let _ = key.fingerprint();
        for cert in &d.certs {
            let _ = key.matches(cert);
        }
    }
    for crl in &d.crls {
        let _ = pki_core::read::rfc5280::crl_defects(crl, d.certs.first());
    }
});
