//! `pki audit`: the same judgement as diagnose (the same code, not a copy) over one store or a
//! folder of thousands, in parallel on all cores, plus what only a fleet shows: two endpoints
//! sharing a key or a certificate (a cloned disk image). Verifiers are shared between stores
//! with the same trust anchors and CRLs, so anchors are parsed once per fleet, not per store.
//! Per store only its path, id, verdict, findings and certificate facts are kept.

use crate::diagnose::{diagnose_with, Request as Judge, Status, Verdict};
use crate::error::Error;
use crate::finding::{Code, Finding};
use crate::policy::Policy;
use crate::store::{self, Sources};
use crate::verify::{Purpose, Verifier};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

#[derive(Debug, Clone)]
pub struct Request {
    pub paths: Vec<PathBuf>,
    /// The server's trust anchors, for every store (else each store's own).
    pub trust: Option<PathBuf>,
    pub at: OffsetDateTime,
    pub policy: Policy,
}

/// A store's status in an audit: diagnose's, or `unknown` when the store could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditStatus {
    Ok,
    Warning,
    Critical,
    Unknown,
}

#[derive(Debug, Clone, Serialize)]
pub struct StoreResult {
    pub path: PathBuf,
    pub device_id: Option<String>,
    pub verdict: Option<Verdict>,
    pub status: AuditStatus,
    pub findings: Vec<Finding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertFacts>,
    #[serde(skip)]
    key_fingerprint: Option<String>,
}

/// What monitoring needs of the device certificate.
#[derive(Debug, Clone, Serialize)]
pub struct CertFacts {
    pub serial: String,
    pub subject_cn: String,
    pub issuer_cn: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    pub sha256: String,
    pub file: PathBuf,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub stores: usize,
    pub ok: usize,
    pub warning: usize,
    pub critical: usize,
    pub unknown: usize,
}

#[derive(Debug, Serialize)]
pub struct Report {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub summary: Summary,
    pub stores: Vec<StoreResult>,
    /// Stores whose certificate expires within 7, 30 and 90 days of `at` (not yet expired).
    pub expiring: BTreeMap<String, usize>,
    /// How many stores carry each finding code.
    pub codes: BTreeMap<Code, usize>,
    /// Wall time of the scan, in seconds (not part of any decision).
    #[serde(skip)]
    pub duration: std::time::Duration,
}

impl Report {
    /// The worst status found: the exit code.
    pub fn worst(&self) -> AuditStatus {
        self.stores
            .iter()
            .map(|s| s.status)
            .max()
            .unwrap_or(AuditStatus::Ok)
    }
}

/// The stores under `paths`: a path that is a store itself, or each sub-folder of one that is not.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut stores = Vec::new();
    for path in paths {
        if !path.is_dir() {
            return Err(if path.exists() {
                Error::BadRequest {
                    path: path.clone(),
                    reason: "is not a folder".into(),
                }
            } else {
                Error::NotFound { path: path.clone() }
            });
        }
        if is_store(path) {
            stores.push(path.clone());
            continue;
        }
        let mut subs: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| Error::io(path, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_dir())
            .collect();
        subs.sort();
        stores.extend(subs);
    }
    Ok(stores)
}

fn is_store(dir: &Path) -> bool {
    dir.join(store::MANIFEST).exists()
        || std::fs::read_dir(dir)
            .map(|entries| {
                entries.filter_map(Result::ok).any(|e| {
                    let p = e.path();
                    p.is_file()
                        && matches!(
                            p.extension().and_then(|x| x.to_str()),
                            Some("crt" | "pem" | "key" | "der" | "cer")
                        )
                })
            })
            .unwrap_or(false)
}

/// Audits every store under `req.paths`; `progress` is called once per store judged.
pub fn audit(req: &Request, progress: &(dyn Fn(usize) + Sync)) -> Result<Report, Error> {
    let started = std::time::Instant::now();
    let stores = discover(&req.paths)?;
    let judge = Judge {
        at: req.at,
        purpose: Purpose::Client,
        policy: req.policy.clone(),
    };
    let verifiers: Mutex<HashMap<Vec<String>, Arc<Verifier>>> = Mutex::new(HashMap::new());
    let mut results: Vec<StoreResult> = stores
        .par_iter()
        .map(|path| {
            let result = judge_store(path, req, &judge, &verifiers);
            progress(1);
            result
        })
        .collect();
    mark_duplicates(&mut results);
    let mut summary = Summary {
        stores: results.len(),
        ..Summary::default()
    };
    let mut codes = BTreeMap::new();
    let mut expiring: BTreeMap<String, usize> = ["7d", "30d", "90d"]
        .iter()
        .map(|k| (k.to_string(), 0))
        .collect();
    for r in &results {
        match r.status {
            AuditStatus::Ok => summary.ok += 1,
            AuditStatus::Warning => summary.warning += 1,
            AuditStatus::Critical => summary.critical += 1,
            AuditStatus::Unknown => summary.unknown += 1,
        }
        let mut seen = std::collections::BTreeSet::new();
        for f in &r.findings {
            if seen.insert(f.code) {
                *codes.entry(f.code).or_insert(0) += 1;
            }
        }
        if let Some(c) = &r.certificate {
            for (label, days) in [("7d", 7), ("30d", 30), ("90d", 90)] {
                if c.not_after >= req.at && c.not_after <= req.at + Duration::days(days) {
                    *expiring.entry(label.to_string()).or_insert(0) += 1;
                }
            }
        }
    }
    Ok(Report {
        at: req.at,
        summary,
        stores: results,
        expiring,
        codes,
        duration: started.elapsed(),
    })
}

