//! The two EST operations that issue (RFC 7030 §4.2): `simpleenroll`, a device's first
//! certificate, authenticated with HTTP Basic (device id and a one-time token); and
//! `simplereenroll`, a renewal authenticated by the device's current certificate in the TLS
//! handshake — up to the policy's `renewal.grace_days` after it expired, for this route only.
//! The request's public key is all that is taken from it (`pki ca sign`'s rule: the policy
//! decides every field). The issuance is committed to the inventory before it is answered; a
//! used token gets that answer again, for the same key only (an enrollment whose answer was
//! lost is resumed by the same request: see `again`).
//!
//! Statuses: 400 a request that cannot be read, 401 (+ `WWW-Authenticate`) a token missing,
//! unknown, used or expired, 403 a certificate or subject not allowed, 408 a body too slow,
//! 413 a body too large, 503 (+ `Retry-After`) when the issuance queue is full.

use crate::commit::{Coming, Failed};
use crate::connection::Peer;
use crate::routes::{busy, ok, text, Reply};
use crate::Server;
use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_LENGTH, WWW_AUTHENTICATE};
use hyper::{Request, StatusCode};
use pki_core::ca::inventory::{Issuance, Profile, Refusal, Status, Token};
use pki_core::ca::issue::Csr;
use pki_core::est;
use pki_core::read::cert::Cert;
use pki_core::timestamp::format;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use std::path::Path;

/// `POST /.well-known/est/simpleenroll`.
pub async fn simpleenroll(server: &Server, peer: &Peer, req: Request<Incoming>) -> Reply {
    let Some((device_id, secret)) = basic(&req) else {
        return unauthorized(peer, Who::default(), "simpleenroll needs HTTP Basic: the device id as user, the one-time token from `pki ca token` as password");
    };
    let who = Who::device(&device_id);
    let csr = match read_request(server, req).await {
        Ok(csr) => csr,
        Err((status, why)) => return deny(peer, "simpleenroll", who, status, why),
    };
    let coming = server.committer.coming();
    let state = server.state();
    let policy = &state.ca.policy;
    let hash = pki_core::ca::token::hash(&secret);
    let inventory = state.ca.inventory.clone();
    let token = {
        let hash = hash.clone();
        tokio::task::spawn_blocking(move || inventory.token(&hash)).await
    };
    let now = server.settings.clock.now();
    match token {
        Ok(Ok(Some(t))) if t.device_id != device_id => {
            return unauthorized(
                peer,
                who,
                &format!("this token was made for another device, not {device_id}"),
            );
        }
        Ok(Ok(Some(t))) if t.used_by.is_some() => {
            return again(server, peer, &t, &csr).await;
        }
        Ok(Ok(Some(t))) if now > t.expires_at => {
            return unauthorized(
                peer,
                who,
                &format!(
                    "this token expired at {}: make a new one with `pki ca token`",
                    format(t.expires_at)
                ),
            );
        }
        Ok(Ok(Some(_))) => {}
        Ok(Ok(None)) => return unauthorized(peer, who, "unknown token"),
        Ok(Err(e)) => return unavailable(&e.to_string()),
        Err(e) => return unavailable(&e.to_string()),
    }
    if let Err(why) = names_device(&csr, &device_id, policy) {
        return deny(peer, "simpleenroll", who, StatusCode::FORBIDDEN, why);
    }
    issue(
        server,
        peer,
        "simpleenroll",
        &csr,
        &device_id,
        Grounds::Token(hash),
        coming,
    )
    .await
}

