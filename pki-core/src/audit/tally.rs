//! The fleet's counts, kept as results stream past: stores per status, stores per finding code,
//! certificates expiring within 7, 30 and 90 days. One status byte per store is all that is
//! kept, so that duplicate identities found at the end can move a store to `critical`.

use super::duplicates::Duplicates;
use super::{AuditStatus, StoreResult, Summary};
use crate::finding::Code;
use std::collections::{BTreeMap, BTreeSet};
use time::{Duration, OffsetDateTime};

pub(super) const WINDOWS: [(&str, i64); 3] = [("7d", 7), ("30d", 30), ("90d", 90)];

pub(super) struct Tally {
    at: OffsetDateTime,
    pub(super) summary: Summary,
    pub(super) codes: BTreeMap<Code, usize>,
    pub(super) expiring: BTreeMap<String, usize>,
    statuses: Vec<AuditStatus>,
}

impl Tally {
    pub(super) fn new(at: OffsetDateTime) -> Tally {
        Tally {
            at,
            summary: Summary::default(),
            codes: BTreeMap::new(),
            expiring: WINDOWS.iter().map(|(k, _)| (k.to_string(), 0)).collect(),
            statuses: Vec::new(),
        }
    }

    pub(super) fn add(&mut self, r: &StoreResult) {
        self.summary.stores += 1;
        *self.slot(r.status) += 1;
        self.statuses.push(r.status);
        let codes: BTreeSet<Code> = r.findings.iter().map(|f| f.code).collect();
        for code in codes {
            *self.codes.entry(code).or_insert(0) += 1;
        }
        if let Some(c) = &r.certificate {
            for (label, days) in WINDOWS {
                if c.not_after >= self.at && c.not_after <= self.at + Duration::days(days) {
                    *self.expiring.entry(label.to_string()).or_insert(0) += 1;
                }
            }
        }
    }

    /// Counts the stores that share an identity: one more DUPLICATE_IDENTITY each, `critical`.
    pub(super) fn apply(&mut self, duplicates: &Duplicates) {
        for &index in duplicates.keys() {
            let before = self.statuses[index];
            let after = before.max(AuditStatus::Critical);
            *self.slot(before) -= 1;
            *self.slot(after) += 1;
            self.statuses[index] = after;
        }
        if !duplicates.is_empty() {
            *self.codes.entry(Code::DuplicateIdentity).or_insert(0) += duplicates.len();
        }
    }

    fn slot(&mut self, status: AuditStatus) -> &mut usize {
        match status {
            AuditStatus::Ok => &mut self.summary.ok,
            AuditStatus::Warning => &mut self.summary.warning,
            AuditStatus::Critical => &mut self.summary.critical,
            AuditStatus::Unknown => &mut self.summary.unknown,
        }
    }
}
