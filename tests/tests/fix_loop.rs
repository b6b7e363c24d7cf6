//! Every fix closes the loop. For each breakage the suite makes — each code diagnose can emit
//! from a store, root and issuing rotations with and without overlap, a server whose anchors
//! are stale — the commands the fix text names are run exactly as printed (real paths; the
//! test adds only `--at`, since no test reads the wall clock), then diagnose runs again with
//! the same `--trust`: accepted, and the finding gone. Where the fix is not a `pki` command
//! (the server's trust, a CA certificate, the clock), the text must say which file and what;
//! the test does that, and diagnoses again.
//!
//! Stores are enrolled by `pki` from a CA `pki ca init` made; breakages the toolkit would never
//! make are crafted with rcgen from that CA's own keys.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pki_tests::ca::{enroll, init};
use pki_tests::{pki, Ca, Leaf, Run, TempDir, AT};
use rcgen::{CertificateParams, KeyPair};
use std::path::{Path, PathBuf};

/// What the test does for a fix that names no command: checks the text, does what it says,
/// and returns the instant to judge at afterwards (a clock set right), if another.
type ByHand = Box<dyn Fn(&str) -> Option<String>>;

/// One breakage: the store, how it is judged, the code expected, and (for fixes that are not
/// commands) what the test does by hand after checking the text.
struct Case {
    label: String,
    store: PathBuf,
    trust: Option<PathBuf>,
    at: String,
    code: &'static str,
    by_hand: Option<ByHand>,
}

impl Case {
    fn new(label: &str, store: &Path, code: &'static str) -> Case {
        Case {
            label: label.to_string(),
            store: store.to_path_buf(),
            trust: None,
            at: AT.to_string(),
            code,
            by_hand: None,
        }
    }

    fn trust(mut self, f: &Path) -> Case {
        self.trust = Some(f.to_path_buf());
        self
    }

    fn at(mut self, at: &str) -> Case {
        self.at = at.to_string();
        self
    }

    fn by_hand(mut self, f: impl Fn(&str) -> Option<String> + 'static) -> Case {
        self.by_hand = Some(Box::new(f));
        self
    }

