//! `pki ca sign`, `revoke` and `crl`: nothing a request asks for is trusted, serials are
//! random, a leaf never outlives its issuer, many requests go in one call, and what the CA
//! issues passes independent verifiers (webpki via diagnose, OpenSSL, pkilint).

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pki_tests::ca::{enroll, init};
use pki_tests::{openssl, pki, Run, TempDir, AT};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};

/// A change a hostile request makes to its parameters.
type Edit = Box<dyn FnOnce(&mut CertificateParams)>;

fn csr(edit: impl FnOnce(&mut CertificateParams)) -> (String, KeyPair) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, "dev-h");
    edit(&mut p);
    (p.serialize_request(&key).unwrap().pem().unwrap(), key)
}

fn sign(ca: &std::path::Path, dir: &TempDir, name: &str, csr: &[u8]) -> Run {
    let path = dir.write(name, csr);
    pki([
        "ca",
        "sign",
        "--ca",
        ca.to_str().unwrap(),
        path.to_str().unwrap(),
        "--at",
        AT,
        "--format",
        "json",
    ])
}

/// The issued certificate as `pki inspect` sees it.
fn inspect(pem: &str, dir: &TempDir) -> serde_json::Value {
    let path = dir.write("issued.pem", pem);
    pki(["inspect", path.to_str().unwrap(), "--format", "json"]).json()[0]["objects"][0].clone()
}

#[test]
#[cfg_attr(
    not(have_openssl),
    ignore = "openssl is not installed here (CI installs it)"
)]
fn hostile_requests_end_in_a_policy_certificate_or_a_clear_refusal() {
    let dir = TempDir::new("hostile");
    let ca = init(&dir, AT, &[]);
    let asks: Vec<(&str, Edit)> = vec![
        (
            "ca-true",
            Box::new(|p: &mut CertificateParams| {
                p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained)
            }),
        ),
        (
            "huge-validity",
            Box::new(|p: &mut CertificateParams| {
                p.not_after = pki_tests::at("9999-12-31T00:00:00Z")
            }),
        ),
        (
            "extra-usages",
            Box::new(|p: &mut CertificateParams| {
                p.extended_key_usages = vec![
                    ExtendedKeyUsagePurpose::ServerAuth,
                    ExtendedKeyUsagePurpose::CodeSigning,
                ];
                p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
                p.subject_alt_names =
                    vec![SanType::DnsName("bank.example.com".try_into().unwrap())];
            }),
        ),
        (
            "custom-extension",
            Box::new(|p: &mut CertificateParams| {
                let mut ext = CustomExtension::from_oid_content(
                    &[1, 3, 6, 1, 4, 1, 99999, 7],
                    vec![0x05, 0x00],
                );
                ext.set_criticality(true);
                p.custom_extensions = vec![ext];
            }),
        ),
    ];
    for (name, edit) in asks {
        let (request, _) = csr(edit);
        let run = sign(&ca, &dir, &format!("{name}.csr"), request.as_bytes());
        assert_eq!(run.code, 0, "{name}: {}", run.stderr);
        let issued = &run.json()[0];
        let cert = inspect(issued["certificate"].as_str().unwrap(), &dir);
        assert_eq!(cert["basic_constraints"], "CA:FALSE", "{name}");
        assert_eq!(
            cert["extended_key_usage"],
            serde_json::json!(["clientAuth"]),
            "{name}"
        );
        assert_eq!(
            cert["key_usage"],
            serde_json::json!(["digitalSignature"]),
            "{name}"
        );
        assert_eq!(
            cert["san"],
            serde_json::json!([
                "DNS:dev-h.devices.fleet.internal",
                "URI:https://fleet.internal/devices/dev-h"
            ]),
            "{name}"
        );
        let lifetime = pki_tests::at(cert["not_after"].as_str().unwrap())
            - pki_tests::at(cert["not_before"].as_str().unwrap());
        assert!(lifetime.whole_days() <= 366, "{name}: {lifetime}");
        let serial = cert["serial"].as_str().unwrap();
        assert!(
            serial.split(':').count() <= 20 && u8::from_str_radix(&serial[..2], 16).unwrap() < 0x80,
            "{name}: {serial}"
        );
    }

    let (good, _) = csr(|_| {});
    let mut tampered = good.clone().into_bytes();
    // flip a character inside the base64 of the signature (near the end)
    let i = tampered.len() - 40;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let refusals: Vec<(&str, Vec<u8>, &str)> = vec![
        ("bad-signature", tampered, "signature"),
        (
            "garbage",
            (0..500u32).map(|i| (i * 7919 % 251) as u8).collect(),
            "not a certificate request",
        ),
        (
            "certificate-not-csr",
            std::fs::read(ca.join("root-1.crt")).unwrap(),
            "not a certificate request",
        ),
        (
            "path-in-cn",
            csr(|p| {
                p.distinguished_name
                    .push(DnType::CommonName, "../../etc/passwd")
            })
            .0
            .into_bytes(),
            "not a device id",
        ),
    ];
    for (name, bytes, why) in refusals {
        let run = sign(&ca, &dir, &format!("{name}.csr"), &bytes);
        assert_eq!(run.code, 2, "{name}: {}", run.stdout);
        assert!(
            run.stderr.contains(why) && run.stderr.contains(&format!("{name}.csr")),
            "{name}: {}",
            run.stderr
        );
    }
    openssl(
        dir.path(),
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:1024",
            "-nodes",
            "-keyout",
            "weak.key",
            "-out",
            "weak.csr",
            "-subj",
            "/CN=dev-w",
        ],
    );
    let run = pki([
        "ca",
        "sign",
        "--ca",
        ca.to_str().unwrap(),
        dir.join("weak.csr").to_str().unwrap(),
        "--at",
        AT,
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("RSA"), "{}", run.stderr);
}

