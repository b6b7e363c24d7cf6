//! `pki audit` over a generated fleet with known breakages: exact counts per status and per
//! code, duplicate identities, Prometheus output that parses (and passes `promtool check
//! metrics` where installed), the exit code as the worst status, and a store that cannot be
//! read not stopping the audit.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pki_tests::{pki, pki_env, TempDir, AT};
use std::collections::BTreeMap;

/// 100 stores (90 healthy; per 50: 2 expired, 1 chain missing, 1 key swapped, 1 expiring),
/// two clones of a healthy store, and one folder that cannot be read as a store.
fn fleet(dir: &TempDir) -> std::path::PathBuf {
    pki_tests::samples::generate_fleet(dir.path(), 100).unwrap();
    let fleet = dir.join("fleet");
    for clone in ["clone-a", "clone-b"] {
        let to = fleet.join(clone);
        std::fs::create_dir_all(&to).unwrap();
        for entry in std::fs::read_dir(fleet.join("fleet-0001")).unwrap() {
            let from = entry.unwrap().path();
            std::fs::copy(&from, to.join(from.file_name().unwrap())).unwrap();
        }
    }
    let junk = fleet.join("zz-unreadable");
    std::fs::create_dir_all(&junk).unwrap();
    for n in 0..=pki_core::read::input::MAX_STORE_ENTRIES {
        std::fs::write(junk.join(format!("{n}.txt")), "").unwrap();
    }
    fleet
}

#[test]
fn counts_codes_duplicates_and_the_exit_code_are_exact() {
    let dir = TempDir::new("audit");
    let fleet = fleet(&dir);
    let run = pki([
        "audit",
        fleet.to_str().unwrap(),
        "--at",
        AT,
        "--format",
        "json",
    ]);
    assert_eq!(
        run.code, 3,
        "an unreadable store makes the worst status unknown: {}",
        run.stderr
    );
    let report = run.json();
    let s = &report["summary"];
    // 103 stores: 90 + 2 clones ok... the clones and fleet-0001 share key and certificate
    assert_eq!(s["stores"], 103);
    assert_eq!(s["unknown"], 1);
    assert_eq!(s["warning"], 2, "{s}");
    assert_eq!(
        s["critical"],
        2 * 4 + 3,
        "8 broken + 3 sharing one identity: {s}"
    );
    assert_eq!(s["ok"], 103 - 1 - 2 - 11);
    let codes: BTreeMap<String, u64> = report["codes"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    assert_eq!(codes["CERT_EXPIRED"], 4);
    assert_eq!(codes["CHAIN_INCOMPLETE"], 2);
    assert_eq!(codes["KEY_MISMATCH"], 2);
    assert_eq!(codes["CERT_EXPIRING_SOON"], 2);
    assert_eq!(codes["DUPLICATE_IDENTITY"], 3);
    let clone = report["stores"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["path"].as_str().unwrap().ends_with("clone-a"))
        .unwrap();
    assert_eq!(clone["status"], "critical");
    assert!(
        clone["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("fleet-0001"),
        "{clone}"
    );
    let unreadable = report["stores"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["status"] == "unknown")
        .unwrap();
    assert!(unreadable["path"]
        .as_str()
        .unwrap()
        .ends_with("zz-unreadable"));
}

/// Stores are judged a batch at a time and their results streamed through a spill file; the
/// report must not depend on where batches end, even for clones judged in different batches.
#[test]
fn the_report_does_not_depend_on_the_batch_size() {
    let dir = TempDir::new("audit-batches");
    let fleet = fleet(&dir);
    let args = [
        "audit",
        fleet.to_str().unwrap(),
        "--at",
        AT,
        "--format",
        "json",
    ];
    let whole = pki(args);
    // clone-a, clone-b | fleet-0000, fleet-0001 | ...: the clones and their origin part
    let small = pki_env(args, &[("PKI_AUDIT_BATCH", "2")]);
    assert_eq!(small.code, whole.code, "{}", small.stderr);
    assert_eq!(small.json(), whole.json());
    let report = small.json();
    let flagged: Vec<&str> = report["stores"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["findings"][0]["code"] == "DUPLICATE_IDENTITY")
        .map(|s| s["path"].as_str().unwrap().rsplit('/').next().unwrap())
        .collect();
    assert_eq!(flagged, ["clone-a", "clone-b", "fleet-0001"]);
}

#[test]
fn the_table_lists_what_is_not_ok_most_urgent_first() {
    let dir = TempDir::new("audit-table");
    pki_tests::samples::generate_fleet(dir.path(), 50).unwrap();
    let run = pki(["audit", dir.join("fleet").to_str().unwrap(), "--at", AT]);
    assert_eq!(run.code, 2);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 5 + 3, "{}", run.stdout);
    assert!(lines[0].starts_with("CRITICAL"), "{}", run.stdout);
    assert!(lines[4].starts_with("WARNING"), "{}", run.stdout);
    assert!(lines[5].starts_with("50 stores"), "{}", run.stdout);
}

#[test]
fn prometheus_output_parses_and_is_written_atomically() {
    let dir = TempDir::new("audit-prom");
    pki_tests::samples::generate_fleet(dir.path(), 50).unwrap();
    let out = dir.join("textfile/pki.prom");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    let run = pki([
        "audit",
        dir.join("fleet").to_str().unwrap(),
        "--at",
        AT,
        "--format",
        "prometheus",
        "--output",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stdout.is_empty(),
        "with --output nothing goes to stdout"
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let leftovers: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary file left: {leftovers:?}");

    // a small parser for the text exposition format
    let mut typed = std::collections::HashSet::new();
    let mut samples: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split(' ');
            typed.insert(parts.next().unwrap().to_string());
            assert_eq!(parts.next(), Some("gauge"));
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line: {line}"));
        let name = series.split('{').next().unwrap();
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{line}"
        );
        assert!(typed.contains(name), "sample before its TYPE: {line}");
        if let Some(labels) = series.strip_prefix(name).filter(|l| !l.is_empty()) {
            assert!(labels.starts_with('{') && labels.ends_with('}'), "{line}");
        }
        samples.entry(name.to_string()).or_default().push(
            value
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("bad value: {line}")),
        );
    }
    assert_eq!(samples["x509_cert_not_after"].len(), 50);
    assert_eq!(
        samples["x509_cert_expired"]
            .iter()
            .filter(|v| **v == 1.0)
            .count(),
        2
    );
    assert_eq!(samples["pki_stores_scanned"], vec![50.0]);
    assert!(text.contains("subject_CN=\"fleet-0007\""));
    assert!(text.contains("pki_findings{code=\"KEY_MISMATCH\"} 1"));

    match std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::fs::File::open(&out).unwrap())
        .output()
    {
        Ok(check) => assert!(
            check.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&check.stdout),
            String::from_utf8_lossy(&check.stderr)
        ),
        Err(_) => assert!(
            std::env::var_os("CI").is_none(),
            "CI installs promtool (Debian's prometheus package)"
        ),
    }
}