    fn diagnose(&self, at: &str) -> Run {
        let mut extra = Vec::new();
        if let Some(t) = &self.trust {
            extra.push("--trust".to_string());
            extra.push(t.display().to_string());
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        pki_tests::run::diagnose(&self.store, at, &extra)
    }

    /// Diagnose, run the fix, diagnose again.
    fn closes(&self) {
        let label = &self.label;
        let broken = self.diagnose(&self.at);
        let finding = broken
            .finding(self.code)
            .unwrap_or_else(|| panic!("{label}: no {}: {}", self.code, broken.stdout));
        if finding["severity"] == "critical" {
            assert_eq!(
                broken.root_cause().as_deref(),
                Some(self.code),
                "{label}: {}",
                broken.stdout
            );
        }
        let fix = finding["fix"].as_str().unwrap().to_string();
        let commands = commands(&fix);
        let mut at = self.at.clone();
        match (&self.by_hand, commands.is_empty()) {
            (Some(by_hand), true) => {
                if let Some(later) = by_hand(&fix) {
                    at = later;
                }
            }
            (None, false) => {
                for words in &commands {
                    run(label, words, &at);
                }
            }
            (Some(_), false) => panic!("{label}: a fix done by hand names commands: {fix}"),
            (None, true) => {
                panic!("{label}: the fix names no command and says nothing to do by hand: {fix}")
            }
        }
        let after = self.diagnose(&at);
        assert_eq!(
            after.verdict(),
            "accepted",
            "{label}: after `{fix}`:\n{}",
            after.stdout
        );
        assert!(
            after.finding(self.code).is_none(),
            "{label}: {} is still there after `{fix}`:\n{}",
            self.code,
            after.stdout
        );
    }
}

/// The commands between backticks, split as a shell would.
fn commands(fix: &str) -> Vec<Vec<String>> {
    fix.split('`')
        .skip(1)
        .step_by(2)
        .map(|c| shlex::split(c).unwrap_or_else(|| panic!("not shell words: {c}")))
        .collect()
}

fn run(label: &str, words: &[String], at: &str) {
    for word in words {
        for placeholder in ["STORE", "DIR", "ID", "TRUST", "NEW_STORE"] {
            assert_ne!(
                word, placeholder,
                "{label}: a placeholder left in {words:?}"
            );
            assert!(
                !word.starts_with(&format!("{placeholder}/")),
                "{label}: a placeholder left in {words:?}"
            );
        }
    }
    let (program, args) = words.split_first().unwrap();
    let out = match program.as_str() {
        "pki" => {
            let mut args = args.to_vec();
            args.extend(["--at".to_string(), at.to_string()]);
            pki(&args)
        }
        "chmod" => {
            let out = std::process::Command::new("chmod")
                .args(args)
                .output()
                .unwrap();
            Run {
                code: out.status.code().unwrap_or(-1),
                stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            }
        }
        other => panic!("{label}: a fix names `{other}`, which the test cannot run"),
    };
    assert_eq!(
        out.code, 0,
        "{label}: {words:?} failed:\n{}{}",
        out.stdout, out.stderr
    );
}

/// A CA (made 2026-01-01) and a store enrolled for device "dev" on 2026-02-01.
struct Fleet {
    dir: TempDir,
    ca: PathBuf,
    store: PathBuf,
}

fn fleet(label: &str) -> Fleet {
    fleet_for(label, 365)
}

fn fleet_for(label: &str, days: u32) -> Fleet {
    let dir = TempDir::new(label);
    let ca = init(&dir, "2026-01-01T00:00:00Z", &[]);
    let policy = std::fs::read_to_string(ca.join("policy.yaml"))
        .unwrap()
        .replace("lifetime_days: 365", &format!("lifetime_days: {days}"));
    let policy = dir.write("short.yaml", policy);
    let store = dir.join("store");
    let run = enroll(
        &store,
        &ca,
        "dev",
        "2026-02-01T00:00:00Z",
        &["--policy", policy.to_str().unwrap()],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    Fleet { dir, ca, store }
}

impl Fleet {
    /// A CA certificate of the CA folder with its key, to sign what pki never would: the
    /// parameters are those `pki ca init` used (CA "Fleet"), so names and key ids chain.
    fn ca_cert(&self, name: &str) -> Ca {
        let pem = std::fs::read_to_string(self.ca.join(format!("{name}.crt"))).unwrap();
        let key = std::fs::read_to_string(self.ca.join(format!("{name}.key"))).unwrap();
        let (cn, path_len) = if name.starts_with("root") {
            ("Fleet Root CA", None)
        } else {
            ("Fleet Issuing CA", Some(0))
        };
        let mut params = CertificateParams::default();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::OrganizationName, "Fleet");
        dn.push(rcgen::DnType::CommonName, cn);
        params.distinguished_name = dn;
        params.is_ca = match path_len {
            Some(n) => rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(n)),
            None => rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained),
        };
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = pki_tests::at("2025-12-31T23:00:00Z");
        params.not_after = pki_tests::at("2035-12-31T00:00:00Z");
        params.use_authority_key_identifier_extension = path_len.is_some();
        params.key_identifier_method = rcgen::KeyIdMethod::Sha256;
        let der = pki_core::read::decode::decode(Path::new(name), pem.as_bytes()).certs[0]
            .der
            .to_vec();
        Ca {
            params,
            key: KeyPair::from_pem(&key).unwrap(),
            pem,
            der,
        }
    }

    fn issuing(&self) -> Ca {
        self.ca_cert("issuing-1")
    }

    fn key(&self) -> KeyPair {
        KeyPair::from_pem(&self.read("device.key")).unwrap()
    }

    fn read(&self, file: &str) -> String {
        std::fs::read_to_string(self.store.join(file)).unwrap()
    }

    fn write(&self, file: &str, content: impl AsRef<[u8]>) {
        std::fs::write(self.store.join(file), content).unwrap();
    }

    /// A device certificate for the store's key, signed by the CA's issuing key.
    fn craft(&self, edit: impl FnOnce(&mut CertificateParams)) -> Leaf {
        self.issuing().leaf_for_key("dev", self.key(), edit)
    }

    fn ca_arg(&self) -> &str {
        self.ca.to_str().unwrap()
    }

    fn pki(&self, args: &[&str]) {
        let run = pki(args);
        assert_eq!(run.code, 0, "{args:?}: {}{}", run.stdout, run.stderr);
    }
}

