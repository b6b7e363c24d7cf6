//! One connection: the TLS handshake within its timeout (a refused client certificate is
//! explained by the verifier, with this peer's address), then HTTP/1.1 with a header timeout,
//! a header size limit and the idle [`Deadline`]; the body limit and timeout are the routes'.
//! When the connection ends nothing of it is left: its state, TLS session aside (a bounded
//! cache), is dropped with the task.

use crate::deadline::Deadline;
use crate::routes;
use crate::Server;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls_pki_types::CertificateDer;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

/// What a request knows of its connection.
pub struct Peer {
    pub addr: SocketAddr,
    /// The client's certificate chain, leaf first (empty without one).
    pub certs: Vec<CertificateDer<'static>>,
}

pub async fn serve(
    server: Arc<Server>,
    tcp: TcpStream,
    addr: SocketAddr,
    watcher: hyper_util::server::graceful::Watcher,
) {
    let metrics = &server.metrics;
    metrics.connections_total.fetch_add(1, Ordering::Relaxed);
    metrics.connections_open.fetch_add(1, Ordering::Relaxed);
    let _open = Open(server.clone());

    let limits = &server.settings.limits;
    let accepted = tokio::time::Instant::now();
    // the first byte: until it comes, this connection may be closed to make room when
    // descriptors run out (see `silent`)
    let waiting = server.silent.enter();
    let mut byte = [0u8; 1];
    let first = tokio::select! {
        // a byte to read (or the peer's FIN), not mere readiness: tokio may report a socket
        // readable with nothing in it, and a silent peer would leave the registry unseen
        r = tokio::time::timeout(limits.handshake_timeout, tcp.peek(&mut byte)) => r,
        () = waiting.evicted() => {
            metrics.handshake_failed("evicted");
            tracing::debug!(peer = %addr, "closed to make room: silent while descriptors ran out");
            return;
        }
    };
    drop(waiting);
    if first.is_err() {
        metrics.handshake_failed("timeout");
        tracing::debug!(peer = %addr, "TLS handshake timed out (not a byte sent)");
        return;
    }
    let acceptor = TlsAcceptor::from(server.state().tls());
    // the verifier names this peer in a refusal (the configuration is shared)
    let accept = crate::state::PEER.scope(addr, acceptor.accept(tcp).into_fallible());
    let tls = match tokio::time::timeout_at(accepted + limits.handshake_timeout, accept).await {
        Ok(Ok(tls)) => tls,
        Ok(Err((e, tcp))) => {
            // a refused certificate was explained (logged, counted) by the verifier
            let kind = if is_certificate_error(&e) {
                "rejected"
            } else {
                "tls"
            };
            metrics.handshake_failed(kind);
            tracing::debug!(peer = %addr, error = %e, "TLS handshake failed");
            linger(tcp).await;
            return;
        }
        Err(_) => {
            metrics.handshake_failed("timeout");
            tracing::debug!(peer = %addr, "TLS handshake timed out");
            return;
        }
    };
    let certs = tls
        .get_ref()
        .1
        .peer_certificates()
        .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
        .unwrap_or_default();
    let peer = Arc::new(Peer { addr, certs });
    let io = TokioIo::new(Deadline::new(tls, limits.idle_timeout));
    let handler = server.clone();
    let service = service_fn(move |req| routes::handle(handler.clone(), peer.clone(), req));
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_header_size(limits.header_limit)
        .max_buf_size(limits.header_limit.max(8192) + limits.body_limit.min(1 << 20))
        .auto_date_header(false)
        .keep_alive(true)
        .serve_connection(io, service);
    if let Err(e) = watcher.watch(conn).await {
        tracing::debug!(peer = %addr, error = %e, "connection ended");
    }
}

/// After a refused handshake: the alert is sent; close our side and read what the client
/// had already sent (a TLS 1.3 client sends its request right after its Finished) for a
/// moment, so that the kernel closes with FIN, not RST — a reset could discard the alert
/// before the device reads it, and the device would not learn why.
async fn linger(mut tcp: TcpStream) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let _ = tcp.shutdown().await;
    let mut buf = [0u8; 4096];
    let mut left: usize = 64 * 1024;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
        while left > 0 {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    })
    .await;
}

/// Counts the connection as open for as long as it lives, whichever way it ends.
struct Open(Arc<Server>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0
            .metrics
            .connections_open
            .fetch_sub(1, Ordering::Relaxed);
    }
}

fn is_certificate_error(e: &std::io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|r| {
            matches!(
                r,
                rustls::Error::InvalidCertificate(_) | rustls::Error::InvalidCertRevocationList(_)
            )
        })
}
