//! `pki repair`: diagnose, plan the least invasive fix, and apply it in place, the crash-safe
//! way every write takes (`change.rs`). The plan is found by judging candidate stores in
//! memory, from what is at hand — the store's files, stray files a re-run installer left, the
//! backups, the CA's bundles and CRLs — before anything is written. `--trust F` stands for the
//! server's anchors: the store is judged against F and made acceptable to a server holding it.
//! Only when the device's own certificate must change is a new one issued (with `--ca`) or a
//! request left for the CA; a fix that lies with the server or the CA is said, not attempted.

use crate::error::Error;
use crate::finding::{quoted, Code, Side};
use crate::judge::chain::{walk, End};
use crate::judge::diagnose::{diagnose, Report, Request as Judge, Verdict};
use crate::judge::fix::known_ca;
use crate::judge::verify::{path_through, Purpose};
use crate::lifecycle::authority::Authority;
use crate::policy::Policy;
use crate::read::cert::Cert;
use crate::read::crl::Crl;
use crate::read::decode::decode;
use crate::read::input::MAX_STORE_ENTRIES;
use crate::read::key::Key;
use crate::store::change::{self, Change, FileWrite, BACKUP};
use crate::store::jail::{Jail, Kind};
use crate::store::journal::Entry;
use crate::store::lock;
use crate::store::manifest::Manifest;
use crate::store::{self, material_from, Candidate, Sources};
use serde::Serialize;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct Request {
    pub store: PathBuf,
    /// The server's trust anchors: the store is judged against them and made acceptable to a
    /// server holding them (and `trust.pem` refreshed from them).
    pub trust: Option<PathBuf>,
    pub dry_run: bool,
    pub at: OffsetDateTime,
    pub policy: Policy,
}

/// One action of the plan and the finding it fixes.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub action: &'static str,
    pub fixes: Vec<Code>,
    pub detail: String,
}

#[derive(Debug, Serialize)]
pub struct Outcome {
    pub before: Report,
    pub plan: Vec<Step>,
    /// False for `--dry-run` and for an empty plan.
    pub applied: bool,
    pub after: Option<Report>,
    pub journal: Option<Entry>,
    /// Without `--ca`, when only a new certificate can help: the request left in the store.
    #[serde(serialize_with = "crate::lossy::option")]
    pub csr: Option<PathBuf>,
}

