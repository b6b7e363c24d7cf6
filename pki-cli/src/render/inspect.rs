use crate::args::Format;
use pki_core::inspect::{FileReport, Object};
use pki_core::timestamp::format as t;
use std::io::Write;

/// `writeln!` of one line, [`clean`](super::clean)ed: the names and subjects shown come from
/// the files inspected.
macro_rules! put {
    ($out:expr, $($arg:tt)*) => {
        writeln!($out, "{}", super::clean(&format!($($arg)*)))
    };
}

pub fn inspect(reports: &[FileReport], format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => super::json(&reports),
        Format::Text => text(reports),
    }
}

fn text(reports: &[FileReport]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for r in reports {
        put!(out, "{}:", r.path.display())?;
        for problem in &r.problems {
            put!(out, "  ! {problem}")?;
        }
        for (i, o) in r.objects.iter().enumerate() {
            match o {
                Object::Certificate(c) => {
                    put!(
                        out,
                        "  [{}] certificate{}",
                        i + 1,
                        if c.self_signed { " (self-signed)" } else { "" }
                    )?;
                    put!(out, "      subject:   {}", c.subject)?;
                    put!(out, "      issuer:    {}", c.issuer)?;
                    put!(out, "      serial:    {}", c.serial)?;
                    put!(
                        out,
                        "      validity:  {} to {}",
                        t(c.not_before),
                        t(c.not_after)
                    )?;
                    put!(
                        out,
                        "      key:       {} · signed {}",
                        c.key,
                        c.signature_algorithm
                    )?;
                    if !c.san.is_empty() {
                        put!(out, "      SAN:       {}", c.san.join(", "))?;
                    }
                    if let Some(eku) = &c.extended_key_usage {
                        put!(out, "      EKU:       {}", eku.join(", "))?;
                    }
                    if let Some(ku) = &c.key_usage {
                        put!(out, "      KU:        {}", ku.join(", "))?;
                    }
                    if let Some(bc) = &c.basic_constraints {
                        put!(out, "      basic:     {bc}")?;
                    }
                    if let Some(ski) = &c.subject_key_id {
                        put!(out, "      SKI:       {ski}")?;
                    }
                    if let Some(aki) = &c.authority_key_id {
                        put!(out, "      AKI:       {aki}")?;
                    }
                    if let Some(dps) = &c.crl_distribution_points {
                        put!(out, "      CRL DP:    {}", dps.join(", "))?;
                    }
                    put!(out, "      SHA-256:   {}", c.sha256)?;
                }
                Object::PrivateKey(k) => {
                    put!(
                        out,
                        "  [{}] private key: {} ({})",
                        i + 1,
                        k.algorithm.as_deref().unwrap_or("unknown algorithm"),
                        k.format
                    )?;
                    if let Some(fp) = &k.public_key_sha256 {
                        put!(out, "      public key SHA-256: {fp}")?;
                    }
                    if let Some(why) = &k.unusable {
                        put!(out, "      rustls cannot use it: {why}")?;
                    }
                    if k.matches.is_empty() {
                        put!(out, "      matches no certificate among the files given")?;
                    }
                    for m in &k.matches {
                        put!(out, "      matches {m}")?;
                    }
                }
                Object::Crl(c) => {
                    put!(out, "  [{}] CRL of {}", i + 1, c.issuer)?;
                    put!(
                        out,
                        "      this update {} · next update {} · number {} · {} revoked",
                        t(c.this_update),
                        c.next_update.map(t).unwrap_or_else(|| "none".into()),
                        c.number.as_deref().unwrap_or("none"),
                        c.revoked
                    )?;
                    if let Some(aki) = &c.authority_key_id {
                        put!(out, "      AKI:       {aki}")?;
                    }
                    if let Some(dp) = &c.distribution_point {
                        put!(out, "      covers certificates naming {}", dp.join(", "))?;
                    }
                }
                Object::CertificateRequest(r) => {
                    put!(out, "  [{}] certificate request (CSR)", i + 1)?;
                    put!(out, "      subject:   {}", r.subject)?;
                    put!(
                        out,
                        "      key:       {} · signed {} ({})",
                        r.key,
                        r.signature_algorithm,
                        if r.signature_valid {
                            "signature verifies"
                        } else {
                            "signature does NOT verify"
                        }
                    )?;
                    if !r.requested_names.is_empty() {
                        put!(out, "      requests:  {}", r.requested_names.join(", "))?;
                    }
                    put!(out, "      SHA-256:   {}", r.sha256)?;
                }
                Object::Other { what } => put!(out, "  [{}] {what} (not judged)", i + 1)?,
            }
        }
    }
    Ok(())
}