fn judge_store(
    path: &Path,
    req: &Request,
    judge: &Judge,
    verifiers: &Mutex<HashMap<Vec<String>, Arc<Verifier>>>,
) -> StoreResult {
    let sources = Sources {
        store: Some(path.to_path_buf()),
        trust: req.trust.clone(),
        ..Sources::default()
    };
    let material = match store::gather(&sources) {
        Ok(m) => m,
        Err(e) => {
            return StoreResult {
                path: path.to_path_buf(),
                device_id: None,
                verdict: None,
                status: AuditStatus::Unknown,
                findings: vec![Finding::new(
                    Code::FileCorrupt,
                    e.to_string(),
                    "check the folder's permissions and contents",
                )
                .warning()],
                certificate: None,
                key_fingerprint: None,
            }
        }
    };
    // one verifier per distinct set of anchors and CRLs, shared across the fleet
    let key: Vec<String> = material
        .anchors
        .iter()
        .map(|c| c.sha256.clone())
        .chain(
            material
                .crls
                .iter()
                .map(|c| crate::cert::sha256_hex(c.der.as_ref())),
        )
        .collect();
    let verifier = {
        let mut cache = verifiers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        cache
            .entry(key)
            .or_insert_with(|| {
                Arc::new(Verifier::new(
                    &material.anchors,
                    &material.crls,
                    &judge.purpose,
                ))
            })
            .clone()
    };
    let report = diagnose_with(&material, judge, &verifier);
    let certificate = report.certificate.as_ref().map(|c| CertFacts {
        serial: c.serial.clone(),
        subject_cn: common_name(&c.subject),
        issuer_cn: common_name(&c.issuer),
        not_before: c.not_before,
        not_after: c.not_after,
        sha256: c.sha256.clone(),
        file: c.file.clone(),
    });
    let key_fingerprint = report
        .certificate
        .as_ref()
        .and_then(|c| c.key_sha256.clone());
    StoreResult {
        path: path.to_path_buf(),
        device_id: material
            .manifest
            .as_ref()
            .map(|m| m.device_id.clone())
            .or_else(|| certificate.as_ref().map(|c| c.subject_cn.clone())),
        verdict: Some(report.verdict),
        status: match report.status {
            Status::Ok => AuditStatus::Ok,
            Status::Warning => AuditStatus::Warning,
            Status::Critical => AuditStatus::Critical,
        },
        findings: report.findings,
        certificate,
        key_fingerprint,
    }
}

/// The first CN of an RFC 4514-style name, or the whole name.
fn common_name(name: &str) -> String {
    name.split(", ")
        .find_map(|p| p.strip_prefix("CN="))
        .unwrap_or(name)
        .to_string()
}

/// DUPLICATE_IDENTITY on every store that shares its private key or its certificate with
/// another: endpoints cloned from one disk image authenticate as one device.
fn mark_duplicates(results: &mut [StoreResult]) {
    let mut by_key: HashMap<String, Vec<usize>> = HashMap::new();
    let mut by_cert: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, r) in results.iter().enumerate() {
        if let Some(k) = &r.key_fingerprint {
            by_key.entry(k.clone()).or_default().push(i);
        }
        if let Some(c) = &r.certificate {
            by_cert.entry(c.sha256.clone()).or_default().push(i);
        }
    }
    let mut notes: Vec<(usize, Finding)> = Vec::new();
    for (what, groups) in [("private key", &by_key), ("certificate", &by_cert)] {
        for group in groups.values().filter(|g| g.len() > 1) {
            for &i in group {
                let others: Vec<String> = group
                    .iter()
                    .filter(|&&j| j != i)
                    .map(|&j| results[j].path.display().to_string())
                    .collect();
                notes.push((i, Finding::new(
                    Code::DuplicateIdentity,
                    format!("{} shares its {what} with {}: a cloned disk image; the server cannot tell these endpoints apart", results[i].path.display(), others.join(", ")),
                    "re-enroll each clone with its own key: pki enroll STORE --ca DIR --device-id ID --force",
                )));
            }
        }
    }
    for (i, finding) in notes {
        let r = &mut results[i];
        if !r
            .findings
            .iter()
            .any(|f| f.code == Code::DuplicateIdentity && f.message == finding.message)
        {
            r.findings.insert(0, finding);
        }
        r.status = r.status.max(AuditStatus::Critical);
        if r.verdict.is_some() {
            r.verdict = Some(Verdict::Rejected);
        }
    }
}
