//! `pki renew`: renew a store when its policy says it is time (or now, with `force`), with a
//! new key by default, from the CA's current issuing CA, the crash-safe way every write takes.
//! An expired or not-yet-valid certificate is not renewed silently. Before anything is
//! written the new pair is proven (a renewal must never install a mismatched pair).

use crate::ca::{identity, Issued};
use crate::error::Error;
use crate::judge::diagnose::{diagnose, Report, Request as Judge};
use crate::judge::verify::Purpose;
use crate::lifecycle::authority::Authority;
use crate::policy::Policy;
use crate::read::cert::Cert;
use crate::store;
use crate::store::change::{self, Change, FileWrite};
use crate::store::jail::Jail;
use crate::store::journal::Entry;
use crate::store::lock;
use crate::store::manifest::Manifest;
use crate::timestamp::format;
use serde::Serialize;
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

#[derive(Debug, Clone)]
pub struct Request {
    pub store: PathBuf,
    pub force: bool,
    pub at: OffsetDateTime,
    /// Overrides the CA's policy.
    pub policy: Option<Policy>,
    /// Say whether renewal is due and what it would write; write nothing, sign nothing.
    pub dry_run: bool,
}

/// Whether a store is due, and when.
#[derive(Debug, Clone, Serialize)]
pub struct Due {
    pub due: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub due_at: OffsetDateTime,
    pub serial: String,
    /// Set when the certificate is outside its validity: renewal then needs `--force`.
    pub outside_validity: Option<String>,
    /// Expired, but within the policy's `grace_days`: renewal may go ahead without `--force`.
    #[serde(skip)]
    pub in_grace: bool,
    #[serde(skip)]
    pub not_after: OffsetDateTime,
}

#[derive(Debug, Serialize)]
pub struct Renewed {
    pub issued_serial: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub next_due: OffsetDateTime,
    pub issuer: String,
    pub journal: Entry,
    pub after: Report,
}

#[derive(Debug, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    NotDue(Due),
    Renewed(Box<Renewed>),
    /// A dry run of a renewal that is due (or forced): what would be issued and written.
    Planned {
        due: Due,
        /// What the authority would issue, when it can say (a CA folder at hand does).
        planned: Option<Box<crate::ca::Planned>>,
        /// Who would sign.
        authority: String,
        new_key: bool,
        files: Vec<String>,
    },
}

/// Whether the store's certificate is due at `at` under `policy`.
pub fn check(dir: &std::path::Path, policy: &Policy, at: OffsetDateTime) -> Result<Due, Error> {
    let material = store::gather_store(dir)?;
    let chosen = crate::judge::select::select(&material, at);
    let leaf = chosen.leaf.ok_or_else(|| {
        Error::refused(
            dir,
            "holds no device certificate: enroll it (pki enroll) or repair it (pki repair)",
        )
    })?;
    let seed = material
        .manifest
        .as_ref()
        .map_or(leaf.common_name(), |m| m.device_id.clone());
    // whole seconds, as every instant the toolkit prints
    let due_at = crate::timestamp::whole_seconds(policy.renewal_due_jittered(leaf, &seed));
    let outside_validity = if at > leaf.not_after {
        Some(format!(
            "the certificate expired at {}",
            format(leaf.not_after)
        ))
    } else if at < leaf.not_before {
        Some(format!(
            "the certificate is not valid until {}",
            format(leaf.not_before)
        ))
    } else {
        None
    };
    let grace = Duration::days(policy.renewal.grace_days.into());
    Ok(Due {
        due: at >= due_at,
        due_at,
        serial: leaf.serial.clone(),
        outside_validity,
        in_grace: at > leaf.not_after && at <= leaf.not_after + grace,
        not_after: leaf.not_after,
    })
}