#[test]
fn one_healthy_store_audits_ok_with_exit_0() {
    let dir = TempDir::new("audit-one");
    pki_tests::samples::generate_fleet(dir.path(), 1).unwrap();
    let run = pki([
        "audit",
        dir.join("fleet/fleet-0001").to_str().unwrap(),
        "--at",
        AT,
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.json()["summary"]["ok"], 1);
    assert_eq!(run.json()["stores"][0]["verdict"], "accepted");
}

/// The spill file cannot be made: the audit could not run (3), and says where and why, once.
#[test]
fn no_room_for_the_spill_file_is_exit_3_naming_the_folder() {
    let dir = TempDir::new("audit-tmpdir");
    pki_tests::samples::generate_fleet(dir.path(), 1).unwrap();
    let missing = dir.join("no-such-tmp");
    let run = pki_env(
        ["audit", dir.join("fleet").to_str().unwrap(), "--at", AT],
        &[("TMPDIR", missing.to_str().unwrap())],
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stdout.is_empty(), "{}", run.stdout);
    assert!(
        run.stderr.contains(missing.to_str().unwrap()) && run.stderr.contains("temporary file"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.matches("os error").count(), 1, "{}", run.stderr);
}

/// A store folder whose name is not UTF-8 (a share written by a legacy system) is judged and
/// shown with U+FFFD, instead of failing the fleet's report.
#[cfg(unix)]
#[test]
fn a_store_name_that_is_not_utf8_does_not_fail_the_report() {
    use std::os::unix::ffi::OsStrExt;
    let dir = TempDir::new("audit-utf8");
    pki_tests::samples::generate_fleet(dir.path(), 2).unwrap();
    let fleet = dir.join("fleet");
    let odd = fleet.join(std::ffi::OsStr::from_bytes(b"legacy-\xff"));
    std::fs::rename(fleet.join("fleet-0002"), &odd).unwrap();
    let run = pki([
        "audit",
        fleet.to_str().unwrap(),
        "--at",
        AT,
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let report = run.json();
    assert_eq!(report["summary"]["ok"], 2);
    let paths: Vec<&str> = report["stores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.iter().any(|p| p.ends_with("legacy-\u{fffd}")),
        "{paths:?}"
    );
}
