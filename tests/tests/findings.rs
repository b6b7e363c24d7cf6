//! Every finding code diagnose owns, each built in the test: the code, its severity, the
//! verdict and the exit code.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pki_tests::{openssl, pki, Ca, Endpoint, Files, Leaf, TempDir, AT};
use rcgen::{
    CustomExtension, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, KeyUsagePurpose,
    NameConstraints,
};

struct Pki {
    root: Ca,
    issuing: Ca,
}

fn pki_() -> Pki {
    let root = Ca::root("Findings Root CA");
    let issuing = root.intermediate("Findings Issuing CA");
    Pki { root, issuing }
}

impl Pki {
    fn files(&self, leaf: &Leaf) -> Files {
        Files {
            cert: leaf.pem.clone(),
            key: leaf.key_pem(),
            chain: self.issuing.pem.clone(),
            trust: self.root.pem.clone(),
            crls: Vec::new(),
        }
    }
}

fn assert_finding(run: &pki_tests::Run, code: &str, severity: &str, verdict: &str, exit: i32) {
    let f = run
        .finding(code)
        .unwrap_or_else(|| panic!("no {code} in {}", run.stdout));
    assert_eq!(f["severity"], severity, "{f}");
    assert_eq!(run.verdict(), verdict, "{}", run.stdout);
    assert_eq!(run.code, exit, "{}", run.stdout);
    assert!(!f["fix"].as_str().unwrap().is_empty());
}

#[test]
fn issuer_expired_intermediate_is_critical_not_cert_expired() {
    let root = Ca::root("Root");
    let issuing = root.intermediate_with("Old Issuing CA", |p| {
        p.not_after = pki_tests::at("2026-02-01T00:00:00Z")
    });
    let leaf = issuing.leaf("dev");
    let run = Files {
        cert: leaf.pem.clone(),
        key: leaf.key_pem(),
        chain: issuing.pem.clone(),
        trust: root.pem.clone(),
        crls: vec![],
    }
    .diagnose(AT, &[]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("ISSUER_EXPIRED"),
        "{}",
        run.stdout
    );
    assert!(run.finding("CERT_EXPIRED").is_none());
    assert_finding(&run, "ISSUER_EXPIRED", "critical", "rejected", 2);
}

#[test]
fn an_expired_anchor_is_only_a_warning() {
    let root = Ca::root_with("Aging Root", |p| {
        p.not_after = pki_tests::at("2026-02-01T00:00:00Z")
    });
    let issuing = root.intermediate("Issuing");
    let leaf = issuing.leaf("dev");
    let run = Files {
        cert: leaf.pem.clone(),
        key: leaf.key_pem(),
        chain: issuing.pem.clone(),
        trust: root.pem.clone(),
        crls: vec![],
    }
    .diagnose(AT, &[]);
    assert_finding(&run, "ISSUER_EXPIRED", "warning", "accepted", 1);
}

#[test]
fn an_end_entity_used_as_issuer_is_not_a_ca() {
    let p = pki_();
    let fake = p.issuing.intermediate_with("Fake Sub CA", |params| {
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    });
    let leaf = fake.leaf("dev");
    let files = Files {
        chain: format!("{}{}", fake.pem, p.issuing.pem),
        ..p.files(&leaf)
    };
    let run = files.diagnose(AT, &[]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("NOT_A_CA"),
        "{}",
        run.stdout
    );
    assert_finding(&run, "NOT_A_CA", "critical", "rejected", 2);
}

#[test]
fn a_corrupted_signature_is_bad_signature() {
    let p = pki_();
    let leaf = p.issuing.leaf("dev");
    let mut der = leaf.der.clone();
    let last = der.len() - 5;
    der[last] ^= 0x55; // inside the signature value
    let dir = TempDir::new("badsig");
    let cert = dir.write("device.der", &der);
    let key = dir.write("device.key", leaf.key_pem());
    let chain = dir.write("chain.pem", &p.issuing.pem);
    let trust = dir.write("trust.pem", &p.root.pem);
    let run = pki([
        "diagnose",
        "--format",
        "json",
        "--at",
        AT,
        "--cert",
        cert.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "--chain",
        chain.to_str().unwrap(),
        "--trust",
        trust.to_str().unwrap(),
    ]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("BAD_SIGNATURE"),
        "{}",
        run.stdout
    );
    assert_finding(&run, "BAD_SIGNATURE", "critical", "rejected", 2);
}

