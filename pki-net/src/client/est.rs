//! EST from the device (RFC 7030): `cacerts`, `simpleenroll` with HTTP Basic, `simplereenroll`
//! over mutual TLS, plus `/crl` and `/healthz`. The server is authenticated by trust anchors
//! (`--trust`, or the store's `trust.pem`), or, on a first contact, by the SHA-256 fingerprint
//! of its root (`--fingerprint`): the first `cacerts` is fetched on a connection whose
//! server certificate is captured, and only used once that certificate is shown to chain to
//! the root of that fingerprint among the certificates fetched.

use super::http::{exchange, Endpoint, Failure, Response};
use base64::Engine;
use pki_core::est;
use pki_core::Error;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

/// How the server is authenticated.
#[derive(Debug, Clone)]
pub enum Trust {
    /// Trust anchors (PEM bytes) and where they came from.
    Anchors(Vec<u8>, PathBuf),
    /// The SHA-256 of the CA's root certificate (hex, colons and case ignored).
    Fingerprint(String),
}

impl Trust {
    /// `--trust FILE`, else `--fingerprint`, else the store's `trust.pem` (the anchors it
    /// already holds: after a root rotation the server presents a chain that reaches them).
    pub fn resolve(
        file: Option<&Path>,
        fingerprint: Option<&str>,
        store: Option<&Path>,
    ) -> Result<Trust, Error> {
        if let Some(path) = file {
            let pem = std::fs::read(path).map_err(|e| Error::BadRequest {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
            return Ok(Trust::Anchors(pem, path.to_path_buf()));
        }
        if let Some(fp) = fingerprint {
            return Ok(Trust::Fingerprint(fp.to_string()));
        }
        if let Some(dir) = store {
            let path = dir.join(pki_core::store::TRUST);
            if let Ok(pem) = std::fs::read(&path) {
                if CertificateDer::pem_slice_iter(&pem).any(|c| c.is_ok()) {
                    return Ok(Trust::Anchors(pem, path));
                }
            }
        }
        Err(Error::Usage(
            "nothing to authenticate the server with: give --trust FILE (the CA's trust bundle) or --fingerprint SHA256 (its root's)".into(),
        ))
    }
}

/// The device's certificate chain and key, presented in the handshake.
pub struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Identity {
    /// `device.crt`, `chain.pem` and `device.key` of the store in `dir`.
    pub fn from_store(dir: &Path) -> Result<Identity, Error> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|e| Error::BadRequest {
                path,
                reason: format!("needed to authenticate to the server: {e}"),
            })
        };
        let mut chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(&read(pki_core::store::DEVICE_CERT)?)
                .filter_map(Result::ok)
                .take(1)
                .collect();
        if chain.is_empty() {
            return Err(Error::Refused {
                path: dir.join(pki_core::store::DEVICE_CERT),
                reason: "holds no certificate to authenticate to the server with".into(),
            });
        }
        if let Ok(pem) = read(pki_core::store::CHAIN) {
            chain.extend(CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok));
        }
        let key_path = dir.join(pki_core::store::DEVICE_KEY);
        let unusable = |why: String| Error::Refused {
            path: key_path.clone(),
            reason: why,
        };
        let key = PrivateKeyDer::from_pem_slice(&read(pki_core::store::DEVICE_KEY)?)
            .map_err(|e| unusable(format!("not a usable private key ({e})")))?;
        // the pair must be one, or the handshake cannot prove anything
        let signing = pki_core::judge::verify::provider()
            .key_provider
            .load_private_key(key.clone_key())
            .map_err(|e| unusable(format!("not a usable private key ({e})")))?;
        rustls::sign::CertifiedKey::new(chain.clone(), signing)
            .keys_match()
            .map_err(|_| {
                unusable(format!(
                    "is not the key of {}",
                    dir.join(pki_core::store::DEVICE_CERT).display()
                ))
            })?;
        Ok(Identity { chain, key })
    }
}

