//! Logs through `tracing`, as text or one JSON object per line (`--log-format json`), on
//! standard error. A refused client certificate is one line with the peer, the device's
//! subject, serial and issuer, the finding code and message `pki diagnose` gives, and the
//! fix; and one more in `pki_serve_rejected_total{code=…}`.
//!
//! Text that comes from a client (names in its certificate or request, its HTTP Basic user)
//! is recorded as a string value, never with `Display`: the text format then quotes it and
//! escapes line breaks and control characters (`subject="O=Fleet, CN=dev-1"`), JSON escapes
//! it, so a name holding a newline can neither split a line nor forge one.

use crate::metrics::Metrics;
use pki_core::judge::client_verifier::{Rejection, Sink};
use std::sync::Arc;

/// Installs the log subscriber (once per process; later calls are ignored).
pub fn init(json: bool) {
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_target(true);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

/// Where the explaining verifier sends rejections: a log line and a counter.
pub fn rejection_sink(metrics: Arc<Metrics>) -> Sink {
    Arc::new(move |r: &Rejection| {
        metrics.rejected(r.code.as_str());
        tracing::warn!(
            target: "pki_serve::rejected",
            peer = %r.peer.map(|p| p.to_string()).unwrap_or_default(),
            subject = r.subject.as_str(),
            serial = %r.serial,
            issuer = r.issuer.as_str(),
            code = %r.code,
            explanation = r.message.as_str(),
            fix = r.fix.as_str(),
            "client certificate rejected"
        );
    })
}
