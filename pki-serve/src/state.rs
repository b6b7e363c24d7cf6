//! Everything the server derives from the CA folder and the inventory, built in one go and
//! swapped in whole when something changes: the issuing CA ready to sign, the trust anchors
//! and CRLs the explaining verifier judges client certificates with, the `cacerts` and CRL
//! bodies, and the TLS configuration with the server's own certificate. A connection takes
//! the state current when it arrives and keeps it; a request takes the current one.

use crate::clock::Clock;
use crate::settings::Settings;
use bytes::Bytes;
use pki_core::ca::inventory::{Issuance, Profile};
use pki_core::ca::{sign_crl, Ca, Signer};
use pki_core::judge::client_verifier::{ExplainingVerifier, PeerSource, Sink};
use pki_core::read::cert::Cert;
use pki_core::read::crl::Crl;
use pki_core::Error;
use rustls::server::{ResolvesServerCert, ServerSessionMemoryCache};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;
use time::{Duration, OffsetDateTime};

pub struct State {
    pub ca: Ca,
    pub signer: Signer,
    pub verifier: Arc<ExplainingVerifier>,
    /// The TLS configuration of every connection: the server's certificate and key, the
    /// verifier, and the TLS sessions kept for resumption (bounded). A new state starts an
    /// empty session cache, so a session from before a revocation or rotation is not
    /// resumed.
    tls: Arc<ServerConfig>,
    /// `cacerts`' body: base64 of a PKCS#7 certs-only message with the anchors and chain.
    pub cacerts: Bytes,
    /// `csrattrs`' body, base64.
    pub csrattrs: Bytes,
    /// CRLs (DER) by issuing generation, the current one first.
    pub crls: Vec<(String, Bytes)>,
    pub crl_number: u64,
    pub crl_this_update: OffsetDateTime,
    pub identity: Identity,
    /// What the state was built from, to see when it must be built again.
    pub sources: Sources,
    /// How long after expiry a device certificate still renews (`renewal.grace_days`).
    pub grace: Duration,
    /// When the state must be rebuilt even if nothing changes: a CRL at half its validity,
    /// the server certificate at two thirds of its life, a generation leaving the bundles.
    pub due: Option<OffsetDateTime>,
}

/// The server's own certificate chain and key.
#[derive(Clone)]
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    key: Vec<u8>,
    pub not_after: OffsetDateTime,
    /// When it is renewed (`None`: given with --tls-cert, never renewed here).
    pub renew_at: Option<OffsetDateTime>,
    /// The issuing generation that signed it (`None`: given).
    pub generation: Option<String>,
    pub serial: String,
}

/// The files (size, modification time) and the inventory revision a state was built from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sources {
    files: Vec<(PathBuf, Option<(u64, SystemTime)>)>,
    pub revision: i64,
}

impl Sources {
    /// What `ca`'s folder and the server's files hold now.
    pub fn read(ca: &Ca, settings: &Settings) -> Result<Sources, Error> {
        let dir = &ca.dir;
        let mut paths = vec![
            dir.join(pki_core::ca::CONFIG),
            dir.join(&ca.config.policy),
            dir.join(pki_core::ca::TRUST_BUNDLE),
            dir.join(pki_core::ca::CHAIN_BUNDLE),
        ];
        for g in ca.config.roots.iter().chain(&ca.config.issuers) {
            paths.push(dir.join(&g.cert));
            paths.push(dir.join(&g.key));
        }
        paths.extend(settings.tls_cert.iter().cloned());
        paths.extend(settings.tls_key.iter().cloned());
        let files = paths
            .into_iter()
            .map(|p| {
                let meta = std::fs::metadata(&p)
                    .ok()
                    .map(|m| (m.len(), m.modified().unwrap_or(SystemTime::UNIX_EPOCH)));
                (p, meta)
            })
            .collect();
        Ok(Sources {
            files,
            revision: ca.inventory.revision()?,
        })
    }
}

