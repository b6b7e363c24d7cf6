//! The product side's certificate authority: a folder with a root and an issuing CA (and their
//! successors after a rotation), the policy and the bundles handed to endpoints, and an
//! inventory of everything issued (a database: [`inventory`]).

mod config;
pub mod identity;
mod init;
pub mod inventory;
pub mod issue;
pub mod plan;
mod revoke;
mod rotate;
pub mod token;

pub use config::{crl_base, Config, Generation, CONFIG, DEFAULT_CRL_BASE};
pub use init::init;
pub use inventory::Inventory;
pub use issue::{plan_csrs, plan_for, sign_csr, sign_csrs, Issued, Planned, Signer};
pub use revoke::{crl, revoke, sign_crl, Crls, CRL_DIR};
pub use rotate::rotate;

use crate::error::Error;
use crate::policy::Policy;
use crate::read::cert::Cert;
use crate::store::atomic;
use inventory::sql::Connector;
use rcgen::KeyPair;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::OffsetDateTime;

pub const TRUST_BUNDLE: &str = "trust.pem";
pub const CHAIN_BUNDLE: &str = "chain.pem";

/// A CA folder, loaded, with its inventory open.
#[derive(Debug, Clone)]
pub struct Ca {
    pub dir: PathBuf,
    pub config: Config,
    pub policy: Policy,
    pub inventory: Arc<Inventory>,
}

impl Ca {
    /// The CA in `dir` with its inventory in the folder (`inventory.sqlite`).
    pub fn load(dir: &Path) -> Result<Ca, Error> {
        Ca::open(dir, None)
    }

    /// The CA in `dir` with its inventory in the database `connector` leads to (default: the
    /// SQLite file in the folder). The first time, an `index.jsonl` left by an older release
    /// is imported.
    pub fn open(dir: &Path, connector: Option<Arc<dyn Connector>>) -> Result<Ca, Error> {
        let config = Ca::read_config(dir)?;
        let policy = Policy::load(&dir.join(&config.policy))?;
        let connector = match (connector, &config.database) {
            (Some(c), _) => c,
            (None, None) => Arc::new(inventory::sqlite::Sqlite {
                path: dir.join(inventory::sqlite::FILE),
            }),
            (None, Some(url)) => {
                return Err(Error::ca(
                    dir.join(CONFIG),
                    format!("this CA's inventory is in {url}, which this command cannot reach; give --database"),
                ))
            }
        };
        // the first root's key names the CA (a root certificate re-issued with the same key is
        // the same CA): a database never serves two
        let id = crate::read::cert::sha256_hex(&read_cert(dir, &config.roots[0])?.spki);
        let inventory = Arc::new(Inventory::open(connector, &id)?);
        inventory::import::import(&inventory, dir, config.crl_number)?;
        Ok(Ca {
            dir: dir.to_path_buf(),
            config,
            policy,
            inventory,
        })
    }

    /// The CA read again from its folder (after `pki ca rotate` or `pki ca bundle` changed
    /// it), with the same inventory.
    pub fn reload(&self) -> Result<Ca, Error> {
        let config = Ca::read_config(&self.dir)?;
        let policy = Policy::load(&self.dir.join(&config.policy))?;
        Ok(Ca {
            dir: self.dir.clone(),
            config,
            policy,
            inventory: self.inventory.clone(),
        })
    }

    /// The next instant after `at` at which a generation leaves the bundles (its overlap
    /// ends), if any: what endpoints and servers are handed changes then.
    pub fn next_retirement(&self, at: OffsetDateTime) -> Option<OffsetDateTime> {
        self.config
            .roots
            .iter()
            .chain(&self.config.issuers)
            .filter_map(|g| g.retire_after.as_deref())
            .filter_map(|t| crate::timestamp::parse(t).ok())
            .filter(|t| *t > at)
            .min()
    }

    /// `ca.yaml` of the CA in `dir`, checked.
    pub fn read_config(dir: &Path) -> Result<Config, Error> {
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
        Ok(config)
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
        read_cert(&self.dir, g)
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

    /// The trust anchors endpoints (and the server) hold at `at`: every active root, and
    /// every root an active issuing generation hangs under (its certificates need it; a CA
    /// rotated with `--root` before `ca rotate` kept it that long has an early retire_after).
    pub fn trust_bundle(&self, at: OffsetDateTime) -> Result<String, Error> {
        let anchors_active = |root: &Generation| {
            self.config
                .issuers
                .iter()
                .any(|i| i.parent.as_deref() == Some(root.id.as_str()) && Ca::active(i, at))
        };
        let mut out = String::new();
        for g in self
            .config
            .roots
            .iter()
            .rev()
            .filter(|g| Ca::active(g, at) || anchors_active(g))
        {
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

    /// The certificates this CA issued to `device_id` that are not revoked, newest first,
    /// PEM each, labelled `<inventory>#<serial>` for messages.
    pub fn issued_to(&self, device_id: &str) -> Result<Vec<(PathBuf, Vec<u8>)>, Error> {
        Ok(self
            .inventory
            .issued_to(device_id)?
            .into_iter()
            .filter_map(|r| {
                let label = format!("{}#{}", self.inventory.describe(), r.serial);
                r.pem.map(|pem| (PathBuf::from(label), pem.into_bytes()))
            })
            .collect())
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

fn read_cert(dir: &Path, g: &Generation) -> Result<Cert, Error> {
    let path = dir.join(&g.cert);
    let pem = read_text(&path)?;
    crate::read::decode::decode(&path, pem.as_bytes())
        .certs
        .into_iter()
        .next()
        .ok_or_else(|| Error::ca(&path, "holds no certificate"))
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
