//! One store of an audit: read with the fleet's certificate cache, judged by diagnose with the
//! fleet's verifier for its anchors and CRLs, kept as what the report needs.

use super::{AuditStatus, CertFacts, StoreResult};
use crate::finding::{Code, Finding};
use crate::judge::diagnose::{diagnose_with, Request as Judge, Status};
use crate::judge::verify::Verifier;
use crate::read::cert::common_name_of;
use crate::read::cert_cache::CertCache;
use crate::read::password::Password;
use crate::store::{self, Sources};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Distinct sets of anchors and CRLs whose verifiers are kept; a fleet has a handful. Past it
/// (every store with its own CRL, say) a store's verifier is built for it alone.
const VERIFIERS: usize = 256;

/// What the stores of one audit share: how to judge, and the work already done.
pub(super) struct Fleet {
    judge: Judge,
    trust: Option<PathBuf>,
    password: Option<Password>,
    /// One verifier per distinct set of anchors and CRLs (its key: their SHA-256s).
    verifiers: Mutex<HashMap<Vec<String>, Arc<Verifier>>>,
    certs: CertCache,
}

impl Fleet {
    pub(super) fn new(judge: Judge, trust: Option<PathBuf>, password: Option<Password>) -> Fleet {
        Fleet {
            judge,
            trust,
            password,
            verifiers: Mutex::default(),
            certs: CertCache::default(),
        }
    }

    /// The judgement of the store in `path` (`unknown` when it could not be read), and the
    /// fingerprint of its private key when that key is its certificate's.
    pub(super) fn judge(&self, path: &Path) -> (StoreResult, Option<String>) {
        let sources = Sources {
            store: Some(path.to_path_buf()),
            trust: self.trust.clone(),
            password: self.password.clone(),
            ..Sources::default()
        };
        let material = match store::gather_with(&sources, Some(&self.certs)) {
            Ok(m) => m,
            Err(e) => {
                let unread = StoreResult {
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
                };
                return (unread, None);
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
                    .map(|c| crate::read::cert::sha256_hex(c.der.as_ref())),
            )
            .collect();
        let cached = self
            .verifiers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&key)
            .cloned();
        let verifier = cached.unwrap_or_else(|| {
            // built outside the lock: two threads may both build the first one, harmlessly
            let built = Arc::new(Verifier::new(
                &material.anchors,
                &material.crls,
                &self.judge.purpose,
            ));
            let mut cache = self
                .verifiers
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if cache.len() < VERIFIERS {
                Arc::clone(cache.entry(key).or_insert(built))
            } else {
                built
            }
        });
        let report = diagnose_with(&material, &self.judge, &verifier);
        let certificate = report.certificate.as_ref().map(|c| CertFacts {
            serial: c.serial.clone(),
            subject_cn: common_name_of(&c.subject).to_string(),
            issuer_cn: common_name_of(&c.issuer).to_string(),
            not_before: c.not_before,
            not_after: c.not_after,
            sha256: c.sha256.clone(),
            file: c.file.clone(),
        });
        let key_fingerprint = report
            .certificate
            .as_ref()
            .and_then(|c| c.key_sha256.clone());
        let result = StoreResult {
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
        };
        (result, key_fingerprint)
    }
}