/// Renews the store of `req` with a certificate from `authority` when it is due.
pub fn renew(req: &Request, authority: &dyn Authority) -> Result<Outcome, Error> {
    let dir = &req.store;
    let jail = Jail::open(dir)?;
    let mut manifest = Manifest::require(&jail, Some("enroll it first (pki enroll)"))?;
    crate::lifecycle::authority::agree_on_time(authority, req.at)?;
    let policy = req
        .policy
        .clone()
        .or_else(|| authority.policy().cloned())
        .unwrap_or_default();
    let due = check(dir, &policy, req.at)?;
    if !req.force {
        if let Some(why) = &due.outside_validity {
            let expired = req.at > due.not_after;
            if !(due.in_grace || expired && authority.judges_grace()) {
                return Err(Error::refused(dir, format!("{why}: renewal does not replace an invalid certificate silently; check the clock, then pki renew --force (or pki repair --ca)")));
            }
        } else if !due.due {
            return Ok(Outcome::NotDue(due));
        }
    }
    // a renewal is for the device the store proves it is (store.yaml is the writer's text):
    // a certificate of the CA's naming it, in the store or among the CA's own copies, whose
    // key the store holds
    let held = store::gather_store(dir)?;
    let keys: Vec<&crate::read::key::Key> = held.keys.iter().collect();
    let copies: Vec<Cert> = authority
        .issued_to(&manifest.device_id)?
        .iter()
        .flat_map(|(path, bytes)| crate::read::decode::decode(path, bytes).certs)
        .collect();
    let certs: Vec<&Cert> = held.leaf_candidates.iter().chain(&copies).collect();
    if !authority.vouches(&manifest.device_id, &certs, &keys)? {
        let why = identity::unproven(&manifest.device_id, dir, &authority.describe());
        return Err(Error::refused(dir, why));
    }
    if req.dry_run {
        let planned = authority
            .plan(&manifest.device_id, req.policy.as_ref(), req.at)?
            .map(Box::new);
        let mut files = vec![store::DEVICE_CERT, store::CHAIN, store::TRUST];
        if !policy.renewal.reuse_key {
            files.insert(1, store::DEVICE_KEY);
        }
        return Ok(Outcome::Planned {
            due,
            planned,
            authority: authority.describe(),
            new_key: !policy.renewal.reuse_key,
            files: files
                .iter()
                .map(|f| dir.join(f).display().to_string())
                .collect(),
        });
    }
    let (_guard, _) = lock::hold(&jail)?;
    let (key, key_is_new) = if policy.renewal.reuse_key {
        // read as every key is: an encrypted or unusable one is named as such
        let path = dir.join(store::DEVICE_KEY);
        let bytes = jail.bytes(store::DEVICE_KEY).ok_or_else(|| {
            Error::refused(&path, "cannot reuse the key: it is not a readable key file")
        })?;
        let decoded = crate::read::decode::decode(&path, &bytes);
        (crate::lifecycle::enroll::key_pair(&path, decoded)?, false)
    } else {
        (crate::lifecycle::enroll::new_key(&policy, dir)?, true)
    };
    let csr =
        crate::lifecycle::enroll::csr(&manifest.device_id, &key).map_err(|e| Error::ca(dir, e))?;
    let issued: Issued = authority.issue(
        &dir.join("device.csr"),
        &csr,
        &manifest.device_id,
        req.policy.as_ref(),
        req.at,
    )?;
    crate::lifecycle::enroll::check_pair(&key, &issued, dir)?;

    // With a new key, two changes, so that no crash leaves a certificate beside a key that
    // is not its own: first device.crt holds the new certificate and the old one (whichever
    // key is in device.key at any instant has its certificate there, and the one matching the
    // key is the one used), then the old certificate leaves it (it is in backup/).
    let old_cert = jail.bytes(store::DEVICE_CERT).unwrap_or_default();
    let both = [issued.pem.as_bytes(), &old_cert].concat();
    let mut writes = vec![FileWrite {
        name: store::DEVICE_CERT.into(),
        bytes: if key_is_new {
            both
        } else {
            issued.pem.clone().into_bytes()
        },
        mode: 0o644,
    }];
    if key_is_new {
        writes.push(FileWrite {
            name: store::DEVICE_KEY.into(),
            bytes: crate::lifecycle::enroll::pkcs8_pem(&key).into_bytes(),
            mode: 0o600,
        });
    }
    writes.push(FileWrite {
        name: store::CHAIN.into(),
        bytes: authority.chain_bundle(req.at)?.into_bytes(),
        mode: 0o644,
    });
    writes.push(FileWrite {
        name: store::TRUST.into(),
        bytes: authority.trust_bundle(req.at)?.into_bytes(),
        mode: 0o644,
    });
    let (crl_writes, mut removes) = crls_for_issuer(&jail, authority, req.at)?;
    writes.extend(crl_writes);
    // a request an earlier repair left for a CA is superseded by this certificate (to
    // backup/, the key with it: never deleted)
    removes.extend(
        [store::PENDING_KEY, store::CSR]
            .into_iter()
            .filter(|f| jail.kind(f).is_some())
            .map(str::to_string),
    );
    let reason = format!(
        "{} serial {} -> {} ({}){}",
        if req.force {
            "forced renewal of".to_string()
        } else {
            "renewal was due at ".to_string() + &format(due.due_at) + " for"
        },
        due.serial,
        issued.serial,
        if key_is_new { "new key" } else { "same key" },
        if issued.truncated {
            ", notAfter cut to the issuing CA's"
        } else {
            ""
        }
    );
    let change = Change {
        action: "renew".into(),
        reason: if key_is_new {
            format!("{reason}; device.crt keeps the old certificate until the new key is in place")
        } else {
            reason.clone()
        },
        writes,
        removes,
    };
    let device_id = manifest.device_id.clone();
    super::authority::record(authority, &mut manifest);
    // the first entry is the renewal's (its backup holds the old key and certificate)
    let journal = change::apply(&jail, &change, manifest, req.at)?;
    if key_is_new {
        let done = Change {
            action: "renew".into(),
            reason: format!("{reason}; the old certificate leaves device.crt (it is in backup/)"),
            writes: vec![FileWrite {
                name: store::DEVICE_CERT.into(),
                bytes: issued.pem.clone().into_bytes(),
                mode: 0o644,
            }],
            removes: Vec::new(),
        };
        let manifest = Manifest::require(&jail, None)?;
        change::apply(&jail, &done, manifest, req.at)?;
    }
    let judge = Judge {
        at: req.at,
        purpose: Purpose::Client,
        policy: policy.clone(),
    };
    let after = diagnose(&store::gather_store(dir)?, &judge);
    // the next due time, from the certificate just issued (no need to read the store again)
    let next_due =
        crate::read::decode::decode(&dir.join(store::DEVICE_CERT), issued.pem.as_bytes())
            .certs
            .first()
            .map_or(issued.not_after, |c| {
                crate::timestamp::whole_seconds(policy.renewal_due_jittered(c, &device_id))
            });
    Ok(Outcome::Renewed(Box::new(Renewed {
        issued_serial: issued.serial,
        not_after: issued.not_after,
        next_due,
        issuer: issued.issuer,
        journal,
        after,
    })))
}

