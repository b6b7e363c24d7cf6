//! The accept loop and the process's life: listen, accept within the connection cap, survive
//! `accept()` failures (EMFILE, ENFILE, ENOBUFS, ENOMEM: close connections that have been
//! silent, or log and back off, and go on), watch the CA,
//! and on SIGTERM or SIGINT stop accepting, let in-flight requests finish, and return.

use crate::connection;
use crate::Server;
use pki_core::judge::client_verifier::Sink;
use socket2::{SockRef, TcpKeepalive};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{watch, Semaphore};

/// Linux errno values of `accept()` failures that mean "out of a resource", not "this peer".
const EMFILE: i32 = 24;
const ENFILE: i32 = 23;
const ENOBUFS: i32 = 105;
const ENOMEM: i32 = 12;

const BACKOFF_FIRST: Duration = Duration::from_millis(10);
/// Silent connections closed at once when descriptors run out, and the pause that lets
/// their tasks close them before accepting again.
const EVICT: usize = 8;
const EVICTED_PAUSE: Duration = Duration::from_millis(1);
const BACKOFF_MAX: Duration = Duration::from_secs(1);

pub async fn serve(
    server: Arc<Server>,
    sink: Sink,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), crate::Error> {
    let listener = TcpListener::bind(server.settings.listen)
        .await
        .map_err(|e| crate::Error::Io {
            what: format!("listening on {}", server.settings.listen),
            error: e,
        })?;
    let local = listener.local_addr().map_err(|e| crate::Error::Io {
        what: "the listening address".into(),
        error: e,
    })?;
    let (stop_tx, stop) = watch::channel(false);
    let signals = |kind: SignalKind| {
        signal(kind).map_err(|e| crate::Error::Io {
            what: "installing a signal handler".into(),
            error: e,
        })
    };
    let mut term = signals(SignalKind::terminate())?;
    let mut int = signals(SignalKind::interrupt())?;
    let hup = signals(SignalKind::hangup())?;
    tokio::spawn(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: finishing in-flight requests"),
            _ = int.recv() => tracing::info!("SIGINT: finishing in-flight requests"),
        }
        let _ = stop_tx.send(true);
    });
    let reload = tokio::spawn(crate::reload::watch(
        server.clone(),
        sink,
        hup,
        stop.clone(),
    ));

    let state = server.state();
    tracing::info!(
        listen = %local,
        ca = %state.ca.dir.display(),
        inventory = %state.ca.inventory.describe(),
        issuer = %state.signer.generation,
        server_certificate = %state.identity.serial,
        "serving EST"
    );
    drop(state);
    ready(local);

    let limit = server.settings.limits.max_connections;
    let slots = Arc::new(Semaphore::new(limit));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    accept(&server, &listener, &slots, &graceful, stop.clone()).await;
    drop(listener);

    // in-flight requests finish; idle keep-alive connections close
    let grace = server.settings.limits.shutdown_grace;
    let finished = tokio::time::timeout(grace, async {
        graceful.shutdown().await;
        // connections still in their handshake hold a slot until they end (handshake timeout)
        let _all = slots.acquire_many(limit as u32).await;
    })
    .await;
    if finished.is_err() {
        tracing::warn!(
            after = ?grace,
            "connections still open at the end of the shutdown grace are closed"
        );
    }
    reload.abort();
    tracing::info!("stopped");
    Ok(())
}

async fn accept(
    server: &Arc<Server>,
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
    graceful: &hyper_util::server::graceful::GracefulShutdown,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = BACKOFF_FIRST;
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = stop.changed() => return,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let (tcp, peer) = match accepted {
            Ok(pair) => {
                backoff = BACKOFF_FIRST;
                pair
            }
            Err(e) => {
                drop(permit);
                let exhausted =
                    matches!(e.raw_os_error(), Some(EMFILE | ENFILE | ENOBUFS | ENOMEM));
                if exhausted {
                    server
                        .metrics
                        .accept_errors
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    // room made by closing peers that have said nothing: accept again at once
                    let evicted = server.silent.evict(EVICT, crate::silent::MIN_SILENCE);
                    if evicted > 0 {
                        tracing::debug!(error = %e, evicted, "accept failed: out of a resource; closed the longest-silent connections");
                        tokio::select! {
                            _ = tokio::time::sleep(EVICTED_PAUSE) => {}
                            _ = stop.changed() => return,
                        }
                        continue;
                    }
                    tracing::warn!(error = %e, backoff = ?backoff, "accept failed: out of a resource; backing off, still serving");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => return,
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                } else {
                    tracing::debug!(error = %e, "accept failed");
                }
                continue;
            }
        };
        tune(&tcp);
        let server = server.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            connection::serve(server, tcp, peer, watcher).await;
            drop(permit);
        });
    }
}

/// TCP_NODELAY (answers are small and final) and keepalive probes, so that a peer that
/// vanished without a FIN is found out even if no timeout were running.
fn tune(tcp: &TcpStream) {
    let _ = tcp.set_nodelay(true);
    let keepalive = TcpKeepalive::new()
        .with_time(Duration::from_secs(60))
        .with_interval(Duration::from_secs(10))
        .with_retries(5);
    let _ = SockRef::from(tcp).set_tcp_keepalive(&keepalive);
}
