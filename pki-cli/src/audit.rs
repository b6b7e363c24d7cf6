//! `pki audit`: the fleet report as a table for people, the contract's JSON, or Prometheus
//! text exposition (enix x509-certificate-exporter's metric names where they fit), written
//! atomically with `--output`.

use crate::args::{Audit, AuditFormat};
use crate::exit::Outcome;
use anyhow::Result;
use pki_core::audit::{self, AuditStatus, CertFacts, Report, Request};
use pki_core::timestamp::format as t;
use pki_core::Policy;
use std::io::{IsTerminal, Write};
use time::OffsetDateTime;
use unicode_width::UnicodeWidthStr;

pub fn audit(a: Audit) -> Result<Outcome> {
    let (at, format) = (a.clock.now(), a.format);
    let policy = Policy::load_or_default(a.policy.as_deref())?;
    let req = Request {
        paths: a.paths.clone(),
        trust: a.trust.clone(),
        password: crate::commands::password(&a.secret)?,
        at,
        policy,
    };
    let bar = progress_bar(&req)?;
    let report = audit::audit(&req, &|n| {
        if let Some(bar) = &bar {
            bar.inc(n as u64);
        }
    })?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let render = |w: &mut dyn Write| -> std::io::Result<()> {
        match format {
            AuditFormat::Json => {
                serde_json::to_writer_pretty(&mut *w, &report)?;
                w.write_all(b"\n")
            }
            AuditFormat::Prometheus => prometheus(&report, w),
            AuditFormat::Text => table(&report, w),
        }
    };
    match &a.output {
        Some(path) => write_atomically(path, render)?,
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            render(&mut out)?;
            out.flush()?;
        }
    }
    // a path without a store is said on stderr too, whatever the format: exit 3 needs a reason
    for p in report
        .problems
        .iter()
        .filter(|p| p.status == AuditStatus::Unknown)
    {
        eprintln!("pki: {}: {}", p.path.display(), p.message);
    }
    Ok(Outcome::Code(match report.worst() {
        AuditStatus::Ok => 0,
        AuditStatus::Warning => 1,
        AuditStatus::Critical => 2,
        AuditStatus::Unknown => 3,
    }))
}

/// A progress bar on a terminal for runs of more than a few stores; nothing when piped.
fn progress_bar(req: &Request) -> Result<Option<indicatif::ProgressBar>> {
    if !std::io::stderr().is_terminal() {
        return Ok(None);
    }
    let n = audit::discover(&req.paths)?.stores.len();
    Ok((n > 200).then(|| indicatif::ProgressBar::new(n as u64)))
}

fn table(r: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    // only the stores that are not ok are held, to be sorted by urgency
    let mut rows = Vec::new();
    for s in r.stores() {
        let s = s.map_err(std::io::Error::other)?;
        if s.status != AuditStatus::Ok {
            rows.push(s);
        }
    }
    // most urgent first: status, then the soonest expiry
    rows.sort_by_key(|s| {
        (
            std::cmp::Reverse(s.status),
            s.certificate.as_ref().map(|c| c.not_after),
        )
    });
    let mut lines: Vec<[String; 4]> = rows
        .into_iter()
        .map(|s| {
            let first = s
                .findings
                .iter()
                .find(|f| f.is_critical())
                .or_else(|| s.findings.first());
            [
                status_word(s.status),
                crate::render::clean(&s.path.display().to_string()).into_owned(),
                first.map_or("-", |f| f.code.as_str()).to_string(),
                s.certificate
                    .as_ref()
                    .map_or("-".to_string(), |c| t(c.not_after)),
            ]
        })
        .collect();
    // what is not a store: stray files, paths without a store
    lines.extend(r.problems.iter().map(|p| {
        [
            status_word(p.status),
            crate::render::clean(&p.path.display().to_string()).into_owned(),
            p.message.clone(),
            String::new(),
        ]
    }));
    if !lines.is_empty() {
        let head = [
            "STATUS".to_string(),
            "STORE".to_string(),
            "FINDING".to_string(),
            "NOT AFTER".to_string(),
        ];
        let width = |i: usize| {
            lines
                .iter()
                .chain(std::iter::once(&head))
                .filter(|l| !(i == 2 && l[3].is_empty() && l[0] != "STATUS"))
                .map(|l| l[i].width())
                .max()
                .unwrap_or(0)
        };
        let (w0, w1, w2) = (width(0), width(1), width(2));
        // padded by the columns a terminal gives each text (a CJK character takes two)
        let pad = |text: &str, w: usize| format!("{text}{}", " ".repeat(w - text.width().min(w)));
        for l in std::iter::once(&head).chain(lines.iter()) {
            let row = format!(
                "{}  {}  {}  {}",
                pad(&l[0], w0),
                pad(&l[1], w1),
                pad(&l[2], w2),
                l[3]
            );
            writeln!(out, "{}", row.trim_end())?;
        }
    }
    let m = &r.summary;
    writeln!(
        out,
        "{} stores at {}: {} ok, {} warning, {} critical, {} unknown",
        m.stores,
        t(r.at),
        m.ok,
        m.warning,
        m.critical,
        m.unknown
    )?;
    writeln!(
        out,
        "expiring within 7/30/90 days: {}/{}/{}",
        r.expiring["7d"], r.expiring["30d"], r.expiring["90d"]
    )?;
    if !r.codes.is_empty() {
        let codes: Vec<String> = r.codes.iter().map(|(c, n)| format!("{c} {n}")).collect();
        writeln!(out, "findings: {}", codes.join(", "))?;
    }
    Ok(())
}

