//! A client-certificate verifier any rustls server can use that says *why* it refuses a
//! device. The verdict is rustls' own `WebPkiClientVerifier` — the very one `pki diagnose`
//! builds ([`Verifier`]), with the server's trust anchors and CRLs — and when it refuses, the
//! chain the device presented is judged by [`diagnose_with`] with that same verifier, so the
//! server's explanation is exactly the one `pki diagnose` would print on the device. There is
//! no second judging code.
//!
//! The explanation goes to a sink the server provides (a log line and a counter in
//! `pki serve`); the handshake still fails with rustls' own error, so the device gets the
//! usual TLS alert (`unknown_ca`, `certificate_expired`, `certificate_revoked`, …).
//!
//! A certificate the chain check accepts is refused too when the client's handshake
//! signature (CertificateVerify) does not verify under its key: the client does not hold that
//! certificate's private key (a copied certificate; a key replaced without its certificate).
//! That is reported as `KEY_MISMATCH`, as `pki diagnose` names the same store.
//!
//! ```ignore
//! let verifier = ExplainingVerifier::new(anchors, crls, policy, Arc::new(|r: &Rejection| eprintln!("{r}")));
//! let config = ServerConfig::builder_with_provider(provider)
//!     .with_safe_default_protocol_versions()?
//!     .with_client_cert_verifier(verifier.for_peer(peer_addr))
//!     .with_single_cert(chain, key)?;
//! ```

use crate::finding::{Code, Finding};
use crate::judge::cause::{cause, Cause};
use crate::judge::diagnose::{diagnose_with, Request};
use crate::judge::verify::{unix_time, Purpose, Verifier};
use crate::origin::Origin;
use crate::policy::Policy;
use crate::read::cert::Cert;
use crate::read::crl::Crl;
use crate::store::{Layout, Material};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, Error, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};

/// Explanations kept per verifier, so that a peer replaying one refused certificate costs a
/// lookup, not a diagnosis; the map is emptied when full.
const EXPLAINED: usize = 1024;
/// How long a kept explanation stands (it depends on the time).
const EXPLAINED_FOR: Duration = Duration::seconds(60);

/// Why a client certificate was refused: the device, the root cause and its fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The peer's address, when the verifier was made for one connection.
    pub peer: Option<SocketAddr>,
    pub subject: String,
    /// Colon hex, as `pki inspect` prints it.
    pub serial: String,
    pub issuer: String,
    /// The root cause, as `pki diagnose` names it.
    pub code: Code,
    pub message: String,
    pub fix: String,
    /// Every finding of the diagnosis, root cause first.
    pub findings: Vec<Finding>,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(peer) = self.peer {
            write!(f, "{peer}: ")?;
        }
        write!(
            f,
            "rejected {} (serial {}): {} {} (fix: {})",
            self.subject, self.serial, self.code, self.message, self.fix
        )
    }
}

/// Where rejections go.
pub type Sink = Arc<dyn Fn(&Rejection) + Send + Sync>;

/// The peer of the handshake being judged, if known.
pub type PeerSource = Arc<dyn Fn() -> Option<SocketAddr> + Send + Sync>;

/// The verifier. Build one per set of anchors and CRLs (again when they change); hand each
/// connection [`ExplainingVerifier::for_peer`], or every connection
/// [`ExplainingVerifier::naming_peers`], so rejections name the peer.
///
/// A rotated issuing CA keeps its name, and webpki checks a certificate against the first
/// CRL of its issuer's name that covers it. The CA's CRLs cover their own generation's
/// certificates only (an IssuingDistributionPoint each, named by the certificates), but a
/// certificate issued before the CA partitioned its CRLs names no distribution point, and
/// every CRL of its issuer's name covers it, as a CRL from before covers every certificate:
/// judged with the other generation's CRL it would fail with a bad CRL signature. So CRLs are
/// grouped by the key that signed them (their authorityKeyIdentifier) and a certificate is
/// judged with its issuer's group only.
pub struct ExplainingVerifier {
    /// One verifier per CRL signer, and one without CRLs (last).
    groups: Vec<Group>,
    anchors: Vec<Cert>,
    policy: Policy,
    grace: Duration,
    mandatory: bool,
    sink: Sink,
    explained: Mutex<HashMap<String, (OffsetDateTime, Rejection)>>,
}