#[test]
fn validity_and_clock() {
    let f = fleet_for("loop-expired", 10);
    Case::new("expired", &f.store, "CERT_EXPIRED").closes();

    let f = fleet("loop-future");
    let leaf = f.craft(|p| p.not_before = pki_tests::at("2026-06-01T00:00:00Z"));
    f.write("device.crt", &leaf.pem);
    Case::new("not yet valid", &f.store, "CERT_NOT_YET_VALID").closes();

    let f = fleet("loop-skew");
    let leaf = f.craft(|p| p.not_before = pki_tests::at("2026-03-01T00:30:00Z"));
    f.write("device.crt", &leaf.pem);
    Case::new("clock behind", &f.store, "CLOCK_SKEW_SUSPECTED")
        .by_hand(|fix| {
            assert!(fix.contains("timedatectl") && fix.contains("NTP"), "{fix}");
            Some("2026-03-01T01:00:00Z".to_string()) // the clock set right
        })
        .closes();

    let f = fleet("loop-expiring");
    Case::new("expiring", &f.store, "CERT_EXPIRING_SOON")
        .at("2026-12-01T00:00:00Z")
        .closes();
}

#[test]
fn certificate_and_key_files() {
    let f = fleet("loop-cert-missing");
    std::fs::remove_file(f.store.join("device.crt")).unwrap();
    Case::new("certificate deleted", &f.store, "CERT_MISSING").closes();

    let f = fleet("loop-key-missing");
    std::fs::remove_file(f.store.join("device.key")).unwrap();
    Case::new("key deleted", &f.store, "KEY_MISSING").closes();

    let f = fleet("loop-key-mismatch");
    std::fs::rename(f.store.join("device.key"), f.store.join("device.key.old")).unwrap();
    f.write("device.key", KeyPair::generate().unwrap().serialize_pem());
    pki_tests::store::set_mode(&f.store.join("device.key"), 0o600);
    Case::new("key replaced", &f.store, "KEY_MISMATCH").closes();

    let f = fleet("loop-key-open");
    pki_tests::store::set_mode(&f.store.join("device.key"), 0o644);
    Case::new(
        "key readable by others",
        &f.store,
        "KEY_PERMISSIONS_TOO_OPEN",
    )
    .closes();

    for (label, file, content) in [
        ("certificate truncated", "device.crt", None),
        ("trust emptied", "trust.pem", Some(String::new())),
        (
            "chain garbage",
            "chain.pem",
            Some("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_string()),
        ),
        (
            "manifest garbage",
            "store.yaml",
            Some("schema: [\n".to_string()),
        ),
    ] {
        let f = fleet(&format!("loop-{}", file.replace('.', "-")));
        let content = content.unwrap_or_else(|| {
            let pem = f.read(file);
            pem[..pem.len() / 2].to_string()
        });
        f.write(file, content);
        Case::new(label, &f.store, "FILE_CORRUPT").closes();
    }

    let f = fleet("loop-several");
    let old = f.craft(|p| {
        p.not_before = pki_tests::at("2025-12-01T00:00:00Z");
        p.not_after = pki_tests::at("2026-01-31T00:00:00Z");
    });
    let present = f.read("device.crt");
    f.write("device.crt", format!("{}{present}", old.pem));
    Case::new("two certificates", &f.store, "MULTIPLE_CANDIDATES").closes();

    let f = fleet("loop-identity");
    let other = f.dir.join("other");
    assert_eq!(enroll(&other, &f.ca, "dev-other", AT, &[]).code, 0);
    for file in ["device.crt", "device.key"] {
        std::fs::copy(other.join(file), f.store.join(file)).unwrap();
    }
    Case::new("another device's files", &f.store, "IDENTITY_MISMATCH").closes();

    let f = fleet("loop-bad-signature");
    let mut der = pki_core::read::decode::decode(Path::new("c"), f.read("device.crt").as_bytes())
        .certs[0]
        .der
        .to_vec();
    let at = der.len() - 5;
    der[at] ^= 0x55;
    f.write("device.crt", &der);
    Case::new("signature corrupted", &f.store, "BAD_SIGNATURE").closes();
}

#[test]
fn the_certificates_content() {
    let f = fleet("loop-eku");
    let leaf = f.craft(|p| p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::Any]);
    f.write("device.crt", &leaf.pem);
    Case::new("anyExtendedKeyUsage only", &f.store, "WRONG_EKU").closes();

    let f = fleet("loop-ku");
    let leaf = f.craft(|p| p.key_usages = vec![rcgen::KeyUsagePurpose::KeyEncipherment]);
    f.write("device.crt", &leaf.pem);
    Case::new("no digitalSignature", &f.store, "WRONG_KEY_USAGE").closes();

    let f = fleet("loop-sha1");
    let sha1 = pki_tests::legacy::sha1_leaf(&f.issuing(), &f.read("device.key"));
    f.write("device.crt", sha1);
    Case::new("SHA-1", &f.store, "WEAK_ALGORITHM").closes();

    let f = fleet("loop-critical-ext");
    let leaf = f.craft(|p| {
        let mut ext = rcgen::CustomExtension::from_oid_content(
            &[1, 3, 6, 1, 4, 1, 99999, 1],
            vec![0x05, 0x00],
        );
        ext.set_criticality(true);
        p.custom_extensions = vec![ext];
    });
    f.write("device.crt", &leaf.pem);
    Case::new("unknown critical extension", &f.store, "CERT_MALFORMED").closes();

    let f = fleet("loop-no-san");
    let leaf = f.craft(|p| p.subject_alt_names = vec![]);
    f.write("device.crt", &leaf.pem);
    Case::new("no SAN", &f.store, "POLICY_VIOLATION").closes();

    // a root that excludes every IP address, and a device certificate with one
    let f = fleet("loop-name-ip");
    let root = f.ca_cert("root-1");
    let mut params = root.params.clone();
    params.name_constraints = Some(rcgen::NameConstraints {
        permitted_subtrees: vec![],
        excluded_subtrees: vec![rcgen::GeneralSubtree::IpAddress(rcgen::CidrSubnet::V4(
            [0; 4], [0; 4],
        ))],
    });
    let constrained = params.self_signed(&root.key).unwrap().pem();
    for file in [
        f.ca.join("root-1.crt"),
        f.ca.join("trust.pem"),
        f.store.join("trust.pem"),
    ] {
        std::fs::write(file, &constrained).unwrap();
    }
    let leaf = f.craft(|p| {
        p.distinguished_name = pki_tests::pki::leaf_params("dev").distinguished_name;
        p.subject_alt_names
            .push(rcgen::SanType::IpAddress("10.1.2.3".parse().unwrap()))
    });
    f.write("device.crt", &leaf.pem);
    Case::new("an excluded IP", &f.store, "NAME_CONSTRAINT_VIOLATION").closes();

    // an issuing CA constraining URIs: every device certificate carries one (CA side)
    let f = fleet("loop-name-uri");
    let issuing = f.issuing();
    let root = f.ca_cert("root-1");
    let uri = b"fleet.internal";
    let mut subtree = vec![0x86, uri.len() as u8];
    subtree.extend_from_slice(uri);
    let general_subtree = [vec![0x30, subtree.len() as u8], subtree].concat();
    let permitted = [vec![0xa0, general_subtree.len() as u8], general_subtree].concat();
    let value = [vec![0x30, permitted.len() as u8], permitted].concat();
    let mut params = issuing.params.clone();
    let mut ext = rcgen::CustomExtension::from_oid_content(&[2, 5, 29, 30], value);
    ext.set_criticality(true);
    params.custom_extensions = vec![ext];
    f.write(
        "chain.pem",
        params
            .signed_by(&issuing.key, &root.issuer())
            .unwrap()
            .pem(),
    );
    let (chain, bundle) = (f.store.join("chain.pem"), f.ca.join("chain.pem"));
    Case::new("a URI subtree", &f.store, "NAME_CONSTRAINT_VIOLATION")
        .by_hand(move |fix| {
            assert!(
                fix.contains("without the URI:fleet.internal subtree"),
                "{fix}"
            );
            assert!(fix.contains(chain.to_str().unwrap()), "{fix}");
            // the CA side reissues it without the subtree: the CA's own certificate
            std::fs::copy(&bundle, &chain).unwrap();
            None
        })
        .closes();

    // a sub-CA below the issuing CA (pathLenConstraint 0): the CA side
    let f = fleet("loop-path-len");
    let issuing = f.issuing();
    let sub = issuing.intermediate("Sub CA");
    let leaf = sub.leaf_for_key("dev", f.key(), |_| {});
    f.write("device.crt", &leaf.pem);
    f.write("chain.pem", format!("{}{}", sub.pem, issuing.pem));
    let root = f.ca_cert("root-1");
    let chain = f.store.join("chain.pem");
    Case::new(
        "a CA below a pathLenConstraint 0",
        &f.store,
        "PATH_LEN_EXCEEDED",
    )
    .by_hand(move |fix| {
        assert!(
            fix.contains("must reissue 'O=Fleet, CN=Fleet Issuing CA'")
                && fix.contains("pathLenConstraint 1 or more"),
            "{fix}"
        );
        assert!(fix.contains(chain.to_str().unwrap()), "{fix}");
        let mut params = issuing.params.clone();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(1));
        let reissued = params.signed_by(&issuing.key, &root.issuer()).unwrap();
        std::fs::write(&chain, format!("{}{}", sub.pem, reissued.pem())).unwrap();
        None
    })
    .closes();
}

