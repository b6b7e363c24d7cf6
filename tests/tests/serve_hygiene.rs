//! `pki serve` does not die of its clients: a peer that never speaks, speaks too slowly, sends
//! headers too large, or holds connections is cut off by a timeout or a limit while honest
//! requests are served; the connection cap queues instead of failing; running out of file
//! descriptors makes accept() back off, not stop; SIGTERM lets a request in flight finish and
//! exits 0; SIGHUP reloads at once.

#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use pki_tests::ca::init;
use pki_tests::serve::{client_config, exchange, Server};
use pki_tests::{pki, TempDir, AT};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const HEALTHZ: &str = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

fn healthz(dir: &TempDir, port: u16) -> Result<(u16, String), String> {
    let trust = std::fs::read(dir.join("ca/trust.pem")).unwrap();
    exchange(client_config(&trust, None, AT), port, HEALTHZ, b"")
}

/// How long until the server closes `tcp` (reads EOF or an error), at most `limit`.
fn closed_within(mut tcp: TcpStream, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    tcp.set_read_timeout(Some(limit)).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match tcp.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => continue, // an alert or a 408: keep reading to the close
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None
            }
            Err(_) => return Some(start.elapsed()),
        }
    }
}

#[test]
fn silent_slow_and_oversized_peers_are_cut_off_while_honest_requests_are_served() {
    let dir = TempDir::new("hygiene-timeouts");
    let ca = init(&dir, AT, &[]);
    let config = "handshake_timeout_seconds: 1\nheader_timeout_seconds: 1\nbody_timeout_seconds: 2\nidle_timeout_seconds: 2\n";
    let server = Server::start_with(&ca, AT, &dir, &[], config, None);

    // TCP connections that never send a ClientHello
    let silent: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(("127.0.0.1", server.port)).unwrap())
        .collect();
    // meanwhile an honest request is answered
    assert_eq!(healthz(&dir, server.port).unwrap().0, 200);
    for tcp in silent {
        let took = closed_within(tcp, Duration::from_secs(5)).expect("a silent peer is cut off");
        assert!(
            took < Duration::from_secs(3),
            "after the 1 s handshake timeout: {took:?}"
        );
    }

    // a body at one byte per half second: 408 when the 2 s body timeout runs out
    let trust = std::fs::read(dir.join("ca/trust.pem")).unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(client_config(&trust, None, AT), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    // (with credentials, so that the body is read before anything is decided)
    tls.write_all(b"POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic ZGV2LTE6dG9rZW4=\r\nContent-Length: 1000\r\n\r\n").unwrap();
    let start = Instant::now();
    let mut answer = Vec::new();
    tls.sock
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    while start.elapsed() < Duration::from_secs(8) {
        if tls.write_all(b"A").is_err() {
            break;
        }
        let mut buf = [0u8; 512];
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if answer.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.starts_with("HTTP/1.1 408"),
        "a trickled body gets 408: {text:?}"
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );

    // a handshake, then silence: the header timeout (1 s) or the idle timeout (2 s) ends it
    let tcp = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(client_config(&trust, None, AT), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    tls.conn.complete_io(&mut tls.sock).unwrap();
    let start = Instant::now();
    tls.sock
        .set_read_timeout(Some(Duration::from_secs(6)))
        .unwrap();
    let mut buf = [0u8; 64];
    let _ = tls.read(&mut buf);
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "a silent TLS peer is closed: {:?}",
        start.elapsed()
    );

    // headers over the limit: 431
    let big = format!(
        "GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Padding: {}\r\nConnection: close\r\n\r\n",
        "x".repeat(20_000)
    );
    let (status, _) = exchange(client_config(&trust, None, AT), server.port, &big, b"").unwrap();
    assert_eq!(status, 431);

    assert_eq!(healthz(&dir, server.port).unwrap().0, 200, "still serving");
    assert_eq!(server.stop(), 0);
}

#[test]
fn at_the_connection_cap_a_request_waits_for_a_slot_and_is_served() {
    let dir = TempDir::new("hygiene-cap");
    let ca = init(&dir, AT, &[]);
    let config = "max_connections: 2\nhandshake_timeout_seconds: 2\n";
    let server = Server::start_with(&ca, AT, &dir, &[], config, None);
    let hogs: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(("127.0.0.1", server.port)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let start = Instant::now();
    assert_eq!(healthz(&dir, server.port).unwrap().0, 200);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(1000),
        "both slots were taken, so it waited for a hog to be cut: {waited:?}"
    );
    drop(hogs);
    let metrics = exchange(
        client_config(&std::fs::read(dir.join("ca/trust.pem")).unwrap(), None, AT),
        server.port,
        "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        b"",
    )
    .unwrap()
    .1;
    assert!(
        metrics.contains("pki_serve_handshake_failures_total{kind=\"timeout\"} 2"),
        "{metrics}"
    );
    assert_eq!(server.stop(), 0);
}

