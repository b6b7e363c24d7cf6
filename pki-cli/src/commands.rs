//! Each command: turn validated flags into a pki-core request, run it, render the result.

use crate::args::{Cli, Command, Diagnose, Format, PolicyCommand, PurposeArg, Secret, UsageError};
use crate::exit::Outcome;
use crate::render;
use anyhow::Result;
use pki_core::read::password::{Password, PASSWORD_ENV};
use pki_core::{Policy, Purpose, Request, Sources};
use std::path::Path;

pub fn run(cli: Cli) -> Result<Outcome> {
    match cli.command {
        Command::Diagnose(d) => diagnose(d),
        Command::Inspect(i) => {
            let password = password(&i.secret)?;
            let reports = pki_core::inspect::inspect(&i.files, password.as_ref())?;
            render::inspect(&reports, i.output.format)?;
            let unreadable = reports.iter().any(|r| !r.problems.is_empty());
            Ok(if unreadable {
                Outcome::Judged(pki_core::Status::Critical)
            } else {
                Outcome::Done
            })
        }
        Command::Policy(PolicyCommand::Check { file, output }) => {
            policy_check(&file, output.format)
        }
        Command::Ca(cmd) => crate::ca::run(cmd),
        Command::Enroll(e) => crate::ca::enroll(e),
        Command::Repair(r) => crate::repair::repair(r),
        Command::Renew(r) => crate::renew::renew(r),
        Command::Audit(a) => crate::audit::audit(a),
        Command::Store(cmd) => crate::repair::store(cmd),
        Command::Serve(s) => {
            let at = s.clock.at;
            crate::serve::serve(s, at)
        }
    }
}

/// The password from `--password-file`, else from `PKI_PASSWORD`, else none.
pub fn password(secret: &Secret) -> Result<Option<Password>> {
    if let Some(file) = &secret.password_file {
        return Ok(Some(Password::from_file(file)?));
    }
    Ok(std::env::var(PASSWORD_ENV).ok().map(Password::new))
}

fn diagnose(d: Diagnose) -> Result<Outcome> {
    if d.remote.server.is_some() {
        let (at, format) = (d.clock.now(), d.output.format);
        return crate::remote::diagnose(d, at, format);
    }
    let purpose = match (d.purpose, d.name) {
        (PurposeArg::Client, None) => Purpose::Client,
        (PurposeArg::Client, Some(_)) => {
            return Err(UsageError("--name is only for --purpose server".into()).into())
        }
        (PurposeArg::Server, name) => Purpose::Server { name },
    };
    let policy = Policy::load_or_default(d.policy.as_deref())?;
    let sources = Sources {
        store: d.store,
        cert: d.cert,
        key: d.key,
        chain: d.chain,
        trust: d.trust,
        crls: d.crls,
        password: password(&d.secret)?,
    };
    let material = pki_core::gather(&sources)?;
    let report = pki_core::diagnose(
        &material,
        &Request {
            at: d.clock.now(),
            purpose,
            policy,
        },
    );
    render::diagnose(&report, d.output.format)?;
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
