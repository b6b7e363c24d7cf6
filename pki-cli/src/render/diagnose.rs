use super::clean;
use super::style::Style;
use crate::args::Format;
use pki_core::judge::diagnose::{Report, Verdict};
use pki_core::timestamp::format as t;
use pki_core::Severity;
use std::io::Write;

pub fn diagnose(report: &Report, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => super::json(report),
        Format::Text => text(report),
    }
}

fn text(r: &Report) -> anyhow::Result<()> {
    let s = Style::for_stdout();
    let mut out = std::io::stdout().lock();
    let status = format!("{:?}", r.status).to_lowercase();
    let headline = match r.verdict {
        Verdict::Accepted => s.good(&format!("ACCEPTED ({status})")),
        Verdict::Rejected => s.severity(Severity::Critical, "REJECTED (critical)"),
    };
    let first = r
        .root_cause()
        .or_else(|| r.findings.iter().find(|f| f.severity == Severity::Warning));
    let why = first.map(|f| format!(": {}", f.code)).unwrap_or_default();
    writeln!(out, "{headline}{why} at {}", t(r.at))?;
    if let Some(c) = &r.certificate {
        writeln!(
            out,
            "  certificate: {} · serial {} · {} to {} · {}",
            clean(&c.subject),
            clean(&c.serial),
            t(c.not_before),
            t(c.not_after),
            clean(&c.key_algorithm)
        )?;
        writeln!(out, "  issuer:      {}", clean(&c.issuer))?;
        writeln!(
            out,
            "  file:        {}",
            clean(&c.file.display().to_string())
        )?;
    }
    if r.findings.is_empty() {
        writeln!(out, "  no findings")?;
    }
    for f in &r.findings {
        let label = format!("{:<8}", format!("{:?}", f.severity).to_uppercase());
        writeln!(out)?;
        writeln!(out, "  {} {}", s.severity(f.severity, &label), f.code)?;
        writeln!(out, "           {}", clean(&f.message))?;
        writeln!(out, "           {} {}", s.dim("fix:"), clean(&f.fix))?;
    }
    Ok(())
}