/// A client for one EST server.
pub struct Est {
    endpoint: Endpoint,
    config: Arc<ClientConfig>,
    /// Without a client certificate (for `cacerts` and `simpleenroll`).
    anonymous: Arc<ClientConfig>,
    /// The certificates of `cacerts` once fetched (DER), and the server's `Date` then.
    cacerts: Mutex<Option<Vec<Vec<u8>>>>,
}

impl Est {
    /// A client for the server at `url`, authenticated by `trust`, presenting `identity` when
    /// given, with the clock at `at`.
    pub fn new(
        url: &str,
        trust: &Trust,
        identity: Option<Identity>,
        at: OffsetDateTime,
    ) -> Result<Est, Error> {
        Est::build(url, trust, identity, at, None)
    }

    /// The same, but a server certificate outside its validity at `at` (and only that) is
    /// let through and remembered in the returned [`Clock`]: `pki diagnose --server` must
    /// reach a server even when the endpoint's clock is a year off, to tell it so. The caller
    /// checks the certificate again at the server's own time ([`Clock::check`]).
    pub fn tolerant(
        url: &str,
        trust: &Trust,
        identity: Option<Identity>,
        at: OffsetDateTime,
    ) -> Result<(Est, Arc<Clock>), Error> {
        let clock = Arc::new(Clock {
            verifier: Mutex::new(None),
            missed: Mutex::new(None),
        });
        let est = Est::build(url, trust, identity, at, Some(clock.clone()))?;
        Ok((est, clock))
    }