impl State {
    /// Builds the state from `ca` (read again from its folder) at the clock's instant, reusing
    /// from `previous` what has not changed (the server certificate, fresh CRLs).
    pub fn build(
        ca: &Ca,
        settings: &Settings,
        sink: Sink,
        previous: Option<&State>,
    ) -> Result<State, Error> {
        let at = settings.clock.now();
        let ca = ca.reload()?;
        let sources = Sources::read(&ca, settings)?;
        let signer = Signer::new(&ca, at)?;
        let trust = certs(
            &ca.dir.join(pki_core::ca::TRUST_BUNDLE),
            &ca.trust_bundle(at)?,
        );
        let chain = certs(
            &ca.dir.join(pki_core::ca::CHAIN_BUNDLE),
            &ca.chain_bundle(at)?,
        );
        if trust.is_empty() {
            return Err(Error::Ca {
                path: ca.dir.clone(),
                reason: "no active root: no device could be verified".into(),
            });
        }

        // CRLs: reused while revocations and generations are unchanged and they are fresh
        let validity = Duration::days(ca.policy.crl_validity_days.into());
        let generations: Vec<String> = ca
            .config
            .issuers
            .iter()
            .rev()
            .map(|g| g.id.clone())
            .collect();
        let reusable = previous.filter(|p| {
            p.sources.revision == sources.revision
                && p.crls.iter().map(|(g, _)| g).eq(generations.iter())
                && at < p.crl_this_update + validity / 2
                && at >= p.crl_this_update
        });
        let (crls, crl_number, crl_this_update) = match reusable {
            Some(p) => (p.crls.clone(), p.crl_number, p.crl_this_update),
            None => {
                let number = ca.inventory.next_crl_number()?;
                let revoked = ca.inventory.revoked()?;
                let mut out = Vec::new();
                for g in ca.config.issuers.iter().rev() {
                    out.push((
                        g.id.clone(),
                        Bytes::from(sign_crl(&ca, g, number, &revoked, at)?),
                    ));
                }
                (out, number, at)
            }
        };
        let parsed_crls: Vec<Crl> = crls
            .iter()
            .filter_map(|(g, der)| {
                Crl::from_der(
                    der.to_vec(),
                    pki_core::origin::Origin {
                        path: PathBuf::from(format!("/crl/{g}")),
                        index: 0,
                        of: 1,
                    },
                )
                .ok()
            })
            .collect();

        let grace = Duration::days(ca.policy.renewal.grace_days.into());
        let verifier = Arc::new(
            ExplainingVerifier::new(trust.clone(), parsed_crls, ca.policy.clone(), sink)
                .optional()
                .with_grace(grace),
        );

        let identity = match previous.map(|p| &p.identity) {
            Some(id)
                if settings.tls_cert.is_none()
                    && id.generation.as_deref() == Some(signer.generation.as_str())
                    && id.renew_at.is_some_and(|r| at < r) =>
            {
                id.clone()
            }
            _ => identity(&ca, &signer, settings, &chain, at)?,
        };
        let tls = tls_config(
            &verifier,
            certified_key(&identity)?,
            ServerSessionMemoryCache::new(settings.limits.session_cache),
            settings.clock,
        )?;

        let mut bundle: Vec<Vec<u8>> = Vec::new();
        for c in trust.iter().chain(&chain) {
            if !bundle.iter().any(|b| b.as_slice() == c.der.as_ref()) {
                bundle.push(c.der.to_vec());
            }
        }
        let cacerts = pki_core::est::pkcs7::certs_only(&bundle).map_err(|why| Error::Ca {
            path: ca.dir.clone(),
            reason: why,
        })?;
        let csrattrs = pki_core::est::csrattrs::encode(&ca.policy).map_err(|why| Error::Ca {
            path: ca.dir.clone(),
            reason: why,
        })?;
        let due = [
            Some(crl_this_update + validity / 2),
            identity.renew_at,
            ca.next_retirement(at),
        ]
        .into_iter()
        .flatten()
        .min();
        Ok(State {
            signer,
            verifier,
            tls,
            cacerts: Bytes::from(pki_core::est::body::encode(&cacerts)),
            csrattrs: Bytes::from(pki_core::est::body::encode(&csrattrs)),
            crls,
            crl_number,
            crl_this_update,
            identity,
            sources,
            grace,
            due,
            ca,
        })
    }

