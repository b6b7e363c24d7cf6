//! Files as they are found in the field: each tolerance the contract names, as its own test,
//! ending in an accepted verdict (or, for bad input, a clear message and a non-zero exit).

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pki_tests::{openssl, pki, Ca, Files, Leaf, TempDir, AT};

fn ca() -> (Ca, Ca) {
    let root = Ca::root("Reading Root CA");
    let issuing = root.intermediate("Reading Issuing CA");
    (root, issuing)
}

fn files(root: &Ca, issuing: &Ca, leaf: &Leaf) -> Files {
    Files {
        cert: leaf.pem.clone(),
        key: leaf.key_pem(),
        chain: issuing.pem.clone(),
        trust: root.pem.clone(),
        crls: vec![],
    }
}

fn assert_accepted(run: &pki_tests::Run) {
    assert_eq!(run.verdict(), "accepted", "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.code, 0, "{}", run.stdout);
}

#[test]
fn crlf_line_ends() {
    let (root, issuing) = ca();
    let leaf = issuing.leaf("dev");
    let f = files(&root, &issuing, &leaf);
    let crlf = |s: &str| s.replace('\n', "\r\n");
    assert_accepted(
        &Files {
            cert: crlf(&f.cert),
            key: crlf(&f.key),
            chain: crlf(&f.chain),
            trust: crlf(&f.trust),
            crls: vec![],
        }
        .diagnose(AT, &[]),
    );
}

#[test]
fn a_utf8_bom() {
    let (root, issuing) = ca();
    let leaf = issuing.leaf("dev");
    let f = files(&root, &issuing, &leaf);
    let bom = |s: &str| format!("\u{feff}{s}");
    assert_accepted(
        &Files {
            cert: bom(&f.cert),
            key: bom(&f.key),
            chain: bom(&f.chain),
            trust: bom(&f.trust),
            crls: vec![],
        }
        .diagnose(AT, &[]),
    );
}

#[test]
fn pkcs12_export_bag_attributes() {
    let (root, issuing) = ca();
    let leaf = issuing.leaf("dev");
    let f = files(&root, &issuing, &leaf);
    let cert = format!(
        "Bag Attributes\n    localKeyID: 01 00 00 00 \n    friendlyName: dev\nsubject=CN = dev\nissuer=CN = Reading Issuing CA\n{}",
        f.cert
    );
    let key = format!(
        "Bag Attributes\n    localKeyID: 01 00 00 00 \nKey Attributes: <No Attributes>\n{}",
        f.key
    );
    assert_accepted(&Files { cert, key, ..f }.diagnose(AT, &[]));
}

#[test]
#[cfg_attr(
    not(have_openssl),
    ignore = "openssl is not installed here (CI installs it)"
)]
fn openssl_text_output_around_the_pem() {
    let (root, issuing) = ca();
    let leaf = issuing.leaf("dev");
    let dir = TempDir::new("text");
    dir.write("c.pem", &leaf.pem);
    let text = openssl(dir.path(), &["x509", "-in", "c.pem", "-text"]);
    assert!(text.starts_with("Certificate:"), "{text}");
    assert_accepted(
        &Files {
            cert: text,
            ..files(&root, &issuing, &leaf)
        }
        .diagnose(AT, &[]),
    );
}

#[test]
fn indented_pem() {
    let (root, issuing) = ca();
    let leaf = issuing.leaf("dev");
    let indent = |s: &str| s.lines().map(|l| format!("    {l}\n")).collect::<String>();
    assert_accepted(
        &Files {
            cert: indent(&leaf.pem),
            ..files(&root, &issuing, &leaf)
        }
        .diagnose(AT, &[]),
    );
}

