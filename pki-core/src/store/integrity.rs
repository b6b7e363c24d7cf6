//! What only a managed store can tell: whether its files are what the toolkit last wrote
//! (STORE_TAMPERED, a warning: the verdict is the server's, and a comment added to trust.pem
//! makes no server reject anyone) and whether its certificate names the device the store
//! belongs to (IDENTITY_MISMATCH).

use crate::finding::{Code, Finding};
use crate::policy::Policy;
use crate::read::cert::Cert;
use crate::store::journal::{self, Entry};
use crate::store::manifest::{file_hash, Manifest};
use std::collections::BTreeMap;
use std::path::Path;

/// STORE_TAMPERED for every file that differs from the manifest with no journal entry that
/// wrote its present bytes. The toolkit journals before it writes, so its own writes, even one
/// cut short by a crash, are always explained; a hand edit never is.
/// `read` holds the hashes of files already read (the others are read here).
pub fn tampered(
    dir: &Path,
    manifest: &Manifest,
    journal: &[Entry],
    read: &BTreeMap<String, String>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for (file, recorded) in &manifest.files {
        let now = read
            .get(file)
            .cloned()
            .or_else(|| file_hash(&dir.join(file)));
        if now.as_deref() == Some(recorded.as_str())
            || journal::explains(journal, file, now.as_deref())
        {
            continue;
        }
        let what = match &now {
            Some(hash) => format!(
                "SHA-256 now {}…, as pki left it {}…",
                &hash[..12],
                &recorded[..recorded.len().min(12)]
            ),
            None => "deleted".to_string(),
        };
        let since = journal
            .last()
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
                dir.join(file).display()
            ),
            "find out who changed it; if the change was meant, `pki repair STORE` checks the store and records it (a file that breaks the store is repaired, and the changed one kept in backup/)",
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
        format!("a certificate of another device was copied in: the certificate issued to '{id}' from the CA's copies, else a new one: `pki repair STORE --ca DIR` (or check the device id in store.yaml)"),
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
