//! Proof that the private key at hand belongs to the certificate and can sign a handshake the
//! server accepts: the key is loaded as a rustls client loads it, signs a TLS 1.3
//! CertificateVerify message, and the signature is checked against the certificate's public
//! key with the server's algorithms. A public-key comparison alone would miss a key rustls
//! cannot sign with.

use crate::cert::Cert;
use crate::key::Key;
use crate::verify::provider;
use ring::rand::{SecureRandom, SystemRandom};
use rustls::SignatureScheme;

/// The signature schemes a rustls server offers a TLS 1.3 client.
const TLS13_SCHEMES: &[SignatureScheme] = &[
    SignatureScheme::ECDSA_NISTP384_SHA384,
    SignatureScheme::ECDSA_NISTP256_SHA256,
    SignatureScheme::ED25519,
    SignatureScheme::RSA_PSS_SHA512,
    SignatureScheme::RSA_PSS_SHA384,
    SignatureScheme::RSA_PSS_SHA256,
];

/// Why a key failed to prove possession.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The key is not the certificate's.
    Mismatch(String),
    /// The key is the certificate's but rustls cannot sign with it (RSA < 2048, P-521, …).
    Unusable(String),
}

/// Signs a fresh challenge with `key` and verifies it against `leaf`.
pub fn prove(key: &Key, leaf: &Cert) -> Result<(), Failure> {
    let signer = match key.signer() {
        Ok(signer) => signer,
        Err(reason) => {
            let what = key.describe();
            return Err(if key.matches(leaf) || key.algorithm.is_none() {
                Failure::Unusable(format!("{what}: rustls cannot load it ({reason})"))
            } else {
                Failure::Mismatch(format!(
                    "{what}, which rustls cannot load either ({reason})"
                ))
            });
        }
    };
    if !key.matches(leaf) {
        return Err(Failure::Mismatch(format!(
            "{} has public key {}, the certificate's is {}",
            key.describe(),
            short(key.fingerprint().as_deref().unwrap_or("?")),
            short(&crate::cert::sha256_hex(&leaf.spki))
        )));
    }
    let Some(scheme_signer) = signer.choose_scheme(TLS13_SCHEMES) else {
        return Err(Failure::Unusable(format!(
            "{}: no TLS 1.3 signature scheme a rustls server offers fits it",
            key.describe()
        )));
    };
    let scheme = scheme_signer.scheme();
    let message = certificate_verify_message();
    let signature = scheme_signer
        .sign(&message)
        .map_err(|e| Failure::Unusable(format!("{}: signing failed ({e})", key.describe())))?;
    let algs = provider().signature_verification_algorithms;
    let Some((_, verifiers)) = algs.mapping.iter().find(|(s, _)| *s == scheme) else {
        return Err(Failure::Unusable(format!(
            "the server does not verify {scheme:?}"
        )));
    };
    let ee = webpki::EndEntityCert::try_from(&leaf.der).map_err(|e| {
        Failure::Unusable(format!(
            "the certificate cannot be parsed by webpki ({e:?})"
        ))
    })?;
    let first = verifiers.first().copied();
    match first.map(|alg| ee.verify_signature(alg, &message, &signature)) {
        Some(Ok(())) => Ok(()),
        Some(Err(e)) => Err(Failure::Mismatch(format!(
            "a {scheme:?} signature made with {} does not verify under the certificate's key ({e:?})",
            key.describe()
        ))),
        None => Err(Failure::Unusable(format!("the server has no verifier for {scheme:?}"))),
    }
}

/// What a TLS 1.3 client signs in CertificateVerify: 64 spaces, the context string, a zero
/// byte and a transcript hash (random here, so that no signature can be replayed).
fn certificate_verify_message() -> Vec<u8> {
    let mut message = vec![0x20; 64];
    message.extend_from_slice(b"TLS 1.3, client CertificateVerify\x00");
    let mut transcript = [0u8; 32];
    // SystemRandom only fails when the OS has no entropy source; a zero hash still proves
    // possession, it only loses replay resistance, which a local check does not need.
    let _ = SystemRandom::new().fill(&mut transcript);
    message.extend_from_slice(&transcript);
    message
}

fn short(fingerprint: &str) -> String {
    format!("sha256:{}…", &fingerprint[..fingerprint.len().min(16)])
}
