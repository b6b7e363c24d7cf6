//! Throughput and latency beside a peer: renewals and mutual-TLS `cacerts` per second from
//! 1, 16 and 64 closed-loop clients, each request on a new connection, against `pki serve`;
//! the same generator against nginx (mutual TLS, the CA's trust bundle, a static 200); and
//! the cryptographic floor of one renewal measured in the same run.

use crate::drive::{closed_loop, paced, Job};
use crate::fleet::{csr, expect_200, Fleet, Kind, CACERTS};
use crate::probe::{children, cpu_seconds};
use crate::stats::Tally;
use crate::tls::{exchange, pem_certs, Trust};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConnection, RootCertStore, ServerConfig, ServerConnection};
use rustls_pki_types::{CertificateRevocationListDer, PrivateKeyDer, ServerName};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Row {
    pub target: &'static str,
    pub route: &'static str,
    pub clients: usize,
    /// The schedule, requests per second, when paced; `None` for a closed loop.
    pub offered: Option<f64>,
    pub rate: f64,
    pub p50: Duration,
    pub p99: Duration,
    pub failed: u64,
    /// CPU per request, milliseconds: the server's and the generator's.
    pub server_ms: f64,
    pub generator_ms: f64,
}

impl Row {
    pub fn print(&self) {
        let pace = match self.offered {
            Some(r) => format!("paced {r}/s"),
            None => "closed loop".into(),
        };
        println!(
            "{:<10} {:<16} {:>3} clients {:<14} {:>8.0}/s  p50 {:>6.1} ms  p99 {:>6.1} ms  failed {:>3}  CPU/request: server {:.2} ms, generator {:.2} ms",
            self.target,
            self.route,
            self.clients,
            pace,
            self.rate,
            ms(self.p50),
            ms(self.p99),
            self.failed,
            self.server_ms,
            self.generator_ms
        );
    }
}