    /// The TLS configuration every connection of this state shares. The verifier names the
    /// peer of each refused handshake from [`PEER`], which [`connection`](crate::connection)
    /// sets around the handshake; building one configuration per connection instead (to
    /// carry the address) cost every handshake its allocations, a session cache's included.
    pub fn tls(&self) -> Arc<ServerConfig> {
        self.tls.clone()
    }
}

tokio::task_local! {
    /// The peer whose TLS handshake the current task runs.
    pub static PEER: std::net::SocketAddr;
}

/// The one TLS configuration of a state: TLS 1.3 and 1.2, the explaining verifier naming
/// the peer the task runs for, the server's certificate, the bounded session cache.
fn tls_config(
    verifier: &Arc<ExplainingVerifier>,
    certified: Arc<CertifiedKey>,
    sessions: Arc<ServerSessionMemoryCache>,
    clock: Clock,
) -> Result<Arc<ServerConfig>, Error> {
    let provider = pki_core::judge::verify::provider().clone();
    let peer: PeerSource = Arc::new(|| PEER.try_with(|p| *p).ok());
    let mut config = ServerConfig::builder_with_details(provider, Arc::new(clock))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| Error::Ca {
            path: PathBuf::from("the server's TLS configuration"),
            reason: e.to_string(),
        })?
        .with_client_cert_verifier(verifier.naming_peers(peer))
        .with_cert_resolver(Arc::new(Single(certified)));
    config.session_storage = sessions;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn certs(path: &Path, pem: &str) -> Vec<Cert> {
    pki_core::read::decode::decode(path, pem.as_bytes()).certs
}

/// The server's certificate: from `--tls-cert/--tls-key`, or issued now by the CA for
/// `names` with a new key (recorded in the inventory like every certificate it issues).
fn identity(
    ca: &Ca,
    signer: &Signer,
    settings: &Settings,
    chain: &[Cert],
    at: OffsetDateTime,
) -> Result<Identity, Error> {
    if let (Some(cert), Some(key)) = (&settings.tls_cert, &settings.tls_key) {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| Error::Io {
                path: p.to_path_buf(),
                error: e,
            })
        };
        let pem = read(cert)?;
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
            .filter_map(Result::ok)
            .collect();
        let first = chain.first().ok_or_else(|| Error::BadRequest {
            path: cert.clone(),
            reason: "holds no certificate".into(),
        })?;
        let parsed = Cert::from_der(
            first.to_vec(),
            pki_core::origin::Origin {
                path: cert.clone(),
                index: 0,
                of: chain.len(),
            },
        )
        .map_err(|why| Error::BadRequest {
            path: cert.clone(),
            reason: why,
        })?;
        let key_pem = read(key)?;
        let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| Error::BadRequest {
            path: key.clone(),
            reason: format!("not a private key ({e})"),
        })?;
        return Ok(Identity {
            chain,
            key: key_der.secret_der().to_vec(),
            not_after: parsed.not_after,
            renew_at: None,
            generation: None,
            serial: parsed.serial.clone(),
        });
    }
    let key =
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(|e| Error::Ca {
            path: ca.dir.clone(),
            reason: format!("server key generation failed: {e}"),
        })?;
    let lifetime = Duration::days(settings.limits.server_cert_days.into());
    let issued = signer
        .sign_server(
            &settings.names,
            &rcgen::PublicKeyData::subject_public_key_info(&key),
            at,
            lifetime,
        )
        .map_err(|why| Error::Ca {
            path: ca.dir.clone(),
            reason: format!("the server's certificate: {why}"),
        })?;
    let answers = ca.inventory.record(&[Issuance {
        record: issued.record(Profile::Server, at),
        token: None,
        renews: None,
    }])?;
    if let Some(Err(refusal)) = answers.into_iter().next() {
        return Err(Error::Ca {
            path: ca.dir.clone(),
            reason: format!("the server's certificate was not recorded: {refusal}"),
        });
    }
    let mut out: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(issued.pem.as_bytes())
            .filter_map(Result::ok)
            .collect();
    out.extend(chain.iter().map(|c| c.der.clone()));
    let life = issued.not_after - issued.not_before;
    Ok(Identity {
        chain: out,
        key: key.serialize_der(),
        not_after: issued.not_after,
        renew_at: Some(issued.not_before + life * 2 / 3),
        generation: Some(signer.generation.clone()),
        serial: issued.serial,
    })
}

