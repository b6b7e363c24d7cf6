//! Each command: turn validated flags into a pki-core request, run it, render the result.

use crate::args::{Cli, Command, Diagnose, Format, PolicyCommand, PurposeArg, UsageError};
use crate::exit::Outcome;
use crate::render;
use anyhow::Result;
use pki_core::{Policy, Purpose, Request, Sources};
use std::path::Path;
use time::OffsetDateTime;

pub fn run(cli: Cli) -> Result<Outcome> {
    // The one place the clock is read: every judgement below uses `at`.
    let at = cli.common.at.unwrap_or_else(OffsetDateTime::now_utc);
    let format = cli.common.format;
    if format == Format::Prometheus && !matches!(cli.command, Command::Audit(_)) {
        return Err(UsageError("--format prometheus is for pki audit".into()).into());
    }
    match cli.command {
        Command::Diagnose(d) => diagnose(d, at, format),
        Command::Inspect(i) => {
            let reports = pki_core::inspect::inspect(&i.files)?;
            render::inspect(&reports, format)?;
            let unreadable = reports.iter().any(|r| !r.problems.is_empty());
            Ok(if unreadable {
                Outcome::Judged(pki_core::Status::Critical)
            } else {
                Outcome::Done
            })
        }
        Command::Policy(PolicyCommand::Check { file }) => policy_check(&file, format),
        Command::Ca(cmd) => crate::ca::run(cmd, at, format),
        Command::Enroll(e) => crate::ca::enroll(e, at, format),
        Command::Repair(r) => crate::repair::repair(r, at, format),
        Command::Renew(r) => crate::renew::renew(r, at, format),
        Command::Audit(a) => crate::audit::audit(a, at, format),
        Command::Store(cmd) => crate::repair::store(cmd, at, format),
        Command::Serve(s) => crate::serve::serve(s, cli.common.at),
    }
}

fn diagnose(d: Diagnose, at: OffsetDateTime, format: Format) -> Result<Outcome> {
    if d.remote.server.is_some() {
        return crate::remote::diagnose(d, at, format);
    }
    let purpose = match (d.purpose, d.name) {
        (PurposeArg::Client, None) => Purpose::Client,
        (PurposeArg::Client, Some(_)) => {
            return Err(UsageError("--name is only for --purpose server".into()).into())
        }
        (PurposeArg::Server, Some(name)) => Purpose::Server { name },
        (PurposeArg::Server, None) => {
            return Err(UsageError("--purpose server needs --name HOST".into()).into())
        }
    };
    let policy = Policy::load_or_default(d.policy.as_deref())?;
    let sources = Sources {
        store: d.store,
        cert: d.cert,
        key: d.key,
        chain: d.chain,
        trust: d.trust,
        crls: d.crls,
    };
    let material = pki_core::gather(&sources)?;
    let report = pki_core::diagnose(
        &material,
        &Request {
            at,
            purpose,
            policy,
        },
    );
    render::diagnose(&report, format)?;
    Ok(Outcome::Judged(report.status))
}

fn policy_check(file: &Path, format: Format) -> Result<Outcome> {
    match Policy::load(file) {
        Ok(policy) => {
            render::policy_ok(file, &policy, format)?;
            Ok(Outcome::Done)
        }
        Err(pki_core::Error::Policy { path, reason }) => {
            render::policy_error(&path, &reason, format)?;
            Ok(Outcome::Usage)
        }
        Err(other) => Err(other.into()),
    }
}
