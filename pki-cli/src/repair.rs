//! `pki repair` and `pki store rollback|install`: flags to pki-core requests, plans and
//! outcomes to text or JSON.

use crate::args::{Format, Import, Repair, StoreCommand};
use crate::exit::Outcome;
use crate::render::{json, line};
use anyhow::Result;
use pki_core::judge::diagnose::Report;
use pki_core::lifecycle::repair::{self, Request};
use pki_core::{Policy, Status};
use serde_json::json;

pub fn repair(r: Repair) -> Result<Outcome> {
    let (at, format) = (r.clock.now(), r.output.format);
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
        Format::Text => {
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

pub fn store(cmd: StoreCommand) -> Result<Outcome> {
    let (entry, what, format) = match cmd {
        StoreCommand::Rollback {
            store,
            dry_run,
            force,
            clock,
            output,
        } => {
            let format = output.format;
            let done = pki_core::store::rollback::rollback(&store, clock.now(), dry_run, force)?;
            let Some(entry) = done.journal else {
                let u = &done.undo;
                // the real run refuses to undo an enrollment without --force: the dry run says so
                let needs_force = u.action == "enroll" && !force;
                match format {
                    Format::Json => json(
                        &json!({"dry_run": true, "undo": u, "needs_force": needs_force}),
                    )?,
                    Format::Text => line(&format!(
                        "dry run, nothing changed: would undo change #{} ({}: {}): restore {}; take out {} (to backup/){}",
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
            (entry, "rolled back", format)
        }
        StoreCommand::Install {
            store,
            cert,
            dry_run: true,
            output,
            ..
        } => {
            let change = pki_core::lifecycle::install::plan(&store, &cert)?;
            let writes: Vec<String> = change
                .writes
                .iter()
                .map(|w| store.join(&w.name).display().to_string())
                .collect();
            let removes: Vec<String> = change
                .removes
                .iter()
                .map(|n| store.join(n).display().to_string())
                .collect();
            crate::ca::report(
                output.format,
                json!({"dry_run": true, "changed": false, "reason": change.reason, "writes": writes, "to_backup": removes}),
                &format!(
                    "dry run, nothing changed: would write {}{} (journal: \"{}\")",
                    writes.join(", "),
                    if removes.is_empty() {
                        String::new()
                    } else {
                        format!(" and move {} to backup/", removes.join(", "))
                    },
                    change.reason,
                ),
            )?;
            return Ok(Outcome::Done);
        }
        StoreCommand::Install {
            store,
            cert,
            clock,
            output,
            ..
        } => (
            pki_core::lifecycle::install::install(&store, &cert, clock.now())?,
            "installed",
            output.format,
        ),
        StoreCommand::Import(i) => return import(i),
    };
    match format {
        Format::Json => json(&json!({"journal": entry}))?,
        Format::Text => line(&format!(
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

fn import(i: Import) -> Result<Outcome> {
    use pki_core::lifecycle::import::{self, Outcome as Imported};
    let req = import::Import {
        store: i.store.clone(),
        files: i.files,
        trust: i.trust,
        device_id: i.device_id,
        policy: Policy::load_or_default(i.policy.as_deref())?,
        password: crate::commands::password(&i.secret)?,
        force: i.force,
        dry_run: i.dry_run,
        at: i.clock.now(),
    };
    let format = i.output.format;
    let store = i.store.display();
    match import::import(&req)? {
        Imported::Unchanged { device_id, serial } => {
            crate::ca::report(
                format,
                json!({"store": i.store, "changed": false, "device_id": device_id, "serial": serial}),
                &format!("{store} already holds this certificate for {device_id} (serial {serial}): nothing changed"),
            )?;
            Ok(Outcome::Done)
        }
        Imported::Planned {
            device_id,
            certificate,
            writes,
        } => {
            crate::ca::report(
                format,
                json!({"store": i.store, "dry_run": true, "changed": false, "device_id": device_id, "certificate": certificate, "writes": writes}),
                &format!(
                    "dry run, nothing changed: would import {certificate} as {device_id} into {store}, writing {}",
                    writes.join(", ")
                ),
            )?;
            Ok(Outcome::Done)
        }
        Imported::Imported {
            device_id,
            serial,
            entry,
            after,
        } => {
            match format {
                Format::Json => json(
                    &json!({"store": i.store, "changed": true, "device_id": device_id, "serial": serial, "journal": entry, "after": after}),
                )?,
                Format::Text => {
                    line(&format!(
                        "imported {device_id} (serial {serial}) into {store} (journal entry #{})",
                        entry.seq
                    ))?;
                    line(&format!("after:  {}", headline(&after)))?;
                    if let Some(f) = after.root_cause() {
                        // one line each: `line` escapes a line end inside its text
                        line(&format!("  remaining: {} — {}", f.code, f.message))?;
                        line(&format!("  fix: {}", f.fix))?;
                    }
                }
            }
            Ok(Outcome::Judged(after.status))
        }
    }
}