#[test]
fn chain_and_anchors() {
    let f = fleet("loop-chain");
    std::fs::remove_file(f.store.join("chain.pem")).unwrap();
    Case::new("chain deleted", &f.store, "CHAIN_INCOMPLETE").closes();

    let f = fleet("loop-no-anchors");
    std::fs::remove_file(f.store.join("trust.pem")).unwrap();
    Case::new("trust deleted", &f.store, "UNKNOWN_ISSUER").closes();

    let f = fleet("loop-stranger");
    f.write("trust.pem", Ca::root("Stranger Root").pem);
    Case::new("a stranger's root", &f.store, "UNKNOWN_ISSUER").closes();

    // an expired copy of the issuing CA certificate in chain.pem
    let f = fleet("loop-issuer-expired");
    let issuing = f.issuing();
    let mut params = issuing.params.clone();
    params.not_after = pki_tests::at("2026-02-15T00:00:00Z");
    let root = f.ca_cert("root-1");
    f.write(
        "chain.pem",
        params
            .signed_by(&issuing.key, &root.issuer())
            .unwrap()
            .pem(),
    );
    Case::new("an expired intermediate", &f.store, "ISSUER_EXPIRED").closes();

    // the device certificate issued by an end-entity certificate
    let f = fleet("loop-not-a-ca");
    let issuing = f.issuing();
    let fake = issuing.intermediate_with("Fake Sub CA", |p| {
        p.is_ca = rcgen::IsCa::ExplicitNoCa;
        p.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    });
    let leaf = fake.leaf_for_key("dev", f.key(), |_| {});
    f.write("device.crt", &leaf.pem);
    f.write("chain.pem", format!("{}{}", fake.pem, issuing.pem));
    Case::new("issued by an end entity", &f.store, "NOT_A_CA").closes();
}

