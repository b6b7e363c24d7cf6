//! Which certificate is the device's and which key goes with it, when a store holds several.
//! The rule: the certificate that matches a key at hand (the newest valid one if several do),
//! else the newest valid certificate, else the newest.

use crate::finding::{Code, Finding};
use crate::read::cert::Cert;
use crate::read::key::Key;
use crate::store::Material;
use time::OffsetDateTime;

pub struct Selection<'m> {
    pub leaf: Option<&'m Cert>,
    /// The key matching the leaf, or else the first key at hand (to report the mismatch).
    pub key: Option<&'m Key>,
    pub findings: Vec<Finding>,
}

pub fn select(m: &Material, at: OffsetDateTime) -> Selection<'_> {
    let candidates: Vec<&Cert> = m.leaf_candidates.iter().collect();
    let matched: Vec<&Cert> = candidates
        .iter()
        .copied()
        .filter(|c| m.keys.iter().any(|k| k.matches(c)))
        .collect();
    let (leaf, why) = if !matched.is_empty() {
        (best(&matched, at), "it matches the private key at hand")
    } else if candidates.iter().any(|c| c.is_valid_at(at)) {
        (
            best(&candidates, at),
            "no certificate matches a key; it is the newest valid one",
        )
    } else {
        (
            best(&candidates, at),
            "no certificate matches a key or is valid; it is the newest",
        )
    };
    let key = leaf.and_then(|leaf| {
        m.keys
            .iter()
            .find(|k| k.matches(leaf))
            .or_else(|| m.keys.first())
    });
    let mut findings = Vec::new();
    if let (Some(leaf), true) = (leaf, candidates.len() > 1) {
        let others: Vec<String> = candidates
            .iter()
            .filter(|c| c.sha256 != leaf.sha256)
            .map(|c| c.describe())
            .collect();
        findings.push(Finding::new(
            Code::MultipleCandidates,
            format!(
                "{} device certificates: using {} because {why}; also present: {}",
                candidates.len(),
                leaf.describe(),
                others.join("; ")
            ),
            "pki repair STORE keeps the one in use and moves the others to backup/",
        ));
    }
    if let (Some(key), true) = (key, m.keys.len() > 1) {
        let others: Vec<String> = m
            .keys
            .iter()
            .filter(|k| k.origin != key.origin)
            .map(|k| format!("{} ({})", k.describe(), k.origin))
            .collect();
        findings.push(Finding::new(
            Code::MultipleCandidates,
            format!(
                "{} private keys: using {} ({}){}; also present: {}",
                m.keys.len(),
                key.describe(),
                key.origin,
                if leaf.is_some_and(|l| key.matches(l)) {
                    " because it matches the certificate"
                } else {
                    ""
                },
                others.join("; ")
            ),
            "pki repair STORE keeps the matching key as device.key and moves the others to backup/",
        ));
    }
    Selection {
        leaf,
        key,
        findings,
    }
}

/// The newest valid certificate at `at`, else the newest.
fn best<'a>(certs: &[&'a Cert], at: OffsetDateTime) -> Option<&'a Cert> {
    certs
        .iter()
        .copied()
        .filter(|c| c.is_valid_at(at))
        .max_by_key(|c| c.not_before)
        .or_else(|| certs.iter().copied().max_by_key(|c| c.not_before))
}
