//! An issuing CA rotated under the same name: each generation's CRL carries an
//! IssuingDistributionPoint naming its own URI and every certificate it issues names that URI
//! in its cRLDistributionPoints, so a server can load every active generation's CRL at once.
//! A plain rustls server (tests/src/tls.rs), `pki diagnose` with both CRLs in `crl/`, and
//! `openssl verify -crl_check` accept a device of each generation and reject a revoked one of
//! each, in either order. Certificates issued before the partition (no distribution point)
//! are covered by every CRL of their issuer's name: what that means for each verifier, and
//! what repair does about it, is tested at the end.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pki_core::judge::client_verifier::{ExplainingVerifier, Rejection};
use pki_core::read::decode::decode;
use pki_core::Policy;
use pki_tests::ca::{enroll, init, unpartitioned_crl, without_distribution_point};
use pki_tests::tls::{mutual_tls_crls, mutual_tls_with};
use pki_tests::{pki, Run, TempDir};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const MADE: &str = "2026-01-01T00:00:00Z";
const ENROLLED: &str = "2026-01-02T00:00:00Z";
const ROTATED: &str = "2026-01-10T00:00:00Z";
const ENROLLED_2: &str = "2026-01-11T00:00:00Z";
const PUBLISHED: &str = "2026-01-12T00:00:00Z";
/// The instant everything is judged at: inside the overlap, the CRLs fresh (7 days).
const AT: &str = "2026-01-13T00:00:00Z";
const URL: &str = "https://pki.fleet.test:8443/crl";

/// A CA during an issuing rotation's overlap: a good and a revoked device of each generation
/// and both generations' CRLs in `ca/crl/`.
struct Overlap {
    _dir: TempDir,
    ca: PathBuf,
    /// generation 1, generation 2
    good: [PathBuf; 2],
    revoked: [PathBuf; 2],
}

impl Overlap {
    fn new(name: &str) -> Overlap {
        let dir = TempDir::new(name);
        let ca = init(&dir, MADE, &["--crl-url", URL]);
        let store = |id: &str| dir.join(id);
        for (id, at) in [("g1-good", ENROLLED), ("g1-revoked", ENROLLED)] {
            assert_eq!(enroll(&store(id), &ca, id, at, &[]).code, 0);
        }
        ok(pki(["ca", "rotate", "--ca", s(&ca), "--at", ROTATED]));
        for id in ["g2-good", "g2-revoked"] {
            assert_eq!(enroll(&store(id), &ca, id, ENROLLED_2, &[]).code, 0);
        }
        for id in ["g1-revoked", "g2-revoked"] {
            let serial = serial(&store(id));
            ok(pki([
                "ca",
                "revoke",
                "--ca",
                s(&ca),
                &serial,
                "--at",
                PUBLISHED,
            ]));
        }
        ok(pki(["ca", "crl", "--ca", s(&ca), "--at", PUBLISHED]));
        Overlap {
            good: [store("g1-good"), store("g2-good")],
            revoked: [store("g1-revoked"), store("g2-revoked")],
            ca,
            _dir: dir,
        }
    }

    fn crl(&self, generation: usize) -> PathBuf {
        self.ca.join(format!("crl/issuing-{generation}.crl"))
    }

