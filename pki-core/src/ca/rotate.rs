//! `pki ca rotate`: a new issuing CA (or, with `--root`, a new root cross-signed by the old one,
//! and a new issuing CA below it). The old generation stays in the bundles for an overlap
//! period — by default until the last certificate it issued expires — so that endpoints
//! enrolled under it keep working; new certificates come from the new one.

use super::config::Generation;
use super::init::{ca_params, generation, new_key};
use super::{write_cert, write_key, Ca};
use crate::error::Error;
use crate::timestamp::format;
use rcgen::Issuer;
use time::{Duration, OffsetDateTime};

/// What a rotation made.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub new_issuer: String,
    pub new_root: Option<String>,
    /// The URI of the new issuing CA's CRL (in its certificates and CRLs).
    pub crl_url: String,
    /// Until when the old issuing generation stays in the bundles.
    pub overlap_until: OffsetDateTime,
    /// With a new root: until when the old root stays (as long as the last issuing
    /// generation under it, which may be later than `overlap_until`).
    pub old_root_until: Option<OffsetDateTime>,
}

/// Rotates `ca` at `at`: a new issuing CA (and with `new_root`, a new root), the old
/// generation kept in the bundles for `overlap` (default: until its last certificate
/// expires). The new issuing CA's CRL is published at `<crl_base>/<id>`: `crl_base` checked
/// by [`crl_base`](super::config::crl_base), default the base of the current one's.
pub fn rotate(
    ca: &mut Ca,
    new_root: bool,
    overlap: Option<Duration>,
    crl_base: Option<&str>,
    at: OffsetDateTime,
) -> Result<Rotation, Error> {
    let old_issuer = ca.current_issuer().clone();
    let crl_base = match crl_base {
        Some(url) => super::config::crl_base(url).map_err(Error::Usage)?,
        None => old_issuer.crl_base(),
    };
    let overlap_until = match overlap {
        Some(d) => at + d,
        None => ca
            .inventory
            .last_expiry(&old_issuer.id)?
            .unwrap_or(at)
            .max(at),
    };
    let name = ca.config.name.clone();
    let n_issuer = ca.config.issuers.len() + 1;

    // the root the new issuing CA hangs under
    let mut old_root_until = None;
    let (root_gen, root_pem, root_key) = if new_root {
        let old_root = ca.current_root().clone();
        let old_key = ca.key(&old_root)?;
        let old = Issuer::from_ca_cert_pem(&ca.cert_pem(&old_root)?, &old_key)
            .map_err(|e| Error::ca(ca.dir.join(&old_root.cert), e.to_string()))?;
        let n_root = ca.config.roots.len() + 1;
        let id = format!("root-{n_root}");
        let key = new_key(&ca.dir)?;
        let params = ca_params(
            &format!("{name} Root CA G{n_root}"),
            &name,
            None,
            at,
            Duration::days(365 * 20),
        )?;
        let pem = params
            .self_signed(&key)
            .map_err(|e| Error::ca(&ca.dir, e.to_string()))?
            .pem();
        let mut cross_params = params.clone();
        cross_params.use_authority_key_identifier_extension = true;
        let cross = cross_params
            .signed_by(&key, &old)
            .map_err(|e| Error::ca(&ca.dir, e.to_string()))?
            .pem();
        write_key(&ca.dir, &format!("{id}.key"), &key)?;
        write_cert(&ca.dir, &format!("{id}.crt"), &pem)?;
        write_cert(&ca.dir, &format!("{id}.cross.crt"), &cross)?;
        let mut g = generation(&id, None);
        g.cross = Some(format!("{id}.cross.crt"));
        // the old root anchors every issuing generation under it, not only the current one:
        // it stays as long as the last of them (an older one's certificates may outlive the
        // current one's overlap, and without their root they would be refused at once)
        let until = ca
            .config
            .issuers
            .iter()
            .filter(|i| i.parent.as_deref() == Some(old_root.id.as_str()))
            .filter_map(|i| i.retire_after.as_deref())
            .filter_map(|t| crate::timestamp::parse(t).ok())
            .fold(overlap_until, OffsetDateTime::max);
        retire(ca.config.roots.iter_mut().last(), until);
        old_root_until = Some(until);
        (g, pem, key)
    } else {
        let g = ca.current_root().clone();
        let key = ca.key(&g)?;
        let pem = ca.cert_pem(&g)?;
        (g, pem, key)
    };
    let root = Issuer::from_ca_cert_pem(&root_pem, &root_key)
        .map_err(|e| Error::ca(&ca.dir, e.to_string()))?;
    let id = format!("issuing-{n_issuer}");
    let key = new_key(&ca.dir)?;
    let params = ca_params(
        &format!("{name} Issuing CA"),
        &name,
        Some(0),
        at,
        Duration::days(365 * 10),
    )?;
    let pem = params
        .signed_by(&key, &root)
        .map_err(|e| Error::ca(&ca.dir, e.to_string()))?
        .pem();
    write_key(&ca.dir, &format!("{id}.key"), &key)?;
    write_cert(&ca.dir, &format!("{id}.crt"), &pem)?;
    retire(ca.config.issuers.iter_mut().last(), overlap_until);
    let new_root_id = new_root.then(|| root_gen.id.clone());
    if new_root {
        ca.config.roots.push(root_gen.clone());
    }
    let crl_url = format!("{crl_base}/{id}");
    ca.config.issuers.push(Generation {
        crl_url: Some(crl_url.clone()),
        ..generation(&id, Some(&root_gen.id))
    });
    ca.write_bundles(at)?;
    ca.save()?;
    Ok(Rotation {
        new_issuer: id,
        new_root: new_root_id,
        crl_url,
        overlap_until,
        old_root_until,
    })
}

fn retire(g: Option<&mut Generation>, until: OffsetDateTime) {
    if let Some(g) = g {
        g.retire_after = Some(format(until));
    }
}
