//! The fleet: N endpoints, each with its own key and certificate, enrolled once through
//! `pki serve` (`simpleenroll` with a one-time token), then living their days as requests on
//! new connections: renewals (`simplereenroll` with a new key), the CA certificates over
//! mutual TLS (`cacerts`, the device's check-in), CRL fetches, handshakes the server must
//! refuse (a foreign CA's certificate, one expired past grace, a revoked one), and first
//! enrollments of new devices with tokens made while the fleet runs.

use crate::stats::Tally;
use crate::tls::{exchange, pem_certs, Outcome, Trust};
use base64::Engine;
use pki_core::ca::Ca;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
};
use rustls::ClientConfig;
use rustls_pki_types::CertificateDer;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// What one honest request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Renew,
    Cacerts,
    Crl,
    Refused,
    Enroll,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Renew,
        Kind::Cacerts,
        Kind::Crl,
        Kind::Refused,
        Kind::Enroll,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Renew => "renew",
            Kind::Cacerts => "cacerts",
            Kind::Crl => "crl",
            Kind::Refused => "refused",
            Kind::Enroll => "enroll",
        }
    }
}

/// The share of each kind in 100 requests, spread evenly.
#[derive(Debug, Clone)]
pub struct Mix(Vec<Kind>);

impl Mix {
    /// From `renew=20,cacerts=50,...` (percentages adding up to 100).
    pub fn parse(text: &str) -> Result<Mix, String> {
        let mut slots = Vec::new();
        for part in text.split(',').filter(|p| !p.is_empty()) {
            let (name, n) = part
                .split_once('=')
                .ok_or_else(|| format!("'{part}': want kind=percent"))?;
            let kind = Kind::ALL
                .into_iter()
                .find(|k| k.name() == name.trim())
                .ok_or_else(|| {
                    format!("'{name}': not one of renew, cacerts, crl, refused, enroll")
                })?;
            let n: usize = n
                .trim()
                .parse()
                .map_err(|_| format!("'{n}': a percentage"))?;
            slots.extend(std::iter::repeat_n(kind, n));
        }
        if slots.len() != 100 {
            return Err(format!("the mix adds up to {}%, not 100%", slots.len()));
        }
        // spread: slot i goes to position i*37 mod 100 (37 is prime to 100)
        let mut spread = slots.clone();
        for (i, k) in slots.into_iter().enumerate() {
            spread[i * 37 % 100] = k;
        }
        Ok(Mix(spread))
    }

    /// Only `kind`.
    pub fn only(kind: Kind) -> Mix {
        Mix(vec![kind])
    }

    pub fn at(&self, n: u64) -> Kind {
        self.0[(n % self.0.len() as u64) as usize]
    }
}

/// One simulated device.
pub struct Endpoint {
    pub id: String,
    /// Its certificate chain (leaf, issuing CA) and PKCS#8 key.
    pub chain: Vec<CertificateDer<'static>>,
    pub key: Vec<u8>,
    /// Its TLS configuration toward `pki serve` (rebuilt after each renewal).
    pub config: Arc<ClientConfig>,
}

/// A certificate the server must refuse, and the alert it must send.
pub struct Refused {
    pub what: &'static str,
    pub alert: &'static str,
    pub config: Arc<ClientConfig>,
}

pub struct Fleet {
    pub addr: SocketAddr,
    pub trust: Trust,
    /// No client certificate.
    pub anonymous: Arc<ClientConfig>,
    /// The issuing CA certificate sent after a device's leaf.
    pub issuing: Vec<CertificateDer<'static>>,
    pub endpoints: Vec<Mutex<Endpoint>>,
    pub refused: Vec<Refused>,
    tokens: Mutex<Receiver<(String, String)>>,
    pub timeout: Duration,
    next: AtomicU64,
}

/// The CA made for a run: initialised two years ago (so that a certificate can have expired
/// long before now), the default device policy.
pub fn make_ca(dir: &Path) -> Result<Ca, String> {
    let at = now() - time::Duration::days(730);
    pki_core::ca::init(dir, "Fleet", &pki_core::Policy::default(), None, None, at)
        .map_err(|e| e.to_string())
}

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

