//! The shipped samples never rot: they are made fresh here and every store diagnoses to what
//! the generator promises (the same check `samples/demo.sh` makes for the README).

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pki_tests::samples::{generate, SAMPLE_AT};
use pki_tests::{pki, TempDir};

#[test]
fn every_sample_store_diagnoses_as_promised() {
    let dir = TempDir::new("samples");
    let expected = generate(dir.path()).unwrap();
    assert!(expected.len() >= 12);
    for e in &expected {
        let store = dir.path().join("stores").join(&e.name);
        let run = pki([
            "diagnose",
            store.to_str().unwrap(),
            "--at",
            SAMPLE_AT,
            "--format",
            "json",
        ]);
        assert_eq!(run.code, e.exit, "{}: {}", e.name, run.stdout);
        let first = run.root_cause().or_else(|| {
            run.json()["findings"]
                .as_array()
                .and_then(|fs| fs.iter().find(|f| f["severity"] == "warning"))
                .and_then(|f| f["code"].as_str().map(String::from))
        });
        assert_eq!(first.as_deref(), e.code, "{}: {}", e.name, run.stdout);
    }
}

#[test]
fn the_sample_fleet_has_exactly_its_broken_stores() {
    let dir = TempDir::new("fleet");
    generate(dir.path()).unwrap();
    let mut exits = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(dir.path().join("fleet")).unwrap() {
        let store = entry.unwrap().path();
        let run = pki(["diagnose", store.to_str().unwrap(), "--at", SAMPLE_AT]);
        *exits.entry(run.code).or_insert(0) += 1;
    }
    // 45 healthy, 1 expiring soon, 2 expired + 1 chain missing + 1 key mismatch
    assert_eq!(exits, [(0, 45), (1, 1), (2, 4)].into_iter().collect());
}