#[test]
fn server_auth_only_is_wrong_eku_and_no_eku_is_a_policy_warning() {
    let p = pki_();
    let leaf = p.issuing.leaf_with("dev", |params| {
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth]
    });
    let run = p.files(&leaf).diagnose(AT, &[]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("WRONG_EKU"),
        "{}",
        run.stdout
    );
    assert_finding(&run, "WRONG_EKU", "critical", "rejected", 2);

    let leaf = p
        .issuing
        .leaf_with("dev", |params| params.extended_key_usages = vec![]);
    let run = p.files(&leaf).diagnose(AT, &[]);
    assert_finding(&run, "POLICY_VIOLATION", "warning", "accepted", 1);
    assert!(run.finding("POLICY_VIOLATION").unwrap()["message"]
        .as_str()
        .unwrap()
        .contains("extendedKeyUsage"));
}

#[test]
fn key_usage_without_digital_signature_is_a_warning() {
    let p = pki_();
    let leaf = p.issuing.leaf_with("dev", |params| {
        params.key_usages = vec![KeyUsagePurpose::KeyEncipherment]
    });
    let run = p.files(&leaf).diagnose(AT, &[]);
    assert_finding(&run, "WRONG_KEY_USAGE", "warning", "accepted", 1);
}

#[test]
#[cfg_attr(
    not(have_openssl),
    ignore = "openssl is not installed here (CI installs it)"
)]
fn an_rsa_1024_device_key_is_weak_algorithm() {
    let p = pki_();
    let dir = TempDir::new("rsa1024");
    openssl(
        dir.path(),
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:1024",
            "-out",
            "k.pem",
        ],
    );
    let spki = openssl(dir.path(), &["pkey", "-in", "k.pem", "-pubout"]);
    let cert = p.issuing.leaf_for_public_key("dev", &spki);
    let key = std::fs::read_to_string(dir.join("k.pem")).unwrap();
    let run = Files {
        cert,
        key,
        chain: p.issuing.pem.clone(),
        trust: p.root.pem.clone(),
        crls: vec![],
    }
    .diagnose(AT, &[]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("WEAK_ALGORITHM"),
        "{}",
        run.stdout
    );
    assert!(
        run.finding("KEY_MISMATCH").is_none(),
        "the small key is the certificate's: {}",
        run.stdout
    );
    assert_finding(&run, "WEAK_ALGORITHM", "critical", "rejected", 2);
}

#[test]
#[cfg_attr(
    not(have_openssl),
    ignore = "openssl is not installed here (CI installs it)"
)]
fn a_sha1_signature_is_weak_algorithm() {
    let p = pki_();
    let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
    let cert = pki_tests::legacy::sha1_leaf(&p.issuing, &key);
    let run = Files {
        cert,
        key,
        chain: p.issuing.pem.clone(),
        trust: p.root.pem.clone(),
        crls: vec![],
    }
    .diagnose(AT, &[]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("WEAK_ALGORITHM"),
        "{}",
        run.stdout
    );
    let message = run.finding("WEAK_ALGORITHM").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_lowercase();
    assert!(message.contains("sha1"), "{message}");
}

#[test]
fn revocation_findings() {
    let p = pki_();
    let leaf = p.issuing.leaf("dev");
    let revoking = p
        .issuing
        .crl(&[&leaf], "2026-02-01T00:00:00Z", "2026-04-01T00:00:00Z");
    let run = Files {
        crls: vec![revoking],
        ..p.files(&leaf)
    }
    .diagnose(AT, &[]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("REVOKED"),
        "{}",
        run.stdout
    );
    assert_finding(&run, "REVOKED", "critical", "rejected", 2);
    assert!(run.finding("REVOKED").unwrap()["message"]
        .as_str()
        .unwrap()
        .contains("2026-02-01"));

    // a CRL from another CA only: status unknown, accepted
    let other = p
        .root
        .crl(&[], "2026-02-01T00:00:00Z", "2026-04-01T00:00:00Z");
    let run = Files {
        crls: vec![other],
        ..p.files(&leaf)
    }
    .diagnose(AT, &[]);
    assert_finding(&run, "REVOCATION_UNKNOWN", "warning", "accepted", 1);

    // the issuer's CRL, past nextUpdate and not listing the device: a warning
    let stale = p
        .issuing
        .crl(&[], "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z");
    let run = Files {
        crls: vec![stale],
        ..p.files(&leaf)
    }
    .diagnose(AT, &[]);
    assert_finding(&run, "CRL_EXPIRED", "warning", "accepted", 1);
}