/// Repairs the store of `req`; `authority` (`--ca` or `--server`) supplies bundles, CRLs, the
/// CA's copies and, when nothing else works, a new certificate.
pub fn repair(req: &Request, authority: Option<&dyn Authority>) -> Result<Outcome, Error> {
    let dir = &req.store;
    let jail = Jail::open(dir)?;
    if jail.kind(store::MANIFEST).is_none() {
        return Err(Error::refused(
            dir,
            format!(
                "not a managed store (no store.yaml): repair works in place on stores pki enrolled; make this folder one from its own files (they go to backup/): pki store import {0}; or enroll it anew: pki enroll {0} --ca DIR --device-id ID --force",
                quoted(dir)
            ),
        ));
    }
    if let Some(a) = authority {
        crate::lifecycle::authority::agree_on_time(a, req.at)?;
    }
    // the server's anchors, refused before anything is planned when they are no anchors;
    // over a server (`--server` without `--trust`), the anchors it hands out now (`cacerts`):
    // the store is judged as `pki diagnose --server` judges it, so the repair its fix names
    // sees what it saw (judged against its own trust.pem, a store whose root the server
    // dropped was "nothing to do")
    let served = match (&req.trust, authority.filter(|a| a.server().is_some())) {
        (None, Some(a)) => Some((a.trust_source(), a.trust_bundle(req.at)?.into_bytes())),
        _ => None,
    };
    let server = match served {
        Some(served) => Some(served),
        None => req.trust.as_deref().map(server_anchors).transpose()?,
    };
    let judge = Judge {
        at: req.at,
        purpose: Purpose::Client,
        policy: req.policy.clone(),
    };
    let sources = Sources {
        store: Some(dir.clone()),
        trust: req.trust.clone(),
        ..Sources::default()
    };
    let mut material = store::gather(&sources)?;
    if let (None, Some((from, anchors))) = (&req.trust, &server) {
        material.anchors = decode(from, anchors).certs;
        material.anchors_from = Some(from.clone());
    }
    let before = diagnose(&material, &judge);
    // against a server's anchors, the endpoint's own trust.pem is judged too: it must still
    // verify the server
    let own = match &server {
        Some(_) => Some(diagnose(&store::gather_store(dir)?, &judge)),
        None => None,
    };
    let mut plan = Vec::new();
    let (mut manifest, rewritten) = manifest_of(&jail, &req.policy, &mut plan)?;

    // the lock: a live holder stops us; a stale one is cleared (and said so)
    let guard = if req.dry_run {
        if let Some(cleared) = lock::probe(&jail)? {
            plan.push(Step {
                action: "clear-stale-lock",
                fixes: vec![Code::StoreLocked],
                detail: cleared,
            });
        }
        None
    } else {
        let (guard, cleared) = lock::hold(&jail)?;
        if let Some(cleared) = cleared {
            plan.push(Step {
                action: "clear-stale-lock",
                fixes: vec![Code::StoreLocked],
                detail: cleared,
            });
        }
        Some(guard)
    };

    let at_hand = AtHand::collect(&jail, authority, &manifest.device_id, &server, req)?;
    let (crls, unreadable_crls) = crls(&jail)?;
    let current = Candidate {
        cert: jail.bytes(store::DEVICE_CERT),
        key: jail.bytes(store::DEVICE_KEY),
        chain: jail.bytes(store::CHAIN),
        trust: jail.bytes(store::TRUST),
        crls,
    };
    let planner = Planner {
        dir,
        at_hand: &at_hand,
        before: &before,
        own: own.as_ref(),
        judge: &judge,
        server: server.as_ref(),
        manifest: &manifest,
    };
    let covered = covered_of(&planner, &current);
    let mut crl_plan = plan_crls(&planner, &current, authority, covered.as_ref(), req.at);
    if !unreadable_crls.is_empty() {
        // a FIFO, a link out, a folder in crl/ (or crl/ itself no folder): not a CRL either
        plan.push(Step {
            action: "drop-unreadable-crl",
            fixes: vec![Code::FileCorrupt],
            detail: format!(
                "{} cannot be read as a CRL: moved to backup/",
                unreadable_crls.join(", ")
            ),
        });
    }
    let crl_steps = plan.len()..plan.len() + crl_plan.steps.len();
    plan.append(&mut crl_plan.steps);
    let base = Candidate {
        crls: std::mem::take(&mut crl_plan.kept),
        ..current.clone()
    };
    let said = plan.len();
    let planned = planner.plan_files(&base, &mut plan);
    let found = planned.is_some();
    let (target, csr, mut writes) = match planned {
        Some(target) => (target, None, Vec::new()),
        None => {
            // the steps of a plan that found nothing: said only if a new certificate carries
            // them out (it comes with the refreshed trust anchors)
            let steps = plan.split_off(said);
            unrepaired(&planner, &base, authority, &manifest, req, steps, &mut plan)?
        }
    };
    // repaired from what was at hand, or with a new certificate
    let reissued = plan.iter().any(|s| s.action == "reissue");
    let settled = found || reissued;
    if let (true, Some(ca)) = (reissued, authority) {
        // the new certificate's issuer is the CA's current issuing CA: its CRLs, not the old
        // certificate's issuer's, are the ones the store must hold
        let covered = Covered::issued_next_by(&at_hand, ca.issuing_cert(req.at)?);
        let mut again = plan_crls(&planner, &current, Some(ca), Some(&covered), req.at);
        plan.splice(crl_steps, std::mem::take(&mut again.steps));
        crl_plan = again;
    }
    crl_plan.removes.extend(unreadable_crls);

    for (name, old, new, mode) in [
        (store::DEVICE_CERT, &current.cert, &target.cert, 0o644),
        (store::DEVICE_KEY, &current.key, &target.key, 0o600),
        (store::CHAIN, &current.chain, &target.chain, 0o644),
        (store::TRUST, &current.trust, &target.trust, 0o644),
    ] {
        if let Some(new) = new {
            if Some(new) != old.as_ref() || before_flags(&before, name) || rewritten {
                writes.push(FileWrite {
                    name: name.to_string(),
                    bytes: new.clone(),
                    mode,
                });
            }
        }
    }
    writes.extend(crl_plan.writes);
    let mut removes = crl_plan.removes;
    // a change cut short (files renamed, manifest not yet updated): record what it wrote
    let comparison = crate::store::integrity::compare(&jail, &manifest, &Default::default());
    for m in &comparison.mismatches {
        let file = &m.file;
        if m.explained && m.now.is_some() && !writes.iter().any(|w| &w.name == file) {
            if let Some(bytes) = jail.bytes(file) {
                let mode = if change::is_key(file) { 0o600 } else { 0o644 };
                writes.push(FileWrite {
                    name: file.clone(),
                    bytes,
                    mode,
                });
                plan.push(Step {
                    action: "finish-interrupted-change",
                    fixes: vec![],
                    detail: format!(
                        "{file} was written by a change cut short; recorded in store.yaml"
                    ),
                });
            }
        }
    }
    if too_open(&before, store::DEVICE_KEY) {
        plan.push(Step {
            action: "fix-key-permissions",
            fixes: vec![Code::KeyPermissionsTooOpen],
            detail: "device.key rewritten with mode 0600".into(),
        });
    }
    if before.has(Code::StoreTampered)
        && plan
            .iter()
            .all(|s| s.action == "clear-stale-lock" || s.action == "fix-key-permissions")
    {
        plan.push(Step { action: "record-hand-edits", fixes: vec![Code::StoreTampered], detail: "the store is accepted as it is: its present files are recorded in store.yaml, with a journal entry saying so".into() });
    }
    // a request left by an earlier repair is done with once the store is repaired without it
    let pending: Vec<String> = [store::PENDING_KEY, store::CSR]
        .into_iter()
        .filter(|f| jail.kind(f).is_some())
        .map(str::to_string)
        .collect();
    if settled && csr.is_none() && !pending.is_empty() {
        plan.push(Step {
            action: "clear-pending-request",
            fixes: codes(&before, &[Code::RequestPending]),
            detail: format!(
                "{} left by an earlier repair moved to backup/ (the store no longer waits for it)",
                pending.join(" and ")
            ),
        });
        removes.extend(pending);
    }
    if let Some(authority) = authority {
        super::authority::record(authority, &mut manifest);
    }

    // a journal that cannot be used is set aside; the change's entry starts a new one
    if let Some(problem) = comparison.journal_problems.first() {
        plan.push(Step {
            action: "set-journal-aside",
            fixes: vec![Code::StoreTampered],
            detail: format!(
                "{problem}: moved to backup/; this change's entry starts a new journal"
            ),
        });
        removes.push(crate::store::journal::JOURNAL.to_string());
    }
    // names in store.yaml that are no store file are dropped when it is written again
    let rewrite_manifest = rewritten
        || manifest
            .files
            .keys()
            .any(|name| !store::is_store_file(name));
    if req.dry_run || (writes.is_empty() && removes.is_empty() && !rewrite_manifest) {
        drop(guard);
        let after = (!req.dry_run && !plan.is_empty())
            .then(|| store::gather(&sources).map(|m| diagnose(&m, &judge)))
            .transpose()?;
        return Ok(Outcome {
            before,
            plan,
            applied: false,
            after,
            journal: None,
            csr,
        });
    }
    let reason = plan
        .iter()
        .map(|s| s.detail.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    let change = Change {
        action: "repair".into(),
        reason,
        writes,
        removes,
    };
    let entry = Some(change::apply(&jail, &change, manifest, req.at)?);
    drop(guard);
    let after = diagnose(&store::gather(&sources)?, &judge);
    Ok(Outcome {
        before,
        plan,
        applied: entry.is_some(),
        after: Some(after),
        journal: entry,
        csr,
    })
}

/// `--trust F`: its bytes, refused when F holds no certificate (an empty file, a key,
/// garbage, a folder): a server with no anchors accepts nobody, and nothing could be planned.
fn server_anchors(path: &Path) -> Result<(PathBuf, Vec<u8>), Error> {
    crate::read::anchors::server_anchors(path).map(|bytes| (path.to_path_buf(), bytes))
}

/// The store's manifest; when `store.yaml` cannot be read, a new one for the device the
/// certificate names (its CN), said in the plan (the store's files are then recorded anew).
fn manifest_of(
    jail: &Jail,
    policy: &Policy,
    plan: &mut Vec<Step>,
) -> Result<(Manifest, bool), Error> {
    let dir = jail.path();
    match Manifest::load(jail) {
        Ok(Some(m)) => Ok((m, false)),
        Ok(None) => Ok((Manifest::new("unknown", &policy.name), false)),
        Err(why) => {
            let leaf = jail
                .bytes(store::DEVICE_CERT)
                .map(|b| decode(&jail.shown(store::DEVICE_CERT), &b).certs)
                .unwrap_or_default()
                .into_iter()
                .find(|c| !c.is_ca());
            let Some(leaf) = leaf else {
                return Err(Error::refused(
                    dir,
                    format!("{why}; and no device certificate names the device it belongs to: enroll it anew (pki enroll {} --ca DIR --device-id ID --force)", quoted(dir)),
                ));
            };
            let id = leaf.common_name();
            plan.push(Step {
                action: "rewrite-manifest",
                fixes: vec![Code::FileCorrupt],
                detail: format!(
                    "store.yaml could not be read ({why}): written anew for device '{id}' (the certificate's CN), recording the store's present files"
                ),
            });
            Ok((Manifest::new(&id, &policy.name), true))
        }
    }
}

/// Files diagnose flagged as tampered or with open permissions: rewritten even when their
/// target bytes are the present ones (recording them, fixing the mode).
fn before_flags(before: &Report, name: &str) -> bool {
    before.findings.iter().any(|f| {
        (f.code == Code::StoreTampered
            || (f.code == Code::KeyPermissionsTooOpen && name == store::DEVICE_KEY))
            && f.message.contains(&format!("/{name}:"))
    })
}

/// Everything a repair may draw on besides the role files.
struct AtHand {
    /// (where, bytes) of every file that may hold a certificate or key: stray files in the
    /// store, backups newest first.
    files: Vec<(PathBuf, Vec<u8>)>,
    certs: Vec<Cert>,
    keys: Vec<(Key, Vec<u8>)>,
    /// CA certificates from everywhere, for rebuilding the chain.
    cas: Vec<Cert>,
    /// What `trust.pem` is refreshed from: the server's anchors, else the CA's bundle.
    trust: Option<(PathBuf, Vec<u8>)>,
    ca_chain: Option<Vec<u8>>,
    /// The CA's current CRLs: (file name, bytes).
    ca_crls: Vec<(String, Vec<u8>)>,
}

impl AtHand {
    fn collect(
        jail: &Jail,
        authority: Option<&dyn Authority>,
        device_id: &str,
        server: &Option<(PathBuf, Vec<u8>)>,
        req: &Request,
    ) -> Result<AtHand, Error> {
        let mut files = Vec::new();
        let roles = [
            store::MANIFEST,
            "journal.jsonl",
            store::LOCK,
            store::PENDING_KEY,
            store::CSR,
        ];
        for entry in jail.list("", Some(MAX_STORE_ENTRIES))? {
            let Some(name) = entry.name() else { continue };
            if entry.kind == Kind::File && !roles.contains(&name) && !name.starts_with('.') {
                files.extend(jail.bytes(name).map(|b| (jail.shown(name), b)));
            }
        }
        // the toolkit's own change folders, newest first; however many there are, only the
        // newest few are read (older generations hold older certificates still)
        if jail.kind(BACKUP) == Some(Kind::Dir) {
            let generations = jail.list(BACKUP, None)?;
            let ours = generations
                .iter()
                .filter_map(|g| g.name().filter(|n| change::is_generation(n)))
                .rev()
                .take(BACKUPS_READ);
            for gen in ours {
                let folder = format!("{BACKUP}/{gen}");
                for entry in jail
                    .list(&folder, Some(MAX_STORE_ENTRIES))
                    .unwrap_or_default()
                {
                    let Some(name) = entry.name() else { continue };
                    let name = format!("{folder}/{name}");
                    files.extend(jail.bytes(&name).map(|b| (jail.shown(&name), b)));
                }
            }
        }
        let trust = match (server, authority) {
            (Some(server), _) => Some(server.clone()),
            (None, Some(ca)) => Some((ca.trust_source(), ca.trust_bundle(req.at)?.into_bytes())),
            (None, None) => None,
        };
        let ca_chain = authority
            .map(|ca| ca.chain_bundle(req.at).map(String::into_bytes))
            .transpose()?;
        let mut ca_crls = Vec::new();
        if let Some(ca) = authority {
            files.extend(ca.issued_to(device_id)?); // the CA's copies: same serial, if the key is still here
            ca_crls = ca.crls()?;
        }
        let mut certs = Vec::new();
        let mut keys = Vec::new();
        let mut cas = Vec::new();
        let sources = files.iter().map(|(p, b)| (p.as_path(), b.as_slice()));
        let extra = trust
            .iter()
            .map(|(p, b)| (p.as_path(), b.as_slice()))
            .chain(
                ca_chain
                    .iter()
                    .map(|b| (Path::new("CA chain bundle"), b.as_slice())),
            );
        for (path, bytes) in sources.chain(extra) {
            let d = decode(path, bytes);
            for cert in d.certs {
                if cert.is_ca() {
                    cas.push(cert)
                } else {
                    certs.push(cert)
                }
            }
            for key in d.keys {
                keys.push((key, bytes.to_vec()));
            }
        }
        Ok(AtHand {
            files,
            certs,
            keys,
            cas,
            trust,
            ca_chain,
            ca_crls,
        })
    }
}

/// What the plan is judged by: the store, what is at hand, and the server's anchors.
struct Planner<'a> {
    dir: &'a Path,
    at_hand: &'a AtHand,
    before: &'a Report,
    /// The store against its own `trust.pem`, when `before` is against the server's anchors.
    own: Option<&'a Report>,
    judge: &'a Judge,
    server: Option<&'a (PathBuf, Vec<u8>)>,
    manifest: &'a Manifest,
}

