//! `pki store install STORE CERT`: install a certificate signed elsewhere — for the request
//! that `repair` left in the store when no CA was at hand. The certificate must belong to the
//! pending key (or the present one); the pair is proven before anything is written.

use crate::error::Error;
use crate::judge::possession::prove;
use crate::read::decode::decode;
use crate::store;
use crate::store::change::{self, Change, FileWrite};
use crate::store::jail::Jail;
use crate::store::journal::Entry;
use crate::store::lock;
use crate::store::manifest::Manifest;
use std::path::Path;
use time::OffsetDateTime;

pub use crate::store::{CSR, PENDING_KEY};

/// Installs `cert_file` into the store `dir`; the journal entry of the change.
pub fn install(dir: &Path, cert_file: &Path, at: OffsetDateTime) -> Result<Entry, Error> {
    let jail = Jail::open(dir)?;
    let manifest = Manifest::require(&jail, None)?;
    let (_guard, _) = lock::hold(&jail)?;
    let change = prepare(&jail, cert_file)?;
    change::apply(&jail, &change, manifest, at)
}

/// What installing `cert_file` would change (a dry run: every check made, nothing written).
pub fn plan(dir: &Path, cert_file: &Path) -> Result<Change, Error> {
    let jail = Jail::open(dir)?;
    Manifest::require(&jail, None)?;
    prepare(&jail, cert_file)
}

/// The change that installs `cert_file`, once the certificate is proven to fit a key of the
/// store.
fn prepare(jail: &Jail, cert_file: &Path) -> Result<Change, Error> {
    let dir = jail.path();
    let decoded = super::decode_file(cert_file, None)?;
    let (cas, leaves): (Vec<_>, Vec<_>) = decoded.certs.into_iter().partition(|c| c.is_ca());
    let leaf = leaves.into_iter().next().ok_or_else(|| {
        Error::refused(
            cert_file,
            match (decoded.requests.first(), decoded.problems.first()) {
                (Some(r), _) => format!(
                    "holds a certificate request (CSR, subject '{}'), not a certificate: have the CA sign it first (pki ca sign --ca DIR {})",
                    r.subject,
                    cert_file.display()
                ),
                (None, Some(problem)) => format!("holds no device certificate: {problem}"),
                (None, None) => "holds no device certificate".to_string(),
            },
        )
    })?;
    let mut writes = vec![FileWrite {
        name: store::DEVICE_CERT.into(),
        bytes: leaf.der_pem(),
        mode: 0o644,
    }];
    let mut removes = Vec::new();
    let pending = jail.bytes(PENDING_KEY);
    let present = jail.bytes(store::DEVICE_KEY);
    // the key in `bytes` that belongs to the certificate, with the bytes to install
    let matching = |bytes: Option<Vec<u8>>| {
        let bytes = bytes?;
        let key = decode(&dir.join("key"), &bytes)
            .keys
            .into_iter()
            .find(|k| k.matches(&leaf))?;
        Some((key, bytes))
    };
    let (key, key_bytes, from_pending) = match (matching(pending), matching(present)) {
        (Some((k, b)), _) => (k, b, true),
        (None, Some((k, b))) => (k, b, false),
        (None, None) => {
            return Err(Error::refused(
                cert_file,
                format!(
                    "{} belongs to neither {PENDING_KEY} nor device.key of {}",
                    leaf.describe(),
                    dir.display()
                ),
            ))
        }
    };
    prove(&key, &leaf).map_err(|f| {
        Error::refused(
            cert_file,
            format!("the certificate and key do not work together: {f}"),
        )
    })?;
    if from_pending {
        writes.push(FileWrite {
            name: store::DEVICE_KEY.into(),
            bytes: key_bytes,
            mode: 0o600,
        });
        removes.push(PENDING_KEY.to_string());
    }
    if !cas.is_empty() {
        writes.push(FileWrite {
            name: store::CHAIN.into(),
            bytes: cas.iter().flat_map(|c| c.der_pem()).collect(),
            mode: 0o644,
        });
    }
    if jail.kind(CSR).is_some() {
        removes.push(CSR.to_string());
    }
    Ok(Change {
        action: "install".into(),
        reason: format!("installed {} from {}", leaf.describe(), cert_file.display()),
        writes,
        removes,
    })
}