#[test]
fn out_of_file_descriptors_accept_backs_off_and_the_server_keeps_serving() {
    let dir = TempDir::new("hygiene-emfile");
    let ca = init(&dir, AT, &[]);
    let config = "handshake_timeout_seconds: 30\nmax_connections: 1000\n";
    let server = Server::start_with(&ca, AT, &dir, &[], config, Some(48));
    let hogs: Vec<TcpStream> = (0..80)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", server.port)).ok())
        .collect();
    assert!(
        server.wait_log("out of a resource", 10),
        "accept hit the file limit and said so:\n{}",
        server.log()
    );
    drop(hogs);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        healthz(&dir, server.port).unwrap().0,
        200,
        "serving again once descriptors are free:\n{}",
        server.log()
    );
    assert_eq!(server.stop(), 0);
}

#[test]
fn out_of_file_descriptors_silent_peers_make_room_for_a_device() {
    // 400 peers that connect and say nothing, a server allowed 128 descriptors and a handshake
    // timeout of 30 s: a device is served at once, not after the silent ones time out. (The
    // soak found the silent ones unseen: tokio reported them readable with nothing to read.)
    let dir = TempDir::new("hygiene-evict");
    let ca = init(&dir, AT, &[]);
    let config = "handshake_timeout_seconds: 30\nmax_connections: 1000\n";
    let server = Server::start_with(&ca, AT, &dir, &[], config, Some(128));
    let hogs: Vec<TcpStream> = (0..400)
        .filter_map(|_| TcpStream::connect(("127.0.0.1", server.port)).ok())
        .collect();
    assert_eq!(hogs.len(), 400, "the kernel's backlog took them all");
    std::thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    assert_eq!(
        healthz(&dir, server.port).unwrap().0,
        200,
        "{}",
        server.log()
    );
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "a device waited {took:?} behind silent peers:\n{}",
        server.log()
    );
    let trust = std::fs::read(dir.join("ca/trust.pem")).unwrap();
    let metrics = exchange(
        client_config(&trust, None, AT),
        server.port,
        "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        b"",
    )
    .unwrap()
    .1;
    assert!(
        metrics.contains("pki_serve_handshake_failures_total{kind=\"evicted\"}"),
        "{metrics}"
    );
    drop(hogs);
    assert_eq!(server.stop(), 0);
}