/// The answer to a token already used: the certificate it was used for, sent again, when the
/// request carries that certificate's key and names the token's device, and the certificate
/// is not revoked; else 401. An enrollment whose answer was lost (a dropped connection, a
/// device that stopped before writing it) is so resumed by the same request with the same
/// token and key, without a second certificate. Someone holding only the token (a used one,
/// stolen) gets nothing: the request's signature, checked before this, proves possession of
/// the key, and nothing else gets the certificate sent.
async fn again(server: &Server, peer: &Peer, token: &Token, csr: &Csr) -> Reply {
    let refused = || {
        unauthorized(
            peer,
            Who::device(&token.device_id),
            "this token has been used: make a new one with `pki ca token`",
        )
    };
    let Some(serial) = token.used_by.clone() else {
        return refused();
    };
    if names_device(csr, &token.device_id, &server.state().ca.policy).is_err() {
        return refused();
    }
    let inventory = server.state().ca.inventory.clone();
    let record = match tokio::task::spawn_blocking(move || inventory.get(&serial)).await {
        Ok(Ok(Some(record))) => record,
        Ok(Ok(None)) => return refused(),
        Ok(Err(e)) => return unavailable(&e.to_string()),
        Err(e) => return unavailable(&e.to_string()),
    };
    if record.status == Status::Revoked || record.device_id != token.device_id {
        return refused();
    }
    let certs = match &record.pem {
        Some(pem) => pki_core::read::decode::decode(Path::new("issued"), pem.as_bytes()).certs,
        None => Vec::new(),
    };
    if certs.first().is_none_or(|issued| issued.spki != csr.spki) {
        return refused();
    }
    tracing::info!(route = "simpleenroll", peer = %peer.addr, device_id = record.device_id.as_str(), serial = %record.serial, "sent again: the certificate this token was used for, to the same key");
    certs_only(certs.iter().map(|c| c.der.to_vec()).collect())
}

/// Whether `csr`'s subject names `device_id`: its CN is the id, or the policy's CN for it.
fn names_device(csr: &Csr, device_id: &str, policy: &pki_core::Policy) -> Result<(), String> {
    let template = pki_core::Policy::fill(&policy.subject.common_name, device_id);
    let named = csr.common_name.as_deref();
    if named == Some(device_id) || named == Some(template.as_str()) {
        return Ok(());
    }
    Err(format!(
        "the request's subject ({}) does not name device {device_id}, whose token this is",
        csr.subject
    ))
}

/// `POST /.well-known/est/simplereenroll`.
pub async fn simplereenroll(server: &Server, peer: &Peer, req: Request<Incoming>) -> Reply {
    let route = "simplereenroll";
    let Some(der) = peer.certs.first() else {
        return deny(peer, route, Who::default(), StatusCode::FORBIDDEN, "simplereenroll needs the device's current certificate in the TLS handshake (mutual TLS)");
    };
    let current = match Cert::from_der(der.to_vec(), origin()) {
        Ok(c) => c,
        Err(why) => {
            return deny(
                peer,
                route,
                Who::default(),
                StatusCode::FORBIDDEN,
                format!("the client certificate cannot be read: {why}"),
            )
        }
    };
    let who = Who {
        device_id: None,
        subject: Some(&current.subject),
        serial: Some(&current.serial),
    };
    let csr = match read_request(server, req).await {
        Ok(csr) => csr,
        Err((status, why)) => return deny(peer, route, who, status, why),
    };
    let coming = server.committer.coming();
    let state = server.state();
    let now = server.settings.clock.now();
    if now > current.not_after + state.grace {
        // a session resumed from before it expired: the handshake did not judge it again
        return deny(peer, route, who, StatusCode::FORBIDDEN, format!(
            "certificate {} expired at {}, more than the {} days of grace ago: enroll again with a token",
            current.serial, format(current.not_after), state.ca.policy.renewal.grace_days
        ));
    }
    let inventory = state.ca.inventory.clone();
    let serial = current.serial.clone();
    let record = tokio::task::spawn_blocking(move || inventory.get(&serial)).await;
    let record = match record {
        Ok(Ok(Some(r))) => r,
        Ok(Ok(None)) => {
            return deny(
                peer,
                route,
                who,
                StatusCode::FORBIDDEN,
                format!(
                    "certificate {} is not in this CA's inventory",
                    current.serial
                ),
            )
        }
        Ok(Err(e)) => return unavailable(&e.to_string()),
        Err(e) => return unavailable(&e.to_string()),
    };
    let who = Who {
        device_id: Some(&record.device_id),
        ..who
    };
    if record.status == Status::Revoked {
        return deny(
            peer,
            route,
            who,
            StatusCode::FORBIDDEN,
            format!("certificate {} was revoked: it never renews", record.serial),
        );
    }
    if let Err(why) = same_device(&csr, &current, &record.device_id) {
        return deny(peer, route, who, StatusCode::FORBIDDEN, why);
    }
    if csr.spki == current.spki && !state.ca.policy.renewal.reuse_key {
        return deny(peer, route, who, StatusCode::FORBIDDEN, format!(
            "the request carries the current key; policy '{}' wants a new key at renewal (renewal.reuse_key: false)",
            state.ca.policy.name
        ));
    }
    if now > current.not_after {
        tracing::info!(peer = %peer.addr, device_id = %record.device_id, serial = %current.serial, expired = %format(current.not_after), "renewing a certificate in its grace period");
    }
    issue(
        server,
        peer,
        route,
        &csr,
        &record.device_id,
        Grounds::Renewal(current.serial.clone()),
        coming,
    )
    .await
}

