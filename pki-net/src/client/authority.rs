//! A `pki serve` as the [`Authority`] of `pki enroll/renew/repair --server URL`: the bundles
//! come from `cacerts` (self-signed roots are the trust anchors, the other CA certificates the
//! chain, newest first), and a certificate from `simpleenroll` (with `--token`) or
//! `simplereenroll` (authenticated by the store's current certificate). The store is written by
//! pki-core exactly as for a CA folder at hand.

use super::est::{Clock, Est, Identity, Trust};
use pki_core::ca::token::Presented;
use pki_core::ca::Issued;
use pki_core::lifecycle::authority::Authority;
use pki_core::{Cert, Error, Policy};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::OffsetDateTime;

pub struct Remote {
    est: Est,
    /// Lets a server certificate outside its validity at the endpoint's clock through only
    /// until the server's own clock is known (see [`Authority::clock`]).
    tolerance: Arc<Clock>,
    /// The one-time token: `simpleenroll`; without it, `simplereenroll`.
    token: Option<Presented>,
    /// Why the store cannot authenticate a renewal (no certificate or key), if it cannot:
    /// said when a renewal is asked for, not before (a repair may not need one).
    no_identity: Option<String>,
}

impl Remote {
    /// The server at `url`, authenticated by `trust`; with `token` (`DEVICE_ID:SECRET`, or a
    /// bare secret) it enrolls, otherwise it renews as the store `store` (whose certificate
    /// and key authenticate the device).
    pub fn new(
        url: &str,
        trust: &Trust,
        token: Option<String>,
        store: Option<&Path>,
        at: OffsetDateTime,
    ) -> Result<Remote, Error> {
        let token = token
            .map(|t| Presented::parse(&t))
            .transpose()
            .map_err(|why| Error::Usage(format!("--token: {why}")))?;
        let (identity, no_identity) = match (&token, store) {
            (None, Some(dir)) => match Identity::from_store(dir) {
                Ok(id) => (Some(id), None),
                Err(e) => (None, Some(e.to_string())),
            },
            _ => (None, None),
        };
        let (est, tolerance) = Est::tolerant(url, trust, identity, at)?;
        Ok(Remote {
            est,
            tolerance,
            token,
            no_identity,
        })
    }

    fn cacerts(&self) -> Result<(Vec<Cert>, Vec<Cert>), Error> {
        let source = PathBuf::from(self.est.url(&format!("{}cacerts", pki_core::est::PREFIX)));
        let mut certs: Vec<Cert> = self
            .est
            .cacerts()?
            .into_iter()
            .filter_map(|der| {
                Cert::from_der(
                    der,
                    pki_core::origin::Origin {
                        path: source.clone(),
                        index: 0,
                        of: 1,
                    },
                )
                .ok()
            })
            .collect();
        certs.sort_by_key(|c| std::cmp::Reverse(c.not_before));
        Ok(certs.into_iter().partition(|c| c.is_self_issued()))
    }
}

fn pem(certs: &[Cert]) -> String {
    certs
        .iter()
        .map(|c| String::from_utf8_lossy(&c.der_pem()).into_owned())
        .collect()
}

impl Authority for Remote {
    fn describe(&self) -> String {
        self.est.url("")
    }

    fn server(&self) -> Option<String> {
        Some(self.describe())
    }

    fn policy(&self) -> Option<&Policy> {
        None
    }

    fn judges_grace(&self) -> bool {
        true
    }

    /// The server's `Date`; when its certificate got through only for being outside its
    /// validity at the endpoint's clock, it is checked again at that time, and refused if it
    /// fails there too.
    fn clock(&self) -> Result<Option<OffsetDateTime>, Error> {
        let r = self
            .est
            .get("/healthz")
            .map_err(|f| self.est.failed("/healthz", f))?;
        let date = r.date();
        match date {
            Some(d) => self.tolerance.check(d).map_err(|e| Error::Refused {
                path: PathBuf::from(self.describe()),
                reason: format!("the server's certificate is not valid even at the server's clock: {e}"),
            })?,
            None if self.tolerance.missed() => {
                return Err(Error::Refused {
                    path: PathBuf::from(self.describe()),
                    reason: "the server's certificate is outside its validity at this endpoint's clock, and the server sent no Date to compare: check the clock".into(),
                })
            }
            None => {}
        }
        Ok(date)
    }

    fn trust_source(&self) -> PathBuf {
        PathBuf::from(self.est.url(&format!("{}cacerts", pki_core::est::PREFIX)))
    }

    fn trust_bundle(&self, _at: OffsetDateTime) -> Result<String, Error> {
        Ok(pem(&self.cacerts()?.0))
    }

    fn chain_bundle(&self, _at: OffsetDateTime) -> Result<String, Error> {
        Ok(pem(&self.cacerts()?.1))
    }

    /// The newest issuing CA the server hands out (a rotation's new one is newer); a root's
    /// cross-signed certificate is no issuing CA.
    fn issuing_cert(&self, _at: OffsetDateTime) -> Result<Cert, Error> {
        let (roots, chain) = self.cacerts()?;
        chain
            .into_iter()
            .find(|c| c.is_ca() && !roots.iter().any(|r| r.subject_raw == c.subject_raw))
            .ok_or_else(|| Error::Refused {
                path: self.trust_source(),
                reason: "the server hands out no issuing CA certificate".into(),
            })
    }

    fn crls(&self) -> Result<Vec<(String, Vec<u8>)>, Error> {
        let health = self
            .est
            .get("/healthz")
            .map_err(|f| self.est.failed("/healthz", f))?;
        Ok(self
            .est
            .crls(&health)?
            .into_iter()
            .map(|(path, der)| {
                let generation = path.rsplit('/').next().unwrap_or("crl").to_string();
                (format!("{generation}.crl"), der)
            })
            .collect())
    }

    fn crl_source(&self) -> String {
        self.est.url("/crl")
    }

    fn issued_to(&self, _device_id: &str) -> Result<Vec<(PathBuf, Vec<u8>)>, Error> {
        Ok(Vec::new())
    }

    fn issue(
        &self,
        _path: &Path,
        csr: &[u8],
        device_id: &str,
        _policy: Option<&Policy>,
        _at: OffsetDateTime,
    ) -> Result<Issued, Error> {
        let der = match (&self.token, &self.no_identity) {
            (Some(token), _) => {
                let device_id = token.device_id(Some(device_id)).map_err(Error::Usage)?;
                self.est.simpleenroll(&device_id, &token.secret, csr)?
            }
            (None, Some(why)) => {
                return Err(Error::Refused {
                    path: PathBuf::from(self.describe()),
                    reason: format!("the store cannot authenticate a renewal ({why}): enroll again with a token (pki ca token on the CA side, then --token T)"),
                })
            }
            (None, None) => self.est.simplereenroll(csr)?,
        };
        let cert = Cert::from_der(
            der,
            pki_core::origin::Origin {
                path: PathBuf::from(self.describe()),
                index: 0,
                of: 1,
            },
        )
        .map_err(|why| Error::Refused {
            path: PathBuf::from(self.describe()),
            reason: format!("the server's certificate cannot be read: {why}"),
        })?;
        Ok(Issued {
            pem: String::from_utf8_lossy(&cert.der_pem()).into_owned(),
            serial: cert.serial.clone(),
            device_id: device_id.to_string(),
            not_before: cert.not_before,
            not_after: cert.not_after,
            sha256: cert.sha256.clone(),
            issuer: cert.issuer.clone(),
            truncated: false,
        })
    }
}