impl Planner<'_> {
    /// Whether a server holding the anchors judged against accepts `c`.
    fn accepted(&self, c: &Candidate) -> bool {
        let judged = match self.server {
            Some((_, anchors)) => Candidate {
                trust: Some(anchors.clone()),
                ..c.clone()
            },
            None => c.clone(),
        };
        // the store's identity is judged too: another device's certificate is no repair
        let mut material = material_from(self.dir, &judged);
        material.manifest = Some(self.manifest.clone());
        diagnose(&material, self.judge).verdict == Verdict::Accepted
    }

    /// Whether the endpoint's own trust anchors need refreshing: they are broken, stale, or
    /// (against a server's anchors) do not vouch for the store.
    fn trust_broken(&self) -> bool {
        let own = self.own.unwrap_or(self.before);
        own.findings
            .iter()
            .any(|f| f.side == Side::Trust && (f.is_critical() || f.code == Code::IssuerExpired))
            || flagged(own, store::TRUST)
            || own.verdict == Verdict::Rejected && self.own.is_some()
    }

    /// The least invasive set of role files that diagnoses as accepted, or `None` when no
    /// certificate at hand can be made to work.
    fn plan_files(&self, current: &Candidate, plan: &mut Vec<Step>) -> Option<Candidate> {
        let (at_hand, before) = (self.at_hand, self.before);
        let mut target = current.clone();

        // trust anchors: --trust or the CA's bundle when given; else keep, else the newest backup
        if let Some((from, bytes)) = &at_hand.trust {
            if Some(bytes) != current.trust.as_ref()
                && (self.trust_broken() || !self.accepted(current))
            {
                target.trust = Some(bytes.clone());
                plan.push(Step {
                    action: "refresh-trust",
                    fixes: codes(
                        before,
                        &[Code::UnknownIssuer, Code::CaRotated, Code::FileCorrupt],
                    ),
                    detail: format!("trust.pem refreshed from {}", from.display()),
                });
            }
        } else if flagged(before, store::TRUST)
            || current
                .trust
                .as_ref()
                .is_none_or(|t| decode(Path::new("t"), t).certs.is_empty())
        {
            if let Some((from, bytes)) = at_hand
                .files
                .iter()
                .find(|(p, b)| is_backup_of(p, store::TRUST) && !decode(p, b).certs.is_empty())
            {
                target.trust = Some(bytes.clone());
                plan.push(Step {
                    action: "restore-from-backup",
                    fixes: vec![Code::FileCorrupt],
                    detail: format!("trust.pem restored from {}", from.display()),
                });
            }
        }

        // the certificate and key: the present certificate first (its serial stays), then any other
        let present: Vec<Cert> = current
            .cert
            .as_deref()
            .map(|b| decode(Path::new("device.crt"), b).certs)
            .unwrap_or_default();
        let mut certs: Vec<(&Cert, &'static str)> =
            present.iter().map(|c| (c, "present")).collect();
        let mut others: Vec<&Cert> = at_hand.certs.iter().collect();
        others.sort_by_key(|c| std::cmp::Reverse(c.not_before));
        certs.extend(others.into_iter().map(|c| (c, "at hand")));
        let present_key = current
            .key
            .as_deref()
            .map(|b| decode(Path::new("device.key"), b).keys)
            .unwrap_or_default();
        let key_in_cert = holds_key(current);
        for (cert, whence) in certs {
            if !cert.is_valid_at(self.judge.at) {
                continue; // never roll back to an expired generation
            }
            let key_bytes = if present_key.iter().any(|k| k.matches(cert)) {
                current.key.clone()
            } else {
                at_hand
                    .keys
                    .iter()
                    .find(|(k, _)| k.matches(cert))
                    .map(|(_, b)| b.clone())
            };
            let Some(key_bytes) = key_bytes else { continue };
            let mut candidate = target.clone();
            // the present file as it is when it holds just this certificate (no needless
            // rewrite); a private key pasted into it goes to backup/ with the old file
            candidate.cert = if whence == "present" && present.len() == 1 && !key_in_cert {
                current.cert.clone()
            } else {
                Some(cert.der_pem())
            };
            candidate.key = Some(key_bytes.clone());
            if !self.accepted(&candidate) {
                candidate.chain = self.rebuild_chain(cert, &candidate);
            }
            if !self.accepted(&candidate) {
                continue;
            }
            describe(current, &candidate, cert, whence, before, at_hand, plan);
            return Some(candidate);
        }
        None
    }

    /// The intermediates that take `cert` to the anchors judged against, from everything at
    /// hand (the CA's bundle holds its cross-certificates): the path webpki builds.
    fn rebuild_chain(&self, cert: &Cert, candidate: &Candidate) -> Option<Vec<u8>> {
        let anchors_bytes = match self.server {
            Some((_, anchors)) => Some(anchors.as_slice()),
            None => candidate.trust.as_deref(),
        };
        let anchors = anchors_bytes
            .map(|t| decode(Path::new("trust.pem"), t).certs)
            .unwrap_or_default();
        let mut pool = self.at_hand.cas.clone();
        if let Some(bundle) = &self.at_hand.ca_chain {
            pool.extend(decode(Path::new("bundle"), bundle).certs);
        }
        if let Some(path) = path_through(cert, &pool, &anchors, self.judge.at) {
            return Some(
                path.iter()
                    .map(|c| c.der_pem())
                    .collect::<Vec<_>>()
                    .concat(),
            );
        }
        // webpki builds no path (an issuer outside its validity, say): the path by signatures
        let w = walk(cert, &pool, &anchors);
        match w.end {
            End::Anchored(_) => Some(
                w.links
                    .iter()
                    .map(|c| c.der_pem())
                    .collect::<Vec<_>>()
                    .concat(),
            ),
            _ => candidate.chain.clone(),
        }
    }
}