/// RFC 7030 §4.2.2 asks the request to carry the current subject and subjectAltName; since
/// the policy decides what is issued, those are accepted, or a CN that is the device id, and
/// nothing else.
fn same_device(csr: &Csr, current: &Cert, device_id: &str) -> Result<(), String> {
    let same_subject = csr.subject == current.subject;
    let only_id =
        csr.common_name.as_deref() == Some(device_id) && csr.subject == format!("CN={device_id}");
    if !(same_subject || only_id) {
        return Err(format!(
            "the request's subject ({}) is neither the current certificate's ({}) nor CN={device_id}",
            csr.subject, current.subject
        ));
    }
    if !csr.sans.is_empty() {
        let mut asked = csr.sans.clone();
        let mut held = current.sans.clone();
        asked.sort();
        held.sort();
        if asked != held {
            return Err(format!(
                "the request's subjectAltName ({}) is not the current certificate's ({})",
                csr.sans.join(", "),
                current.sans.join(", ")
            ));
        }
    }
    Ok(())
}

/// What an issuance is granted on, recorded with it.
enum Grounds {
    /// A one-time token (its hash), spent by the commit.
    Token(String),
    /// The current certificate (its serial), which the new one replaces.
    Renewal(String),
}

/// Signs, commits, answers with the certificate; `coming` counts it until it is queued.
async fn issue(
    server: &Server,
    peer: &Peer,
    route: &'static str,
    csr: &Csr,
    device_id: &str,
    grounds: Grounds,
    coming: Coming,
) -> Reply {
    let (token, renews) = match grounds {
        Grounds::Token(hash) => (Some(hash), None),
        Grounds::Renewal(serial) => (None, Some(serial)),
    };
    let state = server.state();
    let now = server.settings.clock.now();
    let issued = match state.signer.sign(csr, device_id, now) {
        Ok(i) => i,
        Err(why) => {
            tracing::error!(peer = %peer.addr, device_id, reason = why.as_str(), "the CA could not sign");
            return text(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the CA could not sign: {why}"),
            );
        }
    };
    let issuance = Issuance {
        record: issued.record(Profile::Device, now),
        token,
        renews,
    };
    match server.committer.commit(issuance, coming).await {
        Ok(Ok(())) => {}
        Ok(Err(refusal)) => {
            let status = match refusal {
                Refusal::TokenUnknown
                | Refusal::TokenUsed
                | Refusal::TokenExpired(_)
                | Refusal::TokenOtherDevice(_) => {
                    return unauthorized(peer, Who::device(device_id), &refusal.to_string())
                }
                Refusal::Revoked(_) | Refusal::UnknownSerial(_) => StatusCode::FORBIDDEN,
                Refusal::Duplicate => StatusCode::SERVICE_UNAVAILABLE,
            };
            return deny(
                peer,
                route,
                Who::device(device_id),
                status,
                refusal.to_string(),
            );
        }
        Err(Failed::Busy) => {
            server
                .metrics
                .shed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return busy("too many issuances waiting for the inventory; try again shortly");
        }
        Err(Failed::Database(e)) => return unavailable(&e),
    }
    server.metrics.issued(route);
    tracing::info!(route, peer = %peer.addr, device_id, serial = %issued.serial, not_after = %format(issued.not_after), issuer = %issued.issuer, "issued");
    // the certificate just made: its PEM undone, not parsed and linted again
    certs_only(
        CertificateDer::pem_slice_iter(issued.pem.as_bytes())
            .filter_map(Result::ok)
            .map(|c| c.to_vec())
            .collect(),
    )
}

