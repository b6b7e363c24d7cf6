//! The verdict on a chain, from rustls itself: `WebPkiClientVerifier` (or, for `--purpose
//! server`, `WebPkiServerVerifier`) built with the ring provider chosen explicitly, the trust
//! anchors and CRLs at hand, end-entity-only revocation and unknown status allowed, as the
//! contract's server is configured.

use crate::read::cert::Cert;
use crate::read::crl::Crl;
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use std::sync::{Arc, OnceLock};
use time::OffsetDateTime;

/// Whose certificate is judged: a device (client authentication, the default) or a server,
/// for the name a client dials (`None`: the chain is judged and no name is checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Purpose {
    Client,
    Server { name: Option<String> },
}

/// The ring provider, chosen explicitly and built once per process, its signature checks
/// remembered ([`crate::judge::memo`]) so a fleet's shared intermediate is checked once.
pub fn provider() -> &'static Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| {
        let ring = rustls::crypto::ring::default_provider();
        let algorithms = crate::judge::memo::memoized(ring.signature_verification_algorithms);
        Arc::new(CryptoProvider {
            signature_verification_algorithms: algorithms,
            ..ring
        })
    })
}

/// A verifier configured like the server that will judge the certificate.
pub struct Verifier {
    kind: Kind,
    /// Anchors rustls refused, with its reason.
    pub refused_anchors: Vec<(usize, String)>,
    /// CRLs webpki cannot use, with its reason (they are left out).
    pub refused_crls: Vec<(usize, String)>,
}

enum Kind {
    Client(Arc<dyn ClientCertVerifier>),
    /// A server verifier and the name to check (`None`: the chain only, no name).
    Server(Arc<WebPkiServerVerifier>, Option<ServerName<'static>>),
    /// No usable trust anchor: every chain is rejected.
    NoAnchors,
    BadName(String),
}

impl Verifier {
    pub fn new(anchors: &[Cert], crls: &[Crl], purpose: &Purpose) -> Verifier {
        let mut roots = RootCertStore::empty();
        let mut refused_anchors = Vec::new();
        for (i, anchor) in anchors.iter().enumerate() {
            if let Err(e) = roots.add(anchor.der.clone()) {
                refused_anchors.push((i, e.to_string()));
            }
        }
        let mut refused_crls = Vec::new();
        let mut usable = Vec::new();
        for (i, crl) in crls.iter().enumerate() {
            match webpki::OwnedCertRevocationList::from_der(crl.der.as_ref()) {
                Ok(_) => usable.push(crl.der.clone()),
                Err(e) => refused_crls.push((i, format!("{e:?}"))),
            }
        }
        let kind = if roots.is_empty() {
            Kind::NoAnchors
        } else {
            build(Arc::new(roots), usable, purpose)
        };
        Verifier {
            kind,
            refused_anchors,
            refused_crls,
        }
    }

    /// rustls' client-certificate verifier inside (`None` without a usable anchor, or for
    /// `--purpose server`), for a server that judges in its handshakes what this judges.
    pub fn client(&self) -> Option<&Arc<dyn ClientCertVerifier>> {
        match &self.kind {
            Kind::Client(v) => Some(v),
            _ => None,
        }
    }

    /// Whether there was no usable trust anchor at all.
    pub fn has_no_anchors(&self) -> bool {
        matches!(self.kind, Kind::NoAnchors)
    }

    /// rustls' answer for `leaf` presented with `intermediates` at `at`.
    pub fn verify(
        &self,
        leaf: &Cert,
        intermediates: &[Cert],
        at: OffsetDateTime,
    ) -> Result<(), rustls::Error> {
        let chain: Vec<CertificateDer<'static>> =
            intermediates.iter().map(|c| c.der.clone()).collect();
        let now = unix_time(at);
        match &self.kind {
            Kind::Client(v) => v.verify_client_cert(&leaf.der, &chain, now).map(|_| ()),
            Kind::Server(v, Some(name)) => v
                .verify_server_cert(&leaf.der, &chain, name, &[], now)
                .map(|_| ()),
            Kind::Server(v, None) => {
                // rustls checks the chain (and revocation) before the name: with no name to
                // check, its verdict on the chain is the answer and a name mismatch is not
                let any = ServerName::try_from("name.invalid")
                    .map_err(|e| rustls::Error::General(e.to_string()))?;
                match v.verify_server_cert(&leaf.der, &chain, &any, &[], now) {
                    Err(rustls::Error::InvalidCertificate(
                        rustls::CertificateError::NotValidForName
                        | rustls::CertificateError::NotValidForNameContext { .. },
                    )) => Ok(()),
                    other => other.map(|_| ()),
                }
            }
            Kind::NoAnchors => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            )),
            Kind::BadName(reason) => Err(rustls::Error::General(reason.clone())),
        }
    }
}