/// Steps describing how `candidate` differs from `current`.
fn describe(
    current: &Candidate,
    candidate: &Candidate,
    cert: &Cert,
    whence: &str,
    before: &Report,
    at_hand: &AtHand,
    plan: &mut Vec<Step>,
) {
    if candidate.cert != current.cert {
        let several = before.has(Code::MultipleCandidates);
        let restored = at_hand
            .files
            .iter()
            .find(|(_, b)| {
                decode(Path::new("x"), b)
                    .certs
                    .iter()
                    .any(|c| c.sha256 == cert.sha256)
            })
            .map(|(p, _)| p.display().to_string());
        let (action, fixes, detail) = if whence == "present" && holds_key(current) {
            let mut fixes = codes(before, &[Code::MultipleCandidates]);
            if too_open(before, store::DEVICE_CERT) {
                fixes.push(Code::KeyPermissionsTooOpen);
            }
            (
                "pick-certificate",
                fixes,
                format!(
                    "device.crt keeps only {}; the private key pasted into it goes to backup/ (mode 0600) with the old file",
                    cert.describe()
                ),
            )
        } else if whence == "present" && several {
            (
                "pick-certificate",
                vec![Code::MultipleCandidates],
                format!(
                    "device.crt keeps only {} (the others go to backup/)",
                    cert.describe()
                ),
            )
        } else {
            (
                "restore-from-backup",
                codes(
                    before,
                    &[
                        Code::FileCorrupt,
                        Code::CertMissing,
                        Code::KeyMismatch,
                        Code::CertExpired,
                        Code::BadSignature,
                        Code::IdentityMismatch,
                    ],
                ),
                format!(
                    "device.crt restored: {} from {}",
                    cert.describe(),
                    restored.unwrap_or_else(|| "the store".into())
                ),
            )
        };
        plan.push(Step {
            action,
            fixes,
            detail,
        });
    }
    if candidate.key != current.key {
        let from = at_hand
            .keys
            .iter()
            .find(|(_, b)| Some(b) == candidate.key.as_ref())
            .map(|(k, _)| k.origin.to_string())
            .unwrap_or_default();
        plan.push(Step { action: "relink-key", fixes: codes(before, &[Code::KeyMismatch, Code::KeyMissing, Code::FileCorrupt]), detail: format!("device.key re-linked from {from} (the present one goes to backup/); serial {} unchanged", cert.serial) });
    }
    if candidate.chain != current.chain {
        plan.push(Step {
            action: "rebuild-chain",
            fixes: codes(
                before,
                &[
                    Code::ChainIncomplete,
                    Code::CaRotated,
                    Code::UnknownIssuer,
                    Code::IssuerExpired,
                    Code::NotACa,
                    Code::BadSignature,
                    Code::FileCorrupt,
                ],
            ),
            detail: "chain.pem rebuilt from the CA certificates at hand".into(),
        });
    }
}

