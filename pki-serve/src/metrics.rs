//! `/metrics` in Prometheus' text format (version 0.0.4), checked by `promtool check metrics`
//! in the tests. Every label takes values from a fixed set (routes, statuses, finding codes,
//! failure kinds), so memory stays bounded however long the server runs.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// Request duration buckets, seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];
/// Group commit sizes.
const BATCH_BUCKETS: [f64; 8] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 256.0];

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    durations: Mutex<BTreeMap<&'static str, Histogram>>,
    rejected: Mutex<BTreeMap<&'static str, u64>>,
    issued: Mutex<BTreeMap<&'static str, u64>>,
    handshake_failures: Mutex<BTreeMap<&'static str, u64>>,
    reloads: Mutex<BTreeMap<&'static str, u64>>,
    batches: Mutex<Option<Histogram>>,
    commits: Mutex<Option<Histogram>>,
    pub connections_open: AtomicI64,
    pub connections_total: AtomicU64,
    pub accept_errors: AtomicU64,
    pub shed: AtomicU64,
    pub crl_number: AtomicU64,
    pub server_cert_not_after: AtomicI64,
}

#[derive(Clone)]
struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, v: f64) {
        for (i, b) in self.bounds.iter().enumerate() {
            if v <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += v;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (b, n) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let braces = |l: &str| {
            if l.is_empty() {
                String::new()
            } else {
                format!("{{{l}}}")
            }
        };
        let _ = writeln!(out, "{name}_sum{} {}", braces(labels), self.sum);
        let _ = writeln!(out, "{name}_count{} {}", braces(labels), self.count);
    }
}

fn bump<K: Ord>(map: &Mutex<BTreeMap<K, u64>>, key: K) {
    if let Ok(mut m) = map.lock() {
        *m.entry(key).or_insert(0) += 1;
    }
}

impl Metrics {
    pub fn request(&self, route: &'static str, status: u16, took: Duration) {
        bump(&self.requests, (route, status));
        if let Ok(mut d) = self.durations.lock() {
            d.entry(route)
                .or_insert_with(|| Histogram::new(&BUCKETS))
                .observe(took.as_secs_f64());
        }
    }

    pub fn rejected(&self, code: &'static str) {
        bump(&self.rejected, code);
    }

    pub fn issued(&self, route: &'static str) {
        bump(&self.issued, route);
    }

    pub fn handshake_failed(&self, why: &'static str) {
        bump(&self.handshake_failures, why);
    }

    pub fn reloaded(&self, result: &'static str) {
        bump(&self.reloads, result);
    }

    pub fn batch(&self, size: usize) {
        if let Ok(mut b) = self.batches.lock() {
            b.get_or_insert_with(|| Histogram::new(&BATCH_BUCKETS))
                .observe(size as f64);
        }
    }

    pub fn commit(&self, took: Duration) {
        if let Ok(mut c) = self.commits.lock() {
            c.get_or_insert_with(|| Histogram::new(&BUCKETS))
                .observe(took.as_secs_f64());
        }
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
        };
        head(
            &mut out,
            "pki_serve_requests_total",
            "counter",
            "HTTP requests answered, by route and status.",
        );
        if let Ok(m) = self.requests.lock() {
            for ((route, status), n) in m.iter() {
                let _ = writeln!(
                    out,
                    "pki_serve_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
                );
            }
        }
        head(
            &mut out,
            "pki_serve_request_duration_seconds",
            "histogram",
            "Time from a request's head to its answer, by route.",
        );
        if let Ok(m) = self.durations.lock() {
            for (route, h) in m.iter() {
                h.render(
                    &mut out,
                    "pki_serve_request_duration_seconds",
                    &format!("route=\"{route}\""),
                );
            }
        }
        head(&mut out, "pki_serve_rejected_total", "counter", "Client certificates refused in the TLS handshake, by the root cause pki diagnose names.");
        if let Ok(m) = self.rejected.lock() {
            for (code, n) in m.iter() {
                let _ = writeln!(out, "pki_serve_rejected_total{{code=\"{code}\"}} {n}");
            }
        }
        head(
            &mut out,
            "pki_serve_issued_total",
            "counter",
            "Certificates issued and recorded, by route.",
        );
        if let Ok(m) = self.issued.lock() {
            for (route, n) in m.iter() {
                let _ = writeln!(out, "pki_serve_issued_total{{route=\"{route}\"}} {n}");
            }
        }
        head(&mut out, "pki_serve_handshake_failures_total", "counter", "TLS handshakes that did not complete, by kind (rejected: a refused client certificate).");
        if let Ok(m) = self.handshake_failures.lock() {
            for (why, n) in m.iter() {
                let _ = writeln!(
                    out,
                    "pki_serve_handshake_failures_total{{kind=\"{why}\"}} {n}"
                );
            }
        }
        head(
            &mut out,
            "pki_serve_reloads_total",
            "counter",
            "Reloads of the CA and inventory state, by result.",
        );
        if let Ok(m) = self.reloads.lock() {
            for (result, n) in m.iter() {
                let _ = writeln!(out, "pki_serve_reloads_total{{result=\"{result}\"}} {n}");
            }
        }
        head(
            &mut out,
            "pki_serve_commit_batch_size",
            "histogram",
            "Issuances committed per database transaction (group commit).",
        );
        if let Ok(b) = self.batches.lock() {
            b.clone()
                .unwrap_or_else(|| Histogram::new(&BATCH_BUCKETS))
                .render(&mut out, "pki_serve_commit_batch_size", "");
        }
        head(
            &mut out,
            "pki_serve_commit_duration_seconds",
            "histogram",
            "Time one group commit takes in the inventory (fsync included).",
        );
        if let Ok(c) = self.commits.lock() {
            c.clone()
                .unwrap_or_else(|| Histogram::new(&BUCKETS))
                .render(&mut out, "pki_serve_commit_duration_seconds", "");
        }
        let simple: [(&str, &str, &str, String); 6] = [
            (
                "pki_serve_connections_open",
                "gauge",
                "Connections open now.",
                self.connections_open.load(Ordering::Relaxed).to_string(),
            ),
            (
                "pki_serve_connections_total",
                "counter",
                "Connections accepted.",
                self.connections_total.load(Ordering::Relaxed).to_string(),
            ),
            (
                "pki_serve_accept_errors_total",
                "counter",
                "accept() failures (EMFILE and the like); the server backs off and goes on.",
                self.accept_errors.load(Ordering::Relaxed).to_string(),
            ),
            (
                "pki_serve_shed_total",
                "counter",
                "Requests answered 503 with Retry-After because the issuance queue was full.",
                self.shed.load(Ordering::Relaxed).to_string(),
            ),
            (
                "pki_serve_crl_number",
                "gauge",
                "The number of the CRL the server publishes.",
                self.crl_number.load(Ordering::Relaxed).to_string(),
            ),
            (
                "pki_serve_server_certificate_expiry_timestamp_seconds",
                "gauge",
                "notAfter of the server's TLS certificate.",
                self.server_cert_not_after
                    .load(Ordering::Relaxed)
                    .to_string(),
            ),
        ];
        for (name, kind, help, value) in simple {
            head(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {value}");
        }
        out
    }
}
