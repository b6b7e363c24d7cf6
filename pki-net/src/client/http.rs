//! One HTTP/1.1 exchange over TLS: connect (10 s), handshake, send the request with
//! `Connection: close`, read the answer (at most 4 MiB, 30 s per read), done.

use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;

const CONNECT: Duration = Duration::from_secs(10);
const READ: Duration = Duration::from_secs(30);
const MAX_ANSWER: usize = 4 << 20;

/// Where a server is: `https://HOST[:PORT][/PREFIX]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    /// A path prefix before `/.well-known/est/` (empty for none), without a trailing slash.
    pub prefix: String,
}

impl Endpoint {
    /// Reads a URL; only `https` is accepted (EST runs over TLS).
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| format!("'{url}' is not an https:// URL (EST runs over TLS)"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| format!("'{url}': unclosed [ in the host"))?;
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (authority.to_string(), None),
            }
        };
        let port = match port {
            Some(p) => p
                .parse()
                .map_err(|_| format!("'{url}': '{p}' is not a port"))?,
            None => 443,
        };
        if host.is_empty() {
            return Err(format!("'{url}' names no host"));
        }
        Ok(Endpoint {
            host,
            port,
            prefix: path.trim_end_matches('/').to_string(),
        })
    }

    /// The URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("https://{host}:{}{}{path}", self.port, self.prefix)
    }
}

/// Why an exchange failed.
#[derive(Debug)]
pub enum Failure {
    /// No TCP connection (refused, unreachable, timed out).
    Connect(String),
    /// The TLS handshake failed; `rustls::Error::AlertReceived` carries the server's alert.
    Tls(rustls::Error),
    /// The connection broke, or the answer is not HTTP.
    Io(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Connect(e) => write!(f, "cannot connect: {e}"),
            Failure::Tls(rustls::Error::AlertReceived(alert)) => {
                write!(
                    f,
                    "the server refused the TLS handshake with the alert '{}'",
                    alert_name(*alert)
                )
            }
            Failure::Tls(e) => write!(f, "the TLS handshake failed: {e}"),
            Failure::Io(e) => write!(f, "{e}"),
        }
    }
}

/// An alert as RFC 8446 names it (`certificate_expired`, `unknown_ca`, …).
pub fn alert_name(alert: rustls::AlertDescription) -> String {
    // rustls' variant names, split at each word: `UnknownCA` is unknown_ca (an acronym is one
    // word), `UnknownPSKIdentity` unknown_psk_identity
    let debug: Vec<char> = format!("{alert:?}").chars().collect();
    let mut out = String::new();
    for (i, &c) in debug.iter().enumerate() {
        let word_starts = i > 0
            && c.is_ascii_uppercase()
            && (debug[i - 1].is_ascii_lowercase()
                || debug.get(i + 1).is_some_and(|n| n.is_ascii_lowercase()));
        if word_starts {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// An answer.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The server's clock, from `Date`.
    pub fn date(&self) -> Option<OffsetDateTime> {
        let t = httpdate::parse_http_date(self.header("date")?).ok()?;
        let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
        OffsetDateTime::from_unix_timestamp(i64::try_from(secs).ok()?).ok()
    }

    /// The body as text, for messages (cut short).
    pub fn text(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let text = text.trim();
        match text.char_indices().nth(300) {
            Some((i, _)) => format!("{}…", &text[..i]),
            None => text.to_string(),
        }
    }
}

/// Sends `method path` with `headers` and `body` to `endpoint` over TLS with `config`.
pub fn exchange(
    config: Arc<ClientConfig>,
    endpoint: &Endpoint,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Result<Response, Failure> {
    let addrs: Vec<_> = (endpoint.host.as_str(), endpoint.port)
        .to_socket_addrs()
        .map_err(|e| Failure::Connect(format!("{}: {e}", endpoint.host)))?
        .collect();
    let mut last = String::from("no address");
    let mut tcp = None;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, CONNECT) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    let tcp = tcp.ok_or(Failure::Connect(last))?;
    let io = |e: std::io::Error| Failure::Io(e.to_string());
    tcp.set_read_timeout(Some(READ)).map_err(io)?;
    tcp.set_write_timeout(Some(READ)).map_err(io)?;
    let name = ServerName::try_from(endpoint.host.clone()).map_err(|_| {
        Failure::Connect(format!(
            "'{}' is not a DNS name or IP address",
            endpoint.host
        ))
    })?;
    let conn = rustls::ClientConnection::new(config, name).map_err(Failure::Tls)?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    // the handshake first, so that its failure is told apart from a broken connection
    while tls.conn.is_handshaking() {
        if let Err(e) = tls.conn.complete_io(&mut tls.sock) {
            return Err(tls_failure(e));
        }
    }
    let mut head = format!(
        "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nUser-Agent: pki/{}\r\nContent-Length: {}\r\n",
        endpoint.prefix,
        endpoint.host,
        env!("CARGO_PKG_VERSION"),
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    // in TLS 1.3 the server judges the client's certificate after the client's side of the
    // handshake is done: a refusal arrives as an alert while the request is being sent
    let sent = tls
        .write_all(head.as_bytes())
        .and_then(|()| tls.write_all(body))
        .and_then(|()| tls.flush());
    if let Err(e) = sent {
        let mut rest = [0u8; 512];
        return Err(match tls.read(&mut rest) {
            Err(alert)
                if matches!(
                    tls_failure_ref(&alert),
                    Some(rustls::Error::AlertReceived(_))
                ) =>
            {
                tls_failure(alert)
            }
            _ => tls_failure(e),
        });
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.len() > MAX_ANSWER {
                    return Err(Failure::Io(format!(
                        "the answer is over {MAX_ANSWER} bytes"
                    )));
                }
                if complete(&answer) {
                    break;
                }
            }
            // a peer that closes without close_notify after a complete answer is common
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !answer.is_empty() => break,
            Err(e) => return Err(tls_failure(e)),
        }
    }
    parse(&answer)
}

fn tls_failure_ref(e: &std::io::Error) -> Option<&rustls::Error> {
    e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>())
}