#[test]
#[cfg_attr(
    not(have_openssl),
    ignore = "openssl is not installed here (CI installs it)"
)]
fn der_certificate_key_and_crl() {
    let (root, issuing) = ca();
    let leaf = issuing.leaf("dev");
    let dir = TempDir::new("der");
    let cert = dir.write("dev.cer", &leaf.der);
    let key = dir.write("dev.p8", leaf.key.serialize_der());
    pki_tests::store::set_mode(&key, 0o600);
    let chain = dir.write("chain.der", &issuing.der);
    let trust = dir.write("root.der", &root.der);
    dir.write(
        "crl.pem",
        issuing.crl(&[&leaf], "2026-02-01T00:00:00Z", "2026-04-01T00:00:00Z"),
    );
    openssl(
        dir.path(),
        &[
            "crl", "-in", "crl.pem", "-outform", "DER", "-out", "crl.der",
        ],
    );
    let crl = dir.path().join("crl.der");
    let args = |with_crl: bool| {
        let mut a: Vec<&std::path::Path> = Vec::new();
        let mut flags = vec!["diagnose", "--format", "json", "--at", AT];
        for (flag, path) in [
            ("--cert", &cert),
            ("--key", &key),
            ("--chain", &chain),
            ("--trust", &trust),
        ] {
            flags.push(flag);
            a.push(path);
        }
        let mut out: Vec<String> = flags[..5].iter().map(|s| s.to_string()).collect();
        for (flag, path) in flags[5..].iter().zip(a) {
            out.push(flag.to_string());
            out.push(path.display().to_string());
        }
        if with_crl {
            out.push("--crl".into());
            out.push(crl.display().to_string());
        }
        out
    };
    assert_accepted(&pki(args(false)));
    let run = pki(args(true));
    assert_eq!(
        run.root_cause().as_deref(),
        Some("REVOKED"),
        "the DER CRL was read: {}",
        run.stdout
    );
}

#[test]
#[cfg_attr(
    not(have_openssl),
    ignore = "openssl is not installed here (CI installs it)"
)]
fn sec1_and_pkcs1_keys() {
    let (root, issuing) = ca();
    let leaf = issuing.leaf("dev");
    let dir = TempDir::new("sec1");
    dir.write("k.pem", leaf.key_pem());
    let sec1 = openssl(dir.path(), &["ec", "-in", "k.pem"]);
    assert!(sec1.contains("BEGIN EC PRIVATE KEY"), "{sec1}");
    assert_accepted(
        &Files {
            key: sec1,
            ..files(&root, &issuing, &leaf)
        }
        .diagnose(AT, &[]),
    );

    openssl(
        dir.path(),
        &["genrsa", "-traditional", "-out", "rsa.pem", "2048"],
    );
    let pkcs1 = std::fs::read_to_string(dir.join("rsa.pem")).unwrap();
    assert!(pkcs1.contains("BEGIN RSA PRIVATE KEY"), "{pkcs1}");
    let spki = openssl(dir.path(), &["pkey", "-in", "rsa.pem", "-pubout"]);
    let cert = issuing.leaf_for_public_key("dev", &spki);
    assert_accepted(
        &Files {
            cert,
            key: pkcs1,
            chain: issuing.pem.clone(),
            trust: root.pem.clone(),
            crls: vec![],
        }
        .diagnose(AT, &[]),
    );
}

#[test]
#[cfg_attr(
    not(have_openssl),
    ignore = "openssl is not installed here (CI installs it)"
)]
fn p384_ed25519_and_rsa_4096_keys() {
    let (root, issuing) = ca();
    for alg in [&rcgen::PKCS_ECDSA_P384_SHA384, &rcgen::PKCS_ED25519] {
        let leaf = issuing.leaf_for_key("dev", rcgen::KeyPair::generate_for(alg).unwrap(), |_| {});
        let run = files(&root, &issuing, &leaf).diagnose(AT, &[]);
        assert_accepted(&run);
    }
    let dir = TempDir::new("rsa4096");
    openssl(
        dir.path(),
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:4096",
            "-out",
            "k.pem",
        ],
    );
    let spki = openssl(dir.path(), &["pkey", "-in", "k.pem", "-pubout"]);
    let run = Files {
        cert: issuing.leaf_for_public_key("dev", &spki),
        key: std::fs::read_to_string(dir.join("k.pem")).unwrap(),
        chain: issuing.pem.clone(),
        trust: root.pem.clone(),
        crls: vec![],
    }
    .diagnose(AT, &[]);
    assert_accepted(&run);
    assert_eq!(run.json()["certificate"]["key_algorithm"], "RSA 4096");
}

#[test]
fn a_chain_in_any_order_with_unrelated_certificates() {
    let (root, issuing) = ca();
    let stranger = Ca::root("Unrelated Root");
    let other = stranger.intermediate("Unrelated Issuing");
    let leaf = issuing.leaf("dev");
    let chain = format!("{}{}{}{}", other.pem, root.pem, stranger.pem, issuing.pem);
    assert_accepted(
        &Files {
            chain,
            ..files(&root, &issuing, &leaf)
        }
        .diagnose(AT, &[]),
    );
}

