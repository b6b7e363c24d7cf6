//! DUPLICATE_IDENTITY: endpoints that share a private key or a certificate (cloned from one
//! disk image) authenticate as one device. Only two fingerprints per store are kept while the
//! fleet is scanned; the findings are made at the end, for every member of a group, and applied
//! to the results as they are read back.

use crate::finding::{Code, Finding};
use std::collections::HashMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Shared {
    Key,
    Certificate,
}

impl Shared {
    fn what(self) -> &'static str {
        match self {
            Shared::Key => "private key",
            Shared::Certificate => "certificate",
        }
    }
}

/// Every store's fingerprints, 36 bytes each, sorted at the end to find the repeats.
#[derive(Default)]
pub(super) struct Identities {
    seen: Vec<(Shared, [u8; 32], u32)>,
}

/// The DUPLICATE_IDENTITY findings of each store (by index) that has any.
pub(super) type Duplicates = HashMap<usize, Vec<Finding>>;

impl Identities {
    /// Room for `stores` stores: the only allocation.
    pub(super) fn with_capacity(stores: usize) -> Identities {
        Identities {
            seen: Vec::with_capacity(2 * stores),
        }
    }

    /// Store `index` holds a key and a certificate with these SHA-256 fingerprints (hex).
    pub(super) fn add(&mut self, index: usize, key: Option<&str>, cert: Option<&str>) {
        let index = u32::try_from(index).unwrap_or(u32::MAX);
        for (shared, fingerprint) in [(Shared::Key, key), (Shared::Certificate, cert)] {
            if let Some(id) = fingerprint.and_then(from_hex) {
                self.seen.push((shared, id, index));
            }
        }
    }

    /// The findings, given each store's path by index.
    pub(super) fn findings(mut self, paths: &[PathBuf]) -> Duplicates {
        self.seen.sort_unstable();
        let mut out = Duplicates::new();
        for group in self.seen.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
            if group.len() < 2 {
                continue;
            }
            let shared = group[0].0;
            let path = |i: u32| paths[i as usize].display().to_string();
            for &(_, _, i) in group {
                let others: Vec<String> = group
                    .iter()
                    .filter(|m| m.2 != i)
                    .map(|m| path(m.2))
                    .collect();
                out.entry(i as usize).or_default().push(Finding::new(
                    Code::DuplicateIdentity,
                    format!(
                        "{} shares its {} with {}: a cloned disk image; the server cannot tell these endpoints apart",
                        path(i),
                        shared.what(),
                        others.join(", ")
                    ),
                    "re-enroll each clone with its own key: pki enroll STORE --ca DIR --device-id ID --force",
                ));
            }
        }
        out
    }
}

fn from_hex(hex: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if hex.len() != 64 {
        return None;
    }
    for (byte, pair) in out.iter_mut().zip(hex.as_bytes().chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_member_of_a_group_is_named_and_names_the_others() {
        let a = "aa".repeat(32);
        let b = "bb".repeat(32);
        let paths: Vec<PathBuf> = ["s0", "s1", "s2", "s3"].iter().map(PathBuf::from).collect();
        let mut ids = Identities::default();
        ids.add(0, Some(&a), Some(&"01".repeat(32)));
        ids.add(1, Some(&b), Some(&"02".repeat(32)));
        ids.add(2, Some(&a), Some(&"03".repeat(32)));
        ids.add(3, Some(&a), Some(&"02".repeat(32)));
        let found = ids.findings(&paths);
        let mut flagged: Vec<_> = found.keys().copied().collect();
        flagged.sort();
        assert_eq!(flagged, [0, 1, 2, 3]);
        assert_eq!(
            found[&3].len(),
            2,
            "s3 shares a key with s0, s2 and a certificate with s1"
        );
        assert!(
            found[&0][0].message.contains("with s2, s3"),
            "{}",
            found[&0][0].message
        );
        assert!(found[&1][0]
            .message
            .starts_with("s1 shares its certificate with s3"));
    }

    #[test]
    fn a_fingerprint_that_is_not_sha256_hex_is_ignored() {
        let mut ids = Identities::default();
        ids.add(0, Some("zz"), None);
        ids.add(1, Some("zz"), None);
        assert!(ids
            .findings(&[PathBuf::from("a"), PathBuf::from("b")])
            .is_empty());
    }
}
