//! What `pki serve` is told: the CA, where to listen, its names, and the limits that keep a
//! long-running server alive (every read has a timeout, every queue and cache a bound). From
//! flags, or from a YAML file (`--config`, `samples/serve/pki-serve.yaml`) whose keys are the
//! flags' names; flags given on the command line win.

use crate::clock::Clock;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: SocketAddr,
    /// DNS names and IP addresses of the server's own certificate.
    pub names: Vec<String>,
    /// The server's certificate chain and key; without them the CA issues one for `names`.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub clock: Clock,
    /// Log lines as JSON (one object per line) instead of text.
    pub log_json: bool,
    pub limits: Limits,
}

/// Bounds and timeouts. Defaults in [`Limits::default`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// From accepting a connection to the end of its TLS handshake.
    pub handshake_timeout: Duration,
    /// To receive a request's headers.
    pub header_timeout: Duration,
    /// To receive a request's body.
    pub body_timeout: Duration,
    /// A connection without a byte in either direction for this long is closed (idle
    /// keep-alive included).
    pub idle_timeout: Duration,
    /// The largest request body (413 above it).
    pub body_limit: usize,
    /// The largest request head (431 above it).
    pub header_limit: usize,
    /// TLS sessions kept for resumption.
    pub session_cache: usize,
    /// Issuances waiting for the database; more are shed (503 + Retry-After).
    pub pending_issuances: usize,
    /// How often the CA folder and the inventory are checked for changes.
    pub reload_interval: Duration,
    /// How long in-flight requests get to finish after SIGTERM/SIGINT.
    pub shutdown_grace: Duration,
    /// Lifetime of the server certificate the CA issues (renewed at two thirds).
    pub server_cert_days: u32,
    /// Worker threads (default: one per core).
    pub workers: Option<usize>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 1024,
            handshake_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            body_limit: 64 * 1024,
            header_limit: 16 * 1024,
            session_cache: 1024,
            pending_issuances: 4096,
            reload_interval: Duration::from_secs(1),
            shutdown_grace: Duration::from_secs(30),
            server_cert_days: 30,
            workers: None,
        }
    }
}

/// The config file: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    pub ca: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    #[serde(default)]
    pub names: Vec<String>,
    pub database: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub log_format: Option<LogFormat>,
    pub max_connections: Option<usize>,
    pub handshake_timeout_seconds: Option<u64>,
    pub header_timeout_seconds: Option<u64>,
    pub body_timeout_seconds: Option<u64>,
    pub idle_timeout_seconds: Option<u64>,
    pub body_limit_bytes: Option<usize>,
    pub header_limit_bytes: Option<usize>,
    pub session_cache: Option<usize>,
    pub pending_issuances: Option<usize>,
    pub reload_interval_seconds: Option<u64>,
    pub shutdown_grace_seconds: Option<u64>,
    pub server_cert_days: Option<u32>,
    pub workers: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl File {
    /// Reads and checks a config file; errors carry the file, line and column.
    pub fn load(path: &Path) -> Result<File, String> {
        // through the capped reader: a FIFO or /dev/zero is refused, not read forever
        let text = pki_core::read::input::text(path).map_err(|e| e.to_string())?;
        // the parser's message, then a snippet of the file over several lines: the first
        // line says it all (line, column, what is wrong), and a message is one line
        serde_saphyr::from_str(&text).map_err(|e| {
            let e = e.to_string();
            let first = e.lines().next().unwrap_or_default();
            format!(
                "{}: {}",
                path.display(),
                first.trim_start_matches("error: ")
            )
        })
    }

    /// The limits it sets, over `base`.
    pub fn limits(&self, base: Limits) -> Limits {
        let secs = |v: Option<u64>, d: Duration| v.map_or(d, Duration::from_secs);
        Limits {
            max_connections: self.max_connections.unwrap_or(base.max_connections),
            handshake_timeout: secs(self.handshake_timeout_seconds, base.handshake_timeout),
            header_timeout: secs(self.header_timeout_seconds, base.header_timeout),
            body_timeout: secs(self.body_timeout_seconds, base.body_timeout),
            idle_timeout: secs(self.idle_timeout_seconds, base.idle_timeout),
            body_limit: self.body_limit_bytes.unwrap_or(base.body_limit),
            header_limit: self.header_limit_bytes.unwrap_or(base.header_limit),
            session_cache: self.session_cache.unwrap_or(base.session_cache),
            pending_issuances: self.pending_issuances.unwrap_or(base.pending_issuances),
            reload_interval: secs(self.reload_interval_seconds, base.reload_interval),
            shutdown_grace: secs(self.shutdown_grace_seconds, base.shutdown_grace),
            server_cert_days: self.server_cert_days.unwrap_or(base.server_cert_days),
            workers: self.workers.or(base.workers),
        }
    }
}

