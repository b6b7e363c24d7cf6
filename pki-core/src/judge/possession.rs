//! Proof that the private key at hand belongs to the certificate and can sign a handshake the
//! server accepts: the key is loaded as a rustls client loads it (ring derives the public key
//! from the private one and refuses a key whose parts disagree), that public key is the
//! certificate's byte for byte, and rustls picks a TLS 1.3 scheme for it that the server
//! verifies. A public-key comparison alone would miss a key rustls cannot sign with; a
//! signature made on top would verify by construction, which the tests show for every key type.

use crate::judge::verify::provider;
use crate::read::cert::Cert;
use crate::read::key::Key;
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

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Mismatch(why) | Failure::Unusable(why) => f.write_str(why),
        }
    }
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
            short(&crate::read::cert::sha256_hex(&leaf.spki))
        )));
    }
    let Some(scheme_signer) = signer.choose_scheme(TLS13_SCHEMES) else {
        return Err(Failure::Unusable(format!(
            "{}: no TLS 1.3 signature scheme a rustls server offers fits it",
            key.describe()
        )));
    };
    let scheme = scheme_signer.scheme();
    let server_verifies = provider()
        .signature_verification_algorithms
        .mapping
        .iter()
        .any(|(s, verifiers)| *s == scheme && !verifiers.is_empty());
    if !server_verifies {
        return Err(Failure::Unusable(format!(
            "the server does not verify {scheme:?}"
        )));
    }
    // ring derived the public key above from the private one (and refused a key whose parts
    // disagree); it is the certificate's, byte for byte; rustls signs with it in a scheme the
    // server verifies. A signature would verify: making and checking one would only repeat
    // the arithmetic, doubling an audit's per-store cost. The test below makes one anyway.
    Ok(())
}

fn short(fingerprint: &str) -> String {
    format!("sha256:{}…", &fingerprint[..fingerprint.len().min(16)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::{SecureRandom, SystemRandom};
    use rustls_pki_types::PrivateKeyDer;

    fn origin(name: &str) -> crate::origin::Origin {
        crate::origin::Origin {
            path: name.into(),
            index: 0,
            of: 1,
        }
    }

    fn pair(alg: &'static rcgen::SignatureAlgorithm) -> (Key, Cert) {
        let key_pair = if *alg == rcgen::PKCS_RSA_SHA256 {
            // ring signs with RSA but cannot make RSA keys
            let out = std::process::Command::new("openssl")
                .args([
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    "rsa_keygen_bits:2048",
                ])
                .output()
                .expect("openssl makes the RSA key");
            let pem = String::from_utf8(out.stdout).unwrap();
            rcgen::KeyPair::from_pem_and_sign_algo(&pem, alg).unwrap()
        } else {
            rcgen::KeyPair::generate_for(alg).unwrap()
        };
        let params = rcgen::CertificateParams::new(vec!["dev".to_string()]).unwrap();
        let cert = params.self_signed(&key_pair).unwrap();
        let key_der = PrivateKeyDer::try_from(key_pair.serialize_der()).unwrap();
        (
            Key::from_der(key_der, origin("device.key")),
            Cert::from_der(cert.der().to_vec(), origin("device.crt")).unwrap(),
        )
    }

    /// What the proof leaves out, done: the key signs a TLS 1.3 CertificateVerify message and
    /// the server's verifier for that scheme accepts it under the certificate's key.
    fn sign_and_verify(key: &Key, leaf: &Cert) -> Result<(), String> {
        let signer = key.signer().map_err(str::to_string)?;
        let scheme_signer = signer.choose_scheme(TLS13_SCHEMES).ok_or("no scheme")?;
        let mut message = vec![0x20; 64];
        message.extend_from_slice(b"TLS 1.3, client CertificateVerify\x00");
        let mut transcript = [0u8; 32];
        SystemRandom::new().fill(&mut transcript).unwrap();
        message.extend_from_slice(&transcript);
        let signature = scheme_signer.sign(&message).map_err(|e| e.to_string())?;
        let (_, verifiers) = provider()
            .signature_verification_algorithms
            .mapping
            .iter()
            .find(|(s, _)| *s == scheme_signer.scheme())
            .ok_or("no verifier")?;
        let ee = webpki::EndEntityCert::try_from(&leaf.der).map_err(|e| format!("{e:?}"))?;
        ee.verify_signature(verifiers[0], &message, &signature)
            .map_err(|e| format!("{e:?}"))
    }

    #[test]
    fn a_proven_key_signs_what_the_server_verifies_for_every_key_type() {
        for alg in [
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
            &rcgen::PKCS_ED25519,
            &rcgen::PKCS_RSA_SHA256,
        ] {
            let (key, leaf) = pair(alg);
            assert_eq!(prove(&key, &leaf), Ok(()), "{alg:?}");
            assert_eq!(sign_and_verify(&key, &leaf), Ok(()), "{alg:?}");
        }
    }

    #[test]
    fn another_key_is_a_mismatch_and_its_signature_does_not_verify() {
        let (key, _) = pair(&rcgen::PKCS_ECDSA_P256_SHA256);
        let (_, leaf) = pair(&rcgen::PKCS_ECDSA_P256_SHA256);
        assert!(matches!(prove(&key, &leaf), Err(Failure::Mismatch(_))));
        assert!(sign_and_verify(&key, &leaf).is_err());
    }
}
