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
    assert_eq!(lines.len(), 1 + 5 + 3, "{}", run.stdout);
    assert!(
        lines[0].starts_with("STATUS"),
        "a header row: {}",
        run.stdout
    );
    assert!(lines[1].starts_with("CRITICAL"), "{}", run.stdout);
    assert!(lines[5].starts_with("WARNING"), "{}", run.stdout);
    assert!(lines[6].starts_with("50 stores"), "{}", run.stdout);
    // aligned: every row's columns start where the header's do
    let column = |name: &str| lines[0].find(name).unwrap();
    for row in &lines[1..6] {
        for name in ["STORE", "FINDING", "NOT AFTER"] {
            let at = column(name);
            assert!(
                row[..at].ends_with("  ") && !row[at..].starts_with(' '),
                "column {name} misaligned in {row:?}:\n{}",
                run.stdout
            );
        }
    }
    // `table` is `text`
    let table = pki([
        "audit",
        dir.join("fleet").to_str().unwrap(),
        "--at",
        AT,
        "--format",
        "table",
    ]);
    assert_eq!(table.stdout, run.stdout);
}

#[test]
fn a_store_reached_twice_is_judged_once_not_taken_for_a_clone() {
    let dir = TempDir::new("audit-twice");
    pki_tests::samples::generate_fleet(dir.path(), 4).unwrap();
    let fleet = dir.join("fleet");
    let once = pki([
        "audit",
        fleet.to_str().unwrap(),
        "--at",
        AT,
        "--format",
        "json",
    ]);
    let store = fleet.join("fleet-0001");
    // a symlink beside the stores, to one of them (a "current" link)
    std::os::unix::fs::symlink(&store, fleet.join("current")).unwrap();
    let with_slash = format!("{}/", store.display());
    let run = pki([
        "audit",
        fleet.to_str().unwrap(),
        store.to_str().unwrap(),
        &with_slash,
        "--at",
        AT,
        "--format",
        "json",
    ]);
    assert_eq!(run.code, once.code, "{}", run.stdout);
    let report = run.json();
    assert_eq!(report["summary"], once.json()["summary"], "{}", run.stdout);
    assert!(
        !run.stdout.contains("DUPLICATE_IDENTITY"),
        "one store taken for a clone of itself: {}",
        run.stdout
    );
}

#[test]
fn the_table_stays_aligned_with_wide_characters_in_store_names() {
    let dir = TempDir::new("audit-wide");
    let ca = pki_tests::ca::init(&dir, "2025-06-01T00:00:00Z", &[]);
    let fleet = dir.join("fleet");
    let first = fleet.join("a");
    let run = pki_tests::ca::enroll(&first, &ca, "dev-wide", "2026-01-01T00:00:00Z", &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    // two copies of one store (a cloned disk: critical, so listed), one named in CJK, whose
    // characters each take two columns on a terminal
    let wide = fleet.join("端末証明書");
    std::fs::create_dir_all(&wide).unwrap();
    for entry in std::fs::read_dir(&first).unwrap() {
        let from = entry.unwrap().path();
        std::fs::copy(&from, wide.join(from.file_name().unwrap())).unwrap();
    }
    let run = pki(["audit", fleet.to_str().unwrap(), "--at", AT]);
    assert_eq!(run.code, 2, "{}", run.stdout);
    let lines: Vec<&str> = run.stdout.lines().collect();
    let columns = |text: &str| {
        text.chars().count()
            + text
                .chars()
                .filter(|c| ('\u{3000}'..='\u{9fff}').contains(c))
                .count()
    };
    let finding_at = lines[0].find("FINDING").unwrap();
    for row in &lines[1..3] {
        let at = row.find("DUPLICATE_IDENTITY").unwrap();
        assert_eq!(
            columns(&row[..at]),
            finding_at,
            "FINDING misaligned in {row:?}:\n{}",
            run.stdout
        );
    }
}

#[test]
#[cfg_attr(
    not(have_promtool),
    ignore = "promtool is not installed here (CI installs it)"
)]
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
        // compiled as ignored where promtool is missing (tests/build.rs); here it must be there
        Err(e) => panic!("promtool: {e}: CI installs it (Debian's prometheus package)"),
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

#[test]
fn a_stray_file_beside_a_fleet_is_reported_and_the_stores_still_audited() {
    let dir = TempDir::new("audit-stray");
    pki_tests::samples::generate_fleet(dir.path(), 50).unwrap();
    let fleet = dir.join("fleet");
    // someone dropped a certificate (and a note) at the fleet's top
    std::fs::copy(fleet.join("fleet-0001/device.crt"), fleet.join("stray.crt")).unwrap();
    std::fs::write(fleet.join("NOTES.txt"), "collected on Monday\n").unwrap();
    let run = pki([
        "audit",
        fleet.to_str().unwrap(),
        "--at",
        AT,
        "--format",
        "json",
    ]);
    let report = run.json();
    assert_eq!(report["summary"]["stores"], 50, "{}", run.stdout);
    assert_eq!(run.code, 2, "the fleet's criticals still count");
    let problems = report["problems"].as_array().unwrap();
    assert_eq!(
        problems.len(),
        1,
        "only the certificate, not the note: {problems:?}"
    );
    assert_eq!(problems[0]["status"], "warning");
    assert!(problems[0]["path"].as_str().unwrap().ends_with("stray.crt"));
    // the table names it too
    let table = pki(["audit", fleet.to_str().unwrap(), "--at", AT]);
    assert!(
        table
            .stdout
            .lines()
            .any(|l| l.starts_with("WARNING") && l.contains("stray.crt")),
        "{}",
        table.stdout
    );
    // a healthy fleet with a stray file: a warning, exit 1
    let healthy = TempDir::new("audit-stray-healthy");
    pki_tests::samples::generate_fleet(healthy.path(), 3).unwrap();
    std::fs::copy(
        healthy.join("fleet/fleet-0001/device.crt"),
        healthy.join("fleet/old.pem"),
    )
    .unwrap();
    let run = pki(["audit", healthy.join("fleet").to_str().unwrap(), "--at", AT]);
    assert_eq!(run.code, 1, "{}", run.stdout);
}

