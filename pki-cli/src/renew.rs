//! `pki renew`: flags to a pki-core request, the outcome to text or JSON, and the `--exec` hook.

use crate::args::{Format, Renew, UsageError};
use crate::exit::Outcome;
use crate::render::{json, line};
use anyhow::Result;
use pki_core::lifecycle::renew::{self, Request};
use pki_core::timestamp::format as t;
use pki_core::{Policy, Status};
use serde_json::json;

pub fn renew(r: Renew) -> Result<Outcome> {
    let (at, format) = (r.clock.now(), r.output.format);
    let policy = r.policy.as_deref().map(Policy::load).transpose()?;
    if r.check {
        let policy = match (policy, &r.ca) {
            (Some(p), _) => p,
            (None, Some(ca)) => crate::ca::open(ca, &r.db)?.policy,
            (None, None) => Policy::default(),
        };
        let due = renew::check(&r.store, &policy, at)?;
        match format {
            Format::Json => json(&due)?,
            Format::Text => line(&format!(
                "{}: renewal {} (due at {})",
                r.store.display(),
                if due.due { "is due" } else { "is not due" },
                t(due.due_at)
            ))?,
        }
        // ExecCondition=: 0 runs the renewal, 1 skips it without marking the unit failed
        return Ok(Outcome::Code(if due.due { 0 } else { 1 }));
    }
    let argv = match &r.exec {
        Some(cmd) => Some(
            shlex::split(cmd)
                .filter(|a| !a.is_empty())
                .ok_or_else(|| UsageError(format!("--exec '{cmd}': unbalanced quotes")))?,
        ),
        None => None,
    };
    // the store first: a store that is not there is what to say, whatever the CA
    pki_core::read::input::folder(&r.store)?;
    let remote = crate::remote::authority(&r.remote, r.trust.as_deref(), None, &r.store, at)?;
    let local = match (&remote, &r.ca) {
        (None, Some(dir)) => Some(crate::ca::open(dir, &r.db)?),
        _ => None,
    };
    let authority: &dyn pki_core::lifecycle::authority::Authority = match (&remote, &local) {
        (Some(s), _) => s,
        (None, Some(ca)) => ca,
        (None, None) => {
            return Err(
                UsageError("pki renew needs --ca DIR or --server URL (or --check)".into()).into(),
            )
        }
    };
    let req = Request {
        store: r.store.clone(),
        force: r.force,
        at,
        policy,
        dry_run: r.dry_run,
    };
    match renew::renew(&req, authority)? {
        renew::Outcome::NotDue(due) => {
            match format {
                Format::Json => {
                    json(&json!({"renewed": false, "due_at": t(due.due_at), "serial": due.serial}))?
                }
                Format::Text => line(&format!(
                    "not due: serial {} renews at {} (nothing changed)",
                    due.serial,
                    t(due.due_at)
                ))?,
            }
            Ok(Outcome::Judged(Status::Ok))
        }
        renew::Outcome::Planned {
            due,
            planned,
            authority,
            new_key,
            files,
        } => {
            let what = match &planned {
                Some(p) => format!(
                    "{} valid {} to {} from {} of {authority}",
                    p.subject,
                    t(p.not_before),
                    t(p.not_after),
                    p.issuer
                ),
                None => format!("a certificate from {authority}"),
            };
            match format {
                Format::Json => json(&json!({
                    "dry_run": true,
                    "renewed": false,
                    "due": due.due,
                    "due_at": t(due.due_at),
                    "serial": due.serial,
                    "new_key": new_key,
                    "authority": authority,
                    "plan": planned,
                    "files": files,
                }))?,
                Format::Text => line(&format!(
                    "dry run, nothing changed: serial {} {} (due at {}); would issue {what} with {}, writing {}",
                    due.serial,
                    if due.due { "is due" } else { "is not due but --force" },
                    t(due.due_at),
                    if new_key { "a new key" } else { "the same key" },
                    files.join(", ")
                ))?,
            }
            Ok(Outcome::Judged(Status::Ok))
        }
        renew::Outcome::Renewed(done) => {
            let hook = argv.map(|argv| run_hook(&argv, &r.store, &done.issued_serial));
            let hook_ok = hook.as_ref().is_none_or(|h| h.is_ok());
            match format {
                Format::Json => json(&json!({
                    "renewed": true,
                    "serial": done.issued_serial,
                    "not_after": t(done.not_after),
                    "next_due": t(done.next_due),
                    "issuer": done.issuer,
                    "verdict": done.after.verdict,
                    "journal": done.journal,
                    "hook": hook.as_ref().map(|h| match h { Ok(()) => json!({"ok": true}), Err(e) => json!({"ok": false, "error": e}) }),
                }))?,
                Format::Text => {
                    line(&format!(
                        "renewed: serial {} valid until {}, next renewal due {}",
                        done.issued_serial,
                        t(done.not_after),
                        t(done.next_due)
                    ))?;
                    if let Some(Err(e)) = &hook {
                        line(&format!(
                            "the --exec hook failed ({e}); the new certificate is kept"
                        ))?;
                    }
                }
            }
            Ok(match (done.after.status, hook_ok) {
                (Status::Critical, _) => Outcome::Judged(Status::Critical),
                (_, false) => Outcome::Judged(Status::Warning),
                (status, true) => Outcome::Judged(status),
            })
        }
    }
}

/// Runs the hook without a shell; its failure is reported, never undone.
fn run_hook(argv: &[String], store: &std::path::Path, serial: &str) -> Result<(), String> {
    let status = std::process::Command::new(&argv[0])
        .args(&argv[1..])
        .env("PKI_STORE", store)
        .env("PKI_SERIAL", serial)
        .status()
        .map_err(|e| format!("{}: {e}", argv[0]))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} exited with {status}", argv[0]))
    }
}