/// Whether diagnose found the store's file `name` holding a key with open permissions.
fn too_open(before: &Report, name: &str) -> bool {
    before
        .findings
        .iter()
        .any(|f| f.code == Code::KeyPermissionsTooOpen && f.message.contains(&format!("/{name}:")))
}

/// Whether the candidate's `device.crt` holds a private key (a key pasted after the
/// certificate, a PEM bundle of both).
fn holds_key(c: &Candidate) -> bool {
    c.cert
        .as_deref()
        .is_some_and(|b| !decode(Path::new(store::DEVICE_CERT), b).keys.is_empty())
}

/// When no certificate at hand can work: a new one when the device's own certificate must
/// change (issued with `--ca`, else a request left for the CA); else what the repair needs, or
/// the side outside the endpoint that must change. Nothing is issued in a dry run.
fn unrepaired(
    planner: &Planner<'_>,
    current: &Candidate,
    authority: Option<&dyn Authority>,
    manifest: &Manifest,
    req: &Request,
    steps: Vec<Step>,
    plan: &mut Vec<Step>,
) -> Result<(Candidate, Option<PathBuf>, Vec<FileWrite>), Error> {
    let before = planner.before;
    let critical: Vec<&crate::finding::Finding> =
        before.findings.iter().filter(|f| f.is_critical()).collect();
    let fixes: Vec<Code> = critical.iter().map(|f| f.code).collect();
    let on = |sides: &[Side]| critical.iter().any(|f| sides.contains(&f.side));
    let device = on(&[Side::Device]);
    let endpoint = on(&[Side::Device, Side::Chain, Side::Trust]);
    let dir = planner.dir;
    match authority {
        Some(ca) if endpoint => match out_of_reach(ca, planner.server, req.at)? {
            None => {
                plan.extend(steps.into_iter().filter(|s| s.action == "refresh-trust"));
                return reissue(planner, current, ca, req, fixes, plan);
            }
            Some(why) => {
                // a certificate from this CA would be rejected too: nothing is made or signed
                plan.push(Step {
                    action: "outside-the-store",
                    fixes,
                    detail: why,
                });
                return Ok((current.clone(), None, Vec::new()));
            }
        },
        None if device => return request(dir, current, manifest, req, fixes, plan),
        _ => {}
    }
    for f in critical
        .iter()
        .filter(|f| matches!(f.side, Side::Server | Side::Ca | Side::Clock))
    {
        plan.push(Step {
            action: "outside-the-store",
            fixes: vec![f.code],
            detail: format!(
                "nothing in the store can fix this; {}: {}",
                f.message, f.fix
            ),
        });
    }
    if on(&[Side::Chain, Side::Trust, Side::Store]) {
        let what = if on(&[Side::Trust]) {
            "the trust anchors (the CA's bundle with --ca DIR, or the server's with --trust FILE)"
        } else {
            "the CA's certificates (its bundle, with --ca DIR)"
        };
        plan.push(Step {
            action: "needs-input",
            fixes: critical
                .iter()
                .filter(|f| matches!(f.side, Side::Chain | Side::Trust | Side::Store))
                .map(|f| f.code)
                .collect(),
            detail: format!(
                "no new certificate is needed, but what is at hand does not make the store acceptable: give {what}, e.g. pki repair {} {}",
                quoted(dir),
                match &manifest.server {
                    Some(url) => format!("--server {}", shlex::try_quote(url).unwrap_or_default()),
                    None => format!("--ca {}", known_ca(manifest).unwrap_or_else(|| "DIR".into())),
                }
            ),
        });
    }
    Ok((current.clone(), None, Vec::new()))
}