fn build(
    roots: Arc<RootCertStore>,
    crls: Vec<rustls_pki_types::CertificateRevocationListDer<'static>>,
    purpose: &Purpose,
) -> Kind {
    let provider = provider().clone();
    match purpose {
        Purpose::Client => {
            let mut builder = WebPkiClientVerifier::builder_with_provider(roots, provider);
            if !crls.is_empty() {
                builder = builder
                    .with_crls(crls)
                    .only_check_end_entity_revocation()
                    .allow_unknown_revocation_status();
            }
            match builder.build() {
                Ok(v) => Kind::Client(v),
                Err(_) => Kind::NoAnchors,
            }
        }
        Purpose::Server { name } => {
            let server_name = match name.as_deref().map(ServerName::try_from) {
                None => None,
                Some(Ok(n)) => Some(n.to_owned()),
                Some(Err(_)) => {
                    return Kind::BadName(format!(
                        "'{}' is neither a DNS name nor an IP address",
                        name.as_deref().unwrap_or_default()
                    ))
                }
            };
            let mut builder = WebPkiServerVerifier::builder_with_provider(roots, provider);
            if !crls.is_empty() {
                builder = builder
                    .with_crls(crls)
                    .only_check_end_entity_revocation()
                    .allow_unknown_revocation_status();
            }
            match builder.build() {
                Ok(v) => Kind::Server(v, server_name),
                Err(_) => Kind::NoAnchors,
            }
        }
    }
}

/// `text` when it is a name a TLS client can dial (a DNS name or an IP address, as rustls'
/// `ServerName` reads it); otherwise why not, in words.
pub fn server_name(text: &str) -> Result<String, String> {
    ServerName::try_from(text)
        .map(|_| text.to_string())
        .map_err(|_| format!("'{text}' is neither a DNS name nor an IP address"))
}

/// `at` as rustls' clock value (instants before 1970 clamp to the epoch).
pub fn unix_time(at: OffsetDateTime) -> UnixTime {
    let secs = u64::try_from(at.unix_timestamp()).unwrap_or(0);
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs))
}

/// The intermediates, taken from `pool`, of a path webpki builds from `leaf` to one of
/// `anchors` at `at` for client authentication, leaf-side first; `None` when it builds none.
/// Path building (backtracking over cross-certificates and CA certificates of the same name)
/// is webpki's own: `repair` rebuilds a chain with it, then judges the result like any store.
pub fn path_through(
    leaf: &Cert,
    pool: &[Cert],
    anchors: &[Cert],
    at: OffsetDateTime,
) -> Option<Vec<Cert>> {
    let anchors: Vec<rustls_pki_types::TrustAnchor<'_>> = anchors
        .iter()
        .filter_map(|a| webpki::anchor_from_trusted_cert(&a.der).ok())
        .collect();
    let ee = webpki::EndEntityCert::try_from(&leaf.der).ok()?;
    let ders: Vec<CertificateDer<'_>> = pool.iter().map(|c| c.der.clone()).collect();
    let path = ee
        .verify_for_usage(
            provider().signature_verification_algorithms.all,
            &anchors,
            &ders,
            unix_time(at),
            webpki::KeyUsage::client_auth(),
            None,
            None,
        )
        .ok()?;
    let used: Vec<Cert> = path
        .intermediate_certificates()
        .filter_map(|c| {
            let der = c.der();
            pool.iter()
                .find(|p| p.der.as_ref() == der.as_ref())
                .cloned()
        })
        .collect();
    Some(used)
}
