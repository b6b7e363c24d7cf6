//! What only a managed store can tell: whether its files are what the toolkit last wrote
//! (STORE_TAMPERED, a warning: the verdict is the server's, and a comment added to trust.pem
//! makes no server reject anyone) and whether its certificate names the device the store
//! belongs to (IDENTITY_MISMATCH).

use crate::finding::{Code, Finding};
use crate::policy::Policy;
use crate::read::cert::Cert;
use crate::store::is_store_file;
use crate::store::jail::Jail;
use crate::store::journal;
use crate::store::manifest::Manifest;
use std::collections::BTreeMap;

/// A file whose bytes differ from what the manifest records.
#[derive(Debug, Clone)]
pub struct Mismatch {
    pub file: String,
    /// SHA-256 of its bytes now; `None` when it is gone (or not a readable file).
    pub now: Option<String>,
    pub recorded: String,
    /// Whether a journal entry wrote these bytes (the toolkit's own write).
    pub explained: bool,
}

/// What comparing a store with its manifest and journal found.
#[derive(Debug, Default)]
pub struct Comparison {
    pub mismatches: Vec<Mismatch>,
    /// Names in `store.yaml` that are no store file (never opened): each a sentence.
    pub problems: Vec<String>,
    /// Journal lines that name what they must not, a journal that cannot be read.
    pub journal_problems: Vec<String>,
    /// The journal's last trusted entry (pki's last change).
    pub last: Option<journal::Entry>,
}

/// Compares the store's files with `manifest`, and asks the journal (one streamed pass) which
/// differences the toolkit wrote itself. `read` holds the hashes of files already read (the
/// others are read here, through the store's handle).
pub fn compare(jail: &Jail, manifest: &Manifest, read: &BTreeMap<String, String>) -> Comparison {
    let mut out = Comparison::default();
    for (file, recorded) in &manifest.files {
        if !is_store_file(file) {
            out.problems.push(format!(
                "{}: names '{file}', which is no file of a store; not read",
                jail.shown(crate::store::MANIFEST).display()
            ));
            continue;
        }
        let now = read.get(file).cloned().or_else(|| jail.hash(file));
        if now.as_deref() != Some(recorded.as_str()) {
            out.mismatches.push(Mismatch {
                file: file.clone(),
                now,
                recorded: recorded.clone(),
                explained: false,
            });
        }
    }
    let mut last = None;
    let scan = journal::scan(jail, |entry| {
        for m in out.mismatches.iter_mut().filter(|m| !m.explained) {
            m.explained = journal::writes(entry, &m.file, m.now.as_deref());
        }
        last = Some(entry.seq);
    });
    out.last = scan.last.filter(|e| Some(e.seq) == last);
    out.journal_problems = scan.problems;
    out
}

/// STORE_TAMPERED for every file that differs from the manifest with no journal entry that
/// wrote its present bytes, and for every name in the manifest or journal that is no store
/// file. The toolkit journals before it writes, so its own writes, even one cut short by a
/// crash, are always explained; a hand edit never is.
pub fn tampered(jail: &Jail, manifest: &Manifest, read: &BTreeMap<String, String>) -> Vec<Finding> {
    let comparison = compare(jail, manifest, read);
    let mut out = Vec::new();
    for m in comparison.mismatches.iter().filter(|m| !m.explained) {
        let what = match &m.now {
            Some(hash) => format!(
                "SHA-256 now {}…, as pki left it {}…",
                &hash[..12],
                &m.recorded[..m.recorded.len().min(12)]
            ),
            None => "deleted".to_string(),
        };
        let since = comparison
            .last
            .as_ref()
            .map(|e| {
                format!(
                    " since {} (pki's last change, #{} {})",
                    e.at, e.seq, e.action
                )
            })
            .unwrap_or_default();
        out.push(Finding::new(
            Code::StoreTampered,
            format!(
                "{}: changed outside pki{since}: {what}; no journal entry explains it",
                jail.shown(&m.file).display()
            ),
            "find out who changed it; if the change was meant, `pki repair STORE` checks the store and records it (a file that breaks the store is repaired, and the changed one kept in backup/)",
        ));
    }
    for problem in comparison.problems {
        out.push(Finding::new(
            Code::StoreTampered,
            format!("{problem}: changed by hand or by another program"),
            "find out who changed it; `pki repair STORE` records the store without it",
        ));
    }
    for problem in comparison.journal_problems {
        let journal = jail.shown(journal::JOURNAL);
        out.push(Finding::new(
            Code::StoreTampered,
            format!("{problem}: changed by hand or by another program"),
            format!(
                "find out who changed {}; `pki repair STORE` sets it aside in backup/ and starts a new journal",
                journal.display()
            ),
        ));
    }
    out
}

/// IDENTITY_MISMATCH when `leaf` does not name the store's device id.
pub fn identity(leaf: &Cert, manifest: &Manifest, policy: &Policy) -> Option<Finding> {
    let id = &manifest.device_id;
    if policy.names_device(leaf, id) || names_as_token(leaf, id) {
        return None;
    }
    Some(Finding::new(
        Code::IdentityMismatch,
        format!(
            "{} is for '{}' ({}), but this store belongs to device '{id}' (store.yaml)",
            leaf.describe(),
            leaf.common_name(),
            if leaf.sans.is_empty() { "no SAN".to_string() } else { leaf.sans.join(", ") }
        ),
        format!("a certificate of another device was copied in (or store.yaml's device id changed: check it): while the key of the certificate issued to '{id}' is still in the store or backup/, pki repair STORE --ca DIR puts that certificate back; if the key is gone, only someone who knows which device this endpoint is can have a new certificate made for it (store.yaml's id is what whoever writes the store wrote): `pki enroll STORE --ca DIR --device-id ID --force` (the old files go to backup/)"),
    ))
}

/// Whether the id appears as the CN or as a whole label/segment of a SAN.
fn names_as_token(leaf: &Cert, id: &str) -> bool {
    leaf.common_name() == id
        || leaf.sans.iter().any(|san| {
            let value = san.split_once(':').map_or(san.as_str(), |(_, v)| v);
            value.split(['.', ':', '/']).any(|token| token == id)
        })
}
