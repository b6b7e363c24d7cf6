//! `pki repair`: diagnose, plan the least invasive fix, and apply it in place, the crash-safe
//! way every write takes (`change.rs`). The plan is found by judging candidate stores in
//! memory, from what is at hand — the store's files, stray files a re-run installer left, the
//! backups, the CA's bundles and `--trust` — before anything is written. Only when no
//! certificate at hand can work is a new one issued (with `--ca`) or a request left for the CA.

use crate::ca::Ca;
use crate::error::Error;
use crate::finding::Code;
use crate::judge::chain::{walk, End};
use crate::judge::diagnose::{diagnose, Report, Request as Judge, Verdict};
use crate::judge::verify::Purpose;
use crate::policy::Policy;
use crate::read::cert::Cert;
use crate::read::decode::decode;
use crate::read::key::Key;
use crate::store::change::{self, Change, FileWrite, BACKUP};
use crate::store::journal::Entry;
use crate::store::lock;
use crate::store::manifest::Manifest;
use crate::store::{self, material_from, Candidate};
use serde::Serialize;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct Request {
    pub store: PathBuf,
    pub ca: Option<PathBuf>,
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

pub fn repair(req: &Request) -> Result<Outcome, Error> {
    let dir = &req.store;
    if !dir.join(store::MANIFEST).exists() {
        return Err(Error::refused(dir, "not a managed store (no store.yaml): repair works in place on stores pki enrolled; for another product's folder, enroll anew (pki enroll --force)"));
    }
    let judge = Judge {
        at: req.at,
        purpose: Purpose::Client,
        policy: req.policy.clone(),
    };
    let before = diagnose(&store::gather_store(dir)?, &judge);
    let manifest = Manifest::load(dir)
        .map_err(|why| Error::refused(dir, why))?
        .unwrap_or_else(|| Manifest::new("unknown", &req.policy.name));
    let authority = req.ca.as_deref().map(Ca::load).transpose()?;
    let mut plan = Vec::new();

    // the lock: a live holder stops us; a stale one is cleared (and said so)
    let guard = if req.dry_run {
        if let Some(f) = lock::check(dir) {
            plan.push(Step {
                action: "clear-stale-lock",
                fixes: vec![Code::StoreLocked],
                detail: f.message,
            });
        }
        None
    } else {
        let (guard, cleared) = lock::hold(dir)?;
        if let Some(cleared) = cleared {
            plan.push(Step {
                action: "clear-stale-lock",
                fixes: vec![Code::StoreLocked],
                detail: cleared,
            });
        }
        Some(guard)
    };

    let at_hand = AtHand::collect(dir, authority.as_ref(), &manifest.device_id, req)?;
    let current = Candidate {
        cert: read(dir, store::DEVICE_CERT),
        key: read(dir, store::DEVICE_KEY),
        chain: read(dir, store::CHAIN),
        trust: read(dir, store::TRUST),
        crls: crls(dir),
    };
    let target = plan_files(dir, &current, &at_hand, &before, &judge, &mut plan);
    let (target, csr, mut writes) = match target {
        Some(target) => (target, None, Vec::new()),
        None => {
            let fixes = before
                .findings
                .iter()
                .filter(|f| f.is_critical())
                .map(|f| f.code)
                .collect();
            reissue(
                dir,
                &current,
                authority.as_ref(),
                &manifest,
                req,
                fixes,
                &mut plan,
            )?
        }
    };

    let stale = stale_crls(dir, &target);
    if !stale.is_empty() {
        plan.push(Step {
            action: "drop-stale-crl",
            fixes: codes(&before, &[Code::BadSignature, Code::FileCorrupt]),
            detail: format!(
                "{} no longer verif{} under the CA of its name (an older key): moved to backup/",
                stale.join(", "),
                if stale.len() == 1 { "ies" } else { "y" }
            ),
        });
    }
    for (name, old, new, mode) in [
        (store::DEVICE_CERT, &current.cert, &target.cert, 0o644),
        (store::DEVICE_KEY, &current.key, &target.key, 0o600),
        (store::CHAIN, &current.chain, &target.chain, 0o644),
        (store::TRUST, &current.trust, &target.trust, 0o644),
    ] {
        if let Some(new) = new {
            if Some(new) != old.as_ref() || before_flags(&before, name) {
                writes.push(FileWrite {
                    name: name.to_string(),
                    bytes: new.clone(),
                    mode,
                });
            }
        }
    }
    // a change cut short (files renamed, manifest not yet updated): record what it wrote
    let journal = crate::store::journal::read(dir);
    for (file, recorded) in &manifest.files {
        let now = crate::store::manifest::file_hash(&dir.join(file));
        let explained = now.as_deref() != Some(recorded.as_str())
            && now.is_some()
            && crate::store::journal::explains(&journal, file, now.as_deref());
        if explained && !writes.iter().any(|w| &w.name == file) {
            if let Some(bytes) = read(dir, file) {
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
    if before.has(Code::KeyPermissionsTooOpen)
        && !plan
            .iter()
            .any(|s| s.fixes.contains(&Code::KeyPermissionsTooOpen))
    {
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

    if req.dry_run || (writes.is_empty() && stale.is_empty()) {
        drop(guard);
        let after = (!req.dry_run && !plan.is_empty())
            .then(|| store::gather_store(dir).map(|m| diagnose(&m, &judge)))
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
        removes: stale,
    };
    let entry = Some(change::apply(dir, &change, manifest, req.at).map_err(|e| Error::io(dir, e))?);
    drop(guard);
    let after = diagnose(&store::gather_store(dir)?, &judge);
    Ok(Outcome {
        before,
        plan,
        applied: entry.is_some(),
        after: Some(after),
        journal: entry,
        csr,
    })
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
    trust: Option<(PathBuf, Vec<u8>)>,
    ca_chain: Option<Vec<u8>>,
}

impl AtHand {
    fn collect(
        dir: &Path,
        authority: Option<&Ca>,
        device_id: &str,
        req: &Request,
    ) -> Result<AtHand, Error> {
        let mut files = Vec::new();
        let roles = [store::MANIFEST, "journal.jsonl", store::LOCK];
        for path in crate::read::input::list(dir)? {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_file() && !roles.contains(&name) && !name.starts_with(".device") {
                files.extend(read_path(&path, dir).map(|b| (path.clone(), b)));
            }
        }
        let backup = dir.join(BACKUP);
        if backup.is_dir() {
            for gen in crate::read::input::list(&backup)?.into_iter().rev() {
                for path in crate::read::input::list(&gen).unwrap_or_default() {
                    files.extend(read_path(&path, dir).map(|b| (path.clone(), b)));
                }
            }
        }
        let trust = match (&req.trust, authority) {
            (Some(path), _) => Some((
                path.clone(),
                std::fs::read(path).map_err(|e| Error::io(path, e))?,
            )),
            (None, Some(ca)) => Some((
                ca.dir.join(crate::ca::TRUST_BUNDLE),
                ca.trust_bundle(req.at)?.into_bytes(),
            )),
            (None, None) => None,
        };
        let ca_chain = authority
            .map(|ca| ca.chain_bundle(req.at).map(String::into_bytes))
            .transpose()?;
        if let Some(ca) = authority {
            files.extend(ca.issued_to(device_id)?); // the CA's copies: same serial, if the key is still here
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
        })
    }
}

/// The least invasive set of role files that diagnoses as accepted, or `None` when no
/// certificate at hand can be made to work.
fn plan_files(
    dir: &Path,
    current: &Candidate,
    at_hand: &AtHand,
    before: &Report,
    judge: &Judge,
    plan: &mut Vec<Step>,
) -> Option<Candidate> {
    let accepted =
        |c: &Candidate| diagnose(&material_from(dir, c), judge).verdict == Verdict::Accepted;
    let mut target = current.clone();

    // trust anchors: --trust or the CA's bundle when given; else keep, else the newest backup
    let trust_broken = before.has(Code::UnknownIssuer)
        || before.has(Code::CaRotated)
        || flagged(before, store::TRUST);
    if let Some((from, bytes)) = &at_hand.trust {
        if Some(bytes) != current.trust.as_ref() && (trust_broken || !accepted(current)) {
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
    let mut certs: Vec<(&Cert, &'static str)> = present.iter().map(|c| (c, "present")).collect();
    let mut others: Vec<&Cert> = at_hand.certs.iter().collect();
    others.sort_by_key(|c| std::cmp::Reverse(c.not_before));
    certs.extend(others.into_iter().map(|c| (c, "at hand")));
    let present_key = current
        .key
        .as_deref()
        .map(|b| decode(Path::new("device.key"), b).keys)
        .unwrap_or_default();
    for (cert, whence) in certs {
        if !cert.is_valid_at(judge.at) {
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
        // the present file as it is when it holds just this certificate (no needless rewrite)
        candidate.cert = if whence == "present" && present.len() == 1 {
            current.cert.clone()
        } else {
            Some(cert.der_pem())
        };
        candidate.key = Some(key_bytes.clone());
        if !accepted(&candidate) {
            candidate.chain = rebuild_chain(cert, &candidate, at_hand);
        }
        if !accepted(&candidate) {
            continue;
        }
        describe(current, &candidate, cert, whence, before, at_hand, plan);
        return Some(candidate);
    }
    None
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
        let (action, fixes, detail) = if whence == "present" && several {
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
                ],
            ),
            detail: "chain.pem rebuilt from the CA certificates at hand".into(),
        });
    }
}

/// The intermediates that take `cert` to the candidate's anchors, from everything at hand.
fn rebuild_chain(cert: &Cert, candidate: &Candidate, at_hand: &AtHand) -> Option<Vec<u8>> {
    let anchors = candidate
        .trust
        .as_deref()
        .map(|t| decode(Path::new("trust.pem"), t).certs)
        .unwrap_or_default();
    let mut pool = at_hand.cas.clone();
    if let Some(bundle) = &at_hand.ca_chain {
        pool.extend(decode(Path::new("bundle"), bundle).certs);
    }
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

/// A new certificate: with `--ca`, a new key and a certificate signed now; without, a new key
/// and a request left in the store for the CA side.
fn reissue(
    dir: &Path,
    current: &Candidate,
    authority: Option<&Ca>,
    manifest: &Manifest,
    req: &Request,
    fixes: Vec<Code>,
    plan: &mut Vec<Step>,
) -> Result<(Candidate, Option<PathBuf>, Vec<FileWrite>), Error> {
    let id = manifest.device_id.clone();
    let key = crate::lifecycle::enroll::new_key(&req.policy, dir)?;
    let csr = crate::lifecycle::enroll::csr(&id, &key).map_err(|e| Error::ca(dir, e))?;
    let Some(ca) = authority else {
        let csr_path = dir.join("device.csr");
        let pending = crate::lifecycle::enroll::pkcs8_pem(&key);
        let pem = pem::encode_config(
            &pem::Pem::new("CERTIFICATE REQUEST", csr),
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        );
        let writes = vec![
            FileWrite {
                name: crate::lifecycle::install::PENDING_KEY.into(),
                bytes: pending.into_bytes(),
                mode: 0o600,
            },
            FileWrite {
                name: crate::lifecycle::install::CSR.into(),
                bytes: pem.into_bytes(),
                mode: 0o644,
            },
        ];
        plan.push(Step {
            action: "request-certificate",
            fixes,
            detail: format!(
                "no certificate at hand can work and no --ca was given: a new key (device.key.pending) and a request ({}) were left in the store; on the CA side run `pki ca sign --ca DIR {} > device.crt`, then here `pki store install {} device.crt`",
                csr_path.display(), csr_path.display(), dir.display()
            ),
        });
        return Ok((current.clone(), Some(csr_path), writes));
    };
    let mut ca_with_policy = Ca {
        dir: ca.dir.clone(),
        config: ca.config.clone(),
        policy: req.policy.clone(),
    };
    ca_with_policy.policy.name = req.policy.name.clone();
    let issued = crate::ca::sign_csr(
        &ca_with_policy,
        &dir.join("device.csr"),
        &csr,
        Some(&id),
        req.at,
    )?;
    crate::lifecycle::enroll::check_pair(&key, &issued, dir)?;
    plan.push(Step {
        action: "reissue",
        fixes,
        detail: format!(
            "no certificate at hand can work: new key and certificate serial {} from {}",
            issued.serial,
            ca.dir.display()
        ),
    });
    Ok((
        Candidate {
            cert: Some(issued.pem.into_bytes()),
            key: Some(crate::lifecycle::enroll::pkcs8_pem(&key).into_bytes()),
            chain: Some(ca.chain_bundle(req.at)?.into_bytes()),
            trust: Some(ca.trust_bundle(req.at)?.into_bytes()),
            crls: current.crls.clone(),
        },
        None,
        Vec::new(),
    ))
}

/// CRLs of the store (relative paths) whose issuer name is a CA at hand but whose signature
/// verifies under none of that name's keys: left from a CA generation since re-keyed, they make
/// rustls reject every chain of that name.
fn stale_crls(dir: &Path, target: &Candidate) -> Vec<String> {
    use x509_parser::prelude::FromDer;
    let material = material_from(dir, target);
    let cas: Vec<&Cert> = material
        .intermediates
        .iter()
        .chain(&material.anchors)
        .collect();
    let mut out = Vec::new();
    for (path, bytes) in &target.crls {
        for crl in decode(path, bytes).crls {
            let named: Vec<&&Cert> = cas
                .iter()
                .filter(|c| c.subject_raw == crl.issuer_raw)
                .collect();
            let Ok((_, parsed)) =
                x509_parser::revocation_list::CertificateRevocationList::from_der(crl.der.as_ref())
            else {
                continue;
            };
            let verifies = named.iter().any(|c| {
                x509_parser::certificate::X509Certificate::from_der(&c.der)
                    .is_ok_and(|(_, x)| parsed.verify_signature(x.public_key()).is_ok())
            });
            if !named.is_empty() && !verifies {
                if let Ok(rel) = path.strip_prefix(dir) {
                    out.push(rel.display().to_string());
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn flagged(before: &Report, name: &str) -> bool {
    before
        .findings
        .iter()
        .any(|f| f.code == Code::FileCorrupt && f.message.contains(&format!("/{name}:")))
}

fn codes(before: &Report, wanted: &[Code]) -> Vec<Code> {
    wanted.iter().copied().filter(|c| before.has(*c)).collect()
}

fn is_backup_of(path: &Path, name: &str) -> bool {
    path.file_name().and_then(|n| n.to_str()) == Some(name)
        && path.components().any(|c| c.as_os_str() == BACKUP)
}

fn read(dir: &Path, name: &str) -> Option<Vec<u8>> {
    read_path(&dir.join(name), dir)
}

/// A file's bytes; a symlink leading out of the store `within` is not followed.
fn read_path(path: &Path, within: &Path) -> Option<Vec<u8>> {
    match crate::read::input::read(path, Some(within)) {
        Ok(crate::read::input::Read::Bytes { bytes, .. }) => Some(bytes),
        _ => None,
    }
}

fn crls(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    crate::read::input::list(&dir.join(store::CRL_DIR))
        .unwrap_or_default()
        .into_iter()
        .filter_map(|p| read_path(&p, dir).map(|b| (p, b)))
        .collect()
}