/// A certs-only PKCS#7 answer holding `der` (certificates, DER).
fn certs_only(der: Vec<Vec<u8>>) -> Reply {
    match est::pkcs7::certs_only(&der) {
        Ok(p7) => ok(est::PKCS7_CERTS, Bytes::from(est::body::encode(&p7))),
        Err(why) => text(StatusCode::INTERNAL_SERVER_ERROR, why),
    }
}

/// The request body within the size limit and the body timeout, as a checked CSR; or the
/// status and reason to refuse it with.
async fn read_request(
    server: &Server,
    req: Request<Incoming>,
) -> Result<Csr, (StatusCode, String)> {
    let limits = &server.settings.limits;
    let too_large = || {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is over {} bytes", limits.body_limit),
        )
    };
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.body_limit as u64) {
        return Err(too_large());
    }
    let body = Limited::new(req.into_body(), limits.body_limit);
    let bytes = match tokio::time::timeout(limits.body_timeout, body.collect()).await {
        Err(_) => {
            return Err((
                StatusCode::REQUEST_TIMEOUT,
                format!("the body did not arrive within {:?}", limits.body_timeout),
            ))
        }
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            return Err(too_large())
        }
        Ok(Err(e)) => {
            return Err((
                StatusCode::BAD_REQUEST,
                format!("the body could not be read ({e})"),
            ))
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    let der = est::body::decode(&bytes).map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            format!("{e}: EST wants a base64 PKCS#10 request"),
        )
    })?;
    server
        .state()
        .signer
        .read_csr(Path::new("the request"), &der)
        .map_err(|e| {
            let why = match e {
                pki_core::Error::Refused { reason, .. } => reason,
                other => other.to_string(),
            };
            (StatusCode::BAD_REQUEST, why)
        })
}

/// The user and password of an `Authorization: Basic` header.
fn basic(req: &Request<Incoming>) -> Option<(String, String)> {
    let value = req.headers().get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// 401 with the challenge (RFC 7235 §4.1): a token is missing, unknown, used or expired.
fn unauthorized(peer: &Peer, who: Who, why: &str) -> Reply {
    let mut r = deny(
        peer,
        "simpleenroll",
        who,
        StatusCode::UNAUTHORIZED,
        why.to_string(),
    );
    r.headers_mut().insert(
        WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"pki-est\", charset=\"UTF-8\""),
    );
    r
}

fn unavailable(why: &str) -> Reply {
    tracing::error!(reason = why, "the inventory failed");
    busy(&format!("the inventory is unavailable ({why})"))
}

/// Who a refused request came from, as far as it said: the device id (the HTTP Basic user of
/// `simpleenroll`, claimed, not proven; the inventory's, for a known certificate) and the
/// subject and serial of the client certificate (`simplereenroll`). Logged with the refusal,
/// so that every refused device is named, not only a peer address.
#[derive(Debug, Default, Clone, Copy)]
struct Who<'a> {
    device_id: Option<&'a str>,
    subject: Option<&'a str>,
    serial: Option<&'a str>,
}

impl<'a> Who<'a> {
    fn device(device_id: &'a str) -> Who<'a> {
        Who {
            device_id: Some(device_id),
            ..Who::default()
        }
    }
}

/// Refuses with `status` and `why`, and logs it with who asked.
fn deny(
    peer: &Peer,
    route: &'static str,
    who: Who,
    status: StatusCode,
    why: impl Into<String>,
) -> Reply {
    let why = why.into();
    // `why` and `who` may hold the client's words (a name in its request, its Basic user):
    // string values, quoted and escaped by the formatter (see crate::logging); a field the
    // request did not give is left out
    tracing::warn!(
        route,
        peer = %peer.addr,
        device_id = who.device_id,
        subject = who.subject,
        serial = who.serial,
        status = status.as_u16(),
        reason = why.as_str(),
        "request refused"
    );
    text(status, why)
}

fn origin() -> pki_core::origin::Origin {
    pki_core::origin::Origin {
        path: std::path::PathBuf::from("the client certificate"),
        index: 0,
        of: 1,
    }
}
