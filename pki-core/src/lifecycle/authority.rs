//! Who signs for the lifecycle commands: the CA folder at hand (`--ca`, [`Ca`] here) or a
//! `pki serve` over EST (`--server`, implemented in `pki-net`: pki-core never opens a socket).
//! Enroll, renew and repair are one body of code for both, so a store enrolled over the
//! network gets the same guarantees as one enrolled next to the CA.

use crate::ca::{sign_csr, Ca, Issued, Planned};
use crate::error::Error;
use crate::judge::against_server::SKEW_TOLERANCE;
use crate::policy::Policy;
use crate::read::cert::Cert;
use crate::read::key::Key;
use crate::store::manifest::Manifest;
use crate::timestamp::{format, span};
use std::path::{Path, PathBuf};
use time::OffsetDateTime;

pub trait Authority {
    /// Where it is, for messages: a CA folder or a server's URL.
    fn describe(&self) -> String;
    /// The CA folder, when it is one (recorded in `store.yaml` so that fix texts name it).
    fn folder(&self) -> Option<&Path> {
        None
    }
    /// The server's URL, when it is one (recorded in `store.yaml` as the folder is).
    fn server(&self) -> Option<String> {
        None
    }
    /// The policy it issues under, when it is known here (a CA folder's `policy.yaml`); a
    /// server's is its own business.
    fn policy(&self) -> Option<&Policy>;
    /// Whether an expired certificate may be sent for renewal as it is: a server applies its
    /// own policy's `renewal.grace_days` and says no when it is past them.
    fn judges_grace(&self) -> bool {
        false
    }
    /// Its clock, when it has one to compare with (a server's `Date`).
    fn clock(&self) -> Result<Option<OffsetDateTime>, Error> {
        Ok(None)
    }
    /// Where the trust bundle comes from, for messages and plans.
    fn trust_source(&self) -> PathBuf;
    /// The trust anchors endpoints hold at `at`, PEM.
    fn trust_bundle(&self, at: OffsetDateTime) -> Result<String, Error>;
    /// The intermediates endpoints present at `at`, PEM, current issuing CA first.
    fn chain_bundle(&self, at: OffsetDateTime) -> Result<String, Error>;
    /// The certificate of the issuing CA new certificates come from now.
    fn issuing_cert(&self, at: OffsetDateTime) -> Result<Cert, Error>;
    /// The CRLs it publishes now: file name (`<generation>.crl`) and bytes.
    fn crls(&self) -> Result<Vec<(String, Vec<u8>)>, Error>;
    /// Where those CRLs come from, for messages.
    fn crl_source(&self) -> String;
    /// Copies of what it issued to `device_id` that are not revoked (label, PEM bytes).
    fn issued_to(&self, device_id: &str) -> Result<Vec<(PathBuf, Vec<u8>)>, Error>;
    /// Whether it may issue to `device_id` for a store holding `certs` and `keys` without an
    /// administrator naming the device (a repair's reissue, a renewal): `store.yaml`'s id is
    /// the store writer's text. A CA folder at hand asks for possession
    /// ([`crate::ca::identity`]); a server judges that itself (a renewal is authenticated by
    /// the store's certificate, an enrollment by a token made for the device).
    fn vouches(&self, _device_id: &str, _certs: &[&Cert], _keys: &[&Key]) -> Result<bool, Error> {
        Ok(true)
    }
    /// What it would issue to `device_id` at `at` (a dry run; nothing signed), when that can be
    /// known here: a CA folder checks and plans it; a server's policy is its own (`None`).
    fn plan(
        &self,
        _device_id: &str,
        _policy: Option<&Policy>,
        _at: OffsetDateTime,
    ) -> Result<Option<Planned>, Error> {
        Ok(None)
    }
    /// Signs the request `csr` (DER; `path` names it in messages) for `device_id`; `policy`
    /// replaces the CA's own where the authority allows it (a CA folder at hand does).
    fn issue(
        &self,
        path: &Path,
        csr: &[u8],
        device_id: &str,
        policy: Option<&Policy>,
        at: OffsetDateTime,
    ) -> Result<Issued, Error>;
}

