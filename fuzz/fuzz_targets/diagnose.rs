//! diagnose on in-memory material: a store's certificate, key, chain, trust anchors and a CRL
//! from the field, judged as a rustls server would and explained. The input is framed: each
//! part is a 2-byte little-endian length and that many bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pki_core::store::{material_from, Candidate};
use std::path::Path;
use time::macros::datetime;

/// Up to five parts of `data`, each a u16 LE length and its bytes.
fn parts(mut data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while out.len() < 5 && data.len() >= 2 {
        let len = (u16::from_le_bytes([data[0], data[1]]) as usize).min(data.len() - 2);
        out.push(data[2..2 + len].to_vec());
        data = &data[2 + len..];
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let mut p = parts(data).into_iter();
    let dir = Path::new("/fuzz/store");
    let candidate = Candidate {
        cert: p.next(),
        key: p.next(),
        chain: p.next(),
        trust: p.next(),
        crls: p.next().map(|c| (dir.join("crl/fuzz.crl"), c)).into_iter().collect(),
    };
    let material = material_from(dir, &candidate);
    let request = pki_core::Request {
        at: datetime!(2026-03-01 0:00 UTC),
        purpose: pki_core::Purpose::Client,
        policy: pki_core::Policy::default(),
    };
    let report = pki_core::diagnose(&material, &request);
    let critical = report.findings.iter().any(|f| f.severity == pki_core::Severity::Critical);
    assert_eq!(
        report.verdict == pki_core::Verdict::Rejected,
        critical,
        "rejected exactly when a critical finding exists"
    );
});