fn tls_failure(e: std::io::Error) -> Failure {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(r) => Failure::Tls(r.clone()),
        None => Failure::Io(e.to_string()),
    }
}

/// Whether `answer` holds a whole response (head and Content-Length bytes of body).
fn complete(answer: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut r = httparse::Response::new(&mut headers);
    match r.parse(answer) {
        Ok(httparse::Status::Complete(at)) => {
            content_length(r.headers).is_some_and(|n| answer.len() >= at + n)
        }
        _ => false,
    }
}

fn content_length(headers: &[httparse::Header<'_>]) -> Option<usize> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
        .and_then(|h| std::str::from_utf8(h.value).ok())
        .and_then(|v| v.trim().parse().ok())
}

fn parse(answer: &[u8]) -> Result<Response, Failure> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut r = httparse::Response::new(&mut headers);
    let at = match r.parse(answer) {
        Ok(httparse::Status::Complete(at)) => at,
        Ok(httparse::Status::Partial) => {
            return Err(Failure::Io(
                "the connection closed before a whole answer".into(),
            ))
        }
        Err(e) => return Err(Failure::Io(format!("the answer is not HTTP ({e})"))),
    };
    let status = r.code.unwrap_or(0);
    let headers: Vec<(String, String)> = r
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).into_owned(),
            )
        })
        .collect();
    let mut body = answer[at..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body)?;
    } else if let Some(n) = content_length(r.headers) {
        body.truncate(n);
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, Failure> {
    let mut out = Vec::new();
    loop {
        match httparse::parse_chunk_size(data) {
            Ok(httparse::Status::Complete((at, 0))) => {
                let _ = at;
                return Ok(out);
            }
            Ok(httparse::Status::Complete((at, size))) => {
                let size = usize::try_from(size).map_err(|_| Failure::Io("a huge chunk".into()))?;
                let end = at + size;
                let chunk = data
                    .get(at..end)
                    .ok_or_else(|| Failure::Io("a chunk cut short".into()))?;
                out.extend_from_slice(chunk);
                data = data.get(end + 2..).unwrap_or_default();
            }
            _ => return Err(Failure::Io("a malformed chunked body".into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_answers_read() {
        let e = Endpoint::parse("https://ca.fleet.internal:8443/pki/")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (e.host.as_str(), e.port, e.prefix.as_str()),
            ("ca.fleet.internal", 8443, "/pki")
        );
        assert_eq!(e.url("/crl"), "https://ca.fleet.internal:8443/pki/crl");
        let v6 = Endpoint::parse("https://[::1]:9000").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((v6.host.as_str(), v6.port), ("::1", 9000));
        assert!(Endpoint::parse("http://x").is_err());
        assert_eq!(Endpoint::parse("https://x").map(|e| e.port), Ok(443));

        let r = parse(b"HTTP/1.1 200 OK\r\nDate: Sun, 01 Mar 2026 00:00:00 GMT\r\nContent-Length: 2\r\n\r\nhi")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((r.status, r.body.as_slice()), (200, &b"hi"[..]));
        assert_eq!(r.date().map(|d| d.unix_timestamp()), Some(1_772_323_200));
        let c = parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.body, b"abc");
        assert_eq!(
            alert_name(rustls::AlertDescription::CertificateExpired),
            "certificate_expired"
        );
        // the soak's refused devices read 'unknown_c_a' here
        assert_eq!(
            alert_name(rustls::AlertDescription::UnknownCA),
            "unknown_ca"
        );
        assert_eq!(
            alert_name(rustls::AlertDescription::UnknownPSKIdentity),
            "unknown_psk_identity"
        );
    }
}