#[test]
fn revocation() {
    let f = fleet("loop-revoked");
    let serial = pki_tests::run::diagnose(&f.store, AT, &[]).json()["certificate"]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    f.pki(&["ca", "revoke", "--ca", f.ca_arg(), &serial, "--at", AT]);
    f.pki(&["ca", "crl", "--ca", f.ca_arg(), "--at", AT]);
    std::fs::create_dir_all(f.store.join("crl")).unwrap();
    std::fs::copy(
        f.ca.join("crl/issuing-1.crl"),
        f.store.join("crl/issuing-1.crl"),
    )
    .unwrap();
    Case::new("revoked", &f.store, "REVOKED").closes();

    let f = fleet("loop-revocation-unknown");
    std::fs::create_dir_all(f.store.join("crl")).unwrap();
    let other = Ca::root("Other CA");
    f.write(
        "crl/other.crl",
        other.crl(&[], "2026-02-20T00:00:00Z", "2026-04-01T00:00:00Z"),
    );
    Case::new("a CRL of another CA only", &f.store, "REVOCATION_UNKNOWN").closes();

    let f = fleet("loop-crl-expired");
    f.pki(&[
        "ca",
        "crl",
        "--ca",
        f.ca_arg(),
        "--at",
        "2026-02-01T00:00:00Z",
    ]);
    std::fs::create_dir_all(f.store.join("crl")).unwrap();
    std::fs::copy(
        f.ca.join("crl/issuing-1.crl"),
        f.store.join("crl/fleet.crl"),
    )
    .unwrap();
    Case::new("an expired CRL", &f.store, "CRL_EXPIRED").closes();

    let f = fleet("loop-crl-garbage");
    std::fs::create_dir_all(f.store.join("crl")).unwrap();
    f.write(
        "crl/fleet.crl",
        "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n",
    );
    Case::new("a CRL that cannot be read", &f.store, "FILE_CORRUPT").closes();
}