#[test]
fn serials_are_random_even_for_the_same_key_and_many_requests_sign_in_one_call() {
    let dir = TempDir::new("many");
    let ca = init(&dir, AT, &[]);
    let key = KeyPair::generate().unwrap();
    let mut paths = Vec::new();
    for n in 0..20 {
        let mut p = CertificateParams::default();
        p.distinguished_name
            .push(DnType::CommonName, format!("dev-{n}"));
        let fresh = KeyPair::generate().unwrap();
        let request = p
            .serialize_request(if n < 2 { &key } else { &fresh })
            .unwrap()
            .pem()
            .unwrap();
        paths.push(
            dir.write(&format!("csrs/dev-{n}.csr"), request)
                .display()
                .to_string(),
        );
    }
    let out = dir.join("issued");
    let mut args = vec![
        "ca".to_string(),
        "sign".into(),
        "--ca".into(),
        ca.display().to_string(),
        "--out-dir".into(),
        out.display().to_string(),
        "--at".into(),
        AT.into(),
        "--format".into(),
        "json".into(),
    ];
    args.extend(paths);
    let run = pki(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let serials: std::collections::BTreeSet<String> = run
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["serial"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        serials.len(),
        20,
        "every serial differs, also for the two requests of one key"
    );
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 20);
    let recorded = pki_core::ca::Ca::load(&ca)
        .unwrap()
        .inventory
        .all()
        .unwrap();
    assert_eq!(recorded.len(), 20, "every certificate is in the inventory");
    assert!(recorded.iter().any(|r| r.device_id == "dev-7"));
    assert!(recorded.iter().all(|r| r.pem.is_some()), "with its copy");
}