#[test]
fn sigterm_lets_a_request_in_flight_finish_then_exits_0() {
    let dir = TempDir::new("hygiene-sigterm");
    let ca = init(&dir, AT, &[]);
    let mut server = Server::start(&ca, AT, &dir, &[]);
    let trust = std::fs::read(dir.join("ca/trust.pem")).unwrap();
    let tcp = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(client_config(&trust, None, AT), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let body = b"bm90IGEgcmVxdWVzdA==";
    let head = format!(
        "POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic ZGV2LTE6dG9rZW4=\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).unwrap();
    tls.write_all(&body[..5]).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    server.signal("TERM");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        server.wait_exit(0).is_none(),
        "still running while a request is in flight"
    );
    tls.write_all(&body[5..]).unwrap();
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    // its body is no request: 400, which it could only say having read all of it
    assert!(
        text.starts_with("HTTP/1.1 400"),
        "the request in flight was answered: {text:?}"
    );
    assert_eq!(server.wait_exit(10), Some(0), "{}", server.log());
    assert!(server.log().contains("SIGTERM"));
}

#[test]
fn sighup_reloads_at_once() {
    let dir = TempDir::new("hygiene-sighup");
    let ca = init(&dir, AT, &[]);
    let server = Server::start_with(&ca, AT, &dir, &[], "reload_interval_seconds: 3600\n", None);
    server.signal("HUP");
    assert!(server.wait_log("reason=\"SIGHUP\"", 10), "{}", server.log());
    assert_eq!(healthz(&dir, server.port).unwrap().0, 200);
    assert_eq!(server.stop(), 0);
}

/// A client's words reach the log only quoted and escaped: a certificate or request whose
/// names hold a newline and a forged log line leaves exactly one line per event, text or JSON.
#[test]
fn a_hostile_name_neither_splits_nor_forges_a_log_line() {
    let dir = TempDir::new("hygiene-log");
    let ca = init(&dir, AT, &[]);
    let trust = std::fs::read(dir.join("ca/trust.pem")).unwrap();
    let forged = "2026-03-01T00:00:00.000000Z  INFO pki_serve::est: issued route=\"simpleenroll\"";
    // a foreign CA and device whose names carry the forged line
    let foreign = pki_tests::Ca::root(&format!("Evil\n{forged}"));
    let leaf = foreign.leaf(&format!("dev\n{forged}"));
    let chain = format!("{}{}", leaf.pem, foreign.pem);
    let key = leaf.key_pem();
    // a request whose CN carries it, with a real token (403), and the token's secret under a
    // user name that carries it (401 naming that user)
    let token = |id: &str| {
        let run = pki([
            "ca",
            "token",
            "--ca",
            ca.to_str().unwrap(),
            "--device-id",
            id,
            "--at",
            AT,
        ]);
        run.stdout.trim().to_string()
    };
    let enroll = |port: u16, credentials: &str, body: &str| {
        use base64::Engine;
        let basic = base64::engine::general_purpose::STANDARD.encode(credentials);
        let head = format!(
            "POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic {basic}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        exchange(
            client_config(&trust, None, AT),
            port,
            &head,
            body.as_bytes(),
        )
        .unwrap()
        .0
    };
    for json in [false, true] {
        let extra: &[&str] = if json { &["--log-format", "json"] } else { &[] };
        let server = Server::start(&ca, AT, &dir, extra);
        let refused = exchange(
            client_config(&trust, Some((chain.as_bytes(), key.as_bytes())), AT),
            server.port,
            HEALTHZ,
            b"",
        );
        assert!(refused.is_err(), "{refused:?}");
        assert_eq!(
            enroll(
                server.port,
                &token("dev-9"),
                &request_for(&format!("dev-9\n{forged}"))
            ),
            403
        );
        // (a user name ends at its first ':', RFC 7617: this one has none)
        let secret = token("dev-8").split_once(':').unwrap().1.to_string();
        let user = "x\n2026-03-01T00.000000Z  WARN forged";
        assert_eq!(
            enroll(
                server.port,
                &format!("{user}:{secret}"),
                &request_for("dev-8")
            ),
            401
        );
        assert!(
            server.wait_log("client certificate rejected", 5),
            "{}",
            server.log()
        );
        assert_eq!(server.stop(), 0);
        let log = std::fs::read_to_string(
            std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|x| x == "log"))
                .max_by_key(|p| std::fs::metadata(p).unwrap().modified().unwrap())
                .unwrap(),
        )
        .unwrap();
        let lines: Vec<&str> = log.lines().collect();
        for line in &lines {
            assert!(
                !line.starts_with(forged) && !line.starts_with("2026-03-01T00.000000Z"),
                "a forged line:\n{log}"
            );
        }
        let rejected = lines
            .iter()
            .find(|l| l.contains("client certificate rejected"))
            .unwrap();
        let refused: Vec<&&str> = lines
            .iter()
            .filter(|l| l.contains("request refused"))
            .collect();
        assert_eq!(refused.len(), 2, "{log}");
        if json {
            for line in &lines {
                let v: serde_json::Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}\n{log}"));
                assert!(v["timestamp"].is_string(), "{line}");
            }
            let v: serde_json::Value = serde_json::from_str(rejected).unwrap();
            assert_eq!(
                v["subject"],
                format!("O=Fleet Test, CN=dev\n{forged}"),
                "{rejected}"
            );
            assert_eq!(v["code"], "UNKNOWN_ISSUER", "{rejected}");
            assert!(
                refused
                    .iter()
                    .any(|l| l.contains(r#"not x\n2026-03-01T00.000000Z  WARN forged""#)),
                "{log}"
            );
            for field in ["peer", "serial", "issuer", "explanation", "fix"] {
                assert!(v[field].is_string(), "{field}: {rejected}");
            }
        } else {
            for line in &lines {
                assert!(
                    line.len() > 20
                        && line.as_bytes()[..4].iter().all(u8::is_ascii_digit)
                        && line[4..].starts_with('-'),
                    "a line that is no log event (a name split the line):\n{line}\n---\n{log}"
                );
            }
            assert!(
                rejected.contains(r#"subject="O=Fleet Test, CN=dev\n2026-03-01"#),
                "quoted and escaped: {rejected}"
            );
            assert!(rejected.contains("code=UNKNOWN_ISSUER"), "{rejected}");
            assert!(
                refused
                    .iter()
                    .any(|l| l.contains(r#"not x\n2026-03-01T00.000000Z  WARN forged""#)),
                "{log}"
            );
        }
    }
}

/// A `--name` for the server's own certificate that is neither a DNS name nor an IP address
/// is a usage error before anything starts (it was certified as given, and no client could
/// ever match it); the same name from `--config` stops the start with a message naming it.
#[test]
fn a_server_name_that_is_no_host_name_is_refused() {
    let dir = TempDir::new("serve-bad-name");
    let ca = init(&dir, AT, &[]);
    let flag = pki([
        "serve",
        "--ca",
        ca.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--name",
        "bad name!",
        "--at",
        AT,
    ]);
    assert_eq!(flag.code, 64, "{}", flag.stderr);
    assert!(flag.stderr.contains("'bad name!'"), "{}", flag.stderr);
    let config = dir.write("serve.yaml", "names: ['bad name!']\n");
    let file = pki([
        "serve",
        "--ca",
        ca.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--config",
        config.to_str().unwrap(),
        "--at",
        AT,
    ]);
    assert_ne!(file.code, 0, "{}", file.stderr);
    assert!(
        file.stderr
            .contains("'bad name!' is neither a DNS name nor an IP address"),
        "{}",
        file.stderr
    );
}

/// A limit no bound can hold is a usage error before anything starts: a timeout of u64::MAX
/// seconds made every connection panic (an instant overflowed), a header limit near
/// usize::MAX overflowed the buffer size, and a connection cap, session cache, issuance
/// queue or certificate lifetime near the top of its type panicked at start.
#[test]
fn a_limit_out_of_range_is_refused_at_start_not_a_panic_later() {
    let dir = TempDir::new("hygiene-limits");
    let ca = init(&dir, AT, &[]);
    for line in [
        "idle_timeout_seconds: 18446744073709551615",
        "handshake_timeout_seconds: 18446744073709551615",
        "header_timeout_seconds: 18446744073709551615",
        "body_timeout_seconds: 18446744073709551615",
        "shutdown_grace_seconds: 18446744073709551615",
        "reload_interval_seconds: 18446744073709551615",
        "header_limit_bytes: 18446744073709551615",
        "body_limit_bytes: 18446744073709551615",
        "max_connections: 18446744073709551615",
        "session_cache: 18446744073709551615",
        "pending_issuances: 18446744073709551615",
        "server_cert_days: 4294967295",
        "workers: 1000000",
    ] {
        let config = dir.write("limits.yaml", format!("{line}\n"));
        let (status, stderr) = serve_until_exit(&[
            "--ca",
            ca.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
        ]);
        let key = line.split(['_', ':']).next().unwrap();
        assert_eq!(status, Some(64), "{line}: {stderr}");
        assert!(
            stderr.contains("must be at most") && stderr.contains(key),
            "{line}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{line}: {stderr}");
    }
}

/// Every refused request names the device it came from, not only a peer address: a token
/// used twice, an unknown one and a request naming another device (simpleenroll: the HTTP
/// Basic user), and a renewal asking for another subject (simplereenroll: the client
/// certificate's subject and serial, and the inventory's device id).
#[test]
fn a_refused_request_is_logged_with_the_device_it_came_from() {
    use base64::Engine;
    let dir = TempDir::new("hygiene-refused");
    let ca = init(&dir, AT, &[]);
    let trust = std::fs::read(dir.join("ca/trust.pem")).unwrap();
    let server = Server::start(&ca, AT, &dir, &[]);
    let post = |route: &str, credentials: Option<&str>, identity, body: &str| {
        let auth = credentials
            .map(|c| {
                let c = base64::engine::general_purpose::STANDARD.encode(c);
                format!("Authorization: Basic {c}\r\n")
            })
            .unwrap_or_default();
        let head = format!(
            "POST /.well-known/est/{route} HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        exchange(
            client_config(&trust, identity, AT),
            server.port,
            &head,
            body.as_bytes(),
        )
        .unwrap()
        .0
    };
    let token = pki([
        "ca",
        "token",
        "--ca",
        ca.to_str().unwrap(),
        "--device-id",
        "dev-41",
        "--at",
        AT,
    ])
    .stdout
    .trim()
    .to_string();
    assert_eq!(
        post("simpleenroll", Some(&token), None, &request_for("dev-99")),
        403
    );
    assert_eq!(
        post("simpleenroll", Some(&token), None, &request_for("dev-41")),
        200
    );
    assert_eq!(
        post("simpleenroll", Some(&token), None, &request_for("dev-41")),
        401
    );
    assert_eq!(
        post(
            "simpleenroll",
            Some("dev-42:00ff"),
            None,
            &request_for("dev-42")
        ),
        401
    );
    let store = dir.join("store");
    let run = pki_tests::ca::enroll(&store, &ca, "dev-43", AT, &[]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let serial = run.json()["serial"].as_str().unwrap().to_string();
    let chain = [
        std::fs::read(store.join("device.crt")).unwrap(),
        std::fs::read(store.join("chain.pem")).unwrap(),
    ]
    .concat();
    let key = std::fs::read(store.join("device.key")).unwrap();
    assert_eq!(
        post(
            "simplereenroll",
            None,
            Some((chain.as_slice(), key.as_slice())),
            &request_for("dev-44")
        ),
        403
    );
    assert_eq!(server.stop(), 0);
    let log = std::fs::read_to_string(
        std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "log"))
            .unwrap(),
    )
    .unwrap();
    let refused: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("request refused"))
        .collect();
    assert_eq!(refused.len(), 4, "{log}");
    for (line, device) in refused[..3].iter().zip(["dev-41", "dev-41", "dev-42"]) {
        assert!(
            line.contains(&format!("device_id=\"{device}\"")),
            "{line}\n---\n{log}"
        );
    }
    let renewal = refused[3];
    for field in [
        "device_id=\"dev-43\"".to_string(),
        "subject=\"".to_string(),
        format!("serial=\"{serial}\""),
    ] {
        assert!(renewal.contains(&field), "{field}: {renewal}\n---\n{log}");
    }
}

/// A config file that cannot be read is one line naming the file, the line and column and the
/// problem (the parser's snippet of the file came out as one line of literal `\n`s).
#[test]
fn a_bad_config_file_is_one_line_naming_the_file_and_the_place() {
    let dir = TempDir::new("hygiene-config");
    let ca = init(&dir, AT, &[]);
    for (text, says) in [
        ("listen: [1,2\n", "line 1 column 9"),
        ("lisen: 127.0.0.1:1\n", "unknown field `lisen`"),
        ("body_limit_bytes: -5\n", "line 1 column 19"),
    ] {
        let config = dir.write("bad.yaml", text);
        let run = pki([
            "serve",
            "--ca",
            ca.to_str().unwrap(),
            "--config",
            config.to_str().unwrap(),
            "--at",
            AT,
        ]);
        assert_eq!(run.code, 64, "{text}: {}", run.stderr);
        let message = run.stderr.trim_end();
        assert!(
            message.starts_with(&format!("pki: {}: ", config.display())) && message.contains(says),
            "{text}: {message}"
        );
        assert!(
            !message.contains('\n') && !message.contains("\\n"),
            "{text}: {message}"
        );
    } // a FIFO, a device: refused by what they are, not read forever
    let fifo = dir.join("fifo.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for special in [fifo.to_str().unwrap(), "/dev/zero"] {
        let (status, stderr) =
            serve_until_exit(&["--ca", ca.to_str().unwrap(), "--config", special]);
        assert_eq!(status, Some(64), "{special}: {stderr}");
        assert!(
            stderr.contains(special) && stderr.contains("not a regular file"),
            "{special}: {stderr}"
        );
    }
}

/// A server whose clock is before its CA (a clock reset to 1970) does not start: it would
/// issue its own certificate, and every device's, already expired at the real time.
#[test]
fn a_server_whose_clock_is_before_its_ca_does_not_start() {
    let dir = TempDir::new("hygiene-clock");
    let ca = init(&dir, AT, &[]);
    let (status, stderr) =
        serve_until_exit(&["--ca", ca.to_str().unwrap(), "--at", "1970-01-01T00:00:00Z"]);
    assert_eq!(status, Some(3), "{stderr}");
    assert!(
        stderr.contains("set the clock first") && stderr.contains("issuing-1.crt"),
        "{stderr}"
    );
}

/// `pki serve ARGS --listen 127.0.0.1:0 [--at AT]` until it exits (its exit code and standard
/// error), or `None` when it is still serving after 20 seconds (then killed).
fn serve_until_exit(args: &[&str]) -> (Option<i32>, String) {
    let mut command = std::process::Command::new(pki_tests::run::binary());
    command
        .arg("serve")
        .args(args)
        .args(["--listen", "127.0.0.1:0"]);
    if !args.contains(&"--at") {
        command.args(["--at", AT]);
    }
    let mut child = command
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status, stderr)
}

/// An EST request body (base64 PKCS#10) for `cn`, with a new key.
fn request_for(cn: &str) -> String {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let der = params.serialize_request(&key).unwrap().der().to_vec();
    pki_core::est::body::encode(&der)
}