/// Why a certificate from `ca`'s current issuing CA would not be accepted by a server holding
/// the `server` anchors: the CA's chain bundle leads from that issuing CA to none of them (a
/// server trusting another CA, or a root re-keyed elsewhere under the same name). `None` when
/// it leads to one, or when no server anchors were given (the CA's own bundle is then used).
fn out_of_reach(
    ca: &dyn Authority,
    server: Option<&(PathBuf, Vec<u8>)>,
    at: OffsetDateTime,
) -> Result<Option<String>, Error> {
    let Some((from, anchors)) = server else {
        return Ok(None);
    };
    let issuing = ca.issuing_cert(at)?;
    let anchors = decode(from, anchors).certs;
    let pool = decode(
        Path::new("the CA's chain bundle"),
        ca.chain_bundle(at)?.as_bytes(),
    )
    .certs;
    let anchored = anchors
        .iter()
        .any(|a| a.subject_raw == issuing.subject_raw && a.spki == issuing.spki)
        || matches!(walk(&issuing, &pool, &anchors).end, End::Anchored(_));
    if anchored {
        return Ok(None);
    }
    Ok(Some(format!(
        "a new certificate from {} would be rejected too: its issuing CA '{}' leads to no trust anchor in {}, so nothing was made or signed; the server must trust this CA (its roots are in {}), or the certificate must come from the CA whose roots {} holds",
        ca.describe(),
        issuing.subject,
        from.display(),
        ca.trust_source().display(),
        from.display()
    )))
}

/// A new key and certificate from the CA's current issuing CA, the pair proven before
/// anything is written; in a dry run only said.
fn reissue(
    planner: &Planner<'_>,
    current: &Candidate,
    ca: &dyn Authority,
    req: &Request,
    fixes: Vec<Code>,
    plan: &mut Vec<Step>,
) -> Result<(Candidate, Option<PathBuf>, Vec<FileWrite>), Error> {
    let (dir, manifest, at_hand) = (planner.dir, planner.manifest, planner.at_hand);
    // only to the device the store proves it is: a certificate the CA issued to it whose key
    // is at hand (store.yaml's id alone is the writer's word)
    let present = |bytes: &Option<Vec<u8>>| {
        bytes
            .as_deref()
            .map(|b| decode(Path::new("store file"), b))
            .unwrap_or_default()
    };
    let (cert_file, key_file) = (present(&current.cert), present(&current.key));
    let certs: Vec<&Cert> = cert_file.certs.iter().chain(&at_hand.certs).collect();
    let keys: Vec<&Key> = key_file
        .keys
        .iter()
        .chain(at_hand.keys.iter().map(|(k, _)| k))
        .collect();
    if !ca.vouches(&manifest.device_id, &certs, &keys)? {
        plan.push(Step {
            action: "needs-input",
            fixes,
            detail: crate::ca::identity::unproven(&manifest.device_id, dir, &ca.describe()),
        });
        return Ok((current.clone(), None, Vec::new()));
    }
    if req.dry_run {
        plan.push(Step {
            action: "reissue",
            fixes,
            detail: format!(
                "no certificate at hand can work: a new key and a certificate for '{}' from {} (dry run: nothing made, nothing signed)",
                manifest.device_id,
                ca.describe()
            ),
        });
        return Ok((current.clone(), None, Vec::new()));
    }
    let id = manifest.device_id.clone();
    let key = crate::lifecycle::enroll::new_key(&req.policy, dir)?;
    let csr = crate::lifecycle::enroll::csr(&id, &key).map_err(|e| Error::ca(dir, e))?;
    let issued = ca.issue(&dir.join(store::CSR), &csr, &id, Some(&req.policy), req.at)?;
    crate::lifecycle::enroll::check_pair(&key, &issued, dir)?;
    plan.push(Step {
        action: "reissue",
        fixes,
        detail: format!(
            "no certificate at hand can work: new key and certificate serial {} from {}",
            issued.serial,
            ca.describe()
        ),
    });
    let trust = match planner.server {
        Some((_, anchors)) => anchors.clone(),
        None => ca.trust_bundle(req.at)?.into_bytes(),
    };
    Ok((
        Candidate {
            cert: Some(issued.pem.into_bytes()),
            key: Some(crate::lifecycle::enroll::pkcs8_pem(&key).into_bytes()),
            chain: Some(ca.chain_bundle(req.at)?.into_bytes()),
            trust: Some(trust),
            crls: current.crls.clone(),
        },
        None,
        Vec::new(),
    ))
}

/// Without a CA: a new key (`device.key.pending`, 0600) and a request (`device.csr`) left in
/// the store for the CA side, with the two commands that finish the job; a request already
/// pending is named again, not replaced.
fn request(
    dir: &Path,
    current: &Candidate,
    manifest: &Manifest,
    req: &Request,
    fixes: Vec<Code>,
    plan: &mut Vec<Step>,
) -> Result<(Candidate, Option<PathBuf>, Vec<FileWrite>), Error> {
    let csr_path = dir.join(store::CSR);
    let finish = format!(
        "on the CA side run `pki ca sign --ca {} {} > device.crt`, then here `pki store install {} device.crt`",
        known_ca(manifest).unwrap_or_else(|| "DIR".into()),
        quoted(&csr_path),
        quoted(dir)
    );
    let jail = Jail::open(dir)?;
    if jail.kind(store::PENDING_KEY).is_some() && jail.kind(store::CSR).is_some() {
        plan.push(Step {
            action: "request-certificate",
            fixes,
            detail: format!("no certificate at hand can work and no --ca was given; a request is already pending ({}): {finish}", csr_path.display()),
        });
        return Ok((current.clone(), Some(csr_path), Vec::new()));
    }
    if req.dry_run {
        plan.push(Step {
            action: "request-certificate",
            fixes,
            detail: format!(
                "no certificate at hand can work and no --ca was given: a new key ({}) and a request ({}) would be left in the store (dry run: nothing made); then {finish}",
                store::PENDING_KEY,
                csr_path.display(),
            ),
        });
        return Ok((current.clone(), None, Vec::new()));
    }
    let id = manifest.device_id.clone();
    let key = crate::lifecycle::enroll::new_key(&req.policy, dir)?;
    let csr = crate::lifecycle::enroll::csr(&id, &key).map_err(|e| Error::ca(dir, e))?;
    let pending = crate::lifecycle::enroll::pkcs8_pem(&key);
    let pem = crate::read::decode::encode_pem("CERTIFICATE REQUEST", &csr);
    let writes = vec![
        FileWrite {
            name: store::PENDING_KEY.into(),
            bytes: pending.into_bytes(),
            mode: 0o600,
        },
        FileWrite {
            name: store::CSR.into(),
            bytes: pem.into_bytes(),
            mode: 0o644,
        },
    ];
    plan.push(Step {
        action: "request-certificate",
        fixes,
        detail: format!(
            "no certificate at hand can work and no --ca was given: a new key ({}) and a request ({}) were left in the store; {finish}",
            store::PENDING_KEY,
            csr_path.display(),
        ),
    });
    Ok((current.clone(), Some(csr_path), writes))
}