    fn build(
        url: &str,
        trust: &Trust,
        identity: Option<Identity>,
        at: OffsetDateTime,
        tolerant: Option<Arc<Clock>>,
    ) -> Result<Est, Error> {
        let endpoint = Endpoint::parse(url).map_err(Error::Usage)?;
        let (roots, cacerts) = match trust {
            Trust::Anchors(pem, path) => {
                let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
                    .filter_map(Result::ok)
                    .collect();
                if certs.is_empty() {
                    return Err(Error::BadRequest {
                        path: path.clone(),
                        reason: "holds no trust anchor to authenticate the server with".into(),
                    });
                }
                (certs, None)
            }
            Trust::Fingerprint(fp) => {
                let (roots, fetched) = first_contact(&endpoint, fp, at)?;
                (roots, Some(fetched))
            }
        };
        let mut store = RootCertStore::empty();
        for c in roots {
            let _ = store.add(c);
        }
        let provider = pki_core::judge::verify::provider().clone();
        let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider.clone())
            .build()
            .map_err(|e| Error::Usage(format!("the server's trust anchors: {e}")))?;
        let verifier: Arc<dyn ServerCertVerifier> = match &tolerant {
            Some(clock) => {
                if let Ok(mut v) = clock.verifier.lock() {
                    *v = Some(webpki.clone());
                }
                clock.clone()
            }
            None => webpki,
        };
        let builder = || {
            ClientConfig::builder_with_details(provider.clone(), clock(at))
                .with_safe_default_protocol_versions()
                .map(|b| {
                    b.dangerous()
                        .with_custom_certificate_verifier(verifier.clone())
                })
                .map_err(|e| Error::Usage(format!("TLS configuration: {e}")))
        };
        let anonymous = Arc::new(builder()?.with_no_client_auth());
        let config = match identity {
            Some(id) => Arc::new(
                builder()?
                    .with_client_auth_cert(id.chain, id.key)
                    .map_err(|e| Error::Usage(format!("the device's certificate and key: {e}")))?,
            ),
            None => anonymous.clone(),
        };
        Ok(Est {
            endpoint,
            config,
            anonymous,
            cacerts: Mutex::new(cacerts),
        })
    }

    /// The server's URL for `path`.
    pub fn url(&self, path: &str) -> String {
        self.endpoint.url(path)
    }

    /// `GET path` without a client certificate.
    pub fn get(&self, path: &str) -> Result<Response, Failure> {
        exchange(
            self.anonymous.clone(),
            &self.endpoint,
            "GET",
            path,
            &[],
            b"",
        )
    }

    /// `GET path` presenting the device's certificate: what the server says of it.
    pub fn get_as_device(&self, path: &str) -> Result<Response, Failure> {
        exchange(self.config.clone(), &self.endpoint, "GET", path, &[], b"")
    }

    /// The CA certificates (DER) the server hands out (`cacerts`), fetched once.
    pub fn cacerts(&self) -> Result<Vec<Vec<u8>>, Error> {
        if let Some(c) = self.cacerts.lock().ok().and_then(|c| c.clone()) {
            return Ok(c);
        }
        let path = format!("{}cacerts", est::PREFIX);
        let r = self.get(&path).map_err(|f| self.failed(&path, f))?;
        let certs = certs_only(&r).map_err(|why| self.refused(&path, why))?;
        if let Ok(mut c) = self.cacerts.lock() {
            *c = Some(certs.clone());
        }
        Ok(certs)
    }

    /// The CRLs the server publishes, as its `/healthz` answer lists them (`/crl` alone when it
    /// does not): the path each came from, and its DER.
    pub fn crls(&self, health: &Response) -> Result<Vec<(String, Vec<u8>)>, Error> {
        let listed: Vec<String> = serde_json::from_slice::<serde_json::Value>(&health.body)
            .ok()
            .and_then(|v| {
                v["crls"].as_array().map(|a| {
                    a.iter()
                        .filter_map(|p| p.as_str().map(str::to_string))
                        .collect()
                })
            })
            .unwrap_or_else(|| vec!["/crl".to_string()]);
        let mut out = Vec::new();
        for path in listed.iter().filter(|p| p.starts_with("/crl")) {
            let r = self.get(path).map_err(|f| self.failed(path, f))?;
            if r.status == 200 {
                out.push((path.clone(), r.body));
            }
        }
        Ok(out)
    }

    /// `simpleenroll`: a first certificate for `csr` (DER), authenticated with HTTP Basic
    /// (RFC 7030 §3.2.3): the device id as user, the one-time token's `secret` as password.
    pub fn simpleenroll(
        &self,
        device_id: &str,
        secret: &str,
        csr: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let basic =
            base64::engine::general_purpose::STANDARD.encode(format!("{device_id}:{secret}"));
        self.enroll(
            "simpleenroll",
            &self.anonymous,
            &[("Authorization", format!("Basic {basic}"))],
            csr,
        )
    }

    /// `simplereenroll`: a renewal for `csr` (DER), authenticated by the device's certificate.
    pub fn simplereenroll(&self, csr: &[u8]) -> Result<Vec<u8>, Error> {
        self.enroll("simplereenroll", &self.config, &[], csr)
    }

    fn enroll(
        &self,
        operation: &str,
        config: &Arc<ClientConfig>,
        extra: &[(&str, String)],
        csr: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let path = format!("{}{operation}", est::PREFIX);
        let mut headers = vec![("Content-Type", est::PKCS10.to_string())];
        headers.extend(extra.iter().cloned());
        let body = est::body::encode(csr);
        let r = exchange(
            config.clone(),
            &self.endpoint,
            "POST",
            &path,
            &headers,
            body.as_bytes(),
        )
        .map_err(|f| self.failed(&path, f))?;
        let mut certs = certs_only(&r).map_err(|why| self.refused(&path, why))?;
        if certs.is_empty() {
            return Err(self.refused(&path, "the answer holds no certificate".into()));
        }
        Ok(certs.remove(0))
    }

    /// An error for a request that did not get through.
    pub fn failed(&self, path: &str, failure: Failure) -> Error {
        match failure {
            Failure::Tls(rustls::Error::AlertReceived(_))
            | Failure::Tls(rustls::Error::InvalidCertificate(_)) => {
                self.refused(path, failure.to_string())
            }
            other => Error::Ca {
                path: PathBuf::from(self.url(path)),
                reason: other.to_string(),
            },
        }
    }

    fn refused(&self, path: &str, reason: String) -> Error {
        Error::Refused {
            path: PathBuf::from(self.url(path)),
            reason,
        }
    }
}