#[test]
fn out_dir_files_are_written_new_never_through_a_link_planted_there() {
    // an outbox others may write (requests in, certificates out): a link planted under the
    // name the certificate will take must not make the CA write through it
    let dir = TempDir::new("outbox");
    let ca = init(&dir, AT, &[]);
    let (request, _) = csr(|_| {});
    let path = dir.write("inbox/dev-h.csr", request);
    let victim = dir.write("victim", "not a certificate\n");
    let out = dir.join("outbox");
    std::fs::create_dir(&out).unwrap();
    std::os::unix::fs::symlink(&victim, out.join("dev-h.crt")).unwrap();
    let run = pki([
        "ca",
        "sign",
        "--ca",
        ca.to_str().unwrap(),
        "--out-dir",
        out.to_str().unwrap(),
        path.to_str().unwrap(),
        "--at",
        AT,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "not a certificate\n"
    );
    let written = out.join("dev-h.crt");
    assert!(!std::fs::symlink_metadata(&written)
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(std::fs::read_to_string(&written)
        .unwrap()
        .starts_with("-----BEGIN CERTIFICATE-----"));
}

#[test]
fn a_leaf_never_outlives_its_issuer() {
    let dir = TempDir::new("outlive");
    let ca = init(&dir, AT, &[]);
    // the issuing CA lives 10 years: ask for 9.5 years from now
    let late = "2035-09-01T00:00:00Z";
    let (request, _) = csr(|_| {});
    let path = dir.write("late.csr", &request);
    let run = pki([
        "ca",
        "sign",
        "--ca",
        ca.to_str().unwrap(),
        path.to_str().unwrap(),
        "--at",
        late,
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()[0]["truncated"], true);
    let issuer = pki([
        "inspect",
        ca.join("issuing-1.crt").to_str().unwrap(),
        "--format",
        "json",
    ])
    .json()[0]["objects"][0]["not_after"]
        .clone();
    assert_eq!(run.json()[0]["not_after"], issuer);

    let refuse = dir.write(
        "refuse.yaml",
        std::fs::read_to_string(ca.join("policy.yaml"))
            .unwrap()
            .replace("leaf_not_after: truncate", "leaf_not_after: refuse"),
    );
    std::fs::copy(&refuse, ca.join("policy.yaml")).unwrap();
    let run = pki([
        "ca",
        "sign",
        "--ca",
        ca.to_str().unwrap(),
        path.to_str().unwrap(),
        "--at",
        late,
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("outlive"), "{}", run.stderr);
}

#[test]
fn revoked_certificates_appear_in_a_growing_crl_and_diagnose_says_revoked() {
    let dir = TempDir::new("revoke");
    let ca = init(&dir, AT, &[]);
    let store = dir.join("store");
    let serial = enroll(&store, &ca, "dev-r", AT, &[]).json()["serial"]
        .as_str()
        .unwrap()
        .to_string();
    let first = pki([
        "ca",
        "crl",
        "--ca",
        ca.to_str().unwrap(),
        "--at",
        AT,
        "--format",
        "json",
    ]);
    assert_eq!(first.json()["crl_number"], 1);
    let plain: String = serial.replace(':', "").to_lowercase();
    let run = pki([
        "ca",
        "revoke",
        "--ca",
        ca.to_str().unwrap(),
        &plain,
        "--reason",
        "keyCompromise",
        "--at",
        AT,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let unknown = pki([
        "ca",
        "revoke",
        "--ca",
        ca.to_str().unwrap(),
        "01:02:03",
        "--at",
        AT,
    ]);
    assert_eq!(unknown.code, 2);
    let second = pki([
        "ca",
        "crl",
        "--ca",
        ca.to_str().unwrap(),
        "--at",
        "2026-03-02T00:00:00Z",
        "--format",
        "json",
    ]);
    assert_eq!(second.json()["crl_number"], 2);
    let crl = second.json()["files"][0].as_str().unwrap().to_string();
    std::fs::create_dir_all(store.join("crl")).unwrap();
    std::fs::copy(&crl, store.join("crl/issuing.crl")).unwrap();
    let d = pki([
        "diagnose",
        store.to_str().unwrap(),
        "--at",
        "2026-03-02T00:00:00Z",
        "--format",
        "json",
    ]);
    assert_eq!(d.root_cause().as_deref(), Some("REVOKED"), "{}", d.stdout);
    assert!(
        d.finding("REVOKED").unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("KeyCompromise"),
        "{}",
        d.stdout
    );
    let inspected = pki(["inspect", &crl, "--format", "json"]).json();
    assert_eq!(inspected[0]["objects"][0]["number"], "2");
    assert_eq!(
        inspected[0]["objects"][0]["next_update"], "2026-03-09T00:00:00Z",
        "nextUpdate from the policy (7 days)"
    );
}

#[test]
#[cfg_attr(
    not(have_pkilint),
    ignore = "pkilint is not installed here (CI installs it)"
)]
fn what_the_ca_issues_passes_pkilint() {
    // compiled as ignored where pkilint is missing (tests/build.rs); here it must be there
    let bin = pkilint_bin().expect(
        "pkilint is missing: CI installs it (.ci/run makes .venv); here: python3 -m venv .venv && .venv/bin/pip install pkilint",
    );
    let dir = TempDir::new("pkilint");
    let ca = init(&dir, AT, &[]);
    let store = dir.join("store");
    assert_eq!(enroll(&store, &ca, "dev-lint", AT, &[]).code, 0);
    let lint = |tool: &str, files: &[std::path::PathBuf]| {
        let out = std::process::Command::new(bin.join(tool))
            .args(["lint", "-s", "ERROR"])
            .args(if tool == "lint_crl" {
                &["-t", "CRL", "-p", "PKIX"][..]
            } else {
                &[]
            })
            .args(files)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{tool} {files:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    lint("lint_pkix_cert", &[store.join("device.crt")]);
    lint("lint_pkix_cert", &[ca.join("issuing-1.crt")]);
    lint("lint_pkix_cert", &[ca.join("root-1.crt")]);
    lint(
        "lint_pkix_signer_signee_cert_chain",
        &[ca.join("issuing-1.crt"), store.join("device.crt")],
    );
    lint(
        "lint_pkix_signer_signee_cert_chain",
        &[ca.join("root-1.crt"), ca.join("issuing-1.crt")],
    );

    // a rotation: both generations' certificates (each naming its CRL's URI) and their CRLs
    // (each with an IssuingDistributionPoint), one listing a revoked certificate
    let ca_s = ca.to_str().unwrap();
    let serial = pki([
        "inspect",
        store.join("device.crt").to_str().unwrap(),
        "--format",
        "json",
    ])
    .json()[0]["objects"][0]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        pki(["ca", "revoke", "--ca", ca_s, &serial, "--at", AT]).code,
        0
    );
    assert_eq!(pki(["ca", "rotate", "--ca", ca_s, "--at", AT]).code, 0);
    let second = dir.join("store-2");
    assert_eq!(enroll(&second, &ca, "dev-lint-2", AT, &[]).code, 0);
    assert_eq!(pki(["ca", "crl", "--ca", ca_s, "--at", AT]).code, 0);
    lint("lint_pkix_cert", &[second.join("device.crt")]);
    lint("lint_pkix_cert", &[ca.join("issuing-2.crt")]);
    lint(
        "lint_pkix_signer_signee_cert_chain",
        &[ca.join("issuing-2.crt"), second.join("device.crt")],
    );
    for crl in ["issuing-1.crl", "issuing-2.crl"] {
        lint("lint_crl", &[ca.join("crl").join(crl)]);
    }
}

/// The folder holding pkilint's commands: `$PKILINT_BIN`, or the workspace's `.venv/bin`.
fn pkilint_bin() -> Option<std::path::PathBuf> {
    let dir = std::env::var_os("PKILINT_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin"));
    dir.join("lint_pkix_cert").exists().then_some(dir)
}