/// What happens to the store's CRLs.
struct CrlPlan {
    /// The CRLs the store keeps (and gets), for judging candidates.
    kept: Vec<(PathBuf, Vec<u8>)>,
    writes: Vec<FileWrite>,
    /// Relative paths taken out (to backup/).
    removes: Vec<String>,
    steps: Vec<Step>,
}

/// Every CA certificate at hand, the candidate's chain and anchors included.
fn cas_of(planner: &Planner<'_>, candidate: &Candidate) -> Vec<Cert> {
    let mut cas: Vec<Cert> = planner.at_hand.cas.clone();
    for bytes in [&candidate.chain, &candidate.trust].into_iter().flatten() {
        cas.extend(decode(Path::new("role"), bytes).certs);
    }
    cas
}

/// The device certificate the store's CRLs must answer for: the CA certificate that issued
/// it, and the CRL distribution points it names (`None`: none, it was issued before the CA
/// partitioned its CRLs). A CRL that covers it ([`Crl::covers`]) but that its issuer did not
/// sign makes rustls reject it.
struct Covered {
    issuer: Cert,
    points: Option<Vec<String>>,
}

impl Covered {
    /// A certificate `issuer` is about to issue: it will name the distribution point of its
    /// issuer's CRLs (their IssuingDistributionPoint, read from the CA's current CRL of that
    /// key), which no other key's CRL names.
    fn issued_next_by(at_hand: &AtHand, issuer: Cert) -> Covered {
        let points = at_hand
            .ca_crls
            .iter()
            .flat_map(|(name, bytes)| decode(Path::new(name), bytes).crls)
            .find(|crl| crl.is_signed_by(&issuer))
            .and_then(|crl| crl.idp)
            .map(|idp| idp.uris)
            .unwrap_or_default();
        Covered {
            issuer,
            points: Some(points),
        }
    }

    /// Whether `crl` covers the certificate: rustls checks it against that CRL.
    fn covered_by(&self, crl: &Crl) -> bool {
        crl.covers(&self.issuer.subject_raw, self.points.as_deref())
    }

    /// Whether `crl` covers the certificate and another key signed it.
    fn rejected_by(&self, crl: &Crl) -> bool {
        self.covered_by(crl) && !crl.is_signed_by(&self.issuer)
    }
}

/// The device certificate `before` judged (else the first in `candidate`'s device.crt), with
/// the CA certificate that issued it, found among the CA certificates at hand by name and
/// signature.
fn covered_of(planner: &Planner<'_>, candidate: &Candidate) -> Option<Covered> {
    let certs = decode(Path::new(store::DEVICE_CERT), candidate.cert.as_deref()?).certs;
    let judged = planner
        .before
        .certificate
        .as_ref()
        .map(|c| c.sha256.as_str());
    let leaf = certs
        .iter()
        .find(|c| Some(c.sha256.as_str()) == judged)
        .or_else(|| certs.iter().find(|c| !c.is_ca()))?;
    let issuer = cas_of(planner, candidate)
        .into_iter()
        .find(|ca| ca.subject_raw == leaf.issuer_raw && leaf.is_signed_by(ca))?;
    Some(Covered {
        issuer,
        points: leaf.crl_distribution_points.clone(),
    })
}