/// The CRLs of one signing key and the verifier holding them.
struct Group {
    key_id: Option<Vec<u8>>,
    crls: Vec<Crl>,
    verifier: Verifier,
}

impl fmt::Debug for ExplainingVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExplainingVerifier")
            .field("anchors", &self.anchors.len())
            .field("crl_groups", &(self.groups.len() - 1))
            .field("grace", &self.grace)
            .finish_non_exhaustive()
    }
}

impl ExplainingVerifier {
    /// A verifier for `anchors` (the server's trust anchors) and `crls` (end-entity
    /// revocation, unknown status allowed, as the contract's server does), judging by
    /// `policy`, sending every rejection to `sink`. A client certificate is required.
    pub fn new(anchors: Vec<Cert>, crls: Vec<Crl>, policy: Policy, sink: Sink) -> Self {
        let mut by_key: Vec<(Option<Vec<u8>>, Vec<Crl>)> = Vec::new();
        for crl in crls {
            match by_key.iter_mut().find(|(k, _)| *k == crl.aki) {
                Some((_, group)) => group.push(crl),
                None => by_key.push((crl.aki.clone(), vec![crl])),
            }
        }
        let mut groups: Vec<Group> = by_key
            .into_iter()
            .map(|(key_id, crls)| Group {
                verifier: Verifier::new(&anchors, &crls, &Purpose::Client),
                key_id,
                crls,
            })
            .collect();
        groups.push(Group {
            key_id: None,
            crls: Vec::new(),
            verifier: Verifier::new(&anchors, &[], &Purpose::Client),
        });
        ExplainingVerifier {
            groups,
            anchors,
            policy,
            grace: Duration::ZERO,
            mandatory: true,
            sink,
            explained: Mutex::new(HashMap::new()),
        }
    }

    /// Client certificates are asked for but not required (EST's `cacerts` needs none); the
    /// application refuses what it must.
    pub fn optional(mut self) -> Self {
        self.mandatory = false;
        self
    }

    /// A device certificate that expired no more than `grace` ago completes the handshake
    /// (everything else about it must be right, checked at its notAfter): the handshake then
    /// proves possession of its key, and the application decides what it may do (EST's
    /// `simplereenroll` only).
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// A verifier for one connection whose rejections name `peer`.
    pub fn for_peer(self: &Arc<Self>, peer: SocketAddr) -> Arc<dyn ClientCertVerifier> {
        let source: PeerSource = Arc::new(move || Some(peer));
        self.naming_peers(source)
    }

    /// One verifier for every connection, whose rejections name the peer `source` gives
    /// when the handshake is judged (a server keeps it where the handshake runs: a task-local
    /// value, a thread-local). So one TLS configuration serves every connection, instead of
    /// one built per connection to carry its address.
    pub fn naming_peers(self: &Arc<Self>, source: PeerSource) -> Arc<dyn ClientCertVerifier> {
        Arc::new(PeerVerifier {
            shared: self.clone(),
            source,
        })
    }

    /// The CRLs (and verifier) for a certificate whose issuer's key id is `aki`: those that
    /// key signed, else those that name no key; for a certificate that names no issuer key,
    /// the only signer's if there is one; else none (revocation unknown, which is allowed).
    fn group(&self, aki: Option<&[u8]>) -> &Group {
        let without = self.groups.len() - 1;
        let signed = &self.groups[..without];
        if let Some(key) = aki {
            if let Some(g) = signed.iter().find(|g| g.key_id.as_deref() == Some(key)) {
                return g;
            }
        }
        if let Some(g) = signed.iter().find(|g| g.key_id.is_none()) {
            return g;
        }
        match (aki, signed) {
            (None, [only]) => only,
            _ => &self.groups[without],
        }
    }

