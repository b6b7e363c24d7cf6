//! Hostile and broken peers, each kind a loop of connections until a deadline, each
//! connection judged by how the server ended it: in time, with the status or alert it should
//! send. What the server keeps of them afterwards (descriptors, threads, CLOSE_WAIT sockets,
//! memory) is the probe's to see.

use crate::fleet::Fleet;
use crate::stats::Hostile;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Every kind, in the order the soak runs them.
pub const KINDS: [&str; 9] = [
    "silent",
    "handshake-then-silence",
    "slow-body",
    "reset-mid-request",
    "half-close",
    "oversize-headers",
    "oversize-body",
    "garbage",
    "resumption-burst",
];

/// The server's timeouts, to know when a cut-off is late.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub handshake: Duration,
    pub header: Duration,
    pub body: Duration,
    pub idle: Duration,
}

/// Slack over a timeout before a cut-off counts as late (a loaded machine).
const SLACK: Duration = Duration::from_secs(5);

/// Peers of `kind` from `concurrency` loops until `until` or `stop`, counted in `tally`.
pub async fn run(
    kind: &'static str,
    concurrency: usize,
    until: Instant,
    stop: Arc<AtomicBool>,
    fleet: Arc<Fleet>,
    timeouts: Timeouts,
    tally: Arc<Hostile>,
) {
    let counter = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (fleet, tally, stop, counter) =
            (fleet.clone(), tally.clone(), stop.clone(), counter.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let started = Instant::now();
                let result = one(kind, n, &fleet, timeouts, until).await;
                tally.record(kind, result.map(|()| started.elapsed()));
                if kind == "resumption-burst" {
                    continue;
                }
                // a peer that failed to connect (the server's backlog full) tries again later
                if started.elapsed() < Duration::from_millis(5) {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
}

async fn one(kind: &str, n: u64, fleet: &Fleet, t: Timeouts, until: Instant) -> Result<(), String> {
    let addr = fleet.addr;
    match kind {
        // a TCP connection that never sends a ClientHello: closed by the handshake timeout
        "silent" => {
            let mut tcp = connect(addr).await?;
            closed_within(&mut tcp, t.handshake + SLACK).await.map(drop)
        }
        // a handshake, then nothing: closed by the header (or idle) timeout
        "handshake-then-silence" => {
            let mut tls = handshake(addr, fleet.anonymous.clone()).await?;
            closed_within(&mut tls, t.header.max(t.idle) + SLACK)
                .await
                .map(drop)
        }
        // a body at one byte per second: 408 at the body timeout
        "slow-body" => {
            let tls = handshake(addr, fleet.anonymous.clone()).await?;
            let (mut r, mut w) = tokio::io::split(tls);
            w.write_all(b"POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic ZGV2aWNlOnRva2Vu\r\nContent-Length: 1000\r\n\r\n")
                .await
                .map_err(|e| format!("write: {e}"))?;
            let trickle = tokio::spawn(async move {
                for _ in 0..1000 {
                    if w.write_all(b"A").await.is_err() || w.flush().await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            });
            let answer = closed_within(&mut r, t.body + t.header + SLACK).await;
            trickle.abort();
            status_is(&answer?, 408)
        }
        // half a request, then a reset (SO_LINGER 0): nothing to answer, nothing to keep
        "reset-mid-request" => {
            let tcp = connect(addr).await?;
            let _ = socket2::SockRef::from(&tcp).set_linger(Some(Duration::ZERO));
            let mut tls = TlsConnector::from(fleet.anonymous.clone())
                .connect(localhost(), tcp)
                .await
                .map_err(|e| format!("handshake: {e}"))?;
            tls.write_all(b"POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1000\r\n\r\nMIIB")
                .await
                .map_err(|e| format!("write: {e}"))?;
            tls.flush().await.map_err(|e| format!("flush: {e}"))?;
            tokio::time::sleep(Duration::from_millis(20)).await;
            drop(tls); // the kernel sends RST
            Ok(())
        }
        // the peer closes its sending side: before the handshake (the server must close),
        // or right after a whole request (the server answers, or closes)
        "half-close" => {
            if n % 2 == 0 {
                let mut tcp = connect(addr).await?;
                tcp.shutdown().await.map_err(|e| format!("shutdown: {e}"))?;
                closed_within(&mut tcp, t.handshake + SLACK).await.map(drop)
            } else {
                let mut tls = handshake(addr, fleet.anonymous.clone()).await?;
                tls.write_all(crate::fleet::CACERTS)
                    .await
                    .map_err(|e| format!("write: {e}"))?;
                tls.get_mut()
                    .0
                    .shutdown()
                    .await
                    .map_err(|e| format!("shutdown: {e}"))?;
                let answer = closed_within(&mut tls, t.idle + SLACK).await?;
                // an answer or a plain close are both a server that let go
                if answer.is_empty() || answer.starts_with(b"HTTP/1.1 200") {
                    Ok(())
                } else {
                    Err(format!("answered {}", head(&answer)))
                }
            }
        }
        // 20 KiB of headers: 431
        "oversize-headers" => {
            let mut tls = handshake(addr, fleet.anonymous.clone()).await?;
            let filler = "x".repeat(20 * 1024);
            let req = format!("GET /.well-known/est/cacerts HTTP/1.1\r\nHost: localhost\r\nX-Filler: {filler}\r\nConnection: close\r\n\r\n");
            tls.write_all(req.as_bytes())
                .await
                .map_err(|e| format!("write: {e}"))?;
            status_is(&closed_within(&mut tls, t.header + SLACK).await?, 431)
        }
        // a body over the limit, announced (Content-Length) or chunked: 413
        "oversize-body" => {
            let mut tls = handshake(addr, fleet.anonymous.clone()).await?;
            let auth = "Authorization: Basic ZGV2aWNlOnRva2Vu\r\n";
            if n % 2 == 0 {
                let req = format!("POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: localhost\r\n{auth}Content-Length: 1048576\r\n\r\n");
                tls.write_all(req.as_bytes())
                    .await
                    .map_err(|e| format!("write: {e}"))?;
            } else {
                let req = format!("POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: localhost\r\n{auth}Transfer-Encoding: chunked\r\n\r\n");
                tls.write_all(req.as_bytes())
                    .await
                    .map_err(|e| format!("write: {e}"))?;
                let chunk = format!("4000\r\n{}\r\n", "A".repeat(0x4000));
                for _ in 0..6 {
                    if tls.write_all(chunk.as_bytes()).await.is_err() {
                        break;
                    }
                }
            }
            status_is(&closed_within(&mut tls, t.body + SLACK).await?, 413)
        }
        // bytes that are not TLS (random, or plain HTTP): the server closes
        "garbage" => {
            let mut tcp = connect(addr).await?;
            let bytes: Vec<u8> = if n % 2 == 0 {
                let mut b = vec![0u8; 2048];
                ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut b)
                    .map_err(|_| "no randomness".to_string())?;
                b
            } else {
                b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec()
            };
            let _ = tcp.write_all(&bytes).await;
            closed_within(&mut tcp, t.handshake + SLACK).await.map(drop)
        }
        // one full handshake with a device's certificate, then resumed sessions as fast as
        // they go until the phase ends: each must be answered
        "resumption-burst" => {
            let (chain, key) = {
                let e = fleet.endpoints[n as usize % fleet.len()]
                    .lock()
                    .map_err(|e| e.to_string())?;
                (e.chain.clone(), e.key.clone())
            };
            let config = fleet.trust.config(Some((chain, key)), true)?;
            let mut resumed = 0u32;
            for i in 0..200 {
                if Instant::now() >= until {
                    break;
                }
                let mut tls = handshake(addr, config.clone()).await?;
                if tls.get_ref().1.handshake_kind() == Some(rustls::HandshakeKind::Resumed) {
                    resumed += 1;
                }
                tls.write_all(crate::fleet::CACERTS)
                    .await
                    .map_err(|e| format!("write: {e}"))?;
                status_is(&closed_within(&mut tls, t.idle + SLACK).await?, 200)?;
                if i == 10 && resumed == 0 {
                    return Err("no session was resumed".into());
                }
            }
            Ok(())
        }
        other => Err(format!("unknown hostile kind {other}")),
    }
}

fn localhost() -> ServerName<'static> {
    ServerName::try_from("localhost").expect("a DNS name")
}

async fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let tcp = tokio::time::timeout(Duration::from_secs(30), TcpStream::connect(addr))
        .await
        .map_err(|_| "connect: timed out".to_string())?
        .map_err(|e| format!("connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    Ok(tcp)
}

async fn handshake(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> Result<TlsStream<TcpStream>, String> {
    let tcp = connect(addr).await?;
    tokio::time::timeout(
        Duration::from_secs(30),
        TlsConnector::from(config).connect(localhost(), tcp),
    )
    .await
    .map_err(|_| "handshake: timed out".to_string())?
    .map_err(|e| format!("handshake: {e}"))
}

/// Reads until the server closes (EOF, reset or TLS error), at most `limit`: what it sent.
/// Not closed by then is the failure this module exists to find.
async fn closed_within(
    stream: &mut (impl AsyncRead + Unpin),
    limit: Duration,
) -> Result<Vec<u8>, String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if got.len() < 64 * 1024 {
                        got.extend_from_slice(&buf[..n]);
                    }
                }
            }
        }
    };
    match tokio::time::timeout(limit, read).await {
        Ok(()) => Ok(got),
        Err(_) => Err(format!("still open after {limit:?}")),
    }
}

fn status_is(answer: &[u8], status: u16) -> Result<(), String> {
    if answer.starts_with(format!("HTTP/1.1 {status}").as_bytes()) {
        Ok(())
    } else {
        Err(format!("wanted {status}, got {}", head(answer)))
    }
}

fn head(answer: &[u8]) -> String {
    if answer.is_empty() {
        return "a close without an answer".into();
    }
    String::from_utf8_lossy(&answer[..answer.len().min(40)])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}