/// Records in `manifest` where the store's certificates come from now: the CA folder, or the
/// server's URL, so that fix texts name the one that works.
pub fn record(authority: &dyn Authority, manifest: &mut Manifest) {
    if let Some(folder) = authority.folder() {
        manifest.record_ca(folder);
    } else if let Some(url) = authority.server() {
        manifest.record_server(&url);
    }
}

/// Refuses to go on when the endpoint's clock (`at`) and the authority's differ by more than
/// [`SKEW_TOLERANCE`]: a renewal or repair would judge the store at the wrong time (a clock a
/// year ahead sees a good certificate as expired) and ask for certificates it would then find
/// not yet valid.
pub fn agree_on_time(authority: &dyn Authority, at: OffsetDateTime) -> Result<(), Error> {
    let Some(theirs) = authority.clock()? else {
        return Ok(());
    };
    let offset = at - theirs;
    if offset.abs() <= SKEW_TOLERANCE {
        return Ok(());
    }
    Err(Error::Refused {
        path: PathBuf::from(authority.describe()),
        reason: format!(
            "this endpoint's clock ({}) is {} {} the server's ({}): set the clock first (timedatectl set-ntp true, or w32tm /resync), then try again; pki diagnose STORE --server URL shows the store at the server's time",
            format(at),
            span(offset),
            if offset.is_positive() { "ahead of" } else { "behind" },
            format(theirs)
        ),
    })
}

impl Authority for Ca {
    fn describe(&self) -> String {
        self.dir.display().to_string()
    }

    fn folder(&self) -> Option<&Path> {
        Some(&self.dir)
    }

    fn policy(&self) -> Option<&Policy> {
        Some(&self.policy)
    }

    fn trust_source(&self) -> PathBuf {
        self.dir.join(crate::ca::TRUST_BUNDLE)
    }

    fn trust_bundle(&self, at: OffsetDateTime) -> Result<String, Error> {
        Ca::trust_bundle(self, at)
    }

    fn chain_bundle(&self, at: OffsetDateTime) -> Result<String, Error> {
        Ca::chain_bundle(self, at)
    }

    fn issuing_cert(&self, _at: OffsetDateTime) -> Result<Cert, Error> {
        self.cert(self.current_issuer())
    }

    fn crls(&self) -> Result<Vec<(String, Vec<u8>)>, Error> {
        let dir = self.dir.join(crate::ca::CRL_DIR);
        let mut out = Vec::new();
        if dir.is_dir() {
            for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
                let path = entry.map_err(|e| Error::io(&dir, e))?.path();
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name.ends_with(".crl") {
                    if let Ok(bytes) = crate::read::input::bytes(&path) {
                        out.push((name.to_string(), bytes));
                    }
                }
            }
            out.sort();
        }
        Ok(out)
    }

    fn crl_source(&self) -> String {
        self.dir.join(crate::ca::CRL_DIR).display().to_string()
    }

    fn issued_to(&self, device_id: &str) -> Result<Vec<(PathBuf, Vec<u8>)>, Error> {
        Ca::issued_to(self, device_id)
    }

    fn vouches(&self, device_id: &str, certs: &[&Cert], keys: &[&Key]) -> Result<bool, Error> {
        crate::ca::identity::proven(self, device_id, certs, keys)
    }

    fn issue(
        &self,
        path: &Path,
        csr: &[u8],
        device_id: &str,
        policy: Option<&Policy>,
        at: OffsetDateTime,
    ) -> Result<Issued, Error> {
        match policy {
            Some(p) if *p != self.policy => {
                let mut with_policy = self.clone();
                with_policy.policy = p.clone();
                sign_csr(&with_policy, path, csr, Some(device_id), at)
            }
            _ => sign_csr(self, path, csr, Some(device_id), at),
        }
    }

    fn plan(
        &self,
        device_id: &str,
        policy: Option<&Policy>,
        at: OffsetDateTime,
    ) -> Result<Option<Planned>, Error> {
        match policy {
            Some(p) if *p != self.policy => {
                let mut with_policy = self.clone();
                with_policy.policy = p.clone();
                crate::ca::plan_for(&with_policy, device_id, at).map(Some)
            }
            _ => crate::ca::plan_for(self, device_id, at).map(Some),
        }
    }
}