    /// The rejection `pki diagnose` would explain for this chain at `now`.
    pub fn explain(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: OffsetDateTime,
        err: &Error,
    ) -> Rejection {
        let key = crate::read::cert::sha256_hex(end_entity.as_ref());
        if let Ok(kept) = self.explained.lock() {
            if let Some((when, r)) = kept.get(&key) {
                if (now - *when).abs() < EXPLAINED_FOR {
                    return r.clone();
                }
            }
        }
        let rejection = self.diagnose(end_entity, intermediates, now, err);
        if let Ok(mut kept) = self.explained.lock() {
            if kept.len() >= EXPLAINED {
                kept.clear();
            }
            kept.insert(key, (now, rejection.clone()));
        }
        rejection
    }

    fn diagnose(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: OffsetDateTime,
        err: &Error,
    ) -> Rejection {
        let origin = |index: usize, of: usize| Origin {
            path: PathBuf::from("the client's certificate chain"),
            index,
            of,
        };
        let of = intermediates.len() + 1;
        let leaf = match Cert::from_der(end_entity.to_vec(), origin(0, of)) {
            Ok(leaf) => leaf,
            Err(why) => {
                return Rejection {
                    peer: None,
                    subject: "(unreadable)".into(),
                    serial: String::new(),
                    issuer: String::new(),
                    code: Code::CertMalformed,
                    message: format!("the client sent a certificate that cannot be read: {why}"),
                    fix: "re-enroll the device: pki enroll STORE --server URL --token T --force"
                        .into(),
                    findings: Vec::new(),
                }
            }
        };
        let group = self.group(leaf.aki.as_deref());
        let material = Material {
            layout: Some(Layout::Loose),
            leaf_candidates: vec![leaf.clone()],
            intermediates: intermediates
                .iter()
                .enumerate()
                .filter_map(|(i, c)| Cert::from_der(c.to_vec(), origin(i + 1, of)).ok())
                .collect(),
            anchors: self.anchors.clone(),
            anchors_from: Some(PathBuf::from("the server's trust anchors")),
            crls: group.crls.clone(),
            key_expected: false,
            ..Material::default()
        };
        let report = diagnose_with(
            &material,
            &Request {
                at: now,
                purpose: Purpose::Client,
                policy: self.policy.clone(),
            },
            &group.verifier,
        );
        let (code, message, fix) = match report.root_cause() {
            Some(f) => (f.code, f.message.clone(), f.fix.clone()),
            None => (
                Code::CertMalformed,
                format!("rustls refused {}: {err}", leaf.describe()),
                String::new(),
            ),
        };
        Rejection {
            peer: None,
            subject: leaf.subject.clone(),
            serial: leaf.serial.clone(),
            issuer: leaf.issuer.clone(),
            code,
            message,
            fix,
            findings: report.findings,
        }
    }

    /// `verified`, the client's handshake signature under `cert` checked; a failure is
    /// reported (a copied certificate, or a scheme the server does not take) and returned.
    fn signature(
        &self,
        peer: Option<SocketAddr>,
        cert: &CertificateDer<'_>,
        verified: Result<HandshakeSignatureValid, Error>,
    ) -> Result<HandshakeSignatureValid, Error> {
        let err = match verified {
            Ok(v) => return Ok(v),
            Err(err) => err,
        };
        let origin = Origin {
            path: PathBuf::from("the client's certificate chain"),
            index: 0,
            of: 1,
        };
        let (subject, serial, issuer) = match Cert::from_der(cert.to_vec(), origin) {
            Ok(c) => (c.subject.clone(), c.serial.clone(), c.issuer.clone()),
            Err(_) => ("(unreadable)".into(), String::new(), String::new()),
        };
        let (code, message) = match &err {
            Error::InvalidCertificate(rustls::CertificateError::BadSignature) => (
                Code::KeyMismatch,
                format!("the client presented '{subject}' (serial {serial}), but its handshake signature does not verify under that certificate's key: it does not hold the certificate's private key (a copied certificate, or a key replaced without its certificate)"),
            ),
            other => (
                Code::WeakAlgorithm,
                format!("the client presented '{subject}' (serial {serial}), but signed the handshake in a way the server does not accept: {other}"),
            ),
        };
        (self.sink)(&Rejection {
            peer,
            subject,
            serial,
            issuer,
            code,
            message,
            fix: "on the device, pki diagnose STORE names the key and certificate it holds; pki repair STORE re-links the certificate's own key, else a new certificate (pki repair STORE --server URL --token T)".into(),
            findings: Vec::new(),
        });
        Err(err)
    }

