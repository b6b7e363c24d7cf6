//! Explanations as exact as the verdict: which side of a re-keyed CA is stale (the device, the
//! store's chain, the store's or the server's anchors), the name and the CA of a name
//! constraint, the CA of an exceeded pathLenConstraint, key purposes by name, an issuing CA not
//! yet valid, a self-issued certificate that does not verify, and why one of several
//! certificates was chosen. Each situation is built here with rcgen.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pki_tests::{Ca, Endpoint, Files, Leaf, Run, TempDir, AT};
use rcgen::{
    BasicConstraints, CustomExtension, ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, KeyPair,
    NameConstraints, SanType,
};
use std::path::Path;

fn texts(run: &Run, code: &str) -> (String, String) {
    let f = run
        .finding(code)
        .unwrap_or_else(|| panic!("no {code}: {}", run.stdout));
    (
        f["message"].as_str().unwrap().to_string(),
        f["fix"].as_str().unwrap().to_string(),
    )
}

fn store_of(dir: &TempDir, leaf: &Leaf, chain: &str, trust: &str) -> std::path::PathBuf {
    Endpoint {
        device_id: "dev",
        cert: leaf.pem.clone(),
        key: leaf.key_pem(),
        chain: chain.to_string(),
        trust: trust.to_string(),
    }
    .write(dir)
}

fn diagnose(store: &Path, extra: &[&str]) -> Run {
    pki_tests::run::diagnose(store, AT, extra)
}

/// A leaf issued on 2026-02-15 (after every CA below was made).
fn recent(ca: &Ca, id: &str) -> Leaf {
    ca.leaf_with(id, |p| p.not_before = pki_tests::at("2026-02-15T00:00:00Z"))
}

#[test]
fn a_device_from_the_rekeyed_issuing_ca_and_a_server_pinning_the_old_one_is_the_servers_fault() {
    let root = Ca::root("Root");
    let old = root.intermediate("Issuing");
    let new = old.rekeyed_by(Some(&root));
    let leaf = recent(&new, "dev");
    let dir = TempDir::new("stale-server");
    let store = store_of(&dir, &leaf, &new.pem, &root.pem);
    let server = TempDir::new("stale-server-trust");
    let f = server.write("server-anchors.pem", &old.pem);
    let run = diagnose(&store, &["--trust", f.to_str().unwrap()]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("CA_ROTATED"),
        "{}",
        run.stdout
    );
    let (message, fix) = texts(&run, "CA_ROTATED");
    assert!(message.contains("server's trust"), "{message}");
    assert!(message.contains("rejected again"), "{message}");
    assert!(message.contains(f.to_str().unwrap()), "{message}");
    // the fix is on the server: which certificate, from which file, into which file
    assert!(
        fix.starts_with("on the server: add the current 'O=Fleet Test, CN=Issuing'"),
        "{fix}"
    );
    assert!(fix.contains(f.to_str().unwrap()), "{fix}");
    let chain = store.join("chain.pem");
    assert!(fix.contains(chain.to_str().unwrap()), "{fix}");
    assert!(
        !fix.contains("pki renew") && !fix.contains("pki repair"),
        "{fix}"
    );
    // doing what it says closes the loop
    std::fs::write(&f, format!("{}{}", old.pem, new.pem)).unwrap();
    let again = diagnose(&store, &["--trust", f.to_str().unwrap()]);
    assert_eq!(again.verdict(), "accepted", "{}", again.stdout);
}

#[test]
fn a_root_rekeyed_under_the_same_name_and_a_server_holding_the_old_root_is_the_servers_fault() {
    let old_root = Ca::root("Root");
    let new_root = old_root.rekeyed_by(None);
    let issuing = new_root.intermediate("Issuing");
    let leaf = recent(&issuing, "dev");
    let dir = TempDir::new("stale-server-root");
    let store = store_of(&dir, &leaf, &issuing.pem, &new_root.pem);
    assert_eq!(diagnose(&store, &[]).verdict(), "accepted");
    let server = TempDir::new("stale-server-root-trust");
    let f = server.write("anchors.pem", &old_root.pem);
    let run = diagnose(&store, &["--trust", f.to_str().unwrap()]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("CA_ROTATED"),
        "{}",
        run.stdout
    );
    let (message, fix) = texts(&run, "CA_ROTATED");
    assert!(message.contains("server's trust"), "{message}");
    // the newer root is in the store's own trust.pem: the fix names it
    let own = store.join("trust.pem");
    assert!(fix.contains(own.to_str().unwrap()), "{fix}");
    assert!(fix.contains(f.to_str().unwrap()), "{fix}");
    std::fs::write(&f, format!("{}{}", old_root.pem, new_root.pem)).unwrap();
    assert_eq!(
        diagnose(&store, &["--trust", f.to_str().unwrap()]).verdict(),
        "accepted"
    );
}

