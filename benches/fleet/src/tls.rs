//! The generator's TLS: client configurations as a device has them (the CA's trust anchors,
//! the device's certificate and key, ring chosen explicitly, no session resumption unless a
//! hostile peer wants it), and one exchange on a new TCP and TLS connection.
//!
//! The server's chain is verified by webpki once per distinct chain and remembered; the
//! server's handshake signature is verified on every connection. A device that renews every
//! few weeks pays the chain check each time; a generator that opens thousands of connections
//! a second would otherwise spend on it the CPU the server under test needs (nginx, measured
//! with the same generator, gets the same treatment).

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// The ring provider, shared.
pub fn provider() -> Arc<CryptoProvider> {
    static P: std::sync::OnceLock<Arc<CryptoProvider>> = std::sync::OnceLock::new();
    P.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// PEM certificates of `pem`.
pub fn pem_certs(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem)
        .filter_map(Result::ok)
        .collect()
}

/// What every client of one target shares: its trust anchors and the remembered chains.
#[derive(Clone)]
pub struct Trust {
    verifier: Arc<Remembering>,
}

impl Trust {
    /// Trusts the certificates of `anchors_pem`.
    pub fn new(anchors_pem: &[u8]) -> Result<Trust, String> {
        let mut roots = RootCertStore::empty();
        for c in pem_certs(anchors_pem) {
            roots.add(c).map_err(|e| format!("trust anchor: {e}"))?;
        }
        if roots.is_empty() {
            return Err("no trust anchor".into());
        }
        let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Trust {
            verifier: Arc::new(Remembering {
                inner,
                known: Mutex::new(HashSet::new()),
            }),
        })
    }

    /// A device's configuration: `identity` (chain, leaf first, and PKCS#8 key) if given;
    /// `resume` keeps sessions for resumption.
    pub fn config(
        &self,
        identity: Option<(Vec<CertificateDer<'static>>, Vec<u8>)>,
        resume: bool,
    ) -> Result<Arc<ClientConfig>, String> {
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .dangerous()
            .with_custom_certificate_verifier(self.verifier.clone());
        let mut config = match identity {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, PrivateKeyDer::try_from(key)?)
                .map_err(|e| format!("client certificate: {e}"))?,
            None => builder.with_no_client_auth(),
        };
        if !resume {
            config.resumption = Resumption::disabled();
        }
        Ok(Arc::new(config))
    }
}

/// webpki's verdict on the server's chain, remembered per chain.
#[derive(Debug)]
struct Remembering {
    inner: Arc<WebPkiServerVerifier>,
    known: Mutex<HashSet<Vec<u8>>>,
}

impl ServerCertVerifier for Remembering {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(end_entity.as_ref());
        for c in intermediates {
            ctx.update(c.as_ref());
        }
        ctx.update(format!("{server_name:?}").as_bytes());
        let key = ctx.finish().as_ref().to_vec();
        if self.known.lock().is_ok_and(|k| k.contains(&key)) {
            return Ok(ServerCertVerified::assertion());
        }
        let verified =
            self.inner
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)?;
        if let Ok(mut known) = self.known.lock() {
            if known.len() >= 64 {
                known.clear();
            }
            known.insert(key);
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// How an exchange ended.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// An HTTP answer: status, whether `Retry-After` came with it, the body.
    Answer {
        status: u16,
        retry_after: bool,
        body: Vec<u8>,
    },
    /// The server refused the handshake with this alert (`unknown_ca`, …).
    Alert(String),
    /// Anything else: connect, TLS or I/O failure, a timeout, an answer that is not HTTP.
    Failed(String),
}

/// The largest answer read.
const MAX_ANSWER: usize = 1 << 20;

/// One request on a new TCP and TLS connection to `addr` (as `localhost`): connect,
/// handshake, send `head` and `body`, read the answer to the end; everything within
/// `timeout`. The time it took comes back with the outcome.
pub async fn exchange(
    config: Arc<ClientConfig>,
    addr: SocketAddr,
    head: &[u8],
    body: &[u8],
    timeout: Duration,
) -> (Outcome, Duration) {
    let started = Instant::now();
    let outcome = match tokio::time::timeout(timeout, talk(config, addr, head, body)).await {
        Ok(o) => o,
        Err(_) => Outcome::Failed(format!("no answer within {timeout:?}")),
    };
    (outcome, started.elapsed())
}

async fn talk(config: Arc<ClientConfig>, addr: SocketAddr, head: &[u8], body: &[u8]) -> Outcome {
    let tcp = match TcpStream::connect(addr).await {
        Ok(t) => t,
        Err(e) => return Outcome::Failed(format!("connect: {e}")),
    };
    let _ = tcp.set_nodelay(true);
    let name = ServerName::try_from("localhost").expect("a DNS name");
    let mut tls = match TlsConnector::from(config).connect(name, tcp).await {
        Ok(t) => t,
        Err(e) => return failure(&e),
    };
    let mut request = Vec::with_capacity(head.len() + body.len());
    request.extend_from_slice(head);
    request.extend_from_slice(body);
    if let Err(e) = tls.write_all(&request).await {
        return failure(&e);
    }
    let mut answer = Vec::with_capacity(4096);
    let mut buf = [0u8; 16 * 1024];
    loop {
        match tls.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.len() > MAX_ANSWER {
                    return Outcome::Failed("answer too large".into());
                }
                if complete(&answer) {
                    break;
                }
            }
            // an answer complete before the close is an answer (no close_notify needed)
            Err(_) if complete(&answer) => break,
            Err(e) => return failure(&e),
        }
    }
    parse(&answer)
}

/// Whether `answer` holds a whole HTTP response (head and `Content-Length` bytes of body).
fn complete(answer: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut r = httparse::Response::new(&mut headers);
    match r.parse(answer) {
        Ok(httparse::Status::Complete(at)) => {
            let length = r
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok())
                .and_then(|v| v.trim().parse::<usize>().ok());
            length.is_some_and(|n| answer.len() >= at + n)
        }
        _ => false,
    }
}

fn parse(answer: &[u8]) -> Outcome {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut r = httparse::Response::new(&mut headers);
    match r.parse(answer) {
        Ok(httparse::Status::Complete(at)) => Outcome::Answer {
            status: r.code.unwrap_or(0),
            retry_after: r
                .headers
                .iter()
                .any(|h| h.name.eq_ignore_ascii_case("retry-after")),
            body: answer[at..].to_vec(),
        },
        _ if answer.is_empty() => Outcome::Failed("closed without an answer".into()),
        _ => Outcome::Failed("not an HTTP answer".into()),
    }
}

fn failure(e: &std::io::Error) -> Outcome {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(Error::AlertReceived(alert)) => {
            Outcome::Alert(pki_net::client::http::alert_name(*alert))
        }
        Some(other) => Outcome::Failed(format!("TLS: {other}")),
        None => Outcome::Failed(format!("I/O: {e}")),
    }
}