    fn verify(
        &self,
        peer: Option<SocketAddr>,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        // the certificate is parsed here only when its issuer's key must pick the CRLs or its
        // notAfter the grace: without CRLs and grace the handshake does not pay for it
        let needs_facts = self.groups.len() > 1 || self.grace > Duration::ZERO;
        let facts = needs_facts.then(|| leaf_facts(end_entity)).flatten();
        let group = self.group(facts.as_ref().and_then(|f| f.aki.as_deref()));
        let Some(inner) = group.verifier.client() else {
            return Err(Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer,
            ));
        };
        let err = match inner.verify_client_cert(end_entity, intermediates, now) {
            Ok(verified) => return Ok(verified),
            Err(err) => err,
        };
        let at = OffsetDateTime::from_unix_timestamp(now.as_secs() as i64)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        if self.grace > Duration::ZERO && cause(&err) == Cause::Expired {
            let not_after = facts.as_ref().map(|f| f.not_after);
            if let Some(not_after) = not_after.filter(|n| at > *n && at - *n <= self.grace) {
                // right in every other way: the same verdict at its last valid second
                if inner
                    .verify_client_cert(end_entity, intermediates, unix_time(not_after))
                    .is_ok()
                {
                    return Ok(ClientCertVerified::assertion());
                }
            }
        }
        let mut rejection = self.explain(end_entity, intermediates, at, &err);
        rejection.peer = peer;
        (self.sink)(&rejection);
        Err(err)
    }
}

fn tls12_signature(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, Error> {
    let algorithms = &crate::judge::verify::provider().signature_verification_algorithms;
    rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
}

fn tls13_signature(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, Error> {
    let algorithms = &crate::judge::verify::provider().signature_verification_algorithms;
    rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
}

/// What the verifier needs of a presented certificate before judging it.
struct LeafFacts {
    not_after: OffsetDateTime,
    aki: Option<Vec<u8>>,
}

fn leaf_facts(der: &CertificateDer<'_>) -> Option<LeafFacts> {
    use x509_parser::prelude::FromDer;
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(der.as_ref()).ok()?;
    let aki = cert
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(aki) => {
                aki.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        });
    Some(LeafFacts {
        not_after: cert.validity().not_after.to_datetime(),
        aki,
    })
}

/// [`ExplainingVerifier`] naming the peer its source gives.
struct PeerVerifier {
    shared: Arc<ExplainingVerifier>,
    source: PeerSource,
}

impl fmt::Debug for PeerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerVerifier")
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

impl ClientCertVerifier for PeerVerifier {
    fn client_auth_mandatory(&self) -> bool {
        self.shared.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.shared.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        self.shared
            .verify((self.source)(), end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let verified = tls12_signature(message, cert, dss);
        self.shared.signature((self.source)(), cert, verified)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        let verified = tls13_signature(message, cert, dss);
        self.shared.signature((self.source)(), cert, verified)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.shared.supported_verify_schemes()
    }
}

impl ClientCertVerifier for ExplainingVerifier {
    fn client_auth_mandatory(&self) -> bool {
        self.mandatory
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        match self.groups[self.groups.len() - 1].verifier.client() {
            Some(inner) => inner.root_hint_subjects(),
            None => &[],
        }
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, Error> {
        self.verify(None, end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.signature(None, cert, tls12_signature(message, cert, dss))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.signature(None, cert, tls13_signature(message, cert, dss))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        crate::judge::verify::provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
