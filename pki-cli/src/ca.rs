//! `pki ca ...` and `pki enroll`: flags to pki-core requests, results to text or JSON.

use crate::args::{CaCommand, Database, Enroll, Format};
use crate::exit::Outcome;
use crate::render::{json, line};
use anyhow::Result;
use pki_core::ca::{self, plan, Ca, Planned};
use pki_core::lifecycle::enroll::{self, Enrollment};
use pki_core::timestamp::format as t;
use pki_core::Policy;
use serde_json::json;
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// The CA in `dir` with its inventory (where `--database`, or `ca.yaml`, says).
pub fn open(dir: &Path, db: &Database) -> Result<Ca> {
    Ok(pki_net::database::open_ca(dir, db.database.as_deref())?)
}

pub fn run(cmd: CaCommand) -> Result<Outcome> {
    match cmd {
        CaCommand::Init {
            dir,
            name,
            policy,
            crl_url,
            dry_run,
            db,
            clock,
            output,
        } => {
            let policy = Policy::load_or_default(policy.as_deref())?;
            if dry_run {
                let p = plan::init(&dir, &name, &policy)?;
                let files: Vec<String> = p.files.iter().map(|f| f.display().to_string()).collect();
                report(
                    output.format,
                    json!({"dry_run": true, "plan": p}),
                    &format!(
                        "dry run, nothing changed: would make {} and {} under policy '{}', writing {}",
                        p.root,
                        p.issuing,
                        p.policy,
                        files.join(", ")
                    ),
                )?;
                return Ok(Outcome::Done);
            }
            let database = match db.database.as_deref() {
                Some(url) => Some((
                    pki_net::database::redact(url),
                    pki_net::database::connector(url)?,
                )),
                None => None,
            };
            let ca = ca::init(&dir, &name, &policy, database, Some(&crl_url), clock.now())?;
            let crl = ca.current_issuer().crl_distribution_point();
            report(
                output.format,
                json!({"ca": dir, "name": name, "policy": ca.policy.name, "inventory": ca.inventory.describe(), "trust_bundle": dir.join(ca::TRUST_BUNDLE), "chain_bundle": dir.join(ca::CHAIN_BUNDLE), "crl_url": crl}),
                &format!(
                    "CA '{name}' made in {} (policy '{}', inventory {}, CRL at {crl}); hand {} to endpoints and servers",
                    dir.display(),
                    ca.policy.name,
                    ca.inventory.describe(),
                    dir.join(ca::TRUST_BUNDLE).display()
                ),
            )?;
            Ok(Outcome::Done)
        }
        CaCommand::Sign {
            ca: dir,
            csrs,
            device_id,
            out_dir,
            dry_run,
            db,
            clock,
            output,
        } => sign(
            &open(&dir, &db)?,
            &csrs,
            device_id.as_deref(),
            out_dir.as_deref(),
            dry_run,
            clock.now(),
            output.format,
        ),
        CaCommand::Revoke {
            ca: dir,
            serial,
            reason,
            dry_run,
            db,
            clock,
            output,
        } => {
            let ca = open(&dir, &db)?;
            let reason = reason.name();
            if dry_run {
                let p = plan::revoke(&ca, &serial, &reason)?;
                let text = if p.already_revoked {
                    format!("dry run, nothing changed: {} ({}) is already revoked; nothing would change", p.record.serial, p.record.device_id)
                } else {
                    format!(
                        "dry run, nothing changed: would revoke {} ({}), reason {reason}",
                        p.record.serial, p.record.device_id
                    )
                };
                report(output.format, json!({"dry_run": true, "plan": p}), &text)?;
                return Ok(Outcome::Done);
            }
            let record = ca::revoke(&ca, &serial, &reason, clock.now())?;
            report(
                output.format,
                json!({"revoked": record}),
                &format!(
                    "revoked {} ({}), reason {}; publish a CRL: pki ca crl --ca {}",
                    record.serial,
                    record.device_id,
                    reason,
                    dir.display()
                ),
            )?;
            Ok(Outcome::Done)
        }
        CaCommand::Crl {
            ca: dir,
            dry_run,
            db,
            clock,
            output,
        } => {
            let ca = open(&dir, &db)?;
            if dry_run {
                let p = plan::crl(&ca, clock.now())?;
                let files: Vec<String> = p
                    .files
                    .iter()
                    .map(|(f, n)| format!("{} ({n} revoked)", f.display()))
                    .collect();
                report(
                    output.format,
                    json!({"dry_run": true, "plan": p}),
                    &format!(
                        "dry run, nothing changed: would write CRL number {} (next update {}): {}",
                        p.number,
                        t(p.next_update),
                        files.join(", ")
                    ),
                )?;
                return Ok(Outcome::Done);
            }
            let crls = ca::crl(&ca, clock.now())?;
            report(
                output.format,
                json!({"crl_number": crls.number, "files": crls.files}),
                &format!("CRL number {} written: {}", crls.number, list(&crls.files)),
            )?;
            Ok(Outcome::Done)
        }
        CaCommand::Rotate {
            ca: dir,
            root,
            overlap_days,
            crl_url,
            dry_run,
            db,
            clock,
            output,
        } => {
            let mut ca = open(&dir, &db)?;
            let overlap = overlap_days.map(|d| Duration::days(d.into()));
            if dry_run {
                let p = plan::rotate(&ca, root, overlap, clock.now())?;
                report(
                    output.format,
                    json!({"dry_run": true, "plan": p}),
                    &format!(
                        "dry run, nothing changed: would make {}{}; the old one would stay in the bundles until {}",
                        p.new_issuer,
                        p.new_root.as_ref().map(|r| format!(" under {r}")).unwrap_or_default(),
                        t(p.overlap_until)
                    ),
                )?;
                return Ok(Outcome::Done);
            }
            let r = ca::rotate(&mut ca, root, overlap, crl_url.as_deref(), clock.now())?;
            let old_root = r
                .old_root_until
                .map(|until| format!(", the old root until {}", t(until)))
                .unwrap_or_default();
            report(output.format, json!({"new_issuer": r.new_issuer, "new_root": r.new_root, "overlap_until": t(r.overlap_until), "old_root_until": r.old_root_until.map(t), "crl_url": r.crl_url}),
                &format!("new issuing CA {}{} (CRL at {}); the old one stays in the bundles until {}{old_root} (then: pki ca bundle --ca {})",
                    r.new_issuer, r.new_root.as_ref().map(|r| format!(" under new root {r} (cross-signed by the old root)")).unwrap_or_default(), r.crl_url, t(r.overlap_until), dir.display()))?;
            Ok(Outcome::Done)
        }
        CaCommand::Bundle {
            ca: dir,
            dry_run,
            db,
            clock,
            output,
        } => {
            let ca = open(&dir, &db)?;
            let at = clock.now();
            if dry_run {
                let p = plan::bundle(&ca, at)?;
                let files: Vec<String> = p
                    .files
                    .iter()
                    .map(|(f, n, changes)| {
                        format!(
                            "{} ({n} certificates, {})",
                            f.display(),
                            if *changes {
                                "would change"
                            } else {
                                "unchanged"
                            }
                        )
                    })
                    .collect();
                report(
                    output.format,
                    json!({"dry_run": true, "plan": p}),
                    &format!(
                        "dry run, nothing changed: bundles for {}: {}",
                        t(at),
                        files.join(", ")
                    ),
                )?;
                return Ok(Outcome::Done);
            }
            ca.write_bundles(at)?;
            report(
                output.format,
                json!({"trust_bundle": dir.join(ca::TRUST_BUNDLE), "chain_bundle": dir.join(ca::CHAIN_BUNDLE)}),
                &format!("bundles rewritten for {}", t(at)),
            )?;
            Ok(Outcome::Done)
        }
        CaCommand::Token {
            ca: dir,
            device_id,
            ttl,
            dry_run,
            db,
            clock,
            output,
        } => {
            let (at, format) = (clock.now(), output.format);
            let ca = open(&dir, &db)?;
            if dry_run {
                ca::issue::check_device_id(&device_id).map_err(pki_core::Error::Usage)?;
                report(
                    format,
                    json!({"device_id": device_id, "expires_at": t(at + ttl), "dry_run": true}),
                    &format!(
                        "dry run, nothing changed: would make a one-time enrollment token for {device_id}, usable until {} (nothing stored)",
                        t(at + ttl)
                    ),
                )?;
                return Ok(Outcome::Done);
            }
            let made = ca::token::make(&ca, &device_id, ttl, at)?;
            match format {
                Format::Json => json(
                    &json!({"device_id": device_id, "token": made.text(), "expires_at": t(made.token.expires_at)}),
                )?,
                Format::Text => {
                    // the token alone on standard output (for scripts); what it is for on stderr
                    crate::render::raw(&format!("{}\n", made.text()))?;
                    eprintln!(
                        "one-time enrollment token for {device_id}, usable until {} (only its hash is kept: it cannot be shown again)",
                        t(made.token.expires_at)
                    );
                }
            }
            Ok(Outcome::Done)
        }
    }
}

