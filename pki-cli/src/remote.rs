//! `--server URL` on enroll, renew, repair and diagnose: the flags to a `pki serve` client
//! (pki-net), which pki-core's lifecycle uses as it uses a CA folder.

use crate::args::{Diagnose, Format, Remote};
use crate::exit::Outcome;
use anyhow::Result;
use pki_core::judge::diagnose::Request;
use pki_core::{Policy, Purpose};
use pki_net::client::check::Handshake;
use pki_net::client::Trust;
use std::path::Path;
use time::OffsetDateTime;

/// The server of `--server`, authenticated by `--trust`, `--fingerprint` or the store's
/// `trust.pem`; it enrolls with `token`, else renews as the store.
pub fn authority(
    remote: &Remote,
    trust: Option<&Path>,
    token: Option<String>,
    store: &Path,
    at: OffsetDateTime,
) -> Result<Option<pki_net::client::Remote>> {
    let Some(url) = &remote.server else {
        return Ok(None);
    };
    let trust = Trust::resolve(trust, remote.fingerprint.as_deref(), Some(store))?;
    Ok(Some(pki_net::client::Remote::new(
        url,
        &trust,
        token,
        Some(store),
        at,
    )?))
}

/// `pki diagnose STORE --server URL`.
pub fn diagnose(d: Diagnose, at: OffsetDateTime, format: Format) -> Result<Outcome> {
    let url = d.remote.server.clone().unwrap_or_default();
    let Some(store) = d.store.as_deref() else {
        return Err(crate::args::UsageError("--server judges a store: give STORE".into()).into());
    };
    if d.cert.is_some() || d.key.is_some() || d.chain.is_some() || !d.crls.is_empty() {
        return Err(crate::args::UsageError(
            "--server judges the store's own files against the server's anchors and CRLs: leave out --cert, --key, --chain and --crl".into(),
        )
        .into());
    }
    let trust = Trust::resolve(
        d.trust.as_deref(),
        d.remote.fingerprint.as_deref(),
        Some(store),
    )?;
    let req = Request {
        at,
        purpose: Purpose::Client,
        policy: Policy::load_or_default(d.policy.as_deref())?,
    };
    let (judged, contact) = pki_net::client::check::diagnose(store, &url, &trust, &req)?;
    match format {
        Format::Json => {
            let mut value = serde_json::to_value(&judged.report)?;
            value["server"] = serde_json::to_value(&contact)?;
            crate::render::json(&value)?;
        }
        Format::Text => {
            crate::render::diagnose(&judged.report, format)?;
            let clock = match (contact.date, contact.offset_seconds) {
                (Some(date), Some(off)) => format!(
                    "its clock {} (this endpoint {}{} s)",
                    pki_core::timestamp::format(date),
                    if off >= 0 { "+" } else { "" },
                    off
                ),
                _ => "no clock (no Date header)".into(),
            };
            crate::render::line(&format!(
                "server {}: {clock}; {} trust anchor(s), CRLs {}",
                contact.url,
                contact.anchors,
                contact.crls.join(", ")
            ))?;
            crate::render::line(&format!(
                "  handshake with this store's certificate: {}",
                match &contact.handshake {
                    Handshake::Accepted { status } =>
                        format!("accepted (GET /healthz answered {status})"),
                    Handshake::Refused { alert } =>
                        format!("refused: the server sent the TLS alert '{alert}'"),
                    Handshake::Failed { error } => format!("failed: {error}"),
                    Handshake::NotTried { reason } => format!("not tried: {reason}"),
                }
            ))?;
        }
    }
    Ok(Outcome::Judged(judged.report.status))
}