async fn drive(
    clients: usize,
    offered: Option<f64>,
    until: Instant,
    next: crate::drive::Next,
    job: Job,
) {
    let stop = Arc::new(AtomicBool::new(false));
    match offered {
        Some(rate) => paced(clients, rate, until, stop, next, job).await,
        None => closed_loop(clients, until, stop, next, job).await,
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs `job` from `clients` clients for `seconds` (after a second of warm-up) and
/// measures it: in a closed loop, or paced at `offered` requests per second (the latency
/// then counts from when each request was due); `pids` are the server's processes (CPU).
pub async fn measure(
    target: &'static str,
    route: &'static str,
    clients: usize,
    offered: Option<f64>,
    seconds: f64,
    pids: &dyn Fn() -> Vec<u32>,
    tally_job: &dyn Fn(Arc<Tally>) -> crate::drive::Load,
) -> Row {
    // warm-up (connections, caches), not counted
    let warm = Arc::new(Tally::default());
    let (next, job) = tally_job(warm);
    drive(
        clients,
        offered,
        Instant::now() + Duration::from_secs(1),
        next,
        job,
    )
    .await;

    let tally = Arc::new(Tally::default());
    let (next, job) = tally_job(tally.clone());
    let server_cpu = || pids().into_iter().map(cpu_seconds).sum::<f64>();
    let (s0, g0, t0) = (
        server_cpu(),
        cpu_seconds(std::process::id()),
        Instant::now(),
    );
    drive(
        clients,
        offered,
        t0 + Duration::from_secs_f64(seconds),
        next,
        job,
    )
    .await;
    // a schedule whose last slot was due well before the deadline ends early: the rate is
    // still over the whole window (a closed loop always runs to its deadline)
    let elapsed = t0.elapsed().as_secs_f64().max(seconds);
    let (s1, g1) = (server_cpu(), cpu_seconds(std::process::id()));
    let s = tally.summary();
    let n = s.all.ok.max(1) as f64;
    Row {
        target,
        route,
        clients,
        offered,
        rate: s.all.ok as f64 / elapsed,
        p50: s.p50,
        p99: s.p99,
        failed: s.all.failed + s.all.shed,
        server_ms: (s1 - s0) * 1000.0 / n,
        generator_ms: (g1 - g0) * 1000.0 / n,
    }
}

/// Jobs of `kind` on `fleet`.
pub fn fleet_job(fleet: Arc<Fleet>, kind: Kind) -> impl Fn(Arc<Tally>) -> crate::drive::Load {
    move |tally| crate::drive::honest(fleet.clone(), crate::fleet::Mix::only(kind), tally)
}

/// Mutual-TLS `GET cacerts` against nginx at `addr`, trusting `root` (PEM), with the
/// fleet's identities.
pub fn nginx_job(
    fleet: Arc<Fleet>,
    addr: SocketAddr,
    root: &[u8],
) -> Result<impl Fn(Arc<Tally>) -> crate::drive::Load, String> {
    let trust = Trust::new(root)?;
    let mut configs = Vec::new();
    for e in fleet.endpoints.iter().take(256) {
        let e = e.lock().map_err(|e| e.to_string())?;
        configs.push(trust.config(Some((e.chain.clone(), e.key.clone())), false)?);
    }
    let configs = Arc::new(configs);
    let counter = Arc::new(AtomicU64::new(0));
    Ok(move |tally: Arc<Tally>| {
        let c = counter.clone();
        let next: crate::drive::Next = Arc::new(move || c.fetch_add(1, Ordering::Relaxed));
        let configs = configs.clone();
        let job: Job = Arc::new(move |n, due| {
            let config = configs[n as usize % configs.len()].clone();
            let tally = tally.clone();
            Box::pin(async move {
                let late = due.elapsed();
                let (o, took) = exchange(config, addr, CACERTS, b"", Duration::from_secs(30)).await;
                tally.record(Kind::Cacerts, &expect_200(o), late + took);
            })
        });
        (next, job)
    })
}

/// nginx's processes: the master and its workers.
pub fn with_children(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    all.extend(children(pid));
    all
}

/// The floor of one renewal, measured on one thread: the device's new key and request, the
/// TLS 1.3 handshake with both certificates (both sides, in memory, the CA's CRL checked, no
/// session ticket), the request's check and the certificate's signature by the CA. What
/// the generator does not do twice (the server chain, verified once per chain) is not
/// counted twice here either.
#[derive(Debug, Clone, Copy)]
pub struct Floor {
    /// CPU per renewal, both sides, microseconds; and the server's share.
    pub total_us: f64,
    pub server_us: f64,
    pub iterations: usize,
}

impl Floor {
    /// Renewals per second if every core did only this.
    pub fn rate(&self, cores: usize) -> f64 {
        cores as f64 * 1e6 / self.total_us
    }
}

pub fn floor(
    ca_dir: &Path,
    fleet: &Fleet,
    crl: Vec<u8>,
    iterations: usize,
) -> Result<Floor, String> {
    let ca = pki_core::ca::Ca::open(ca_dir, None).map_err(|e| e.to_string())?;
    let now = crate::fleet::now();
    let signer = pki_core::ca::Signer::new(&ca, now).map_err(|e| e.to_string())?;
    // the server's side: its certificate from the CA, rustls' client verifier with the CRL
    let server_key =
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| e.to_string())?;
    let issued = signer
        .sign_server(
            &["localhost".into()],
            &rcgen::PublicKeyData::subject_public_key_info(&server_key),
            now,
            time::Duration::days(1),
        )
        .map_err(|e| e.to_string())?;
    let mut chain = pem_certs(issued.pem.as_bytes());
    chain.extend(fleet.issuing.iter().cloned());
    let mut roots = RootCertStore::empty();
    for c in pem_certs(&std::fs::read(ca_dir.join("trust.pem")).map_err(|e| e.to_string())?) {
        roots.add(c).map_err(|e| e.to_string())?;
    }
    let provider = crate::tls::provider();
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .with_crls([CertificateRevocationListDer::from(crl)])
        .only_check_end_entity_revocation()
        .allow_unknown_revocation_status()
        .build()
        .map_err(|e| e.to_string())?;
    let mut server_config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| e.to_string())?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, PrivateKeyDer::try_from(server_key.serialize_der())?)
        .map_err(|e| e.to_string())?;
    server_config.send_tls13_tickets = 0;
    let server_config = Arc::new(server_config);
    let (id, client_config) = {
        let e = fleet.endpoints[0].lock().map_err(|e| e.to_string())?;
        (e.id.clone(), e.config.clone())
    };
    let name = ServerName::try_from("localhost").map_err(|e| e.to_string())?;

    let mut server_wall = Duration::ZERO;
    let mut total_wall = Duration::ZERO;
    let warm = iterations / 10 + 1;
    let mut cpu0 = 0;
    for i in 0..warm + iterations {
        if i == warm {
            cpu0 = thread_cpu_ns();
            server_wall = Duration::ZERO;
            total_wall = Duration::ZERO;
        }
        let start = Instant::now();
        let (_key, body) = csr(&id)?;
        let mut client = ClientConnection::new(client_config.clone(), name.clone())
            .map_err(|e| e.to_string())?;
        let mut server = ServerConnection::new(server_config.clone()).map_err(|e| e.to_string())?;
        let mut buf = Vec::with_capacity(8192);
        while client.is_handshaking()
            || server.is_handshaking()
            || client.wants_write()
            || server.wants_write()
        {
            buf.clear();
            if client.wants_write() {
                client.write_tls(&mut buf).map_err(|e| e.to_string())?;
                let s = Instant::now();
                server
                    .read_tls(&mut buf.as_slice())
                    .map_err(|e| e.to_string())?;
                server
                    .process_new_packets()
                    .map_err(|e| format!("server: {e}"))?;
                server_wall += s.elapsed();
                continue;
            }
            if server.wants_write() {
                let s = Instant::now();
                server.write_tls(&mut buf).map_err(|e| e.to_string())?;
                server_wall += s.elapsed();
                client
                    .read_tls(&mut buf.as_slice())
                    .map_err(|e| e.to_string())?;
                client
                    .process_new_packets()
                    .map_err(|e| format!("client: {e}"))?;
                continue;
            }
            return Err("the in-memory handshake stalled".into());
        }
        let s = Instant::now();
        let der = pki_core::est::body::decode(body.as_bytes()).map_err(|e| e.to_string())?;
        let request = signer
            .read_csr(Path::new("floor"), &der)
            .map_err(|e| e.to_string())?;
        signer.sign(&request, &id, now)?;
        server_wall += s.elapsed();
        total_wall += start.elapsed();
    }
    let cpu = (thread_cpu_ns() - cpu0) as f64 / 1000.0 / iterations as f64;
    let share = server_wall.as_secs_f64() / total_wall.as_secs_f64().max(1e-9);
    Ok(Floor {
        total_us: cpu,
        server_us: cpu * share,
        iterations,
    })
}