#[test]
fn a_device_from_the_current_issuing_ca_with_the_old_one_in_chain_pem_is_a_stale_chain() {
    let root = Ca::root("Root");
    let old = root.intermediate("Issuing");
    let new = old.rekeyed_by(Some(&root));
    let leaf = recent(&new, "dev");
    let dir = TempDir::new("stale-chain");
    let store = store_of(&dir, &leaf, &old.pem, &root.pem);
    let run = diagnose(&store, &[]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("CA_ROTATED"),
        "{}",
        run.stdout
    );
    let (message, fix) = texts(&run, "CA_ROTATED");
    assert!(
        message.contains("the chain is stale, not the certificate"),
        "{message}"
    );
    assert!(fix.contains("rebuild the chain"), "{fix}");
    assert!(
        fix.contains(&format!("`pki repair {} --ca DIR`", store.display())),
        "the store's real path (no CA folder is known for this store): {fix}"
    );
    assert!(!fix.contains("renew"), "{fix}");
}

#[test]
fn a_device_from_the_old_issuing_ca_after_the_server_moved_on_needs_a_new_certificate() {
    let root = Ca::root("Root");
    let old = root.intermediate("Issuing");
    let new = old.rekeyed_by(Some(&root));
    let leaf = old.leaf("dev");
    let dir = TempDir::new("stale-device");
    let store = store_of(&dir, &leaf, &new.pem, &root.pem);
    let run = diagnose(&store, &[]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("CA_ROTATED"),
        "{}",
        run.stdout
    );
    let (message, fix) = texts(&run, "CA_ROTATED");
    assert!(
        message.contains("certificate is from the old one"),
        "{message}"
    );
    assert!(fix.contains("a new certificate"), "{fix}");
}

#[test]
fn a_server_trusting_a_root_rekeyed_under_the_same_name_is_ca_rotated_not_unknown_issuer() {
    let old_root = Ca::root("Root");
    let issuing = old_root.intermediate("Issuing");
    let new_root = old_root.rekeyed_by(None);
    let leaf = issuing.leaf("dev");
    let server = TempDir::new("rekeyed-root-trust");
    let f = server.write("anchors.pem", &new_root.pem);

    // a managed store: its own trust.pem holds the old root
    let dir = TempDir::new("rekeyed-root");
    let store = store_of(&dir, &leaf, &issuing.pem, &old_root.pem);
    let run = diagnose(&store, &["--trust", f.to_str().unwrap()]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("CA_ROTATED"),
        "{}",
        run.stdout
    );
    let (message, fix) = texts(&run, "CA_ROTATED");
    assert!(message.contains("re-keyed"), "{message}");
    assert!(
        fix.contains(&format!(
            "`pki repair {} --ca DIR --trust {}`",
            store.display(),
            f.display()
        )),
        "the repair judges against the same --trust: {fix}"
    );

    // a foreign folder: the old root is one of its files, as found as any other
    let folder = TempDir::new("rekeyed-root-foreign");
    folder.write("cert.pem", &leaf.pem);
    folder.write("key.pem", leaf.key_pem());
    pki_tests::store::set_mode(&folder.join("key.pem"), 0o600);
    folder.write("ca.pem", &issuing.pem);
    folder.write("root.pem", &old_root.pem);
    let run = diagnose(folder.path(), &["--trust", f.to_str().unwrap()]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("CA_ROTATED"),
        "{}",
        run.stdout
    );
    assert!(run.finding("UNKNOWN_ISSUER").is_none(), "{}", run.stdout);
}