#[test]
fn the_store_itself() {
    let f = fleet("loop-tampered");
    let crlf = f.read("device.crt").replace('\n', "\r\n");
    f.write("device.crt", crlf);
    Case::new("a hand edit", &f.store, "STORE_TAMPERED").closes();

    let f = fleet("loop-lock");
    f.write(".lock", "999999999");
    Case::new("a stale lock", &f.store, "STORE_LOCKED").closes();

    // an installer's habit: the key pasted after the certificate in device.crt
    let f = fleet("loop-key-in-cert");
    let stranger = KeyPair::generate().unwrap().serialize_pem();
    f.write("device.crt", format!("{}{stranger}", f.read("device.crt")));
    pki_tests::store::set_mode(&f.store.join("device.key"), 0o644); // and the key left open
    Case::new(
        "a key pasted into device.crt",
        &f.store,
        "MULTIPLE_CANDIDATES",
    )
    .closes();
    let after = pki_tests::run::diagnose(&f.store, AT, &[]);
    assert_eq!(after.code, 0, "{}", after.stdout);
    assert!(!f.read("device.crt").contains("PRIVATE KEY"));
    let backup = std::fs::read_dir(f.store.join("backup"))
        .unwrap()
        .map(|e| e.unwrap().path().join("device.crt"))
        .find(|p| p.exists())
        .unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777,
        0o600,
        "a backup holding a private key gets a key's mode"
    );

    let f = fleet_for("loop-pending", 10);
    let left = pki(["repair", f.store.to_str().unwrap(), "--at", AT]);
    assert_eq!(left.code, 2, "{}", left.stdout);
    Case::new("a request left pending", &f.store, "REQUEST_PENDING").closes();
}

/// `pki ca rotate` at 2026-02-10 with `overlap` days, the store enrolled before it.
fn rotated(label: &str, root: bool, overlap: &str) -> Fleet {
    let f = fleet(label);
    let mut args = vec![
        "ca",
        "rotate",
        "--ca",
        f.ca_arg(),
        "--overlap-days",
        overlap,
        "--at",
        "2026-02-10T00:00:00Z",
    ];
    if root {
        args.push("--root");
    }
    f.pki(&args);
    f
}

#[test]
fn rotations() {
    // issuing CA rotated, overlap still running: the old device is accepted as it is
    let f = rotated("loop-issuing-overlap", false, "60");
    let server = f.ca.join("trust.pem");
    assert_eq!(
        pki_tests::run::diagnose(&f.store, AT, &["--trust", server.to_str().unwrap()]).code,
        0
    );

    // issuing CA rotated, overlap over, and the store handed the new bundle: the device is stale
    let f = rotated("loop-issuing-over", false, "1");
    f.pki(&["ca", "bundle", "--ca", f.ca_arg(), "--at", AT]);
    std::fs::copy(f.ca.join("chain.pem"), f.store.join("chain.pem")).unwrap();
    Case::new("issuing rotated, device stale", &f.store, "CA_ROTATED").closes();

    // a device from the new issuing CA with the old one in chain.pem: the chain is stale
    let f = rotated("loop-chain-stale", false, "1");
    let store = f.dir.join("new-store");
    assert_eq!(
        enroll(&store, &f.ca, "dev-new", "2026-02-20T00:00:00Z", &[]).code,
        0
    );
    std::fs::copy(f.ca.join("issuing-1.crt"), store.join("chain.pem")).unwrap();
    Case::new("issuing rotated, chain stale", &store, "CA_ROTATED").closes();

    // a server pinning the old issuing CA, a device from the new one: the server is stale
    let f = rotated("loop-server-stale", false, "1");
    let store = f.dir.join("new-store");
    assert_eq!(
        enroll(&store, &f.ca, "dev-new", "2026-02-20T00:00:00Z", &[]).code,
        0
    );
    let server = f.dir.write(
        "server-anchors.pem",
        std::fs::read(f.ca.join("issuing-1.crt")).unwrap(),
    );
    let (fixed, current) = (server.clone(), f.ca.join("issuing-2.crt"));
    let chain = store.join("chain.pem");
    Case::new("server pins the old issuing CA", &store, "CA_ROTATED")
        .trust(&server)
        .by_hand(move |fix| {
            assert!(fix.starts_with("on the server: add the current"), "{fix}");
            assert!(fix.contains(fixed.to_str().unwrap()), "{fix}");
            assert!(fix.contains(chain.to_str().unwrap()), "{fix}");
            let mut anchors = std::fs::read(&fixed).unwrap();
            anchors.extend(std::fs::read(&current).unwrap());
            std::fs::write(&fixed, anchors).unwrap();
            None
        })
        .closes();

    // root rotated, overlap running: a server trusting both roots accepts the old device
    let f = rotated("loop-root-overlap", true, "60");
    let server = f.ca.join("trust.pem");
    assert_eq!(
        pki_tests::run::diagnose(&f.store, AT, &["--trust", server.to_str().unwrap()]).code,
        0
    );

    // root rotated, the server on the new root only: the device needs the new root's chain
    let f = rotated("loop-root-over", true, "1");
    let server = f.dir.write(
        "server.pem",
        std::fs::read(f.ca.join("root-2.crt")).unwrap(),
    );
    Case::new("root rotated, server moved", &f.store, "UNKNOWN_ISSUER")
        .trust(&server)
        .closes();

    // a device under the new root whose chain lacks the cross-certificate, a server on the old
    let f = rotated("loop-root-cross", true, "60");
    let store = f.dir.join("new-store");
    assert_eq!(
        enroll(&store, &f.ca, "dev-new", "2026-02-20T00:00:00Z", &[]).code,
        0
    );
    std::fs::copy(f.ca.join("issuing-2.crt"), store.join("chain.pem")).unwrap();
    let server = f.dir.write(
        "old-server.pem",
        std::fs::read(f.ca.join("root-1.crt")).unwrap(),
    );
    Case::new(
        "root rotated, server still on the old one",
        &store,
        "UNKNOWN_ISSUER",
    )
    .trust(&server)
    .closes();
}

