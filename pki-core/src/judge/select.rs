//! Which certificate is the device's and which key goes with it, when a store holds several.
//! The rule: the certificate that matches a key at hand (the newest valid one if several do),
//! else the newest valid certificate, else the newest.

use crate::finding::{Code, Finding};
use crate::read::cert::Cert;
use crate::read::key::Key;
use crate::store::Material;
use crate::timestamp::format;
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
        let chosen = best(&matched, at);
        (chosen, why_matched(chosen, &matched, at))
    } else if candidates.iter().any(|c| c.is_valid_at(at)) {
        (
            best(&candidates, at),
            "no certificate matches a key; it is the newest valid one".to_string(),
        )
    } else {
        (
            best(&candidates, at),
            "no certificate matches a key or is valid; it is the newest".to_string(),
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
        // the others, but those the reason already names (the other matches of the key)
        let named_in_why = matched.len() > 1;
        let others: Vec<String> = candidates
            .iter()
            .filter(|c| c.sha256 != leaf.sha256)
            .filter(|c| !(named_in_why && matched.iter().any(|m| m.sha256 == c.sha256)))
            .map(|c| c.describe())
            .collect();
        let also = if others.is_empty() {
            String::new()
        } else {
            format!("; also present: {}", others.join("; "))
        };
        findings.push(Finding::new(
            Code::MultipleCandidates,
            format!(
                "{} device certificates: using {} because {why}{also}",
                candidates.len(),
                leaf.describe(),
            ),
            repair_or(m, &keep_only(leaf, &candidates)),
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
            repair_or(
                m,
                &format!(
                    "keep only {} among the files (the others are read too)",
                    key.origin
                ),
            ),
        ));
    }
    Selection {
        leaf,
        key,
        findings,
    }
}

/// Why `chosen` was taken among the certificates that match a key: the match, and when several
/// match, that it is valid at `at` (and the newest of those) where the others are not.
fn why_matched(chosen: Option<&Cert>, matched: &[&Cert], at: OffsetDateTime) -> String {
    let Some(chosen) = chosen else {
        return String::new();
    };
    if matched.len() == 1 {
        return "it matches the private key at hand".to_string();
    }
    let others: Vec<String> = matched
        .iter()
        .filter(|c| c.sha256 != chosen.sha256)
        .map(|c| {
            let state = if at > c.not_after {
                format!("expired at {}", format(c.not_after))
            } else if at < c.not_before {
                format!("is not valid until {}", format(c.not_before))
            } else {
                format!("is valid but older (from {})", format(c.not_before))
            };
            format!("{} {state}", c.describe())
        })
        .collect();
    if chosen.is_valid_at(at) {
        format!(
            "it is valid at {} and matches the private key at hand; of the others that match the key too, {}",
            format(at),
            others.join("; ")
        )
    } else {
        format!(
            "it is the newest of the certificates that match the private key at hand, none of which is valid at {} ({})",
            format(at),
            others.join("; ")
        )
    }
}

/// What to do by hand so that `leaf` is the only device certificate read: keep only it in its
/// own file, and take the files holding the others out (every file of a folder is read).
fn keep_only(leaf: &Cert, candidates: &[&Cert]) -> String {
    let mut elsewhere: Vec<String> = candidates
        .iter()
        .filter(|c| c.origin.path != leaf.origin.path)
        .map(|c| crate::finding::quoted(&c.origin.path))
        .collect();
    elsewhere.sort();
    elsewhere.dedup();
    let beside = candidates
        .iter()
        .any(|c| c.sha256 != leaf.sha256 && c.origin.path == leaf.origin.path);
    let mut steps = Vec::new();
    if beside || elsewhere.is_empty() {
        steps.push(format!(
            "keep only the certificate in use in {}",
            leaf.origin.path.display()
        ));
    }
    if !elsewhere.is_empty() {
        steps.push(format!(
            "move {} away (pki reads every file it is given or finds in the folder; {} holds the certificate in use)",
            elsewhere.join(", "),
            leaf.origin.path.display()
        ));
    }
    steps.join("; ")
}

/// `pki repair STORE` for a managed store (it keeps the one in use and moves the others to
/// backup/), else `by_hand`.
fn repair_or(m: &Material, by_hand: &str) -> String {
    crate::judge::fix::Commands::of(m).repair(by_hand)
        + if m.layout == Some(crate::store::Layout::Managed) {
            " keeps the one in use and moves the others to backup/"
        } else {
            ""
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