fn status_word(status: AuditStatus) -> String {
    format!("{status:?}").to_uppercase()
}

fn prometheus(r: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    type Value = fn(&CertFacts, OffsetDateTime) -> i64;
    let per_certificate: [(&str, &str, Value); 3] = [
        (
            "x509_cert_not_after",
            "Device certificate notAfter, seconds since the epoch.",
            |c, _| c.not_after.unix_timestamp(),
        ),
        (
            "x509_cert_not_before",
            "Device certificate notBefore, seconds since the epoch.",
            |c, _| c.not_before.unix_timestamp(),
        ),
        (
            "x509_cert_expired",
            "1 if the device certificate is expired at the audit time.",
            |c, at| i64::from(c.not_after < at),
        ),
    ];
    // a metric's samples must follow its TYPE line: one pass over the stores per metric
    for (name, help, value) in per_certificate {
        head(out, name, help)?;
        for s in r.stores() {
            if let Some(c) = &s.map_err(std::io::Error::other)?.certificate {
                let labels = labels(&[
                    ("filepath", &c.file.display().to_string()),
                    ("serial_number", &c.serial),
                    ("subject_CN", &c.subject_cn),
                    ("issuer_CN", &c.issuer_cn),
                ]);
                writeln!(out, "{name}{labels} {}", value(c, r.at))?;
            }
        }
    }
    let name = "pki_store_status";
    head(
        out,
        name,
        "Store status: 0 ok, 1 warning, 2 critical, 3 unknown.",
    )?;
    for s in r.stores() {
        let s = s.map_err(std::io::Error::other)?;
        let labels = labels(&[
            ("path", &s.path.display().to_string()),
            ("device_id", s.device_id.as_deref().unwrap_or("")),
        ]);
        writeln!(out, "{name}{labels} {}", s.status as u8)?;
    }
    let m = &r.summary;
    // (labels, value) pairs of one metric
    type Samples = Vec<(String, String)>;
    let fleet: [(&str, &str, Samples); 7] = [
        (
            "pki_findings",
            "Stores carrying each finding code.",
            r.codes
                .iter()
                .map(|(c, n)| (labels(&[("code", c.as_str())]), n.to_string()))
                .collect(),
        ),
        (
            "pki_stores",
            "Stores by status.",
            [
                ("ok", m.ok),
                ("warning", m.warning),
                ("critical", m.critical),
                ("unknown", m.unknown),
            ]
            .iter()
            .map(|(s, n)| (labels(&[("status", s)]), n.to_string()))
            .collect(),
        ),
        (
            "pki_stores_expiring",
            "Stores whose certificate expires within the window.",
            r.expiring
                .iter()
                .map(|(w, n)| (labels(&[("within", w)]), n.to_string()))
                .collect(),
        ),
        (
            "pki_audit_problems",
            "Paths that are not stores: stray files beside a fleet (warning), paths without a store (unknown).",
            [("warning", AuditStatus::Warning), ("unknown", AuditStatus::Unknown)]
                .iter()
                .map(|(label, status)| {
                    let n = r.problems.iter().filter(|p| p.status == *status).count();
                    (labels(&[("status", label)]), n.to_string())
                })
                .collect(),
        ),
        (
            "pki_stores_scanned",
            "Stores scanned by the audit.",
            vec![(String::new(), m.stores.to_string())],
        ),
        (
            "pki_audit_duration_seconds",
            "Wall time of the audit.",
            vec![(String::new(), format!("{:.3}", r.duration.as_secs_f64()))],
        ),
        (
            "pki_audit_timestamp_seconds",
            "The instant the audit judged at.",
            vec![(String::new(), r.at.unix_timestamp().to_string())],
        ),
    ];
    for (name, help, samples) in fleet {
        head(out, name, help)?;
        for (labels, value) in samples {
            writeln!(out, "{name}{labels} {value}")?;
        }
    }
    Ok(())
}

fn head(out: &mut dyn Write, name: &str, help: &str) -> std::io::Result<()> {
    writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge")
}

/// `{a="x",b="y"}` with the exposition format's escaping (backslash, quote, newline).
fn labels(pairs: &[(&str, &str)]) -> String {
    let inner: Vec<String> = pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}=\"{}\"",
                v.replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n")
            )
        })
        .collect();
    format!("{{{}}}", inner.join(","))
}

/// Temporary file beside the target, fsynced, renamed: a collector never reads half a file.
fn write_atomically(
    path: &std::path::Path,
    render: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| crate::args::UsageError(format!("{}: not a file name", path.display())))?;
    pki_core::store::atomic::write_with(dir, name, 0o644, render)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(())
}
