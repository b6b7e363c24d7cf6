use crate::args::Format;
use pki_core::inspect::{FileReport, Object};
use pki_core::timestamp::format as t;
use std::io::Write;

pub fn inspect(reports: &[FileReport], format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => super::json(&reports),
        Format::Text | Format::Prometheus => text(reports),
    }
}

fn text(reports: &[FileReport]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for r in reports {
        writeln!(out, "{}:", r.path.display())?;
        for problem in &r.problems {
            writeln!(out, "  ! {problem}")?;
        }
        for (i, o) in r.objects.iter().enumerate() {
            match o {
                Object::Certificate(c) => {
                    writeln!(
                        out,
                        "  [{}] certificate{}",
                        i + 1,
                        if c.self_signed { " (self-signed)" } else { "" }
                    )?;
                    writeln!(out, "      subject:   {}", c.subject)?;
                    writeln!(out, "      issuer:    {}", c.issuer)?;
                    writeln!(out, "      serial:    {}", c.serial)?;
                    writeln!(
                        out,
                        "      validity:  {} to {}",
                        t(c.not_before),
                        t(c.not_after)
                    )?;
                    writeln!(
                        out,
                        "      key:       {} · signed {}",
                        c.key, c.signature_algorithm
                    )?;
                    if !c.san.is_empty() {
                        writeln!(out, "      SAN:       {}", c.san.join(", "))?;
                    }
                    if let Some(eku) = &c.extended_key_usage {
                        writeln!(out, "      EKU:       {}", eku.join(", "))?;
                    }
                    if let Some(ku) = &c.key_usage {
                        writeln!(out, "      KU:        {}", ku.join(", "))?;
                    }
                    if let Some(bc) = &c.basic_constraints {
                        writeln!(out, "      basic:     {bc}")?;
                    }
                    if let Some(ski) = &c.subject_key_id {
                        writeln!(out, "      SKI:       {ski}")?;
                    }
                    if let Some(aki) = &c.authority_key_id {
                        writeln!(out, "      AKI:       {aki}")?;
                    }
                    writeln!(out, "      SHA-256:   {}", c.sha256)?;
                }
                Object::PrivateKey(k) => {
                    writeln!(
                        out,
                        "  [{}] private key: {} ({})",
                        i + 1,
                        k.algorithm.as_deref().unwrap_or("unknown algorithm"),
                        k.format
                    )?;
                    if let Some(fp) = &k.public_key_sha256 {
                        writeln!(out, "      public key SHA-256: {fp}")?;
                    }
                    if let Some(why) = &k.unusable {
                        writeln!(out, "      rustls cannot use it: {why}")?;
                    }
                    if k.matches.is_empty() {
                        writeln!(out, "      matches no certificate among the files given")?;
                    }
                    for m in &k.matches {
                        writeln!(out, "      matches {m}")?;
                    }
                }
                Object::Crl(c) => {
                    writeln!(out, "  [{}] CRL of {}", i + 1, c.issuer)?;
                    writeln!(
                        out,
                        "      this update {} · next update {} · number {} · {} revoked",
                        t(c.this_update),
                        c.next_update.map(t).unwrap_or_else(|| "none".into()),
                        c.number.as_deref().unwrap_or("none"),
                        c.revoked
                    )?;
                }
                Object::Other { what } => writeln!(out, "  [{}] {what} (not judged)", i + 1)?,
            }
        }
    }
    Ok(())
}