#[test]
fn a_server_certificate_for_another_name_is_name_mismatch() {
    let p = pki_();
    let leaf = p.issuing.leaf_with("api", |params| {
        params.subject_alt_names = vec![rcgen::SanType::DnsName(
            "api.example.com".try_into().unwrap(),
        )];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    });
    let files = p.files(&leaf);
    let ok = files.diagnose(AT, &["--purpose", "server", "--name", "api.example.com"]);
    assert_eq!(ok.verdict(), "accepted", "{}", ok.stdout);
    let run = files.diagnose(AT, &["--purpose", "server", "--name", "www.example.com"]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("NAME_MISMATCH"),
        "{}",
        run.stdout
    );
    assert_finding(&run, "NAME_MISMATCH", "critical", "rejected", 2);
}

#[test]
fn a_name_outside_the_cas_constraints_is_name_constraint_violation() {
    let root = Ca::root("Root");
    let issuing = root.intermediate_with("Constrained CA", |p| {
        p.name_constraints = Some(NameConstraints {
            permitted_subtrees: vec![GeneralSubtree::DnsName("allowed.example".into())],
            excluded_subtrees: vec![],
        })
    });
    let leaf = issuing.leaf("dev");
    let run = Files {
        cert: leaf.pem.clone(),
        key: leaf.key_pem(),
        chain: issuing.pem.clone(),
        trust: root.pem.clone(),
        crls: vec![],
    }
    .diagnose(AT, &[]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("NAME_CONSTRAINT_VIOLATION"),
        "{}",
        run.stdout
    );
    assert_finding(&run, "NAME_CONSTRAINT_VIOLATION", "critical", "rejected", 2);
}

#[test]
fn a_sub_ca_below_a_pathlen_0_ca_is_path_len_exceeded() {
    let p = pki_();
    let sub = p.issuing.intermediate("Sub CA");
    let leaf = sub.leaf("dev");
    let files = Files {
        chain: format!("{}{}", sub.pem, p.issuing.pem),
        ..p.files(&leaf)
    };
    let run = files.diagnose(AT, &[]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("PATH_LEN_EXCEEDED"),
        "{}",
        run.stdout
    );
    assert_finding(&run, "PATH_LEN_EXCEEDED", "critical", "rejected", 2);
}

#[test]
fn an_unknown_critical_extension_is_cert_malformed() {
    let p = pki_();
    let leaf = p.issuing.leaf_with("dev", |params| {
        let mut ext =
            CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 99999, 1], vec![0x05, 0x00]);
        ext.set_criticality(true);
        params.custom_extensions = vec![ext];
    });
    let run = p.files(&leaf).diagnose(AT, &[]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("CERT_MALFORMED"),
        "{}",
        run.stdout
    );
    assert_finding(&run, "CERT_MALFORMED", "critical", "rejected", 2);
}

#[test]
fn an_untrusted_self_signed_root_is_unknown_issuer() {
    let p = pki_();
    let stranger = Ca::root("Stranger Root");
    let leaf = p.issuing.leaf("dev");
    let files = Files {
        chain: format!("{}{}", p.issuing.pem, p.root.pem),
        trust: stranger.pem.clone(),
        ..p.files(&leaf)
    };
    let run = files.diagnose(AT, &[]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("UNKNOWN_ISSUER"),
        "{}",
        run.stdout
    );
    assert!(run.finding("UNKNOWN_ISSUER").unwrap()["message"]
        .as_str()
        .unwrap()
        .contains("self-signed"));
}

#[test]
fn loose_files_without_a_key_say_possession_was_not_checked() {
    let p = pki_();
    let leaf = p.issuing.leaf("dev");
    let run = Files {
        key: String::new(),
        ..p.files(&leaf)
    }
    .diagnose(AT, &[]);
    assert_finding(&run, "KEY_NOT_CHECKED", "info", "accepted", 0);
}