/// A root of the CA's name re-keyed outside the CA (another `pki ca init` under the same name):
/// a server trusting only that root is CA_ROTATED, but no repair from the store's own CA can
/// help (`pki repair` refuses: nothing that CA issues reaches that root). The fix says so and
/// gives both ways out, each closing the loop: the server trusts the store's CA too, or the
/// device is enrolled by the CA whose root the server holds.
#[test]
fn a_root_re_keyed_outside_the_ca() {
    let f = fleet("loop-root-outside");
    let elsewhere = TempDir::new("loop-root-outside-ca");
    let other = init(&elsewhere, "2026-01-01T00:00:00Z", &[]);
    let server = f.dir.write(
        "server.pem",
        std::fs::read(other.join("trust.pem")).unwrap(),
    );
    let case = Case::new("root re-keyed outside the CA", &f.store, "CA_ROTATED").trust(&server);
    let broken = case.diagnose(AT);
    let fix = broken.finding("CA_ROTATED").unwrap()["fix"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!fix.contains("pki repair"), "{fix}");
    let own = f.ca.join("trust.pem");
    assert!(
        fix.contains(&format!(
            "add {} to the server's trust bundle",
            own.display()
        )),
        "{fix}"
    );
    assert!(fix.contains("THAT_CA"), "{fix}");

    // the second way: the device enrolled by the CA the server trusts (in a copy)
    let commands = commands(&fix);
    assert_eq!(commands.len(), 1, "{fix}");
    let copy = f.dir.join("copy");
    let copied = std::process::Command::new("cp")
        .args(["-a", f.store.to_str().unwrap(), copy.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(copied.success());
    let words: Vec<String> = commands[0]
        .iter()
        .map(|w| match w.as_str() {
            "THAT_CA" => other.display().to_string(),
            w if w == f.store.to_str().unwrap() => copy.display().to_string(),
            w => w.to_string(),
        })
        .collect();
    run("enrolled by the other CA", &words, AT);
    let after = pki_tests::run::diagnose(&copy, AT, &["--trust", server.to_str().unwrap()]);
    assert_eq!(after.verdict(), "accepted", "{}", after.stdout);

    // the first way: the server trusts the store's CA beside its own
    let mut anchors = std::fs::read(&server).unwrap();
    anchors.extend(std::fs::read(&own).unwrap());
    std::fs::write(&server, anchors).unwrap();
    let after = case.diagnose(AT);
    assert_eq!(after.verdict(), "accepted", "{}", after.stdout);
}

/// After an issuing CA rotation both generations' CRLs bear one name. The CA's CRLs cover
/// their own generation's certificates only (an IssuingDistributionPoint each), so a store or
/// a server may hold them all; a CRL from before the CA partitioned its CRLs covers every
/// certificate of its issuer's name, and rustls rejects a device of the other key on that
/// CRL's signature (BAD_SIGNATURE). Repair takes out such a CRL only, also after a reissue.
#[test]
fn crls_across_an_issuing_rotation() {
    // a device of the new issuing CA, the store handed the CA's whole crl/ folder: accepted
    let f = rotated("loop-crl-generations", false, "60");
    let store = f.dir.join("new-store");
    assert_eq!(
        enroll(&store, &f.ca, "dev-new", "2026-02-20T00:00:00Z", &[]).code,
        0
    );
    f.pki(&["ca", "crl", "--ca", f.ca_arg(), "--at", AT]);
    std::fs::create_dir_all(store.join("crl")).unwrap();
    for crl in ["issuing-1.crl", "issuing-2.crl"] {
        std::fs::copy(f.ca.join("crl").join(crl), store.join("crl").join(crl)).unwrap();
    }
    let d = pki_tests::run::diagnose(&store, AT, &[]);
    assert_eq!(d.verdict(), "accepted", "{}", d.stdout);
    assert!(d.codes().is_empty(), "{:?}", d.codes());

    // the same store holding the old generation's CRL from before the partition
    std::fs::write(
        store.join("crl/issuing-1.crl"),
        pki_tests::ca::unpartitioned_crl(&f.ca, "issuing-1", 1, AT, &[]),
    )
    .unwrap();
    let d = pki_tests::run::diagnose(&store, AT, &[]);
    let message = d.finding("BAD_SIGNATURE").unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains(store.join("crl/issuing-1.crl").to_str().unwrap())
            && message.contains("signed by another key")
            && message.contains("no IssuingDistributionPoint"),
        "{message}"
    );
    Case::new("the other generation's CRL", &store, "BAD_SIGNATURE").closes();
    assert!(
        store.join("crl/issuing-2.crl").exists(),
        "the issuer's own CRL stays"
    );

    // a revoked device of the old issuing CA: the new certificate comes from the new one, and
    // the store gets the new one's CRL beside the old one's
    let f = rotated("loop-revoked-rotated", false, "60");
    let serial = pki_tests::run::diagnose(&f.store, AT, &[]).json()["certificate"]["serial"]
        .as_str()
        .unwrap()
        .to_string();
    f.pki(&["ca", "revoke", "--ca", f.ca_arg(), &serial, "--at", AT]);
    f.pki(&["ca", "crl", "--ca", f.ca_arg(), "--at", AT]);
    std::fs::create_dir_all(f.store.join("crl")).unwrap();
    std::fs::copy(
        f.ca.join("crl/issuing-1.crl"),
        f.store.join("crl/issuing-1.crl"),
    )
    .unwrap();
    Case::new("revoked, CA rotated since", &f.store, "REVOKED").closes();
    assert!(
        f.store.join("crl/issuing-2.crl").exists(),
        "the new issuer's CRL"
    );
    let d = pki_tests::run::diagnose(&f.store, AT, &[]);
    assert!(d.codes().is_empty(), "covered by its CRL: {:?}", d.codes());

    // a server loading both generations' CRLs, the old one's from before the partition: the
    // fix is on the server, not a store repair
    let f = rotated("loop-crl-server", false, "60");
    let store = f.dir.join("new-store");
    assert_eq!(
        enroll(&store, &f.ca, "dev-new", "2026-02-20T00:00:00Z", &[]).code,
        0
    );
    f.pki(&["ca", "crl", "--ca", f.ca_arg(), "--at", AT]);
    let before = f.dir.write(
        "issuing-1.crl",
        pki_tests::ca::unpartitioned_crl(&f.ca, "issuing-1", 1, AT, &[]),
    );
    let (old, new) = (
        f.ca.join("crl/issuing-1.crl"),
        f.ca.join("crl/issuing-2.crl"),
    );
    let (before, old, new) = (
        before.to_str().unwrap(),
        old.to_str().unwrap(),
        new.to_str().unwrap(),
    );
    let d = pki_tests::run::diagnose(&store, AT, &["--crl", before, "--crl", new]);
    assert_eq!(
        d.root_cause().as_deref(),
        Some("BAD_SIGNATURE"),
        "{}",
        d.stdout
    );
    let fix = d.finding("BAD_SIGNATURE").unwrap()["fix"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        commands(&fix).is_empty(),
        "no store command can help: {fix}"
    );
    assert!(
        fix.starts_with(&format!("the server that loads {before}"))
            && fix.contains("the CA's current CRLs"),
        "{fix}"
    );
    // doing what it says: the CA's current CRLs, both generations'
    let after = pki_tests::run::diagnose(&store, AT, &["--crl", old, "--crl", new]);
    assert_eq!(after.verdict(), "accepted", "{}", after.stdout);
    assert!(after.codes().is_empty(), "{:?}", after.codes());
}
