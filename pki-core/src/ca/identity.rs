//! Which device a store proves it is, so that the CA issues to it without an administrator
//! naming the device. A store's `store.yaml` says which device it belongs to, but whoever can
//! write into the store can write that line: trusted as it is, `pki repair --ca` and `pki
//! renew`, run as root, would sign a certificate for any device id the writer chose, with a
//! key the writer can read. What proves an identity is possession: a certificate this CA
//! signed (any issuing generation) naming the device, not revoked for key compromise, whose
//! private key is at hand. A certificate is public (a copy proves nothing); its key is not.

use crate::ca::Ca;
use crate::error::Error;
use crate::finding::quoted;
use crate::read::cert::Cert;
use crate::read::key::Key;
use std::path::Path;

/// Whether `certs` and `keys` (what a store holds, its backups, the CA's copies) prove that
/// the store is `device_id`'s: an end-entity certificate signed by one of `ca`'s issuing
/// generations, naming `device_id` (as its policy names a device, or as the CN), not revoked
/// for key compromise, whose key is among `keys` (a key rustls loads: its public half
/// derived from the private one, so a key file cannot claim another's public key). Errors
/// are the CA's files that cannot be read.
pub fn proven(ca: &Ca, device_id: &str, certs: &[&Cert], keys: &[&Key]) -> Result<bool, Error> {
    let held: Vec<&Cert> = certs
        .iter()
        .copied()
        .filter(|c| !c.is_ca())
        .filter(|c| ca.policy.names_device(c, device_id) || c.common_name() == device_id)
        .filter(|c| {
            keys.iter()
                .any(|k| k.spki.as_deref() == Some(c.spki.as_slice()))
        })
        .collect();
    if held.is_empty() {
        return Ok(false);
    }
    let issuers = ca
        .config
        .issuers
        .iter()
        .map(|g| ca.cert(g))
        .collect::<Result<Vec<Cert>, Error>>()?;
    let signed: Vec<&Cert> = held
        .into_iter()
        .filter(|c| issuers.iter().any(|i| c.is_signed_by(i)))
        .collect();
    if signed.is_empty() {
        return Ok(false);
    }
    for c in signed {
        let compromised = ca
            .inventory
            .get(&c.serial)?
            .is_some_and(|r| r.reason.as_deref() == Some("keyCompromise"));
        if !compromised {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Why the CA does not issue to the store `store` as `device_id`, and what to do (said
/// without taking the id for granted).
pub fn unproven(device_id: &str, store: &Path, ca: &str) -> String {
    let id = shlex::try_quote(device_id).map_or_else(|_| "ID".into(), |q| q.into_owned());
    format!(
        "store.yaml says this store is device '{device_id}', but no certificate the CA issued to '{device_id}' has its private key here (in the store, its backups or the CA's copies), and whoever can write the store can write store.yaml: the CA issues a new certificate only to the device a store proves it is. If you know this endpoint is '{device_id}', enroll it anew naming it: pki enroll {} --ca {} --device-id {id} --force (the old files go to backup/)",
        quoted(store),
        shlex::try_quote(ca).unwrap_or_else(|_| ca.into())
    )
}