/// CRLs that cannot be read, or that verify under no CA of their issuer's name at hand (left
/// from a CA generation since re-keyed: rustls rejects every chain of that name), go to
/// backup/; so does a CRL that covers the device certificate (`covered`) but was signed by
/// another key of its issuer's name: webpki checks the certificate against the first CRL
/// that covers it and rejects it when that CRL's signature fails under the issuer's key
/// (after an issuing CA rotation, both generations' CRLs carry one name; the CA's CRLs keep
/// apart by their IssuingDistributionPoint, but a CRL from before, or a certificate from
/// before, does not). With `--ca`, when revocation is unknown or a CRL is stale, the CA's
/// current CRLs come in (replacing expired ones of the same issuer), but for those.
fn plan_crls(
    planner: &Planner<'_>,
    current: &Candidate,
    authority: Option<&dyn Authority>,
    covered: Option<&Covered>,
    at: OffsetDateTime,
) -> CrlPlan {
    let (dir, before) = (planner.dir, planner.before);
    let cas = cas_of(planner, current);
    let rel = |p: &Path| p.strip_prefix(dir).ok().map(|r| r.display().to_string());
    let mut out = CrlPlan {
        kept: Vec::new(),
        writes: Vec::new(),
        removes: Vec::new(),
        steps: Vec::new(),
    };
    // a CRL that covers the device certificate but that its issuer's key did not sign
    let other_key = |crl: &Crl| covered.is_some_and(|c| c.rejected_by(crl));
    let (mut unreadable, mut stale, mut expired) = (Vec::new(), Vec::new(), Vec::new());
    let mut other_generation = Vec::new();
    // whether the store keeps CRLs of the certificate's issuer's name, and one covers it
    let (mut of_its_name, mut answered) = (false, false);
    for (path, bytes) in &current.crls {
        let decoded = decode(path, bytes);
        let Some(rel) = rel(path) else { continue };
        let Some(crl) = decoded.crls.first().filter(|_| decoded.problems.is_empty()) else {
            unreadable.push(rel);
            continue;
        };
        let named: Vec<&Cert> = cas
            .iter()
            .filter(|c| c.subject_raw == crl.issuer_raw)
            .collect();
        let verifies = named.iter().any(|c| crl.is_signed_by(c));
        if !named.is_empty() && !verifies {
            stale.push(rel);
        } else if other_key(crl) {
            other_generation.push(rel);
        } else {
            if crl.next_update.is_some_and(|n| n < at) {
                expired.push((rel.clone(), crl.issuer_raw.clone()));
            }
            if let Some(c) = covered {
                of_its_name |= crl.issuer_raw == c.issuer.subject_raw;
                answered |= c.covered_by(crl);
            }
            out.kept.push((path.clone(), bytes.clone()));
        }
    }
    for (list, action, code, why) in [
        (
            &unreadable,
            "drop-unreadable-crl",
            Code::FileCorrupt,
            "cannot be read as a CRL",
        ),
        (
            &stale,
            "drop-stale-crl",
            Code::BadSignature,
            "no longer verif{} under the CA of its name (an older key)",
        ),
        (
            &other_generation,
            "drop-stale-crl",
            Code::BadSignature,
            "cover{} the device certificate but bear{} the signature of another key of its issuer's name (the CA's other generation; the CRL, or the certificate, is from before the CA partitioned its CRLs): rustls checks the certificate against the first CRL that covers it and rejects it when that CRL's signature fails",
        ),
    ] {
        if list.is_empty() {
            continue;
        }
        let why = why
            .replace("verif{}", if list.len() == 1 { "verifies" } else { "verify" })
            .replace("bear{}", if list.len() == 1 { "bears" } else { "bear" })
            .replace("cover{}", if list.len() == 1 { "covers" } else { "cover" });
        out.steps.push(Step {
            action,
            fixes: codes(before, &[code, Code::FileCorrupt]),
            detail: format!("{} {why}: moved to backup/", list.join(", ")),
        });
        out.removes.extend(list.iter().cloned());
    }
    let Some(ca) = authority else {
        return out;
    };
    let wanted = before.has(Code::CrlExpired)
        || before.has(Code::RevocationUnknown)
        || !unreadable.is_empty()
        || !stale.is_empty()
        || !other_generation.is_empty()
        // a new certificate of another generation than the CRLs kept
        || of_its_name && !answered;
    if !wanted {
        return out;
    }
    let fresh: Vec<(String, Vec<u8>, Vec<u8>)> = planner
        .at_hand
        .ca_crls
        .iter()
        .filter_map(|(name, bytes)| {
            let crl = decode(Path::new(name), bytes).crls.into_iter().next()?;
            (crl.next_update.is_none_or(|n| n >= at) && !other_key(&crl))
                .then(|| (name.clone(), bytes.clone(), crl.issuer_raw.clone()))
        })
        .collect();
    if fresh.is_empty() {
        out.steps.push(Step {
            action: "needs-input",
            fixes: codes(before, &[Code::CrlExpired, Code::RevocationUnknown]),
            detail: format!(
                "the CA has no current CRL to put in crl/: {}",
                match ca.folder() {
                    Some(folder) => format!("run pki ca crl --ca {} first", quoted(folder)),
                    None => format!("{} publishes none", ca.describe()),
                }
            ),
        });
        return out;
    }
    let mut brought = Vec::new();
    for (name, bytes, issuer) in &fresh {
        let target = format!("{}/{name}", store::CRL_DIR);
        let present = current
            .crls
            .iter()
            .any(|(p, b)| rel(p).as_deref() == Some(target.as_str()) && b == bytes);
        if !present {
            out.writes.push(FileWrite {
                name: target.clone(),
                bytes: bytes.clone(),
                mode: 0o644,
            });
            out.kept
                .retain(|(p, _)| rel(p).as_deref() != Some(target.as_str()));
            out.kept.push((dir.join(&target), bytes.clone()));
            brought.push(target.clone());
        }
        for (old, _) in expired
            .iter()
            .filter(|(old, i)| i == issuer && *old != target)
        {
            out.removes.push(old.clone());
            out.kept
                .retain(|(p, _)| rel(p).as_deref() != Some(old.as_str()));
        }
    }
    if !brought.is_empty() {
        out.steps.push(Step {
            action: "refresh-crl",
            fixes: codes(before, &[Code::CrlExpired, Code::RevocationUnknown]),
            detail: format!(
                "{} copied from {} (the CA's current CRLs; expired ones of the same CA go to backup/)",
                brought.join(", "),
                ca.crl_source()
            ),
        });
    }
    out
}

fn flagged(before: &Report, name: &str) -> bool {
    before
        .findings
        .iter()
        .any(|f| f.code == Code::FileCorrupt && f.message.contains(&format!("/{name}:")))
}

fn codes(before: &Report, wanted: &[Code]) -> Vec<Code> {
    let mut out: Vec<Code> = wanted.iter().copied().filter(|c| before.has(*c)).collect();
    out.dedup();
    out
}

fn is_backup_of(path: &Path, name: &str) -> bool {
    path.file_name().and_then(|n| n.to_str()) == Some(name)
        && path.components().any(|c| c.as_os_str() == BACKUP)
}

/// Files read: where, and the bytes.
type FilesRead = Vec<(PathBuf, Vec<u8>)>;

/// The files in `crl/` that could be read (path, bytes; whether they hold a CRL is
/// `plan_crls`'s question), and the entries there that cannot be read at all (a FIFO, a link
/// out, a folder; relative names), or `crl` itself when it is no folder. Dot-files (a
/// temporary file left behind) are no CRLs of the store. A name that is not UTF-8
/// text is refused: a change names its files as text.
fn crls(jail: &Jail) -> Result<(FilesRead, Vec<String>), Error> {
    let mut readable = Vec::new();
    let mut unreadable = Vec::new();
    let entries = match jail.kind(store::CRL_DIR) {
        None => return Ok((readable, unreadable)),
        Some(_) => match jail.list(store::CRL_DIR, Some(MAX_STORE_ENTRIES)) {
            Ok(entries) => entries,
            Err(_) => return Ok((readable, vec![store::CRL_DIR.to_string()])),
        },
    };
    for entry in entries {
        let Some(name) = entry.name() else {
            // a change names its files as text: this one it can neither record nor move
            let shown = Path::new(store::CRL_DIR).join(&entry.name);
            return Err(Error::refused(jail.shown(shown), store::NOT_UTF8_NAME));
        };
        if name.starts_with('.') {
            continue;
        }
        let name = format!("{}/{name}", store::CRL_DIR);
        match jail.bytes(&name) {
            Some(bytes) => readable.push((jail.shown(&name), bytes)),
            None => unreadable.push(name),
        }
    }
    Ok((readable, unreadable))
}

/// How many of `backup/`'s newest change folders repair reads for certificates and keys.
const BACKUPS_READ: usize = 64;
