//! `pki serve`: the CA's network face. Devices enroll (`simpleenroll`, with a one-time token)
//! and renew (`simplereenroll`, over mutual TLS, even just after expiry within the policy's
//! grace) over EST (RFC 7030, RFC 8951), fetch the CA certificates and the CRL, and every
//! client certificate the TLS handshake refuses is explained, as `pki diagnose` would, in one
//! log line and a counter.
//!
//! Built to run for months: every read has a timeout, every queue and cache a bound, the
//! accept loop survives running out of file descriptors, nothing is kept per connection after
//! it ends, CA changes are picked up without a restart, and SIGTERM lets in-flight requests
//! finish.
//!
//! The modules: [`settings`] and [`clock`] (what it is told), [`state`] (what it derives
//! from the CA, swapped whole by [`reload`]), [`listener`] and [`connection`] (sockets, TLS,
//! HTTP and their limits, [`deadline`], [`silent`]), [`routes`] and [`est`] (the answers), [`commit`] (the
//! inventory writes, grouped), [`metrics`] and [`logging`].

pub mod clock;
pub mod commit;
pub mod connection;
pub mod deadline;
pub mod est;
pub mod listener;
pub mod logging;
pub mod metrics;
pub mod reload;
pub mod routes;
pub mod settings;
pub mod silent;
pub mod state;

pub use clock::Clock;
pub use settings::{Limits, Settings};

use commit::Committer;
use metrics::Metrics;
use pki_core::ca::Ca;
use state::State;
use std::sync::{Arc, RwLock};

/// Why the server could not start (once started, it does not stop on an error).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Core(#[from] pki_core::Error),
    #[error("{what}: {error}")]
    Io { what: String, error: std::io::Error },
    #[error("{0}")]
    Settings(String),
}

/// What every connection shares.
pub struct Server {
    state: RwLock<Arc<State>>,
    pub settings: Settings,
    pub metrics: Arc<Metrics>,
    pub committer: Committer,
    /// Connections that have not sent a byte yet (closed first when descriptors run out).
    pub silent: Arc<silent::Silent>,
    ca: Ca,
}

impl Server {
    /// The current state.
    pub fn state(&self) -> Arc<State> {
        match self.state.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn replace(&self, new: State) {
        self.publish(&new);
        let new = Arc::new(new);
        match self.state.write() {
            Ok(mut s) => *s = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }
}

/// Runs the server for the CA `ca` (its inventory open) until SIGTERM or SIGINT; returns when
/// in-flight requests have finished. `ready` gets the address it listens on.
pub fn run(
    ca: Ca,
    settings: Settings,
    ready: impl FnOnce(std::net::SocketAddr),
) -> Result<(), Error> {
    settings.limits.check().map_err(Error::Settings)?;
    pki_core::ca::issue::Signer::check_clock(&ca, settings.clock.now())?;
    if settings.tls_cert.is_some() != settings.tls_key.is_some() {
        return Err(Error::Settings(
            "--tls-cert and --tls-key go together".into(),
        ));
    }
    logging::init(settings.log_json);
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = settings.limits.workers {
        runtime.worker_threads(n.max(1));
    }
    let runtime = runtime
        .max_blocking_threads(32)
        .enable_all()
        .thread_name("pki-serve")
        .build()
        .map_err(|e| Error::Io {
            what: "the async runtime".into(),
            error: e,
        })?;
    // no issuance waits for a checkpoint: the commit thread runs them after answering
    ca.inventory.defer_checkpoints();
    // every connection to the inventory opened now: serving never opens one (descriptors
    // stay where they are after a burst; a server out of descriptors still has them)
    ca.inventory.open_pool()?;
    let metrics = Arc::new(Metrics::default());
    let sink = logging::rejection_sink(metrics.clone());
    let first = State::build(&ca, &settings, sink.clone(), None)?;
    let committer = Committer::start(
        ca.inventory.clone(),
        settings.limits.pending_issuances,
        metrics.clone(),
    );
    let server = Arc::new(Server {
        state: RwLock::new(Arc::new(first)),
        settings,
        metrics,
        committer,
        silent: Arc::default(),
        ca,
    });
    server.publish(&server.state());
    let result = runtime.block_on(listener::serve(server.clone(), sink, ready));
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    if let Ok(server) = Arc::try_unwrap(server) {
        server.committer.stop();
    }
    result
}

impl Server {
    /// The state's figures in the metrics.
    fn publish(&self, s: &State) {
        self.metrics
            .crl_number
            .store(s.crl_number, std::sync::atomic::Ordering::Relaxed);
        self.metrics.server_cert_not_after.store(
            s.identity.not_after.unix_timestamp(),
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}