impl Fleet {
    /// Enrolls `n` endpoints through the server at `addr` (tokens made in the CA's inventory
    /// here, `simpleenroll` over the network, `concurrency` at a time), and prepares the
    /// refused certificates: a foreign CA's, one that expired 35 days ago, a revoked one (the
    /// server must see the revocation: call this after it started, or before).
    pub async fn enroll(
        ca_dir: &Path,
        addr: SocketAddr,
        n: usize,
        concurrency: usize,
        stop: Arc<AtomicBool>,
    ) -> Result<Arc<Fleet>, String> {
        let ca = Ca::open(ca_dir, None).map_err(|e| e.to_string())?;
        let trust =
            Trust::new(&std::fs::read(ca_dir.join("trust.pem")).map_err(|e| e.to_string())?)?;
        let issuing =
            pem_certs(&std::fs::read(ca_dir.join("chain.pem")).map_err(|e| e.to_string())?);
        let mut secrets = Vec::with_capacity(n);
        for i in 0..n {
            let id = format!("device-{i:05}");
            let t = pki_core::ca::token::make(&ca, &id, time::Duration::hours(24), now())
                .map_err(|e| e.to_string())?;
            secrets.push((id, t.secret));
        }
        let refused = refused(&ca, &trust, &issuing)?;
        let (tx, rx) = sync_channel(256);
        tokens(ca_dir.to_path_buf(), tx, stop);
        let fleet = Arc::new(Fleet {
            addr,
            anonymous: trust.config(None, false)?,
            trust,
            issuing,
            endpoints: Vec::with_capacity(n),
            refused,
            tokens: Mutex::new(rx),
            timeout: Duration::from_secs(30),
            next: AtomicU64::new(0),
        });
        let queue = Arc::new(Mutex::new(secrets.into_iter().enumerate()));
        let done = Arc::new(Mutex::new(Vec::with_capacity(n)));
        let mut tasks = Vec::new();
        for _ in 0..concurrency.max(1) {
            let (queue, done, fleet) = (queue.clone(), done.clone(), fleet.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let next = queue.lock().ok().and_then(|mut q| q.next());
                    let Some((i, (id, secret))) = next else { break };
                    let endpoint = fleet.first_certificate(&id, &secret).await?;
                    if let Ok(mut d) = done.lock() {
                        d.push((i, endpoint));
                    }
                }
                Ok::<(), String>(())
            }));
        }
        for t in tasks {
            t.await.map_err(|e| e.to_string())??;
        }
        let mut endpoints = std::mem::take(&mut *done.lock().map_err(|e| e.to_string())?);
        endpoints.sort_by_key(|(i, _)| *i);
        let mut fleet = Arc::try_unwrap(fleet).map_err(|_| "the fleet is still shared")?;
        fleet.endpoints = endpoints.into_iter().map(|(_, e)| Mutex::new(e)).collect();
        Ok(Arc::new(fleet))
    }

    /// `simpleenroll` for `id` with `secret`: the new endpoint.
    async fn first_certificate(&self, id: &str, secret: &str) -> Result<Endpoint, String> {
        let (outcome, _, key) = self.enroll_request(id, secret).await;
        let (chain, key) = self.issued(outcome, id, key)?;
        Ok(Endpoint {
            id: id.to_string(),
            config: self
                .trust
                .config(Some((chain.clone(), key.clone())), false)?,
            chain,
            key,
        })
    }

    /// `simpleenroll` for `id` with a new key: the answer, its time, the key.
    async fn enroll_request(&self, id: &str, secret: &str) -> (Outcome, Duration, Vec<u8>) {
        let (key, body) = match csr(id) {
            Ok(x) => x,
            Err(e) => return (Outcome::Failed(e), Duration::ZERO, Vec::new()),
        };
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        let head = format!(
            "POST /.well-known/est/simpleenroll HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic {basic}\r\nContent-Type: application/pkcs10\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let (o, t) = exchange(
            self.anonymous.clone(),
            self.addr,
            head.as_bytes(),
            body.as_bytes(),
            self.timeout,
        )
        .await;
        (o, t, key)
    }

    /// The chain (the issued leaf, the issuing CA) and `key` of an issuing answer.
    fn issued(
        &self,
        outcome: Outcome,
        id: &str,
        key: Vec<u8>,
    ) -> Result<(Vec<CertificateDer<'static>>, Vec<u8>), String> {
        match outcome {
            Outcome::Answer {
                status: 200, body, ..
            } => {
                let der = pki_core::est::body::decode(&body).map_err(|e| format!("{id}: {e}"))?;
                let certs = pki_core::est::pkcs7::certificates(&der)?;
                let leaf = certs
                    .into_iter()
                    .next()
                    .ok_or("no certificate in the answer")?;
                let mut chain = vec![CertificateDer::from(leaf)];
                chain.extend(self.issuing.iter().cloned());
                Ok((chain, key))
            }
            Outcome::Answer { status, body, .. } => Err(format!(
                "{id}: {status} {}",
                String::from_utf8_lossy(&body).trim()
            )),
            Outcome::Alert(a) => Err(format!("{id}: alert {a}")),
            Outcome::Failed(e) => Err(format!("{id}: {e}")),
        }
    }

    pub fn len(&self) -> usize {
        self.endpoints.len()
    }

    /// Runs the `n`th honest request of `mix` and counts it in `tally`.
    pub async fn request(&self, kind: Kind, n: u64, due: Instant, tally: &Tally) {
        // time spent waiting for a free client after the request was due is latency too
        let late = due.elapsed();
        // the kind is n's place in the mix's 100; skewing the endpoint by n / 100 gives each
        // endpoint every kind in turn
        let index = ((n + 37 * (n / 100)) as usize) % self.endpoints.len().max(1);
        let (verdict, took) = match kind {
            Kind::Renew => self.renew(index).await,
            Kind::Cacerts => {
                let config = self.config_of(index);
                let (o, t) = exchange(config, self.addr, CACERTS, b"", self.timeout).await;
                (expect_200(o), t)
            }
            Kind::Crl => {
                let (o, t) =
                    exchange(self.anonymous.clone(), self.addr, CRL, b"", self.timeout).await;
                (expect_200(o), t)
            }
            Kind::Refused => {
                let r = &self.refused[(n as usize / 100) % self.refused.len()];
                let (o, t) =
                    exchange(r.config.clone(), self.addr, CACERTS, b"", self.timeout).await;
                let v = match o {
                    Outcome::Alert(a) if a == r.alert => Verdict::Ok,
                    other => {
                        Verdict::Failed(format!("{} certificate: {}", r.what, describe(&other)))
                    }
                };
                (v, t)
            }
            Kind::Enroll => {
                let token = self.tokens.lock().ok().and_then(|t| t.try_recv().ok());
                match token {
                    Some((id, secret)) => {
                        let (o, t, key) = self.enroll_request(&id, &secret).await;
                        let v = match o {
                            Outcome::Answer {
                                status: 503,
                                retry_after: true,
                                ..
                            } => Verdict::Shed,
                            other => match self.issued(other, &id, key) {
                                Ok(_) => Verdict::Ok,
                                Err(e) => Verdict::Failed(e),
                            },
                        };
                        (v, t)
                    }
                    None => {
                        tally.count_skip();
                        return;
                    }
                }
            }
        };
        tally.record(kind, &verdict, late + took);
    }

    fn config_of(&self, index: usize) -> Arc<ClientConfig> {
        match self.endpoints[index].lock() {
            Ok(e) => e.config.clone(),
            Err(p) => p.into_inner().config.clone(),
        }
    }

    /// A renewal of endpoint `index` with a new key; on success the endpoint uses the new
    /// certificate from then on.
    async fn renew(&self, index: usize) -> (Verdict, Duration) {
        let (id, config) = match self.endpoints[index].lock() {
            Ok(e) => (e.id.clone(), e.config.clone()),
            Err(_) => return (Verdict::Failed("poisoned".into()), Duration::ZERO),
        };
        let (key, body) = match csr(&id) {
            Ok(x) => x,
            Err(e) => return (Verdict::Failed(e), Duration::ZERO),
        };
        let head = format!(
            "POST /.well-known/est/simplereenroll HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/pkcs10\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        let (o, took) = exchange(
            config,
            self.addr,
            head.as_bytes(),
            body.as_bytes(),
            self.timeout,
        )
        .await;
        if let Outcome::Answer {
            status: 503,
            retry_after: true,
            ..
        } = o
        {
            return (Verdict::Shed, took);
        }
        let verdict = match self.issued(o, &id, key) {
            Ok((chain, key)) => {
                match self.trust.config(Some((chain.clone(), key.clone())), false) {
                    Ok(config) => {
                        if let Ok(mut e) = self.endpoints[index].lock() {
                            e.chain = chain;
                            e.key = key;
                            e.config = config;
                        }
                        Verdict::Ok
                    }
                    Err(e) => Verdict::Failed(e),
                }
            }
            Err(e) => Verdict::Failed(e),
        };
        (verdict, took)
    }

    /// The next request number.
    pub fn next(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }
}

