//! `pki audit`: the same judgement as diagnose (the same code, not a copy) over one store or a
//! folder of thousands, in parallel on all cores, plus what only a fleet shows: two endpoints
//! sharing a key or a certificate (a cloned disk image).
//!
//! Work shared between stores is done once: verifiers per distinct set of anchors and CRLs,
//! a CA certificate's parsing (cert_cache), an intermediate's signature (memo). Memory stays
//! flat as the fleet grows: stores are judged a batch at a time and their results go to a
//! spill file; per store only a status byte and two fingerprints stay in memory.

mod discover;
mod duplicates;
mod judge;
mod spill;
mod tally;

pub use discover::{discover, Discovery};

use crate::error::Error;
use crate::finding::{Code, Finding};
use crate::judge::diagnose::{Request as Judge, Verdict};
use crate::judge::verify::Purpose;
use crate::policy::Policy;
use duplicates::{Duplicates, Identities};
use rayon::prelude::*;
use serde::ser::{Error as _, SerializeSeq, SerializeStruct};
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;
use std::path::PathBuf;
use time::OffsetDateTime;

/// Stores judged in parallel at a time; their results are the only ones held in memory.
/// `PKI_AUDIT_BATCH=N` changes it (the tests show that results do not depend on it).
const BATCH: usize = 512;

fn batch_size() -> usize {
    std::env::var("PKI_AUDIT_BATCH")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(BATCH)
}

#[derive(Debug, Clone)]
pub struct Request {
    pub paths: Vec<PathBuf>,
    /// The server's trust anchors, for every store (else each store's own).
    pub trust: Option<PathBuf>,
    /// The password of encrypted keys and PKCS#12 files in the stores (foreign ones: a
    /// Windows endpoint's `.pfx`), for every store.
    pub password: Option<crate::read::password::Password>,
    pub at: OffsetDateTime,
    pub policy: Policy,
}

/// A store's status in an audit: diagnose's, or `unknown` when the store could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditStatus {
    Ok,
    Warning,
    Critical,
    Unknown,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreResult {
    #[serde(serialize_with = "crate::lossy::path")]
    pub path: PathBuf,
    pub device_id: Option<String>,
    pub verdict: Option<Verdict>,
    pub status: AuditStatus,
    pub findings: Vec<Finding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertFacts>,
}

/// What monitoring needs of the device certificate.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CertFacts {
    pub serial: String,
    pub subject_cn: String,
    pub issuer_cn: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    pub sha256: String,
    #[serde(serialize_with = "crate::lossy::path")]
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

/// Something found under the audit's paths that is not a store: a stray file beside a fleet's
/// stores (`warning`), a path under which no store was found (`unknown`).
#[derive(Debug, Clone, Serialize)]
pub struct PathProblem {
    #[serde(serialize_with = "crate::lossy::path")]
    pub path: PathBuf,
    pub status: AuditStatus,
    pub message: String,
}

/// The audit's result. Its JSON is the contract's shape; the stores are read back from the
/// spill file as it is written out, never all in memory.
pub struct Report {
    pub at: OffsetDateTime,
    pub summary: Summary,
    /// What is not a store: stray files, paths without a store (they count in [`Report::worst`]).
    pub problems: Vec<PathProblem>,
    /// Stores whose certificate expires within 7, 30 and 90 days of `at` (not yet expired).
    pub expiring: BTreeMap<String, usize>,
    /// How many stores carry each finding code.
    pub codes: BTreeMap<Code, usize>,
    /// Wall time of the scan (not part of any decision).
    pub duration: std::time::Duration,
    results: spill::Sealed,
    duplicates: Duplicates,
}

impl Report {
    /// The worst status found, stores and path problems alike: the exit code.
    pub fn worst(&self) -> AuditStatus {
        let m = &self.summary;
        let stores = [
            (m.unknown, AuditStatus::Unknown),
            (m.critical, AuditStatus::Critical),
            (m.warning, AuditStatus::Warning),
        ]
        .into_iter()
        .find(|(n, _)| *n > 0)
        .map_or(AuditStatus::Ok, |(_, status)| status);
        self.problems
            .iter()
            .map(|p| p.status)
            .fold(stores, AuditStatus::max)
    }