#[test]
fn a_foreign_folder_is_classified_by_content_not_name() {
    let (root, issuing) = ca();
    let leaf = issuing.leaf("dev");
    let dir = TempDir::new("foreign");
    dir.write("a.bin", &root.pem);
    dir.write("b.bin", &leaf.der);
    let key = dir.write("c.bin", leaf.key_pem());
    pki_tests::store::set_mode(&key, 0o600);
    dir.write("d.bin", &issuing.pem);
    dir.write("notes.txt", "not a certificate\n");
    // a stray symlink to somewhere else on the machine is not followed, and not held against it
    let elsewhere = TempDir::new("elsewhere");
    let outside = elsewhere.write("other.pem", &root.pem);
    std::os::unix::fs::symlink(&outside, dir.join("linked.pem")).unwrap();
    for n in 0..3000 {
        dir.write(&format!("junk/{n}.txt"), "x");
        if n < 2000 {
            dir.write(&format!("log-{n}.txt"), "agent started\n");
        }
    }
    let run = pki(["diagnose", dir.str(), "--at", AT, "--format", "json"]);
    assert_accepted(&run);
    assert_eq!(run.json()["layout"], "foreign");
    assert_eq!(run.json()["certificate"]["subject"], "O=Fleet Test, CN=dev");
}

#[test]
fn bad_input_gets_a_message_naming_the_file_and_never_a_panic() {
    let (root, issuing) = ca();
    let leaf = issuing.leaf("dev");
    let dir = TempDir::new("bad");
    let encrypted = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n";
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("encrypted.key", encrypted.as_bytes().to_vec()),
        (
            "bad-base64.key",
            b"-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n".to_vec(),
        ),
        ("zeros.key", vec![0u8; 300]),
        ("der-junk.key", vec![0x30, 0x82, 0xff, 0xff, 1, 2, 3]),
    ];
    for (name, content) in cases {
        let cert = dir.write("dev.pem", &leaf.pem);
        let key = dir.write(name, &content);
        let trust = dir.write("trust.pem", &root.pem);
        let chain = dir.write("chain.pem", &issuing.pem);
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
            "--trust",
            trust.to_str().unwrap(),
            "--chain",
            chain.to_str().unwrap(),
        ]);
        assert_eq!(run.code, 2, "{name}: {}", run.stdout);
        let f = run
            .finding("FILE_CORRUPT")
            .unwrap_or_else(|| panic!("{name}: {}", run.stdout));
        assert!(f["message"].as_str().unwrap().contains(name), "{name}: {f}");
        assert!(!run.stderr.contains("panicked"), "{name}: {}", run.stderr);
    }
    // a folder where a file belongs
    let store = TempDir::new("dirfile");
    store.write("store.yaml", "schema: 1\n");
    std::fs::create_dir_all(store.join("device.crt")).unwrap();
    let run = pki(["diagnose", store.str(), "--at", AT, "--format", "json"]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("FILE_CORRUPT"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_symlink_out_of_the_store_is_not_followed() {
    let (root, issuing) = ca();
    let leaf = issuing.leaf("dev");
    let outside = TempDir::new("outside");
    let target = outside.write("device.crt", &leaf.pem);
    let dir = TempDir::new("symlink");
    let store = pki_tests::Endpoint {
        device_id: "dev",
        cert: String::new(),
        key: leaf.key_pem(),
        chain: issuing.pem.clone(),
        trust: root.pem.clone(),
    }
    .write(&dir);
    std::fs::remove_file(store.join("device.crt")).unwrap();
    std::os::unix::fs::symlink(&target, store.join("device.crt")).unwrap();
    let run = pki(["diagnose", dir.str(), "--at", AT, "--format", "json"]);
    let f = run
        .finding("FILE_CORRUPT")
        .unwrap_or_else(|| panic!("{}", run.stdout));
    assert!(f["message"].as_str().unwrap().contains("symlink"), "{f}");
}

/// `store.yaml` is read like every other store file: a link to an endless device is refused
/// by name instead of being read until memory runs out (it hung diagnose, repair and audit).
#[cfg(unix)]
#[test]
fn a_manifest_linked_to_dev_zero_is_corrupt_not_endless() {
    let (root, issuing) = ca();
    let leaf = issuing.leaf("dev");
    let dir = TempDir::new("manifest-zero");
    let store = pki_tests::Endpoint {
        device_id: "dev",
        cert: leaf.pem.clone(),
        key: leaf.key_pem(),
        chain: issuing.pem.clone(),
        trust: root.pem.clone(),
    }
    .write(&dir);
    std::fs::remove_file(store.join("store.yaml")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", store.join("store.yaml")).unwrap();
    let run = pki(["diagnose", dir.str(), "--at", AT, "--format", "json"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let f = run
        .finding("FILE_CORRUPT")
        .unwrap_or_else(|| panic!("{}", run.stdout));
    let message = f["message"].as_str().unwrap();
    assert!(
        message.contains("store.yaml") && message.contains("symlink"),
        "{f}"
    );
}
