//! `pki diagnose STORE --server URL`: fetch what the server publishes now (`cacerts`, its
//! CRLs, its clock), judge the store against it (pki-core's
//! [`diagnose_against`](pki_core::judge::against_server::diagnose_against)), and try a real
//! mutual-TLS handshake with the store's certificate and key: what the server answered
//! (for a refused handshake, its TLS alert) stands beside the local explanation.

use super::est::{Est, Identity, Trust};
use super::http::{alert_name, Failure};
use pki_core::judge::against_server::{diagnose_against, Judged, Published};
use pki_core::judge::diagnose::Request;
use pki_core::{Cert, Crl, Error};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What the server said.
#[derive(Debug, Serialize)]
pub struct Contact {
    pub url: String,
    /// The server's clock (`Date`).
    #[serde(with = "time::serde::rfc3339::option")]
    pub date: Option<time::OffsetDateTime>,
    /// How far the endpoint's clock is ahead of the server's, seconds (negative: behind).
    pub offset_seconds: Option<i64>,
    /// Trust anchors and CRLs the server publishes.
    pub anchors: usize,
    pub crls: Vec<String>,
    pub handshake: Handshake,
}

/// The mutual-TLS handshake with the store's certificate.
#[derive(Debug, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Handshake {
    /// The server accepted the certificate and answered (`GET /healthz`).
    Accepted { status: u16 },
    /// The server refused it with this TLS alert.
    Refused { alert: String },
    /// The handshake failed otherwise (the message says how).
    Failed { error: String },
    /// Not tried: the store holds no certificate and key to present.
    NotTried { reason: String },
}

/// Judges the store `dir` against the server at `url` (authenticated by `trust`) at `req.at`.
pub fn diagnose(
    dir: &Path,
    url: &str,
    trust: &Trust,
    req: &Request,
) -> Result<(Judged, Contact), Error> {
    let identity = Identity::from_store(dir);
    let not_tried = identity.as_ref().err().map(|e| e.to_string());
    let (est, clock) = Est::tolerant(url, trust, identity.ok(), req.at)?;
    let cacerts_url = PathBuf::from(est.url(&format!("{}cacerts", pki_core::est::PREFIX)));
    let anchors: Vec<Cert> = est
        .cacerts()?
        .into_iter()
        .filter_map(|der| Cert::from_der(der, origin(&cacerts_url)).ok())
        .filter(|c| c.is_self_issued() && c.is_ca())
        .collect();
    let health = est.get("/healthz").map_err(|f| est.failed("/healthz", f))?;
    let date = health.date();
    if let (Some(server_time), true) = (date, clock.missed()) {
        clock.check(server_time).map_err(|e| Error::Refused {
            path: PathBuf::from(est.url("")),
            reason: format!(
                "the server's certificate is not valid even at the server's own clock: {e}"
            ),
        })?;
    }
    let published = est.crls(&health)?;
    let listed: Vec<String> = published.iter().map(|(p, _)| p.clone()).collect();
    let crls: Vec<Crl> = published
        .into_iter()
        .filter_map(|(path, der)| Crl::from_der(der, origin(&PathBuf::from(est.url(&path)))).ok())
        .collect();
    let material = pki_core::store::gather_store(dir)?;
    let judged = diagnose_against(
        material,
        &Published {
            source: cacerts_url,
            anchors: anchors.clone(),
            crls,
            date,
        },
        req,
    );
    let handshake = match not_tried {
        Some(reason) => Handshake::NotTried { reason },
        None => match est.get_as_device("/healthz") {
            Ok(r) => Handshake::Accepted { status: r.status },
            Err(Failure::Tls(rustls::Error::AlertReceived(alert))) => Handshake::Refused {
                alert: alert_name(alert),
            },
            Err(other) => Handshake::Failed {
                error: other.to_string(),
            },
        },
    };
    let contact = Contact {
        url: est.url(""),
        date,
        offset_seconds: judged.offset.map(|o| o.whole_seconds()),
        anchors: anchors.len(),
        crls: listed,
        handshake,
    };
    Ok((judged, contact))
}

fn origin(path: &Path) -> pki_core::origin::Origin {
    pki_core::origin::Origin {
        path: path.to_path_buf(),
        index: 0,
        of: 1,
    }
}