    fn trust(&self) -> String {
        std::fs::read_to_string(self.ca.join("trust.pem")).unwrap()
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(run: Run) -> Run {
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    run
}

fn serial(store: &Path) -> String {
    inspect(&store.join("device.crt"))["serial"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The first object of `file` as `pki inspect --format json` reports it.
fn inspect(file: &Path) -> serde_json::Value {
    ok(pki(["inspect", s(file), "--format", "json"])).json()[0]["objects"][0].clone()
}

fn read(files: &[PathBuf]) -> Vec<Vec<u8>> {
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

/// A verdict as the tests compare them: accepted, or why not.
fn verdict(result: Result<Vec<u8>, String>) -> String {
    match result {
        Ok(_) => "accepted".into(),
        Err(e) => e,
    }
}

/// `openssl verify -crl_check` of the store's certificate with `crls` at `at`; `None` when
/// openssl is not installed here (CI must have it).
fn openssl_verify(store: &Path, ca: &Path, crls: &[PathBuf], at: &str) -> Option<String> {
    let at = pki_tests::at(at).unix_timestamp().to_string();
    let mut args = vec![
        "verify".to_string(),
        "-attime".into(),
        at,
        "-purpose".into(),
        "sslclient".into(),
        "-crl_check".into(),
        "-CAfile".into(),
        s(&ca.join("trust.pem")).into(),
        "-untrusted".into(),
        s(&ca.join("chain.pem")).into(),
    ];
    for crl in crls {
        args.extend(["-CRLfile".to_string(), s(crl).to_string()]);
    }
    args.push(s(&store.join("device.crt")).into());
    match std::process::Command::new("openssl").args(&args).output() {
        Ok(out) => Some(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )),
        Err(_) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must install openssl (.ci/run does)"
            );
            eprintln!("SKIPPED: openssl is not installed here");
            None
        }
    }
}

#[test]
fn each_generation_names_its_own_crl() {
    let o = Overlap::new("crl-partition-names");
    for (generation, store) in [(1, &o.good[0]), (2, &o.good[1])] {
        let uri = format!("{URL}/issuing-{generation}");
        assert_eq!(
            inspect(&store.join("device.crt"))["crl_distribution_points"],
            serde_json::json!([uri]),
            "{store:?}"
        );
        let crl = inspect(&o.crl(generation));
        assert_eq!(crl["distribution_point"], serde_json::json!([uri]));
        assert_eq!(
            crl["authority_key_id"],
            inspect(&o.ca.join(format!("issuing-{generation}.crt")))["subject_key_id"],
            "signed by its own generation's key"
        );
    }
    let yaml = std::fs::read_to_string(o.ca.join("ca.yaml")).unwrap();
    assert!(
        yaml.contains(&format!("crl_url: {URL}/issuing-1"))
            && yaml.contains(&format!("crl_url: {URL}/issuing-2")),
        "ca.yaml records each generation's URL:\n{yaml}"
    );
}

/// The heart of it: a plain rustls server holding both CRLs, in either order.
#[test]
fn a_rustls_server_loading_both_generations_crls_judges_every_device() {
    let o = Overlap::new("crl-partition-rustls");
    let trust = o.trust();
    for order in [[1, 2], [2, 1]] {
        let crls = read(&order.map(|g| o.crl(g)));
        for store in &o.good {
            assert_eq!(
                verdict(mutual_tls_crls(store, &trust, &crls, AT)),
                "accepted",
                "{store:?} with CRLs {order:?}"
            );
        }
        for store in &o.revoked {
            let refused = verdict(mutual_tls_crls(store, &trust, &crls, AT));
            assert!(
                refused.contains("Revoked"),
                "{store:?} with CRLs {order:?}: {refused}"
            );
        }
    }

    // the control: generation 1's CRL as the CA made it before the partition (no IDP) is
    // checked against generation 2's devices too, and fails on its signature
    let dir = TempDir::new("crl-partition-control");
    let old = dir.write(
        "issuing-1.crl",
        unpartitioned_crl(&o.ca, "issuing-1", 1, PUBLISHED, &[&serial(&o.revoked[0])]),
    );
    let crls = read(&[old, o.crl(2)]);
    let refused = verdict(mutual_tls_crls(&o.good[1], &trust, &crls, AT));
    assert!(refused.contains("BadSignature"), "{refused}");
    assert_eq!(
        verdict(mutual_tls_crls(&o.good[0], &trust, &crls, AT)),
        "accepted"
    );
}

#[test]
fn diagnose_with_both_crls_in_the_store_agrees() {
    let o = Overlap::new("crl-partition-diagnose");
    let all = [o.good.clone(), o.revoked.clone()].concat();
    for store in &all {
        std::fs::create_dir_all(store.join("crl")).unwrap();
        for g in [1, 2] {
            std::fs::copy(o.crl(g), store.join(format!("crl/issuing-{g}.crl"))).unwrap();
        }
    }
    for store in &o.good {
        let d = pki_tests::run::diagnose(store, AT, &[]);
        assert_eq!(d.verdict(), "accepted", "{}", d.stdout);
        assert!(d.codes().is_empty(), "{store:?}: {:?}", d.codes());
        // nothing for repair to do: both generations' CRLs stay
        let r = ok(pki([
            "repair",
            s(store),
            "--ca",
            s(&o.ca),
            "--at",
            AT,
            "--format",
            "json",
        ]));
        assert_eq!(r.json()["plan"], serde_json::json!([]), "{}", r.stdout);
        assert!(
            store.join("crl/issuing-1.crl").exists() && store.join("crl/issuing-2.crl").exists()
        );
    }
    for (generation, store) in [(1, &o.revoked[0]), (2, &o.revoked[1])] {
        let d = pki_tests::run::diagnose(store, AT, &[]);
        assert_eq!(d.root_cause().as_deref(), Some("REVOKED"), "{}", d.stdout);
        let message = d.finding("REVOKED").unwrap()["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(
            message.contains(&format!("issuing-{generation}.crl")),
            "{message}"
        );
    }
    // loose files, the other order: the same verdicts
    let crl = |g: usize| o.crl(g).to_str().unwrap().to_string();
    let (c1, c2) = (crl(1), crl(2));
    let reversed = ["--crl", c2.as_str(), "--crl", c1.as_str()];
    for store in &o.good {
        let d = pki_tests::run::diagnose(store, AT, &reversed);
        assert_eq!(d.verdict(), "accepted", "{}", d.stdout);
    }
    for store in &o.revoked {
        let d = pki_tests::run::diagnose(store, AT, &reversed);
        assert_eq!(d.root_cause().as_deref(), Some("REVOKED"), "{}", d.stdout);
    }
    // a device of generation 2 given only generation 1's CRL: rustls does not check it
    // against that CRL, and diagnose says its revocation is unknown
    let d = pki_tests::run::diagnose(&o.revoked[1], AT, &["--crl", c1.as_str()]);
    assert_eq!(d.verdict(), "accepted", "{}", d.stdout);
    let unknown = d.finding("REVOCATION_UNKNOWN").expect("REVOCATION_UNKNOWN")["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        unknown.contains("issuing-1.crl") && unknown.contains(&format!("{URL}/issuing-2")),
        "{unknown}"
    );
}

#[test]
fn openssl_verify_crl_check_agrees() {
    let o = Overlap::new("crl-partition-openssl");
    for crls in [[o.crl(1), o.crl(2)], [o.crl(2), o.crl(1)]] {
        for store in &o.good {
            let Some(out) = openssl_verify(store, &o.ca, &crls, AT) else {
                return;
            };
            assert!(out.contains(": OK"), "{store:?}: {out}");
        }
        for store in &o.revoked {
            let out = openssl_verify(store, &o.ca, &crls, AT).unwrap();
            assert!(out.contains("certificate revoked"), "{store:?}: {out}");
        }
    }
}

/// A CA made before the partition (no `crl_url` in ca.yaml), with devices whose certificates
/// name no distribution point, then rotated.
#[test]
fn certificates_from_before_the_partition() {
    let dir = TempDir::new("crl-partition-legacy");
    let ca = init(&dir, MADE, &[]);
    let yaml = std::fs::read_to_string(ca.join("ca.yaml")).unwrap();
    let old_yaml: String = yaml
        .lines()
        .filter(|l| !l.trim_start().starts_with("crl_url:"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(yaml, old_yaml);
    std::fs::write(ca.join("ca.yaml"), old_yaml).unwrap();
    let (old, old_revoked, since) = (dir.join("old"), dir.join("old-revoked"), dir.join("since"));
    for (store, id) in [
        (&old, "old"),
        (&old_revoked, "old-revoked"),
        (&since, "since"),
    ] {
        assert_eq!(enroll(store, &ca, id, ENROLLED, &[]).code, 0);
    }
    for store in [&old, &old_revoked] {
        without_distribution_point(store, &ca, "issuing-1", ENROLLED);
        assert_eq!(
            inspect(&store.join("device.crt"))["crl_distribution_points"],
            serde_json::Value::Null
        );
    }
    // certificates issued since name the default URL of their generation
    assert_eq!(
        inspect(&since.join("device.crt"))["crl_distribution_points"],
        serde_json::json!([format!("{}/issuing-1", pki_core::ca::DEFAULT_CRL_BASE)])
    );
    ok(pki([
        "ca",
        "revoke",
        "--ca",
        s(&ca),
        &serial(&old_revoked),
        "--at",
        ENROLLED,
    ]));

    // one issuing key: its CRL stays as it was (no IDP), which OpenSSL applies to every
    // certificate of that CA; with an IDP it would refuse the old ones ("different CRL scope")
    ok(pki(["ca", "crl", "--ca", s(&ca), "--at", ENROLLED]));
    let single = ca.join("crl/issuing-1.crl");
    assert_eq!(
        inspect(&single)["distribution_point"],
        serde_json::Value::Null
    );
    let trust = std::fs::read_to_string(ca.join("trust.pem")).unwrap();
    for store in [&old, &since] {
        let crls = read(std::slice::from_ref(&single));
        assert_eq!(
            verdict(mutual_tls_crls(store, &trust, &crls, ENROLLED)),
            "accepted"
        );
        if let Some(out) = openssl_verify(store, &ca, std::slice::from_ref(&single), ENROLLED) {
            assert!(out.contains(": OK"), "{out}");
        }
    }

    // rotated: every generation's CRL is partitioned, the old one's under the default URL
    ok(pki(["ca", "rotate", "--ca", s(&ca), "--at", ROTATED]));
    let new = dir.join("new");
    assert_eq!(enroll(&new, &ca, "new", ENROLLED_2, &[]).code, 0);
    ok(pki(["ca", "crl", "--ca", s(&ca), "--at", PUBLISHED]));
    let (c1, c2) = (ca.join("crl/issuing-1.crl"), ca.join("crl/issuing-2.crl"));
    assert_eq!(
        inspect(&c1)["distribution_point"],
        inspect(&since.join("device.crt"))["crl_distribution_points"]
    );
    assert_eq!(
        inspect(&c2)["distribution_point"],
        inspect(&new.join("device.crt"))["crl_distribution_points"]
    );

    // webpki checks a certificate without distribution point against the first CRL of its
    // issuer's name: the old generation's CRL first, and every device is judged right
    let oldest_first = read(&[c1.clone(), c2.clone()]);
    for store in [&old, &since, &new] {
        assert_eq!(
            verdict(mutual_tls_crls(store, &trust, &oldest_first, AT)),
            "accepted",
            "{store:?}"
        );
    }
    assert!(verdict(mutual_tls_crls(&old_revoked, &trust, &oldest_first, AT)).contains("Revoked"));
    // the new generation's CRL first: the old certificates fail on its signature; those
    // that name their CRL do not
    let newest_first = read(&[c2.clone(), c1.clone()]);
    assert!(verdict(mutual_tls_crls(&old, &trust, &newest_first, AT)).contains("BadSignature"));
    for store in [&since, &new] {
        assert_eq!(
            verdict(mutual_tls_crls(store, &trust, &newest_first, AT)),
            "accepted"
        );
    }
    // the explaining verifier (pki serve's) judges each certificate with its issuer's CRLs
    // only, whatever the order
    let anchors = decode(Path::new("trust.pem"), trust.as_bytes()).certs;
    let parsed = [&c2, &c1]
        .iter()
        .flat_map(|p| decode(p, &std::fs::read(p).unwrap()).crls)
        .collect();
    let sink = Arc::new(|_: &Rejection| {});
    let explaining = Arc::new(ExplainingVerifier::new(
        anchors,
        parsed,
        Policy::default(),
        sink,
    ));
    for (store, accepted) in [
        (&old, true),
        (&old_revoked, false),
        (&since, true),
        (&new, true),
    ] {
        let v = explaining.clone();
        assert_eq!(
            mutual_tls_with(store, AT, move |p| v.for_peer(p)).is_ok(),
            accepted,
            "{store:?}"
        );
    }

    // diagnose agrees: both CRLs in crl/ (issuing-1 sorts first) accept the old device; the
    // other order is explained, the fix on the server
    let (s1, s2) = (s(&c1).to_string(), s(&c2).to_string());
    let d = pki_tests::run::diagnose(&old, AT, &["--crl", &s1, "--crl", &s2]);
    assert_eq!(d.verdict(), "accepted", "{}", d.stdout);
    let d = pki_tests::run::diagnose(&old, AT, &["--crl", &s2, "--crl", &s1]);
    assert_eq!(
        d.root_cause().as_deref(),
        Some("BAD_SIGNATURE"),
        "{}",
        d.stdout
    );
    let finding = d.finding("BAD_SIGNATURE").unwrap();
    let (message, fix) = (
        finding["message"].as_str().unwrap(),
        finding["fix"].as_str().unwrap(),
    );
    assert!(
        message.contains("names no CRL distribution point"),
        "{message}"
    );
    assert!(fix.contains("oldest generation first"), "{fix}");

    // a store holding only the new generation's CRL: repair puts the old one's in its place
    std::fs::create_dir_all(old.join("crl")).unwrap();
    std::fs::copy(&c2, old.join("crl/issuing-2.crl")).unwrap();
    let d = pki_tests::run::diagnose(&old, AT, &[]);
    assert_eq!(
        d.root_cause().as_deref(),
        Some("BAD_SIGNATURE"),
        "{}",
        d.stdout
    );
    let r = ok(pki([
        "repair",
        s(&old),
        "--ca",
        s(&ca),
        "--at",
        AT,
        "--format",
        "json",
    ]));
    assert!(
        r.json()["plan"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["action"] == "drop-stale-crl"),
        "{}",
        r.stdout
    );
    assert!(!old.join("crl/issuing-2.crl").exists());
    assert!(old.join("crl/issuing-1.crl").exists());
    let d = pki_tests::run::diagnose(&old, AT, &[]);
    assert_eq!(d.verdict(), "accepted", "{}", d.stdout);
    assert!(d.codes().is_empty(), "{:?}", d.codes());

    // OpenSSL applies a CRL with an IDP only to certificates that name it: the old
    // certificates are out of every partitioned CRL's scope until they are renewed
    if let Some(out) = openssl_verify(&old, &ca, &[c1.clone(), c2.clone()], AT) {
        assert!(out.contains("different CRL scope"), "{out}");
        for store in [&since, &new] {
            let out = openssl_verify(store, &ca, &[c1.clone(), c2.clone()], AT).unwrap();
            assert!(out.contains(": OK"), "{store:?}: {out}");
        }
    }
}

/// `pki serve` publishes each generation's CRL at `/crl/<generation>`, the path the
/// certificates of that generation name, partitioned as `pki ca crl` makes them: a rustls
/// server loading what it serves judges every device as with the CA's files.
#[test]
fn pki_serve_publishes_each_crl_where_its_certificates_point() {
    let o = Overlap::new("crl-partition-serve");
    let dir = TempDir::new("crl-partition-serve-run");
    let server = pki_tests::serve::Server::start(&o.ca, AT, &dir, &[]);
    let config = pki_tests::serve::client_config(o.trust().as_bytes(), None, AT);
    let mut served = Vec::new();
    for (generation, store) in [(1, &o.good[0]), (2, &o.good[1])] {
        let named = inspect(&store.join("device.crt"))["crl_distribution_points"][0]
            .as_str()
            .unwrap()
            .to_string();
        let path = named.strip_prefix("https://pki.fleet.test:8443").unwrap();
        assert_eq!(path, format!("/crl/issuing-{generation}"));
        let der = get(&config, server.port, path);
        let crl = pki_core::Crl::from_der(
            der.clone(),
            pki_core::origin::Origin {
                path: path.into(),
                index: 0,
                of: 1,
            },
        )
        .unwrap();
        assert_eq!(crl.idp.as_ref().map(|i| i.uris.clone()), Some(vec![named]));
        served.push(der);
    }
    let trust = o.trust();
    for crls in [served.clone(), served.iter().rev().cloned().collect()] {
        for store in &o.good {
            assert_eq!(
                verdict(mutual_tls_crls(store, &trust, &crls, AT)),
                "accepted"
            );
        }
        for store in &o.revoked {
            assert!(verdict(mutual_tls_crls(store, &trust, &crls, AT)).contains("Revoked"));
        }
    }
    assert_eq!(server.stop(), 0);
}

/// The body of `GET path` from the test server on `port`, bytes as sent.
fn get(config: &Arc<rustls::ClientConfig>, port: u16, path: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    write!(
        tls,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out);
    let head = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(
        out.starts_with(b"HTTP/1.1 200"),
        "{path}: {}",
        String::from_utf8_lossy(&out[..head])
    );
    out[head..].to_vec()
}