pub const CACERTS: &[u8] =
    b"GET /.well-known/est/cacerts HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
const CRL: &[u8] = b"GET /crl HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

/// What an honest request came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    /// 503 with `Retry-After`: the server shed it (counted apart, not a failure).
    Shed,
    Failed(String),
}

pub fn expect_200(o: Outcome) -> Verdict {
    match o {
        Outcome::Answer { status: 200, .. } => Verdict::Ok,
        Outcome::Answer {
            status: 503,
            retry_after: true,
            ..
        } => Verdict::Shed,
        other => Verdict::Failed(describe(&other)),
    }
}

pub fn describe(o: &Outcome) -> String {
    match o {
        Outcome::Answer { status, body, .. } => {
            let text = String::from_utf8_lossy(body);
            format!(
                "{status} {}",
                text.trim().chars().take(120).collect::<String>()
            )
        }
        Outcome::Alert(a) => format!("alert {a}"),
        Outcome::Failed(e) => e.clone(),
    }
}

/// A new P-256 key and a request for it naming `CN=<id>`, base64: (PKCS#8 key, body).
pub fn csr(id: &str) -> Result<(Vec<u8>, String), String> {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(|e| e.to_string())?;
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, id);
    params.distinguished_name = dn;
    let request = params.serialize_request(&key).map_err(|e| e.to_string())?;
    let body = base64::engine::general_purpose::STANDARD.encode(request.der());
    Ok((key.serialize_der(), body))
}