#[test]
fn expiring_inside_the_renewal_window_is_a_warning() {
    let p = pki_();
    let leaf = p.issuing.leaf("dev");
    let run = p.files(&leaf).diagnose("2026-10-01T00:00:00Z", &[]);
    assert_finding(&run, "CERT_EXPIRING_SOON", "warning", "accepted", 1);
    let early = p.files(&leaf).diagnose("2026-05-01T00:00:00Z", &[]);
    assert!(
        early.finding("CERT_EXPIRING_SOON").is_none(),
        "{}",
        early.stdout
    );
}

fn store(p: &Pki, dir: &TempDir, leaf: &Leaf) -> std::path::PathBuf {
    Endpoint {
        device_id: "dev",
        cert: leaf.pem.clone(),
        key: leaf.key_pem(),
        chain: p.issuing.pem.clone(),
        trust: p.root.pem.clone(),
    }
    .write(dir)
}

fn diagnose_store(store: &std::path::Path) -> pki_tests::Run {
    pki([
        "diagnose",
        store.to_str().unwrap(),
        "--at",
        AT,
        "--format",
        "json",
    ])
}

#[test]
fn an_open_key_file_is_a_warning() {
    let p = pki_();
    let dir = TempDir::new("perm");
    let s = store(&p, &dir, &p.issuing.leaf("dev"));
    pki_tests::store::set_mode(&s.join("device.key"), 0o644);
    let run = diagnose_store(&s);
    assert_finding(&run, "KEY_PERMISSIONS_TOO_OPEN", "warning", "accepted", 1);
    assert!(run.finding("KEY_PERMISSIONS_TOO_OPEN").unwrap()["message"]
        .as_str()
        .unwrap()
        .contains("0644"));
}

#[test]
fn a_stale_certificate_first_picks_the_one_matching_the_key() {
    let p = pki_();
    let dir = TempDir::new("stale");
    let leaf = p.issuing.leaf("dev");
    let stale = p.issuing.leaf_with("dev", |params| {
        params.not_after = pki_tests::at("2026-02-01T00:00:00Z")
    });
    let s = store(&p, &dir, &leaf);
    std::fs::write(s.join("device.crt"), format!("{}{}", stale.pem, leaf.pem)).unwrap();
    let run = diagnose_store(&s);
    assert_finding(&run, "MULTIPLE_CANDIDATES", "warning", "accepted", 1);
    let message = run.finding("MULTIPLE_CANDIDATES").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("matches the private key"), "{message}");
    assert!(
        message.contains("device.crt #2"),
        "the second certificate is used: {message}"
    );
}

#[test]
fn a_missing_certificate_is_cert_missing() {
    let p = pki_();
    let dir = TempDir::new("nocert");
    let s = store(&p, &dir, &p.issuing.leaf("dev"));
    std::fs::remove_file(s.join("device.crt")).unwrap();
    let run = diagnose_store(&s);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("CERT_MISSING"),
        "{}",
        run.stdout
    );
    assert_eq!(run.json()["certificate"], serde_json::Value::Null);
    assert_eq!(run.code, 2);
}

#[test]
fn truncated_emptied_garbage_and_huge_files_are_file_corrupt() {
    let p = pki_();
    let leaf = p.issuing.leaf("dev");
    let half = leaf.pem[..leaf.pem.len() / 2].to_string();
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let huge = "x".repeat(2 * 1024 * 1024);
    for (label, content) in [
        ("truncated", half.into_bytes()),
        ("emptied", Vec::new()),
        ("garbage", garbage),
        ("huge", huge.into_bytes()),
    ] {
        let dir = TempDir::new(label);
        let s = store(&p, &dir, &leaf);
        std::fs::write(s.join("device.crt"), &content).unwrap();
        let run = diagnose_store(&s);
        assert_eq!(
            run.root_cause().as_deref(),
            Some("FILE_CORRUPT"),
            "{label}: {}",
            run.stdout
        );
        let f = run.finding("FILE_CORRUPT").unwrap();
        assert!(
            f["message"].as_str().unwrap().contains("device.crt"),
            "{label}: {f}"
        );
        assert_eq!(run.code, 2, "{label}");
        assert!(run.stderr.is_empty(), "{label}: {}", run.stderr);
    }
}
