//! The x509-limbo conformance suite (C2SP), run through the same judging code as
//! `pki diagnose --purpose server --name HOST`, against limbo's expected results and beside
//! rustls-webpki 0.103.13's own answers. Ignored by default (it reads ../shared/conformance and
//! takes a while); run it with
//!
//!     cargo test --release -p pki-tests --test limbo -- --ignored --nocapture

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pki_core::read::decode::decode;
use pki_core::{Material, Policy, Purpose, Request, Severity, Verdict};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The folder holding the suite: `$LIMBO_DIR`, else `shared/conformance` beside the checkout.
fn conformance_dir() -> PathBuf {
    std::env::var_os("LIMBO_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance"),
        PathBuf::from,
    )
}

fn read_xz_json(path: &Path) -> Value {
    let out = std::process::Command::new("xz")
        .args(["-dc"])
        .arg(path)
        .output()
        .expect("run xz");
    assert!(out.status.success(), "xz -dc {}", path.display());
    serde_json::from_slice(&out.stdout).unwrap()
}

fn certs(pems: &Value) -> Vec<pki_core::Cert> {
    pems.as_array()
        .into_iter()
        .flatten()
        .flat_map(|pem| decode(Path::new("limbo"), pem.as_str().unwrap_or("").as_bytes()).certs)
        .collect()
}

/// Our verdict on one limbo case, and whether it carries a warning.
fn judge(case: &Value) -> (Verdict, bool) {
    let report = report(case);
    let warned = report
        .findings
        .iter()
        .any(|f| f.severity == Severity::Warning);
    if std::env::var_os("LIMBO_DEBUG").is_some() {
        let codes: Vec<String> = report
            .findings
            .iter()
            .map(|f| format!("{}:{}", f.code, f.message))
            .collect();
        eprintln!("{}: {codes:?}", case["id"]);
    }
    (report.verdict, warned)
}

fn report(case: &Value) -> pki_core::Report {
    let peer = decode(
        Path::new("peer"),
        case["peer_certificate"].as_str().unwrap().as_bytes(),
    );
    let mut material = Material {
        leaf_candidates: peer.certs,
        intermediates: certs(&case["untrusted_intermediates"]),
        anchors: certs(&case["trusted_certs"]),
        ..Material::default()
    };
    for crl in case["crls"].as_array().into_iter().flatten() {
        material
            .crls
            .extend(decode(Path::new("crl"), crl.as_str().unwrap().as_bytes()).crls);
    }
    let at = pki_core::timestamp::parse(
        case["validation_time"]
            .as_str()
            .unwrap_or("2024-01-01T00:00:00Z"),
    )
    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let name = case["expected_peer_name"]["value"]
        .as_str()
        .unwrap_or("")
        .to_string();
    pki_core::diagnose(
        &material,
        &Request {
            at,
            purpose: Purpose::Server { name: Some(name) },
            policy: web_pki_policy(),
        },
    )
}

/// Limbo's certificates are web-PKI server certificates, not fleet devices: the device
/// profile's lifetime and renewal limits would warn on every case and prove nothing.
fn web_pki_policy() -> Policy {
    let device = Policy::default();
    Policy {
        name: "limbo".into(),
        lifetime_days: u32::MAX / 2,
        renewal: pki_core::policy::Renewal {
            fraction: 1.0,
            before_days: None,
            jitter_percent: 0,
            reuse_key: false,
            grace_days: 0,
        },
        ..device
    }
}

#[test]
#[ignore = "reads the x509-limbo suite from $LIMBO_DIR (default ../shared/conformance); run with --ignored"]
fn limbo_server_cases() {
    let dir = conformance_dir();
    let suite = read_xz_json(&dir.join("limbo.json.xz"));
    let webpki = read_xz_json(&dir.join("limbo-results-rustls-webpki-0.103.13.json.xz"));
    let webpki: HashMap<&str, &str> = webpki["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap(),
                r["actual_result"].as_str().unwrap(),
            )
        })
        .collect();

    let (mut run, mut agree, mut webpki_agree) = (0, 0, 0);
    let (mut lenient, mut lenient_warned) = (0, 0);
    let mut disagreements = Vec::new();
    for case in suite["testcases"].as_array().unwrap() {
        let id = case["id"].as_str().unwrap();
        // the cases limbo's rustls-webpki harness runs: SERVER, no max depth, no key usage
        if webpki.get(id).is_none_or(|r| *r == "SKIPPED") || case["validation_kind"] != "SERVER" {
            continue;
        }
        run += 1;
        let expected_success = case["expected_result"] == "SUCCESS";
        let (verdict, warned) = judge(case);
        let ours = verdict == Verdict::Accepted;
        if ours == expected_success {
            agree += 1;
        } else {
            disagreements.push(format!(
                "{id}: expected {}, ours {verdict:?}{}, webpki {}",
                case["expected_result"],
                if warned { " with a warning" } else { "" },
                webpki[id]
            ));
        }
        if (webpki[id] == "SUCCESS") == expected_success {
            webpki_agree += 1;
        }
        if ours && !expected_success {
            lenient += 1;
            lenient_warned += usize::from(warned);
        }
    }
    let pct = |n: usize| 100.0 * n as f64 / run.max(1) as f64;
    println!("limbo SERVER cases run: {run}");
    println!(
        "pki agrees with limbo:            {agree} ({:.2}%)",
        pct(agree)
    );
    println!(
        "rustls-webpki 0.103.13 agrees:    {webpki_agree} ({:.2}%)",
        pct(webpki_agree)
    );
    println!("accepted where limbo expects failure: {lenient}, of which with a warning: {lenient_warned}");
    for d in &disagreements {
        println!("  {d}");
    }
    assert!(run > 9_000, "the suite was not read ({run} cases)");
    assert_eq!(
        lenient_warned, lenient,
        "every case rustls accepts but limbo rejects carries a warning"
    );
    assert!(
        agree >= webpki_agree,
        "pki ({agree}) agrees less often than rustls-webpki ({webpki_agree})"
    );
}