#[test]
fn a_path_without_a_store_is_unknown_never_healthy() {
    let dir = TempDir::new("audit-empty");
    let empty = dir.join("mnt");
    std::fs::create_dir_all(&empty).unwrap();
    for format in ["text", "json", "prometheus"] {
        let run = pki([
            "audit",
            empty.to_str().unwrap(),
            "--at",
            AT,
            "--format",
            format,
        ]);
        assert_eq!(run.code, 3, "{format}: {}", run.stdout);
        assert!(
            run.stderr.contains(empty.to_str().unwrap()) && run.stderr.contains("no store found"),
            "{format}: {}",
            run.stderr
        );
    }
    // a folder of notes is no store either
    std::fs::write(empty.join("README.txt"), "mount the share here\n").unwrap();
    assert_eq!(pki(["audit", empty.to_str().unwrap(), "--at", AT]).code, 3);
}

/// The node_exporter example (samples/systemd/pki-audit.service) run as systemd would run it:
/// its ExecStart with the test's paths, its SuccessExitStatus deciding success.
#[test]
fn the_node_exporter_unit_succeeds_on_findings_and_fails_on_no_store() {
    let unit = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../samples/systemd/pki-audit.service"),
    )
    .unwrap();
    let value = |key: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("{key} missing in the unit"))
            .to_string()
    };
    let mut success: Vec<i32> = value("SuccessExitStatus=")
        .split_whitespace()
        .map(|c| c.parse().unwrap())
        .collect();
    success.push(0);
    let exec = value("ExecStart=");
    let argv: Vec<&str> = exec.split_whitespace().collect();
    assert!(argv[0].ends_with("/pki") && argv[1] == "audit", "{exec}");

    let dir = TempDir::new("audit-unit");
    pki_tests::samples::generate_fleet(dir.path(), 50).unwrap();
    let textfile = dir.join("textfile");
    std::fs::create_dir_all(&textfile).unwrap();
    let run_unit = |store: &std::path::Path| {
        let args: Vec<String> = argv[1..]
            .iter()
            .map(|a| match *a {
                "/var/lib/product/certs" => store.display().to_string(),
                "/var/lib/node_exporter/textfile/pki.prom" => {
                    textfile.join("pki.prom").display().to_string()
                }
                other => other.to_string(),
            })
            .chain(["--at".to_string(), AT.to_string()])
            .collect();
        pki(args)
    };
    // a fleet with criticals and a warning: the unit succeeds, the metrics say what is wrong
    let run = run_unit(&dir.join("fleet"));
    assert!(
        success.contains(&run.code),
        "exit {}: {}",
        run.code,
        run.stderr
    );
    let metrics = std::fs::read_to_string(textfile.join("pki.prom")).unwrap();
    assert!(
        metrics.contains("pki_stores{status=\"critical\"} 4"),
        "{metrics}"
    );
    // a wrong mount point: the unit fails, and the file says why
    let nothing = dir.join("not-mounted");
    std::fs::create_dir_all(&nothing).unwrap();
    let run = run_unit(&nothing);
    assert!(!success.contains(&run.code), "exit {}", run.code);
    let metrics = std::fs::read_to_string(textfile.join("pki.prom")).unwrap();
    assert!(
        metrics.contains("pki_audit_problems{status=\"unknown\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("pki_stores_scanned 0"), "{metrics}");
}

#[test]
fn a_foreign_store_with_its_crl_folder_is_one_store_not_a_fleet() {
    let dir = TempDir::new("audit-foreign-crl");
    pki_tests::samples::generate_fleet(dir.path(), 1).unwrap();
    let store = dir.join("fleet/fleet-0001");
    std::fs::remove_file(store.join("store.yaml")).unwrap();
    std::fs::create_dir_all(store.join("crl")).unwrap();
    std::fs::write(store.join("crl/old.crl"), "-----BEGIN X509 CRL-----\n").unwrap();
    let run = pki([
        "audit",
        store.to_str().unwrap(),
        "--at",
        AT,
        "--format",
        "json",
    ]);
    assert_eq!(run.json()["summary"]["stores"], 1, "{}", run.stdout);
    assert_eq!(
        run.json()["stores"][0]["path"].as_str(),
        store.to_str(),
        "{}",
        run.stdout
    );
}