/// This thread's CPU time, nanoseconds (/proc/thread-self/schedstat).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// The CRL the server hands out now (DER).
pub async fn fetch_crl(fleet: &Fleet) -> Result<Vec<u8>, String> {
    let (o, _) = exchange(
        fleet.anonymous.clone(),
        fleet.addr,
        b"GET /crl HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        b"",
        Duration::from_secs(10),
    )
    .await;
    match o {
        crate::tls::Outcome::Answer {
            status: 200, body, ..
        } => Ok(body),
        other => Err(format!("GET /crl: {}", crate::fleet::describe(&other))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::Verdict;

    /// Paced at 0.5/s for half a second, one request is due (at the start): the rate is one
    /// over the half second, not one over the few microseconds the lone request took.
    #[tokio::test(flavor = "current_thread")]
    async fn a_schedule_that_ends_early_is_rated_over_its_whole_window() {
        let load = |tally: Arc<Tally>| -> crate::drive::Load {
            let counter = Arc::new(AtomicU64::new(0));
            let next: crate::drive::Next =
                Arc::new(move || counter.fetch_add(1, Ordering::Relaxed));
            let job: Job = Arc::new(move |_, due| {
                let tally = tally.clone();
                Box::pin(async move { tally.record(Kind::Renew, &Verdict::Ok, due.elapsed()) })
            });
            (next, job)
        };
        let row = measure("test", "renew", 4, Some(0.5), 0.5, &Vec::new, &load).await;
        assert!(row.rate > 0.0 && row.rate <= 2.0, "{}/s", row.rate);
    }
}
