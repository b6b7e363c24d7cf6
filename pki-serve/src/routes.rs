//! The routes: EST under `/.well-known/est/` ([`crate::est`] for the two that issue), and
//! beside it `/crl` (the current issuing CA's CRL, DER; `/crl/<generation>` for the others),
//! `/healthz` and `/metrics`. Every answer carries `Date` from the server's clock; errors are
//! `text/plain` with a status that says what happened.

use crate::connection::Peer;
use crate::Server;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE, DATE, RETRY_AFTER};
use hyper::{Method, Request, Response, StatusCode};
use pki_core::est;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

pub type Reply = Response<Full<Bytes>>;

/// Which route a request is for (its name labels the metrics).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Cacerts,
    Csrattrs,
    SimpleEnroll,
    SimpleReenroll,
    Crl(Option<String>),
    Healthz,
    Metrics,
    /// A known path asked with a method it does not take.
    Method(&'static str, &'static str),
    NotFound,
}

impl Route {
    fn of(method: &Method, path: &str) -> Route {
        let (route, allowed) = match path.strip_prefix(est::PREFIX) {
            Some("cacerts") => (Route::Cacerts, "GET"),
            Some("csrattrs") => (Route::Csrattrs, "GET"),
            Some("simpleenroll") => (Route::SimpleEnroll, "POST"),
            Some("simplereenroll") => (Route::SimpleReenroll, "POST"),
            Some(_) => return Route::NotFound,
            None => match path {
                "/crl" => (Route::Crl(None), "GET"),
                "/healthz" => (Route::Healthz, "GET"),
                "/metrics" => (Route::Metrics, "GET"),
                p => match p.strip_prefix("/crl/") {
                    Some(g)
                        if !g.is_empty()
                            && g.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') =>
                    {
                        (Route::Crl(Some(g.to_string())), "GET")
                    }
                    _ => return Route::NotFound,
                },
            },
        };
        let ok = method.as_str() == allowed || (allowed == "GET" && method == Method::HEAD);
        if ok {
            route
        } else {
            Route::Method(route.name(), allowed)
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Route::Cacerts => "cacerts",
            Route::Csrattrs => "csrattrs",
            Route::SimpleEnroll => "simpleenroll",
            Route::SimpleReenroll => "simplereenroll",
            Route::Crl(_) => "crl",
            Route::Healthz => "healthz",
            Route::Metrics => "metrics",
            Route::Method(name, _) => name,
            Route::NotFound => "other",
        }
    }
}

/// Answers one request.
pub async fn handle(
    server: Arc<Server>,
    peer: Arc<Peer>,
    req: Request<Incoming>,
) -> Result<Reply, Infallible> {
    let started = Instant::now();
    let route = Route::of(req.method(), req.uri().path());
    let mut reply = match &route {
        Route::Cacerts => ok(est::PKCS7_CERTS, server.state().cacerts.clone()),
        Route::Csrattrs => ok(est::CSRATTRS, server.state().csrattrs.clone()),
        Route::SimpleEnroll => crate::est::simpleenroll(&server, &peer, req).await,
        Route::SimpleReenroll => crate::est::simplereenroll(&server, &peer, req).await,
        Route::Crl(generation) => crl(&server, generation.as_deref()),
        Route::Healthz => healthz(&server),
        Route::Metrics => ok(
            "text/plain; version=0.0.4; charset=utf-8",
            Bytes::from(server.metrics.render()),
        ),
        Route::Method(_, allowed) => {
            let mut r = text(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("this path takes {allowed}"),
            );
            r.headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allowed));
            r
        }
        Route::NotFound => text(
            StatusCode::NOT_FOUND,
            "no such path: EST is under /.well-known/est/ (cacerts, simpleenroll, simplereenroll, csrattrs); also /crl, /healthz, /metrics",
        ),
    };
    if let Ok(date) = HeaderValue::from_str(&server.settings.clock.http_date()) {
        reply.headers_mut().insert(DATE, date);
    }
    server
        .metrics
        .request(route.name(), reply.status().as_u16(), started.elapsed());
    Ok(reply)
}

/// 200 with `body` of `content_type`.
pub fn ok(content_type: &'static str, body: Bytes) -> Reply {
    let mut r = Response::new(Full::new(body));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `status` with a one-line explanation.
pub fn text(status: StatusCode, message: impl Into<String>) -> Reply {
    let mut body = message.into();
    body.push('\n');
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// 503 with `Retry-After` (seconds): the server sheds load; try again.
pub fn busy(message: &str) -> Reply {
    let mut r = text(StatusCode::SERVICE_UNAVAILABLE, message);
    r.headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from_static("2"));
    r
}

fn crl(server: &Server, generation: Option<&str>) -> Reply {
    let state = server.state();
    let found = match generation {
        None => state.crls.first(),
        Some(g) => state.crls.iter().find(|(id, _)| id == g),
    };
    match found {
        Some((_, der)) => ok(est::CRL, der.clone()),
        None => text(
            StatusCode::NOT_FOUND,
            format!(
                "no CRL for {}; generations: {}",
                generation.unwrap_or("the current issuing CA"),
                state
                    .crls
                    .iter()
                    .map(|(g, _)| g.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    }
}

fn healthz(server: &Server) -> Reply {
    let state = server.state();
    let body = serde_json::json!({
        "status": "ok",
        "ca": state.ca.config.name,
        "issuer": state.signer.generation,
        "inventory": state.ca.inventory.describe(),
        "crl_number": state.crl_number,
        "crls": state.crls.iter().map(|(g, _)| format!("/crl/{g}")).collect::<Vec<_>>(),
        "server_certificate": {
            "serial": state.identity.serial,
            "not_after": pki_core::timestamp::format(state.identity.not_after),
        },
        "at": pki_core::timestamp::format(server.settings.clock.now()),
    });
    ok("application/json", Bytes::from(body.to_string()))
}