#[test]
fn a_root_excluding_all_ip_addresses_names_the_ip_and_the_root() {
    let root = Ca::root_with("No-IP Root", |p| {
        p.name_constraints = Some(NameConstraints {
            permitted_subtrees: vec![],
            excluded_subtrees: vec![GeneralSubtree::IpAddress(rcgen::CidrSubnet::V4(
                [0; 4], [0; 4],
            ))],
        })
    });
    let issuing = root.intermediate("Issuing");
    let leaf = issuing.leaf_with("dev", |p| {
        p.subject_alt_names
            .push(SanType::IpAddress("10.1.2.3".parse().unwrap()))
    });
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
    let (message, fix) = texts(&run, "NAME_CONSTRAINT_VIOLATION");
    assert!(
        message.starts_with("IP:10.1.2.3 in the device certificate"),
        "{message}"
    );
    assert!(
        message.contains("excluded subtree IP:0.0.0.0/0"),
        "{message}"
    );
    assert!(message.contains("CN=No-IP Root"), "{message}");
    assert!(
        message.contains(
            "its other names (DNS:dev.devices.example, URI:urn:device:dev) are not the problem"
        ),
        "{message}"
    );
    assert!(fix.contains("without IP:10.1.2.3"), "{fix}");
}

#[test]
fn directory_name_and_uri_subtrees_are_the_cas_fault() {
    let root = Ca::root("Root");
    // a directoryName subtree: webpki rejects every certificate below the CA
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::OrganizationName, "Fleet Test");
    let by_dn = root.intermediate_with("DN-Constrained CA", |p| {
        p.name_constraints = Some(NameConstraints {
            permitted_subtrees: vec![GeneralSubtree::DirectoryName(dn)],
            excluded_subtrees: vec![],
        })
    });
    let leaf = by_dn.leaf("dev");
    let run = Files {
        cert: leaf.pem.clone(),
        key: leaf.key_pem(),
        chain: by_dn.pem.clone(),
        trust: root.pem.clone(),
        crls: vec![],
    }
    .diagnose(AT, &[]);
    let (message, fix) = texts(&run, "NAME_CONSTRAINT_VIOLATION");
    assert!(message.contains("CN=DN-Constrained CA"), "{message}");
    assert!(message.contains("DirName:O=Fleet Test"), "{message}");
    assert!(message.contains("webpki does not evaluate"), "{message}");
    assert!(message.contains("every certificate below it"), "{message}");
    assert!(
        fix.starts_with("the CA side must reissue 'O=Fleet Test, CN=DN-Constrained CA' without the DirName:O=Fleet Test subtree"),
        "{fix}"
    );
    assert!(fix.contains("nothing on the device can help"), "{fix}");

    // a URI subtree (rcgen has no URI subtree: the extension is written by hand): every
    // certificate with a URI SAN is rejected, whatever it says
    let uri = b"fleet.internal";
    let mut subtree = vec![0x86, uri.len() as u8];
    subtree.extend_from_slice(uri);
    let general_subtree = [vec![0x30, subtree.len() as u8], subtree].concat();
    let permitted = [vec![0xa0, general_subtree.len() as u8], general_subtree].concat();
    let value = [vec![0x30, permitted.len() as u8], permitted].concat();
    let by_uri = root.intermediate_with("URI-Constrained CA", |p| {
        let mut ext = CustomExtension::from_oid_content(&[2, 5, 29, 30], value);
        ext.set_criticality(true);
        p.custom_extensions = vec![ext];
    });
    let leaf = by_uri.leaf_with("dev", |p| {
        p.subject_alt_names = vec![
            SanType::DnsName("dev.devices.example".try_into().unwrap()),
            SanType::URI("https://fleet.internal/devices/dev".try_into().unwrap()),
        ]
    });
    let run = Files {
        cert: leaf.pem.clone(),
        key: leaf.key_pem(),
        chain: by_uri.pem.clone(),
        trust: root.pem.clone(),
        crls: vec![],
    }
    .diagnose(AT, &[]);
    let (message, fix) = texts(&run, "NAME_CONSTRAINT_VIOLATION");
    assert!(message.contains("CN=URI-Constrained CA"), "{message}");
    assert!(message.contains("URI:fleet.internal"), "{message}");
    assert!(
        message.contains("URI:https://fleet.internal/devices/dev"),
        "{message}"
    );
    assert!(
        message.contains("the device policy gives every device one"),
        "{message}"
    );
    assert!(
        fix.contains("without the URI:fleet.internal subtree"),
        "{fix}"
    );
}

