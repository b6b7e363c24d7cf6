//! The product side's certificate authority: a folder with a root and an issuing CA (and their
//! successors after a rotation), the policy, an index of everything issued, and the bundles
//! handed to endpoints.

mod config;
pub mod inventory;
pub use inventory::import as index;
mod init;
pub mod issue;
mod revoke;
mod rotate;

pub use config::{Config, Generation, CONFIG};
pub use init::init;
pub use issue::{sign_csr, sign_csrs, Issued};
pub use revoke::{crl, revoke};
pub use rotate::rotate;

use crate::error::Error;
use crate::policy::Policy;
use crate::read::cert::Cert;
use crate::store::atomic;
use rcgen::KeyPair;
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

pub const TRUST_BUNDLE: &str = "trust.pem";
pub const CHAIN_BUNDLE: &str = "chain.pem";

/// A CA folder, loaded.
#[derive(Debug)]
pub struct Ca {
    pub dir: PathBuf,
    pub config: Config,
    pub policy: Policy,
}

impl Ca {
    pub fn load(dir: &Path) -> Result<Ca, Error> {
        let path = dir.join(CONFIG);
        // a --ca that names no CA folder is a usage error (64), as any path named on the
        // command line that does not exist; a broken CA folder stays exit 3
        crate::read::input::folder(dir)?;
        let text = read_text(&path).map_err(|e| match e {
            Error::NotFound { .. } => Error::BadRequest {
                path: dir.to_path_buf(),
                reason: "not a CA folder (no ca.yaml); make one with pki ca init".into(),
            },
            e => e,
        })?;
        let config: Config =
            serde_saphyr::from_str(&text).map_err(|e| Error::ca(&path, e.to_string()))?;
        if config.roots.is_empty() || config.issuers.is_empty() {
            return Err(Error::ca(&path, "lists no root or no issuing CA"));
        }
        let policy = Policy::load(&dir.join(&config.policy))?;
        Ok(Ca {
            dir: dir.to_path_buf(),
            config,
            policy,
        })
    }

    pub fn save(&self) -> Result<(), Error> {
        let text = serde_saphyr::to_string(&self.config)
            .map_err(|e| Error::ca(self.dir.join(CONFIG), e.to_string()))?;
        atomic::write(&self.dir, CONFIG, text.as_bytes(), 0o644)
            .map_err(|e| Error::io(self.dir.join(CONFIG), e))
    }

    pub fn current_issuer(&self) -> &Generation {
        // load() checked that there is one
        &self.config.issuers[self.config.issuers.len() - 1]
    }

    pub fn current_root(&self) -> &Generation {
        &self.config.roots[self.config.roots.len() - 1]
    }

    /// A generation's certificate, PEM.
    pub fn cert_pem(&self, g: &Generation) -> Result<String, Error> {
        let path = self.dir.join(&g.cert);
        read_text(&path)
    }

    /// A generation's certificate, parsed.
    pub fn cert(&self, g: &Generation) -> Result<Cert, Error> {
        let path = self.dir.join(&g.cert);
        let pem = self.cert_pem(g)?;
        crate::read::decode::decode(&path, pem.as_bytes())
            .certs
            .into_iter()
            .next()
            .ok_or_else(|| Error::ca(&path, "holds no certificate"))
    }

    /// A generation's key (it never leaves the CA folder).
    pub fn key(&self, g: &Generation) -> Result<KeyPair, Error> {
        let path = self.dir.join(&g.key);
        let pem = read_text(&path).map_err(|e| match e {
            Error::NotFound { .. } => {
                Error::ca(&path, "the CA key is missing: this CA cannot sign")
            }
            e => e,
        })?;
        KeyPair::from_pem(&pem).map_err(|e| Error::ca(&path, format!("not a usable CA key ({e})")))
    }

    /// Whether `g` is still handed to endpoints at `at`.
    fn active(g: &Generation, at: OffsetDateTime) -> bool {
        g.retire_after
            .as_deref()
            .and_then(|t| crate::timestamp::parse(t).ok())
            .is_none_or(|retire| at <= retire)
    }

    /// The trust anchors endpoints (and the server) hold at `at`: every active root.
    pub fn trust_bundle(&self, at: OffsetDateTime) -> Result<String, Error> {
        let mut out = String::new();
        for g in self.config.roots.iter().rev().filter(|g| Ca::active(g, at)) {
            out.push_str(&self.cert_pem(g)?);
        }
        Ok(out)
    }

    /// The intermediates endpoints present at `at`: active issuing CAs (current first) and,
    /// for a rotated root, its cross-signed certificate, so that endpoints trusting only the
    /// old root still find a path.
    pub fn chain_bundle(&self, at: OffsetDateTime) -> Result<String, Error> {
        let mut out = String::new();
        for g in self
            .config
            .issuers
            .iter()
            .rev()
            .filter(|g| Ca::active(g, at))
        {
            out.push_str(&self.cert_pem(g)?);
        }
        for g in self.config.roots.iter().rev() {
            if let Some(cross) = &g.cross {
                let path = self.dir.join(cross);
                out.push_str(&read_text(&path)?);
            }
        }
        Ok(out)
    }

    /// The certificates this CA issued to `device_id` that are not revoked, PEM each.
    pub fn issued_to(&self, device_id: &str) -> Result<Vec<(PathBuf, Vec<u8>)>, Error> {
        let mut out = Vec::new();
        for r in index::load(&self.dir)?.iter().rev() {
            if r.device_id == device_id && r.status == index::Status::Valid {
                let path = self
                    .dir
                    .join(issue::ISSUED)
                    .join(format!("{}.crt", r.serial.replace(':', "")));
                if let Ok(bytes) = crate::read::input::bytes(&path) {
                    out.push((path, bytes));
                }
            }
        }
        Ok(out)
    }

    /// Rewrites `trust.pem` and `chain.pem` in the CA folder for `at`.
    pub fn write_bundles(&self, at: OffsetDateTime) -> Result<(), Error> {
        for (name, text) in [
            (TRUST_BUNDLE, self.trust_bundle(at)?),
            (CHAIN_BUNDLE, self.chain_bundle(at)?),
        ] {
            atomic::write(&self.dir, name, text.as_bytes(), 0o644)
                .map_err(|e| Error::io(self.dir.join(name), e))?;
        }
        Ok(())
    }
}

/// A file of the CA folder as text, through the capped reader (regular files only); a file
/// that cannot be used is the CA's problem (exit 3), naming it.
fn read_text(path: &Path) -> Result<String, Error> {
    crate::read::input::text(path).map_err(|e| match e {
        Error::BadRequest { path, reason } => Error::Ca { path, reason },
        e => e,
    })
}

/// Writes a CA key, mode 0600, refusing to replace one.
fn write_key(dir: &Path, name: &str, key: &KeyPair) -> Result<(), Error> {
    let path = dir.join(name);
    if path.exists() {
        return Err(Error::refused(
            &path,
            "a CA key is already there; it is never overwritten",
        ));
    }
    atomic::write(dir, name, key.serialize_pem().as_bytes(), 0o600).map_err(|e| Error::io(&path, e))
}

fn write_cert(dir: &Path, name: &str, pem: &str) -> Result<(), Error> {
    atomic::write(dir, name, pem.as_bytes(), 0o644).map_err(|e| Error::io(dir.join(name), e))
}