    /// Every store's result, in path order (read again on every call).
    pub fn stores(&self) -> impl Iterator<Item = Result<StoreResult, Error>> + '_ {
        self.results.read().enumerate().map(|(i, r)| {
            let mut r = r?;
            if let Some(found) = self.duplicates.get(&i) {
                r.findings.splice(0..0, found.iter().cloned());
                r.status = r.status.max(AuditStatus::Critical);
                if r.verdict.is_some() {
                    r.verdict = Some(Verdict::Rejected);
                }
            }
            Ok(r)
        })
    }
}

/// `{"at", "summary", "stores": [...], "expiring", "codes"}`, the stores streamed.
impl Serialize for Report {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Stores<'a>(&'a Report);
        impl Serialize for Stores<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                // a spill file that cannot be read back fails the output, never shortens it
                let mut seq = serializer.serialize_seq(Some(self.0.summary.stores))?;
                for result in self.0.stores() {
                    seq.serialize_element(&result.map_err(S::Error::custom)?)?;
                }
                seq.end()
            }
        }
        let at = crate::timestamp::format(self.at);
        let mut s = serializer.serialize_struct("Report", 6)?;
        s.serialize_field("at", &at)?;
        s.serialize_field("summary", &self.summary)?;
        s.serialize_field("stores", &Stores(self))?;
        s.serialize_field("problems", &self.problems)?;
        s.serialize_field("expiring", &self.expiring)?;
        s.serialize_field("codes", &self.codes)?;
        s.end()
    }
}

/// Audits every store under `req.paths`; `progress` is called once per store judged.
pub fn audit(req: &Request, progress: &(dyn Fn(usize) + Sync)) -> Result<Report, Error> {
    let started = std::time::Instant::now();
    if let Some(trust) = &req.trust {
        // refused once, before any store is judged against anchors that are none
        crate::read::anchors::server_anchors(trust)?;
    }
    let found = discover(&req.paths)?;
    let stores = found.stores;
    let problems = found
        .strays
        .into_iter()
        .map(|path| PathProblem {
            path,
            status: AuditStatus::Warning,
            message: "a certificate file beside the fleet's stores: not judged (move it into its store, or out of the fleet folder)".to_string(),
        })
        .chain(found.empty.into_iter().map(|path| PathProblem {
            path,
            status: AuditStatus::Unknown,
            message: "no store found under this path (a store holds store.yaml or certificate files; a fleet folder holds store folders): a wrong path or mount point?".to_string(),
        }))
        .collect();
    let judge = Judge {
        at: req.at,
        purpose: Purpose::Client,
        policy: req.policy.clone(),
    };
    let fleet = judge::Fleet::new(judge, req.trust.clone(), req.password.clone());
    let mut spill = spill::Spill::new()?;
    let mut tally = tally::Tally::new(req.at);
    let mut identities = Identities::with_capacity(stores.len());
    let batch_size = batch_size();
    for (batch, paths) in stores.chunks(batch_size).enumerate() {
        let results: Vec<(StoreResult, Option<String>)> = paths
            .par_iter()
            .map(|path| {
                let judged = fleet.judge(path);
                progress(1);
                judged
            })
            .collect();
        for (i, (result, key)) in results.into_iter().enumerate() {
            let cert = result.certificate.as_ref().map(|c| c.sha256.as_str());
            identities.add(batch * batch_size + i, key.as_deref(), cert);
            tally.add(&result);
            spill.push(&result)?;
        }
    }
    let duplicates = identities.findings(&stores);
    tally.apply(&duplicates);
    let results = spill.seal()?;
    Ok(Report {
        at: req.at,
        summary: tally.summary,
        problems,
        expiring: tally.expiring,
        codes: tally.codes,
        duration: started.elapsed(),
        results,
        duplicates,
    })
}