fn list(files: &[PathBuf]) -> String {
    files
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn sign(
    ca: &Ca,
    csrs: &[PathBuf],
    device_id: Option<&str>,
    out_dir: Option<&Path>,
    dry_run: bool,
    at: OffsetDateTime,
    format: Format,
) -> Result<Outcome> {
    let mut inputs = Vec::new();
    for path in csrs {
        // a request too large to read is content that cannot be used: refused (2), as a
        // request that is no CSR is; a FIFO or a device is a path of the wrong kind (64)
        use pki_core::read::input::Read;
        let read = pki_core::read::input::read(path)?;
        let reason = read.refusal().unwrap_or_default();
        let path = path.clone();
        let bytes = match read {
            Read::Bytes { bytes, .. } => bytes,
            Read::TooLarge(_) => return Err(pki_core::Error::Refused { path, reason }.into()),
            _ => return Err(pki_core::Error::BadRequest { path, reason }.into()),
        };
        inputs.push((path, bytes));
    }
    if out_dir.is_none() && csrs.len() > 1 && format == Format::Text && !dry_run {
        return Err(crate::args::UsageError("several requests: give --out-dir DIR".into()).into());
    }
    if dry_run {
        return sign_plan(ca, &inputs, device_id, at, format);
    }
    let results = ca::sign_csrs(ca, &inputs, device_id, at)?;
    let mut refused = false;
    let mut out = Vec::new();
    for ((path, _), result) in inputs.iter().zip(results) {
        match result {
            Ok(issued) => {
                let file = match out_dir {
                    Some(d) => {
                        std::fs::create_dir_all(d)
                            .map_err(|e| anyhow::anyhow!("{}: {e}", d.display()))?;
                        let stem = path
                            .file_stem()
                            .and_then(|s| s.to_str())
                            .unwrap_or("device");
                        let name = format!("{stem}.crt");
                        let file = d.join(&name);
                        // written new and renamed into place (the way every write goes):
                        // a link planted under the name is replaced, never written through
                        pki_core::store::atomic::write(d, &name, issued.pem.as_bytes(), 0o644)
                            .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
                        Some(file)
                    }
                    None => None,
                };
                if file.is_none() && format == Format::Text {
                    crate::render::raw(&issued.pem)?;
                }
                out.push(json!({"csr": path, "serial": issued.serial, "device_id": issued.device_id, "not_after": t(issued.not_after), "truncated": issued.truncated, "file": file, "certificate": if file.is_none() { Some(&issued.pem) } else { None }}));
            }
            Err(e) => {
                refused = true;
                eprintln!("pki: {}", crate::render::clean(&e.to_string()));
                out.push(json!({"csr": path, "error": e.to_string()}));
            }
        }
    }
    match format {
        Format::Json => json(&out)?,
        Format::Text => {
            if out_dir.is_some() {
                line(&format!(
                    "{} certificate(s) issued, {} refused",
                    out.iter().filter(|o| o.get("serial").is_some()).count(),
                    out.iter().filter(|o| o.get("error").is_some()).count()
                ))?;
            }
        }
    }
    Ok(if refused {
        Outcome::Judged(pki_core::Status::Critical)
    } else {
        Outcome::Done
    })
}

/// `ca sign --dry-run`: every request checked, what each would get; nothing signed.
fn sign_plan(
    ca: &Ca,
    inputs: &[(PathBuf, Vec<u8>)],
    device_id: Option<&str>,
    at: OffsetDateTime,
    format: Format,
) -> Result<Outcome> {
    let results = ca::plan_csrs(ca, inputs, device_id, at)?;
    let mut refused = false;
    let mut out = Vec::new();
    for ((path, _), result) in inputs.iter().zip(results) {
        match result {
            Ok(p) => {
                if format == Format::Text {
                    line(&format!(
                        "dry run, nothing changed: {} would get {}{} valid {} to {}{}",
                        path.display(),
                        p.subject,
                        names(&p),
                        t(p.not_before),
                        t(p.not_after),
                        if p.truncated {
                            " (cut to the issuing CA's end)"
                        } else {
                            ""
                        }
                    ))?;
                }
                out.push(json!({"csr": path, "plan": p}));
            }
            Err(e) => {
                refused = true;
                eprintln!("pki: {e}");
                out.push(json!({"csr": path, "error": e.to_string()}));
            }
        }
    }
    if format == Format::Json {
        json(&json!({"dry_run": true, "requests": out}))?;
    }
    Ok(if refused {
        Outcome::Judged(pki_core::Status::Critical)
    } else {
        Outcome::Done
    })
}

fn names(p: &Planned) -> String {
    if p.names.is_empty() {
        String::new()
    } else {
        format!(" ({})", p.names.join(", "))
    }
}

pub fn enroll(e: Enroll) -> Result<Outcome> {
    let at = e.clock.now();
    let policy = e.policy.as_deref().map(Policy::load).transpose()?;
    let usage = |why: String| anyhow::Error::from(crate::args::UsageError(why));
    let device_id = match (&e.remote.server, &e.token) {
        (Some(_), None) => {
            return Err(usage(
                "pki enroll --server needs --token T (a one-time token from pki ca token)".into(),
            ))
        }
        (Some(_), Some(token)) => pki_core::ca::token::Presented::parse(token)
            .and_then(|t| t.device_id(e.device_id.as_deref()))
            .map_err(|why| usage(format!("--token: {why}")))?,
        (None, _) => e
            .device_id
            .clone()
            .ok_or_else(|| usage("pki enroll --ca needs --device-id ID".into()))?,
    };
    let remote =
        crate::remote::authority(&e.remote, e.trust.as_deref(), e.token.clone(), &e.store, at)?;
    let local = match (&remote, &e.ca) {
        (None, Some(dir)) => Some(open(dir, &e.db)?),
        _ => None,
    };
    let authority: &dyn pki_core::lifecycle::authority::Authority = match (&remote, &local) {
        (Some(r), _) => r,
        (None, Some(ca)) => ca,
        (None, None) => {
            return Err(
                crate::args::UsageError("pki enroll needs --ca DIR or --server URL".into()).into(),
            )
        }
    };
    let req = Enrollment {
        store: e.store.clone(),
        device_id,
        policy,
        key: e.key,
        at,
        force: e.force,
        password: crate::commands::password(&e.secret)?,
        dry_run: e.dry_run,
    };
    let format = e.output.format;
    match enroll::enroll(&req, authority)? {
        enroll::Outcome::Unchanged { device_id, serial } => {
            report(format, json!({"store": e.store, "changed": false, "device_id": device_id, "serial": serial}),
                &format!("{} is already enrolled as {device_id} (serial {serial}) and accepted: nothing changed", e.store.display()))?;
        }
        enroll::Outcome::Planned {
            planned,
            authority,
            key,
            files,
        } => {
            let what = match &planned {
                Some(p) => format!(
                    "{}{}, valid {} to {}, signed by {} of {authority}",
                    p.subject,
                    names(p),
                    t(p.not_before),
                    t(p.not_after),
                    p.issuer
                ),
                None => format!("a certificate from {authority} (what it holds is its policy's)"),
            };
            report(
                format,
                json!({"store": e.store, "dry_run": true, "changed": false, "key": key, "authority": authority, "plan": planned, "files": files}),
                &format!(
                    "dry run, nothing changed: would enroll in {} with {key}: {what}; would write {}",
                    e.store.display(),
                    files.join(", ")
                ),
            )?;
        }
        enroll::Outcome::Enrolled {
            issued,
            entry,
            cleared_lock,
        } => {
            report(
                format,
                json!({"store": e.store, "changed": true, "device_id": issued.device_id, "serial": issued.serial, "not_after": t(issued.not_after), "journal": entry, "cleared_lock": cleared_lock}),
                &format!(
                    "enrolled {} in {}: serial {}, valid until {}{}",
                    issued.device_id,
                    e.store.display(),
                    issued.serial,
                    t(issued.not_after),
                    cleared_lock.map(|c| format!(" ({c})")).unwrap_or_default()
                ),
            )?;
        }
    }
    Ok(Outcome::Done)
}

pub fn report(format: Format, value: serde_json::Value, text: &str) -> Result<()> {
    match format {
        Format::Json => json(&value),
        Format::Text => line(text),
    }
}
