//! Two `pki serve` nodes on one PostgreSQL inventory, each with its own copy of the CA folder
//! (two machines behind a load balancer): 200 devices enrolling through both at once get 200
//! different serials, all recorded; a token used on one node is refused on the other, and a
//! token raced on both at once is used exactly once (the database's constraint decides); a
//! revocation made on one node's machine is in the CRL the other node serves.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use base64::Engine;
use pki_tests::ca::init;
use pki_tests::serve::{client_config, exchange, Server};
use pki_tests::{pki, TempDir, AT};
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

/// `pki ca token` for `device`: `DEVICE:SECRET`, the HTTP Basic credentials as they are.
fn token(ca: &Path, device: &str) -> String {
    let run = pki([
        "ca",
        "token",
        "--ca",
        ca.to_str().unwrap(),
        "--device-id",
        device,
        "--at",
        AT,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stdout.trim().to_string()
}

/// A simpleenroll for `device` with `token` through the node on `port`: the status, and
/// the serial issued.
fn enroll(
    config: &Arc<rustls::ClientConfig>,
    port: u16,
    device: &str,
    token: &str,
) -> (u16, Option<String>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, device);
    let csr = params.serialize_request(&key).unwrap();
    let body = base64::engine::general_purpose::STANDARD.encode(csr.der());
    let auth = base64::engine::general_purpose::STANDARD.encode(token);
    let head = format!(
        "POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic {auth}\r\nContent-Type: application/pkcs10\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let (status, answer) = exchange(config.clone(), port, &head, body.as_bytes()).unwrap();
    if status != 200 {
        return (status, None);
    }
    let p7 = pki_core::est::body::decode(answer.as_bytes()).unwrap();
    let der = pki_core::est::pkcs7::certificates(&p7).unwrap().remove(0);
    let cert = pki_core::Cert::from_der(
        der,
        pki_core::origin::Origin {
            path: "issued".into(),
            index: 0,
            of: 1,
        },
    )
    .unwrap();
    (status, Some(cert.serial.clone()))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if path.is_dir() {
            copy_dir(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).unwrap();
        }
    }
}

#[test]
#[cfg_attr(
    not(have_postgres),
    ignore = "PostgreSQL is not installed here (CI installs it and sets PKI_TEST_POSTGRES)"
)]
fn two_nodes_on_one_database_issue_unique_serials_and_share_tokens_and_revocations() {
    let Some(db) = pki_tests::postgres::database("two_nodes") else {
        return;
    };
    let dir = TempDir::new("pg-two-nodes");
    let ca_a = init(&dir, AT, &["--database", &db.url]);
    let ca_yaml = std::fs::read_to_string(ca_a.join("ca.yaml")).unwrap();
    assert!(ca_yaml.contains("database: postgres://"), "{ca_yaml}");
    assert!(
        !ca_a.join("inventory.sqlite").exists(),
        "no local inventory"
    );
    let ca_b = dir.join("ca-b");
    copy_dir(&ca_a, &ca_b);
    for key in ["root-1.key", "issuing-1.key"] {
        pki_tests::store::set_mode(&ca_b.join(key), 0o600);
    }

    // 200 devices and 10 raced tokens; the tokens are made on both machines
    let devices: Vec<String> = (0..200).map(|i| format!("dev-{i:03}")).collect();
    let tokens: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = devices
            .chunks(25)
            .enumerate()
            .map(|(i, chunk)| {
                let ca = if i % 2 == 0 {
                    ca_a.clone()
                } else {
                    ca_b.clone()
                };
                s.spawn(move || chunk.iter().map(|d| token(&ca, d)).collect::<Vec<_>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });

    let node_a = Server::start(&ca_a, AT, &dir, &[]);
    let node_b = Server::start(&ca_b, AT, &dir, &[]);
    let trust = std::fs::read(ca_a.join("trust.pem")).unwrap();
    let config = client_config(&trust, None, AT);
    let ports = [node_a.port, node_b.port];

    // 200 enrollments at once, alternating nodes
    let results: Vec<(u16, Option<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..16)
            .map(|t| {
                let config = config.clone();
                let devices = &devices;
                let tokens = &tokens;
                s.spawn(move || {
                    (t..200)
                        .step_by(16)
                        .map(|i| enroll(&config, ports[i % 2], &devices[i], &tokens[i]))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let ok: Vec<&String> = results.iter().filter_map(|(_, s)| s.as_ref()).collect();
    assert_eq!(
        ok.len(),
        200,
        "statuses: {:?}\nA: {}\nB: {}",
        results.iter().map(|(c, _)| c).collect::<Vec<_>>(),
        node_a.log(),
        node_b.log()
    );
    let unique: BTreeSet<&&String> = ok.iter().collect();
    assert_eq!(unique.len(), 200, "every serial differs");

    // every one is in the shared inventory
    let mut client = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let recorded: i64 = client
        .query_one(
            "SELECT COUNT(*) FROM certificates WHERE profile = 'device'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(recorded, 200);

    // a token used on node A is refused on node B
    assert_eq!(enroll(&config, node_b.port, &devices[0], &tokens[0]).0, 401);
    // a token raced on both nodes at once is used once
    for i in 0..10 {
        let device = format!("race-{i}");
        let tok = token(&ca_a, &device);
        let (a, b) = std::thread::scope(|s| {
            let ha = s.spawn(|| enroll(&config, node_a.port, &device, &tok).0);
            let hb = s.spawn(|| enroll(&config, node_b.port, &device, &tok).0);
            (ha.join().unwrap(), hb.join().unwrap())
        });
        let mut got = [a, b];
        got.sort();
        assert_eq!(
            got,
            [200, 401],
            "race {i}: one wins, the other is told the token is used"
        );
    }

    // a revocation on node A's machine is in the CRL node B serves
    let serial = ok[5].clone();
    let run = pki([
        "ca",
        "revoke",
        "--ca",
        ca_a.to_str().unwrap(),
        &serial,
        "--at",
        AT,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut listed = false;
    for _ in 0..50 {
        let (status, _) = exchange(
            config.clone(),
            node_b.port,
            "GET /crl HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
            b"",
        )
        .unwrap();
        assert_eq!(status, 200);
        let crl = crl_of(&config, node_b.port);
        if crl.lists(&serial).is_some() {
            listed = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(listed, "node B's CRL lists {serial}:\n{}", node_b.log());
    assert_eq!(node_a.stop(), 0);
    assert_eq!(node_b.stop(), 0);
}

/// The CRL a node serves at /crl, parsed.
fn crl_of(config: &Arc<rustls::ClientConfig>, port: u16) -> pki_core::Crl {
    use std::io::{Read, Write};
    let tcp = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(config.clone(), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.write_all(b"GET /crl HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out);
    let start = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    pki_core::Crl::from_der(
        out[start..].to_vec(),
        pki_core::origin::Origin {
            path: "crl".into(),
            index: 0,
            of: 1,
        },
    )
    .unwrap()
}