/// The longest timeout, grace or reload interval accepted: a day. Far beyond any sane value,
/// and far from where adding it to an instant overflows (a timeout of u64::MAX seconds made
/// every connection panic).
const MAX_WAIT: Duration = Duration::from_secs(24 * 60 * 60);
/// The most connections, TLS sessions or waiting issuances accepted: each is a bound on
/// memory, and tokio's semaphore, rustls' session cache and the queue allocate or panic at
/// values near usize::MAX.
const MAX_COUNT: usize = 1 << 20;
/// The most worker threads accepted.
const MAX_WORKERS: usize = 1024;
/// The largest request head or body accepted, in bytes: 16 MiB (an EST request is about a
/// kilobyte).
const MAX_BYTES: usize = 16 << 20;
/// The longest server certificate accepted, in days (ten years).
const MAX_CERT_DAYS: usize = 3650;

impl Limits {
    /// Refuses values that would disable a bound, or that no bound can hold.
    pub fn check(&self) -> Result<(), String> {
        let waits = [
            ("handshake_timeout", self.handshake_timeout),
            ("header_timeout", self.header_timeout),
            ("body_timeout", self.body_timeout),
            ("idle_timeout", self.idle_timeout),
            ("reload_interval", self.reload_interval),
            ("shutdown_grace", self.shutdown_grace),
        ];
        if let Some((name, _)) = waits.iter().find(|(_, d)| *d > MAX_WAIT) {
            return Err(format!(
                "{name} must be at most {} seconds",
                MAX_WAIT.as_secs()
            ));
        }
        let sizes = [
            ("max_connections", self.max_connections, MAX_COUNT),
            ("session_cache", self.session_cache, MAX_COUNT),
            ("pending_issuances", self.pending_issuances, MAX_COUNT),
            ("workers", self.workers.unwrap_or(1), MAX_WORKERS),
            ("body_limit", self.body_limit, MAX_BYTES),
            ("header_limit", self.header_limit, MAX_BYTES),
            (
                "server_cert_days",
                self.server_cert_days as usize,
                MAX_CERT_DAYS,
            ),
        ];
        if let Some((name, _, max)) = sizes.iter().find(|(_, n, max)| n > max) {
            return Err(format!("{name} must be at most {max}"));
        }
        let zero = [
            ("max_connections", self.max_connections == 0),
            ("handshake_timeout", self.handshake_timeout.is_zero()),
            ("header_timeout", self.header_timeout.is_zero()),
            ("body_timeout", self.body_timeout.is_zero()),
            ("idle_timeout", self.idle_timeout.is_zero()),
            ("body_limit", self.body_limit == 0),
            ("pending_issuances", self.pending_issuances == 0),
            ("reload_interval", self.reload_interval.is_zero()),
            ("server_cert_days", self.server_cert_days == 0),
        ];
        match zero.iter().find(|(_, z)| *z) {
            Some((name, _)) => Err(format!("{name} must be more than zero")),
            None if self.header_limit < 8192 => {
                Err("header_limit must be at least 8192 bytes".into())
            }
            None => Ok(()),
        }
    }
}