#[test]
fn path_len_exceeded_names_the_policy_ca() {
    let root = Ca::root("Root");
    let policy = root.intermediate("Policy CA"); // pathLenConstraint 0
    let issuing = policy.intermediate("Issuing CA");
    let leaf = issuing.leaf("dev");
    let files = Files {
        cert: leaf.pem.clone(),
        key: leaf.key_pem(),
        chain: format!("{}{}", issuing.pem, policy.pem),
        trust: root.pem.clone(),
        crls: vec![],
    };
    let run = files.diagnose(AT, &[]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("PATH_LEN_EXCEEDED"),
        "{}",
        run.stdout
    );
    let (message, fix) = texts(&run, "PATH_LEN_EXCEEDED");
    assert!(
        message.starts_with("'O=Fleet Test, CN=Policy CA'"),
        "{message}"
    );
    assert!(message.contains("pathLenConstraint 0"), "{message}");
    assert!(
        message.contains("'O=Fleet Test, CN=Issuing CA'"),
        "{message}"
    );
    assert!(
        fix.starts_with("the CA side must reissue 'O=Fleet Test, CN=Policy CA' with pathLenConstraint 1 or more"),
        "{fix}"
    );
    // doing it (the same key, pathLenConstraint 1) closes the loop
    let mut params = policy.params.clone();
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
    let reissued = params.signed_by(&policy.key, &root.issuer()).unwrap();
    let fixed = Files {
        chain: format!("{}{}", issuing.pem, reissued.pem()),
        ..files
    }
    .diagnose(AT, &[]);
    assert_eq!(fixed.verdict(), "accepted", "{}", fixed.stdout);
}

#[test]
fn any_extended_key_usage_alone_is_wrong_eku_with_purposes_by_name() {
    let root = Ca::root("Root");
    let issuing = root.intermediate("Issuing");
    let leaf = issuing.leaf_with("dev", |p| {
        p.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::Any,
            ExtendedKeyUsagePurpose::Other(vec![1, 3, 6, 1, 4, 1, 99999, 7]),
        ]
    });
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
        Some("WRONG_EKU"),
        "{}",
        run.stdout
    );
    let (message, _) = texts(&run, "WRONG_EKU");
    assert!(message.contains("anyExtendedKeyUsage"), "{message}");
    assert!(message.contains("1.3.6.1.4.1.99999.7"), "{message}");
    assert!(
        !message.contains("396575"),
        "rustls' misread of the arc: {message}"
    );
    assert!(
        message.contains("clientAuth (1.3.6.1.5.5.7.3.2)"),
        "{message}"
    );
    assert!(!message.contains("2, 5, 29, 37, 0"), "{message}");
    assert!(!message.contains("1, 3, 6"), "{message}");
    assert!(
        !run.stdout
            .contains("its extendedKeyUsage allows anyExtendedKeyUsage"),
        "no warning that rustls tolerates what it rejects: {}",
        run.stdout
    );
}