/// Makes tokens for new devices (`joiner-N`) ahead of the enrollments that use them, as an
/// operator would, until `stop`.
fn tokens(
    ca_dir: PathBuf,
    tx: std::sync::mpsc::SyncSender<(String, String)>,
    stop: Arc<AtomicBool>,
) {
    let _ = std::thread::Builder::new()
        .name("tokens".into())
        .spawn(move || {
            let Ok(ca) = Ca::open(&ca_dir, None) else {
                return;
            };
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let id = format!("joiner-{n:07}");
                n += 1;
                let Ok(t) = pki_core::ca::token::make(&ca, &id, time::Duration::hours(24), now())
                else {
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                };
                let mut item = (id, t.secret);
                loop {
                    match tx.try_send(item) {
                        Ok(()) => break,
                        Err(std::sync::mpsc::TrySendError::Full(back)) => {
                            if stop.load(Ordering::Relaxed) {
                                return;
                            }
                            item = back;
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        Err(_) => return,
                    }
                }
            }
        });
}

/// The three certificates the server must refuse: a foreign CA's, one of this CA that
/// expired 35 days ago (past any grace), a revoked one.
fn refused(
    ca: &Ca,
    trust: &Trust,
    issuing: &[CertificateDer<'static>],
) -> Result<Vec<Refused>, String> {
    let e = |e: rcgen::Error| e.to_string();
    // a foreign CA
    let root_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(e)?;
    let mut root = CertificateParams::default();
    root.distinguished_name
        .push(DnType::CommonName, "Foreign Root CA");
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let issuer = Issuer::from_params(&root, &root_key);
    let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(e)?;
    let mut leaf = CertificateParams::default();
    leaf.distinguished_name
        .push(DnType::CommonName, "foreign-device");
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    let foreign = leaf.signed_by(&leaf_key, &issuer).map_err(e)?;
    let mut out = vec![Refused {
        what: "a foreign CA's",
        alert: "unknown_ca",
        config: trust.config(
            Some((vec![foreign.der().clone()], leaf_key.serialize_der())),
            false,
        )?,
    }];
    // this CA's, signed 400 days ago (365 days of life), and revoked
    for (what, alert, age) in [
        ("an expired", "certificate_expired", 400),
        ("a revoked", "certificate_revoked", 0),
    ] {
        let id = if age > 0 {
            "expired-device"
        } else {
            "revoked-device"
        };
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(e)?;
        let mut params = CertificateParams::default();
        params.distinguished_name.push(DnType::CommonName, id);
        let request = params.serialize_request(&key).map_err(e)?;
        let at = now() - time::Duration::days(age);
        let issued =
            pki_core::ca::issue::sign_csr(ca, Path::new("fleet.csr"), request.der(), Some(id), at)
                .map_err(|e| e.to_string())?;
        if age == 0 {
            pki_core::ca::revoke(ca, &issued.serial, "keyCompromise", at)
                .map_err(|e| e.to_string())?;
        }
        let mut chain = pem_certs(issued.pem.as_bytes());
        chain.extend(issuing.iter().cloned());
        out.push(Refused {
            what,
            alert,
            config: trust.config(Some((chain, key.serialize_der())), false)?,
        });
    }
    Ok(out)
}
