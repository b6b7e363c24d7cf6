//! `pki serve`: flags and the config file to the server's settings; the CA and its inventory
//! opened as every CA command opens them.

use crate::args::{LogFormat, Serve, UsageError};
use crate::exit::Outcome;
use anyhow::Result;
use pki_serve::settings::{File, LogFormat as FileLogFormat};
use pki_serve::{Clock, Limits, Settings};
use std::net::SocketAddr;
use time::OffsetDateTime;

/// Listens here unless told otherwise.
const DEFAULT_LISTEN: &str = "0.0.0.0:8443";

pub fn serve(s: Serve, at: Option<OffsetDateTime>) -> Result<Outcome> {
    let file = match &s.config {
        Some(path) => File::load(path).map_err(UsageError)?,
        None => File::default(),
    };
    let dir =
        s.ca.clone()
            .or(file.ca.clone())
            .ok_or_else(|| UsageError("pki serve needs --ca DIR (or ca: in --config)".into()))?;
    let listen: SocketAddr = match s.listen.or(file.listen) {
        Some(a) => a,
        None => DEFAULT_LISTEN
            .parse()
            .map_err(|e| UsageError(format!("{DEFAULT_LISTEN}: {e}")))?,
    };
    let mut names = if s.names.is_empty() {
        file.names.clone()
    } else {
        s.names.clone()
    };
    if names.is_empty() {
        names.push("localhost".into());
        if !listen.ip().is_unspecified() {
            names.push(listen.ip().to_string());
        }
    }
    let mut limits = file.limits(Limits::default());
    if let Some(n) = s.max_connections {
        limits.max_connections = n;
    }
    if let Some(n) = s.body_limit {
        limits.body_limit = n;
    }
    if let Some(n) = s.idle_timeout {
        limits.idle_timeout = std::time::Duration::from_secs(n);
    }
    let log_json = match s.log_format {
        Some(f) => f == LogFormat::Json,
        None => file.log_format == Some(FileLogFormat::Json),
    };
    let settings = Settings {
        listen,
        names,
        tls_cert: s.tls_cert.clone().or(file.tls_cert.clone()),
        tls_key: s.tls_key.clone().or(file.tls_key.clone()),
        clock: at.map_or(Clock::System, Clock::Fixed),
        log_json,
        limits,
    };
    let database = s.db.database.clone().or(file.database.clone());
    let ca = crate::ca::open(&dir, &crate::args::Database { database })?;
    let ready = |addr: SocketAddr| {
        let _ = crate::render::line(&format!("pki serve: listening on https://{addr}"));
    };
    match pki_serve::run(ca, settings, ready) {
        Ok(()) => Ok(Outcome::Done),
        Err(pki_serve::Error::Settings(why)) => Err(UsageError(why).into()),
        Err(pki_serve::Error::Core(e)) => Err(e.into()),
        Err(other) => Err(other.into()),
    }
}
