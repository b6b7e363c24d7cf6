//! `pki repair` and `pki store rollback|install`: flags to pki-core requests, plans and
//! outcomes to text or JSON.

use crate::args::{Format, Repair, StoreCommand};
use crate::exit::Outcome;
use crate::render::{json, line};
use anyhow::Result;
use pki_core::judge::diagnose::Report;
use pki_core::lifecycle::repair::{self, Request};
use pki_core::{Policy, Status};
use serde_json::json;
use time::OffsetDateTime;

pub fn repair(r: Repair, at: OffsetDateTime, format: Format) -> Result<Outcome> {
    let policy = Policy::load_or_default(r.policy.as_deref())?;
    // the store first: a store that is not there is what to say, whatever the CA
    pki_core::read::input::folder(&r.store)?;
    let remote =
        crate::remote::authority(&r.remote, r.trust.as_deref(), r.token.clone(), &r.store, at)?;
    let local = match (&remote, &r.ca) {
        (None, Some(dir)) => Some(crate::ca::open(dir, &r.db)?),
        _ => None,
    };
    let req = Request {
        store: r.store.clone(),
        trust: r.trust,
        dry_run: r.dry_run,
        at,
        policy,
    };
    let authority: Option<&dyn pki_core::lifecycle::authority::Authority> = match (&remote, &local)
    {
        (Some(s), _) => Some(s),
        (None, Some(ca)) => Some(ca),
        (None, None) => None,
    };
    let outcome = repair::repair(&req, authority)?;
    let status = outcome.after.as_ref().unwrap_or(&outcome.before).status;
    match format {
        Format::Json => json(&outcome)?,
        Format::Text | Format::Prometheus => {
            line(&format!("before: {}", headline(&outcome.before)))?;
            if outcome.plan.is_empty() {
                line("plan: nothing to do")?;
            } else {
                line(&format!(
                    "plan{}:",
                    if r.dry_run {
                        " (dry run: nothing changed)"
                    } else {
                        ""
                    }
                ))?;
            }
            for (i, step) in outcome.plan.iter().enumerate() {
                let fixes: Vec<&str> = step.fixes.iter().map(|c| c.as_str()).collect();
                line(&format!(
                    "  {}. {} [{}]: {}",
                    i + 1,
                    step.action,
                    fixes.join(", "),
                    step.detail
                ))?;
            }
            if let Some(entry) = &outcome.journal {
                line(&format!(
                    "applied: journal entry #{}{}",
                    entry.seq,
                    entry
                        .backup
                        .as_ref()
                        .map(|b| format!(", superseded files in {b}"))
                        .unwrap_or_default()
                ))?;
            }
            if let Some(after) = &outcome.after {
                line(&format!("after:  {}", headline(after)))?;
                if let Some(f) = after.root_cause() {
                    line(&format!("  remaining: {} — {}", f.code, f.message))?;
                    line(&format!("  fix: {}", f.fix))?;
                }
            }
        }
    }
    Ok(Outcome::Judged(status))
}

fn headline(r: &Report) -> String {
    let first = r.root_cause().or_else(|| {
        r.findings
            .iter()
            .find(|f| f.severity == pki_core::Severity::Warning)
    });
    format!(
        "{}{}",
        match r.status {
            Status::Ok => "ACCEPTED (ok)",
            Status::Warning => "ACCEPTED (warning)",
            Status::Critical => "REJECTED (critical)",
        },
        first.map(|f| format!(": {}", f.code)).unwrap_or_default()
    )
}

pub fn store(cmd: StoreCommand, at: OffsetDateTime, format: Format) -> Result<Outcome> {
    let (entry, what) = match cmd {
        StoreCommand::Rollback {
            store,
            dry_run,
            force,
        } => {
            let done = pki_core::store::rollback::rollback(&store, at, dry_run, force)?;
            let Some(entry) = done.journal else {
                let u = &done.undo;
                // the real run refuses to undo an enrollment without --force: the dry run says so
                let needs_force = u.action == "enroll" && !force;
                match format {
                    Format::Json => json(
                        &json!({"dry_run": true, "undo": u, "needs_force": needs_force}),
                    )?,
                    Format::Text | Format::Prometheus => line(&format!(
                        "would undo change #{} ({}: {}): restore {}; take out {} (to backup/){}; nothing changed",
                        u.seq,
                        u.action,
                        u.reason,
                        list(&u.restores),
                        list(&u.takes_out),
                        if needs_force {
                            "; it is the enrollment and leaves no certificate: refused without --force"
                        } else {
                            ""
                        }
                    ))?,
                }
                return Ok(Outcome::Done);
            };
            (entry, "rolled back")
        }
        StoreCommand::Install { store, cert } => (
            pki_core::lifecycle::install::install(&store, &cert, at)?,
            "installed",
        ),
    };
    match format {
        Format::Json => json(&json!({"journal": entry}))?,
        Format::Text | Format::Prometheus => line(&format!(
            "{what}: {} (journal entry #{})",
            entry.reason, entry.seq
        ))?,
    }
    Ok(Outcome::Done)
}

fn list(files: &[String]) -> String {
    if files.is_empty() {
        "nothing".to_string()
    } else {
        files.join(", ")
    }
}