fn certified_key(identity: &Identity) -> Result<Arc<CertifiedKey>, Error> {
    let fail = |why: String| Error::Ca {
        path: PathBuf::from("the server's TLS key"),
        reason: why,
    };
    let key = PrivateKeyDer::try_from(identity.key.clone())
        .unwrap_or_else(|_| PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(identity.key.clone())));
    let signing = pki_core::judge::verify::provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| fail(e.to_string()))?;
    let certified = CertifiedKey::new(identity.chain.clone(), signing);
    certified
        .keys_match()
        .map_err(|e| fail(format!("the key is not the certificate's ({e})")))?;
    Ok(Arc::new(certified))
}

/// One certificate for every client (rustls' resolver interface).
#[derive(Debug)]
struct Single(Arc<CertifiedKey>);

impl ResolvesServerCert for Single {
    fn resolve(&self, _hello: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// What a [`Clock`] makes of a state's due time: whether it has come.
pub fn is_due(state: &State, clock: &Clock) -> bool {
    state.due.is_some_and(|d| clock.now() >= d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use crate::settings::{Limits, Settings};

    fn settings(at: &str) -> Settings {
        Settings {
            listen: "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
            names: vec!["localhost".into()],
            tls_cert: None,
            tls_key: None,
            clock: Clock::Fixed(pki_core::timestamp::parse(at).unwrap_or_else(|e| panic!("{e}"))),
            log_json: false,
            limits: Limits {
                server_cert_days: 3,
                ..Limits::default()
            },
        }
    }

    #[test]
    fn the_server_certificate_and_the_crl_are_renewed_when_due_and_kept_until_then() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let at =
            pki_core::timestamp::parse("2026-03-01T00:00:00Z").unwrap_or_else(|e| panic!("{e}"));
        let ca = pki_core::ca::init(
            dir.path(),
            "Fleet",
            &pki_core::Policy::default(),
            None,
            None,
            at,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let sink: Sink = Arc::new(|_| {});
        let build = |when: &str, previous: Option<&State>| {
            State::build(&ca, &settings(when), sink.clone(), previous)
                .unwrap_or_else(|e| panic!("{e}"))
        };
        let first = build("2026-03-01T00:00:00Z", None);
        // a day later nothing is due: the same certificate and CRL
        let next = build("2026-03-02T00:00:00Z", Some(&first));
        assert_eq!(next.identity.serial, first.identity.serial);
        assert_eq!(next.crl_number, first.crl_number);
        // the certificate lives 3 days, renewed at two thirds; the CRL at half of its 7 days
        assert_eq!(
            first.due.map(pki_core::timestamp::format).as_deref(),
            Some("2026-03-02T23:58:20Z")
        );
        let later = build("2026-03-03T00:00:00Z", Some(&next));
        assert_ne!(
            later.identity.serial, first.identity.serial,
            "renewed before it expires"
        );
        assert_eq!(later.crl_number, first.crl_number, "the CRL is still fresh");
        let much_later = build("2026-03-05T00:00:00Z", Some(&later));
        assert!(
            much_later.crl_number > first.crl_number,
            "a new CRL past half its validity"
        );
        // every server certificate is in the inventory
        let servers = ca
            .inventory
            .all()
            .unwrap_or_else(|e| panic!("{e}"))
            .into_iter()
            .filter(|r| r.profile == pki_core::ca::inventory::Profile::Server)
            .count();
        assert_eq!(servers, 3);
    }

    #[test]
    fn the_shipped_config_sample_parses() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../samples/serve/pki-serve.yaml");
        let file = crate::settings::File::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let limits = file.limits(Limits::default());
        assert_eq!(
            limits,
            Limits {
                server_cert_days: 30,
                ..Limits::default()
            }
        );
        assert!(limits.check().is_ok());
        assert_eq!(file.names, vec!["ca.fleet.internal".to_string()]);
    }
}