/// The certificates of a certs-only answer; an error names the status and the server's words.
fn certs_only(r: &Response) -> Result<Vec<Vec<u8>>, String> {
    if r.status != 200 {
        return Err(format!("the server answered {}: {}", r.status, r.text()));
    }
    let der = est::body::decode(&r.body).map_err(|e| format!("the answer: {e}"))?;
    est::pkcs7::certificates(&der).map_err(|e| format!("the answer: {e}"))
}

/// The first contact with a server known only by its root's fingerprint: `cacerts` fetched
/// with the server's certificate captured, then that certificate verified against the root of
/// that fingerprint. The roots of `cacerts` are the anchors from then on.
fn first_contact(
    endpoint: &Endpoint,
    fingerprint: &str,
    at: OffsetDateTime,
) -> Result<(Vec<CertificateDer<'static>>, Vec<Vec<u8>>), Error> {
    let want: String = fingerprint
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .collect::<String>()
        .to_ascii_lowercase();
    if want.len() != 64 {
        return Err(Error::Usage(format!(
            "--fingerprint '{fingerprint}' is not a SHA-256 (64 hex digits; `openssl x509 -noout -fingerprint -sha256 -in root.crt`)"
        )));
    }
    let provider = pki_core::judge::verify::provider().clone();
    let capture = Arc::new(Capture {
        seen: Mutex::new(None),
        algorithms: provider.signature_verification_algorithms,
    });
    let config = ClientConfig::builder_with_details(provider.clone(), clock(at))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Usage(format!("TLS configuration: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(capture.clone())
        .with_no_client_auth();
    let path = format!("{}cacerts", est::PREFIX);
    let url = PathBuf::from(endpoint.url(&path));
    let r =
        exchange(Arc::new(config), endpoint, "GET", &path, &[], b"").map_err(|f| Error::Ca {
            path: url.clone(),
            reason: f.to_string(),
        })?;
    let fetched = certs_only(&r).map_err(|reason| Error::Refused {
        path: url.clone(),
        reason,
    })?;
    let parsed: Vec<pki_core::Cert> = fetched
        .iter()
        .filter_map(|der| {
            pki_core::Cert::from_der(
                der.clone(),
                pki_core::origin::Origin {
                    path: url.clone(),
                    index: 0,
                    of: 1,
                },
            )
            .ok()
        })
        .collect();
    let root = parsed
        .iter()
        .find(|c| c.sha256 == want && c.is_self_issued())
        .ok_or_else(|| Error::Refused {
            path: url.clone(),
            reason: format!("none of the server's CA certificates is the root of fingerprint {want}: this is not the server you meant"),
        })?;
    let seen = capture
        .seen
        .lock()
        .ok()
        .and_then(|s| s.clone())
        .ok_or_else(|| Error::Refused {
            path: url.clone(),
            reason: "the server presented no certificate".into(),
        })?;
    let mut roots = RootCertStore::empty();
    roots.add(root.der.clone()).map_err(|e| Error::Refused {
        path: url.clone(),
        reason: format!("the pinned root cannot be used: {e}"),
    })?;
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| Error::Usage(format!("TLS configuration: {e}")))?;
    let mut intermediates = seen.1.clone();
    intermediates.extend(
        parsed
            .iter()
            .filter(|c| !c.is_self_issued())
            .map(|c| c.der.clone()),
    );
    let name = ServerName::try_from(endpoint.host.clone())
        .map_err(|_| Error::Usage(format!("'{}' is not a host name", endpoint.host)))?;
    verifier
        .verify_server_cert(&seen.0, &intermediates, &name, &[], unix(at))
        .map_err(|e| Error::Refused {
            path: url.clone(),
            reason: format!("the server's certificate is not vouched for by the root of fingerprint {want}: {e}"),
        })?;
    let anchors = parsed
        .iter()
        .filter(|c| c.is_self_issued() && c.is_ca())
        .map(|c| c.der.clone())
        .collect();
    Ok((anchors, fetched))
}

/// Records the server's certificate (checking its handshake signatures as usual); the chain
/// is judged afterwards, against the pinned root.
#[derive(Debug)]
struct Capture {
    seen: Mutex<Option<(CertificateDer<'static>, Vec<CertificateDer<'static>>)>>,
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Capture {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some((
                end_entity.clone().into_owned(),
                intermediates
                    .iter()
                    .map(|c| c.clone().into_owned())
                    .collect(),
            ));
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The server verifier of [`Est::tolerant`]: rustls' own, which only a validity miss gets
/// past, checked again later at the server's time.
#[derive(Debug)]
pub struct Clock {
    verifier: Mutex<Option<Arc<WebPkiServerVerifier>>>,
    missed: Mutex<Option<Seen>>,
}

/// A server certificate chain and the name it was checked for.
type Seen = (
    CertificateDer<'static>,
    Vec<CertificateDer<'static>>,
    ServerName<'static>,
);

impl Clock {
    fn inner(&self) -> Result<Arc<WebPkiServerVerifier>, rustls::Error> {
        self.verifier
            .lock()
            .ok()
            .and_then(|v| v.clone())
            .ok_or_else(|| rustls::Error::General("no verifier".into()))
    }

    /// Whether the server's certificate was let through for being outside its validity at
    /// the endpoint's clock.
    pub fn missed(&self) -> bool {
        self.missed.lock().is_ok_and(|m| m.is_some())
    }

    /// The server's certificate checked again at `server_time` (the server's `Date`).
    pub fn check(&self, server_time: OffsetDateTime) -> Result<(), rustls::Error> {
        let seen = self.missed.lock().ok().and_then(|m| m.clone());
        match seen {
            Some((ee, inter, name)) => self
                .inner()?
                .verify_server_cert(&ee, &inter, &name, &[], unix(server_time))
                .map(|_| ()),
            None => Ok(()),
        }
    }
}

impl ServerCertVerifier for Clock {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        use rustls::CertificateError::*;
        let inner = self.inner()?;
        match inner.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            Err(rustls::Error::InvalidCertificate(
                Expired | ExpiredContext { .. } | NotValidYet | NotValidYetContext { .. },
            )) => {
                // right in every other way? judged in the middle of its own validity
                let middle = pki_core::Cert::from_der(
                    end_entity.to_vec(),
                    pki_core::origin::Origin {
                        path: PathBuf::from("the server's certificate"),
                        index: 0,
                        of: 1,
                    },
                )
                .map(|c| c.not_before + (c.not_after - c.not_before) / 2)
                .map_err(rustls::Error::General)?;
                let verified = inner.verify_server_cert(
                    end_entity,
                    intermediates,
                    server_name,
                    ocsp,
                    unix(middle),
                )?;
                if let Ok(mut m) = self.missed.lock() {
                    *m = Some((
                        end_entity.clone().into_owned(),
                        intermediates
                            .iter()
                            .map(|c| c.clone().into_owned())
                            .collect(),
                        server_name.to_owned(),
                    ));
                }
                Ok(verified)
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner()?.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner()?.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner()
            .map(|v| v.supported_verify_schemes())
            .unwrap_or_default()
    }
}

/// rustls' clock fixed at `at` (the command's `--at`, or now).
fn clock(at: OffsetDateTime) -> Arc<dyn rustls::time_provider::TimeProvider> {
    #[derive(Debug)]
    struct At(UnixTime);
    impl rustls::time_provider::TimeProvider for At {
        fn current_time(&self) -> Option<UnixTime> {
            Some(self.0)
        }
    }
    Arc::new(At(unix(at)))
}

fn unix(at: OffsetDateTime) -> UnixTime {
    pki_core::judge::verify::unix_time(at)
}