/// The store's CRLs for a certificate from the CA's current issuing CA: after an issuing
/// rotation the store may hold the old generation's CRL, which bears the same name. The CA's
/// CRLs cover their own generation's certificates only, so rustls would not check the new
/// certificate against it, but the device has left that generation and nothing refreshes that
/// CRL any more; one from before the CA partitioned its CRLs covers the new certificate, and
/// rustls would reject it on that CRL's signature. Such CRLs go to backup/ (the removes,
/// relative paths), and the CA's current CRL of the new issuer comes in their place when it
/// has a fresh one.
fn crls_for_issuer(
    jail: &Jail,
    ca: &dyn Authority,
    at: OffsetDateTime,
) -> Result<(Vec<FileWrite>, Vec<String>), Error> {
    use crate::read::decode::decode;
    if jail.kind(store::CRL_DIR).is_none() {
        return Ok((Vec::new(), Vec::new()));
    }
    let issuer = ca.issuing_cert(at)?;
    let mut removes = Vec::new();
    let listed = jail.list(store::CRL_DIR, Some(crate::read::input::MAX_STORE_ENTRIES))?;
    for entry in listed {
        let Some(name) = entry.name().filter(|n| !n.starts_with('.')) else {
            continue;
        };
        let name = format!("{}/{name}", store::CRL_DIR);
        let Some(bytes) = jail.bytes(&name) else {
            continue;
        };
        let other_key = decode(&jail.shown(&name), &bytes)
            .crls
            .iter()
            .any(|c| c.issuer_raw == issuer.subject_raw && !c.is_signed_by(&issuer));
        if other_key {
            removes.push(name);
        }
    }
    let mut writes = Vec::new();
    if !removes.is_empty() {
        let own = ca.crls()?.into_iter().find(|(name, bytes)| {
            decode(Path::new(name), bytes)
                .crls
                .iter()
                .any(|c| c.is_signed_by(&issuer) && c.next_update.is_none_or(|next| next >= at))
        });
        if let Some((file, bytes)) = own {
            let name = format!("{}/{file}", store::CRL_DIR);
            removes.retain(|r| *r != name);
            writes.push(FileWrite {
                name,
                bytes,
                mode: 0o644,
            });
        }
    }
    Ok((writes, removes))
}
