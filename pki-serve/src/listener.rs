//! The accept loop and the process's life: listen, accept within the connection cap, survive
//! `accept()` failures (EMFILE, ENFILE, ENOBUFS, ENOMEM: close connections that have been
//! silent, or log and back off, and go on), watch the CA,
//! and on SIGTERM or SIGINT stop accepting, let in-flight requests finish, and return.

use crate::connection;
use crate::silent::Evicted;
use crate::Server;
use pki_core::judge::client_verifier::Sink;
use socket2::{SockRef, TcpKeepalive};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
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
/// Connections the kernel completes and queues before they are accepted (it caps this at
/// `net.core.somaxconn`, 4096 by default). Tokio's `bind` asks for 128 on Linux here: 1,000
/// peers holding connections filled that queue, the kernel dropped honest devices' SYNs, and
/// they waited on their retransmissions (1 s, 3 s, 7 s: the soak measured a p99 of 7 to 21 s
/// at an open-file limit of 256).
const BACKLOG: u32 = 4096;

/// A listening socket on `addr` with [`BACKLOG`].
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

pub async fn serve(
    server: Arc<Server>,
    sink: Sink,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), crate::Error> {
    let listener = bind(server.settings.listen).map_err(|e| crate::Error::Io {
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
                    // room made by closing peers that have said nothing: accept again at once;
                    // if the silent ones are too young yet, wait until the oldest is old enough
                    // (a short wait, not a backoff grown to a second while devices queue)
                    let wait = match server.silent.evict(EVICT, crate::silent::MIN_SILENCE) {
                        Evicted::Closed(n) => {
                            tracing::debug!(error = %e, evicted = n, "accept failed: out of a resource; closed the longest-silent connections");
                            Some(EVICTED_PAUSE)
                        }
                        Evicted::NoneYet(d) => Some(d.max(EVICTED_PAUSE)),
                        Evicted::NoneSilent => None,
                    };
                    if let Some(wait) = wait {
                        tokio::select! {
                            _ = tokio::time::sleep(wait) => {}
                            _ = stop.changed() => return,
                        }
                        continue;
                    }
                    tracing::warn!(error = %e, backoff = ?backoff, "accept failed: out of a resource, no connection silent; backing off, still serving");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_backlog_holds_hundreds_of_connections_not_yet_accepted() {
        // while the server is out of descriptors it accepts nothing; devices must still get
        // their TCP handshake from the kernel's queue at once, not a dropped SYN
        let listener = bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut held = Vec::new();
        for i in 0..600 {
            let c = tokio::time::timeout(Duration::from_millis(500), TcpStream::connect(addr))
                .await
                .unwrap_or_else(|_| panic!("connection {i} waited on a dropped SYN"))
                .expect("connect");
            held.push(c);
        }
        assert_eq!(held.len(), 600);
    }
}