#[test]
fn an_issuing_ca_not_yet_valid_by_minutes_is_not_yet_valid_and_the_clock_is_suspected() {
    let root = Ca::root("Root");
    let issuing = root.intermediate_with("Early Issuing CA", |p| {
        p.not_before = pki_tests::at("2026-03-01T00:20:00Z")
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
    let (message, _) = texts(&run, "ISSUER_EXPIRED");
    assert!(message.contains("is not yet valid"), "{message}");
    assert!(message.contains("20 minutes"), "{message}");
    assert!(!message.contains("expired"), "{message}");
    assert!(
        run.finding("CLOCK_SKEW_SUSPECTED").is_some(),
        "{}",
        run.stdout
    );
}

#[test]
fn a_self_issued_certificate_that_the_anchor_of_its_name_does_not_verify_is_bad_signature() {
    let root = Ca::root("Root");
    // a device certificate under the root's own name, signed by another key
    let key = KeyPair::generate().unwrap();
    let mut params = pki_tests::pki::leaf_params("dev");
    params.distinguished_name = root.params.distinguished_name.clone();
    let cert = params.self_signed(&key).unwrap();
    let run = Files {
        cert: cert.pem(),
        key: key.serialize_pem(),
        chain: String::new(),
        trust: root.pem.clone(),
        crls: vec![],
    }
    .diagnose(AT, &[]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("BAD_SIGNATURE"),
        "{}",
        run.stdout
    );
    assert!(run.finding("UNKNOWN_ISSUER").is_none(), "{}", run.stdout);
    let (message, _) = texts(&run, "BAD_SIGNATURE");
    assert!(message.contains("trust.pem"), "names the anchor: {message}");
}

#[test]
fn of_two_certificates_for_the_key_the_valid_one_is_chosen_because_it_is_valid() {
    let root = Ca::root("Root");
    let issuing = root.intermediate("Issuing");
    let key = KeyPair::generate().unwrap();
    let pem = key.serialize_pem();
    let expired = issuing.leaf_for_key("dev", KeyPair::from_pem(&pem).unwrap(), |p| {
        p.not_before = pki_tests::at("2025-01-01T00:00:00Z");
        p.not_after = pki_tests::at("2026-02-01T00:00:00Z");
    });
    let valid = issuing.leaf_for_key("dev", key, |_| {});
    let dir = TempDir::new("two-for-one-key");
    let store = store_of(&dir, &valid, &issuing.pem, &root.pem);
    std::fs::write(
        store.join("device.crt"),
        format!("{}{}", expired.pem, valid.pem),
    )
    .unwrap();
    let run = diagnose(&store, &[]);
    assert_eq!(run.verdict(), "accepted", "{}", run.stdout);
    let (message, _) = texts(&run, "MULTIPLE_CANDIDATES");
    assert!(message.contains("device.crt #2"), "{message}");
    assert!(
        message.contains("it is valid at 2026-03-01T00:00:00Z and matches the private key"),
        "{message}"
    );
    assert!(
        message.contains("expired at 2026-02-01T00:00:00Z"),
        "{message}"
    );
}

#[test]
fn a_store_whose_own_trust_pem_holds_only_the_old_root_has_stale_anchors() {
    let old_root = Ca::root("Root");
    let new_root = old_root.rekeyed_by(None);
    let issuing = new_root.intermediate("Issuing");
    let leaf = recent(&issuing, "dev");
    let dir = TempDir::new("stale-own-trust");
    let store = store_of(&dir, &leaf, &issuing.pem, &old_root.pem);
    let run = diagnose(&store, &[]);
    assert_eq!(
        run.root_cause().as_deref(),
        Some("CA_ROTATED"),
        "{}",
        run.stdout
    );
    let (message, fix) = texts(&run, "CA_ROTATED");
    assert!(
        message.contains("the endpoint's trust anchors are stale, not the certificate"),
        "{message}"
    );
    assert!(
        message.contains(store.join("trust.pem").to_str().unwrap()),
        "{message}"
    );
    assert!(
        fix.contains(&format!("`pki repair {} --ca DIR`", store.display())),
        "{fix}"
    );
}

#[test]
fn a_trust_anchor_not_yet_valid_points_at_the_clock_and_a_servers_at_the_server() {
    // made 10 minutes after the instant judged: rustls accepts, OpenSSL does not
    let root = Ca::root_with("Root", |p| {
        p.not_before = pki_tests::at("2026-03-01T00:10:00Z")
    });
    let issuing = root.intermediate("Issuing");
    let leaf = issuing.leaf("dev");
    let dir = TempDir::new("anchor-future");
    let store = store_of(&dir, &leaf, &issuing.pem, &root.pem);
    let run = diagnose(&store, &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let (message, fix) = texts(&run, "ISSUER_EXPIRED");
    assert!(message.contains("is not yet valid"), "{message}");
    assert!(fix.starts_with("check the endpoint's clock"), "{fix}");

    // the same root as the server's anchors: the server's to fix, no store command
    let server = dir.write("server.pem", &root.pem);
    let run = diagnose(&store, &["--trust", server.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    let (_, fix) = texts(&run, "ISSUER_EXPIRED");
    assert!(fix.starts_with("on the server: check its clock"), "{fix}");
    assert!(fix.contains(server.to_str().unwrap()), "{fix}");
    assert!(!fix.contains('`'), "nothing on the endpoint to run: {fix}");
}
