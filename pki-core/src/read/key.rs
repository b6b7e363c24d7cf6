//! A private key as read from a file. The key material never leaves this module except into
//! rustls' signer; `Debug` shows what the key is, never its bytes.

use crate::origin::Origin;
use crate::read::cert::{bit_length, key_algorithm, strip_zeros, Cert, KeyAlgorithm};
use rustls::sign::SigningKey;
use rustls_pki_types::PrivateKeyDer;
use std::fmt;
use std::sync::Arc;
use x509_parser::der_parser::ber::BerObjectContent;
use x509_parser::der_parser::der::parse_der;
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

/// How the key was encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    Pkcs8,
    Sec1,
    Pkcs1,
}

impl fmt::Display for KeyFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyFormat::Pkcs8 => "PKCS#8",
            KeyFormat::Sec1 => "SEC1",
            KeyFormat::Pkcs1 => "PKCS#1",
        })
    }
}

/// A private key, loaded the way a rustls client loads it (ring provider).
#[derive(Clone)]
pub struct Key {
    pub origin: Origin,
    pub format: KeyFormat,
    /// The key as rustls would sign with it, or why rustls cannot use it.
    signer: Result<Arc<dyn SigningKey>, String>,
    /// The public half (SubjectPublicKeyInfo DER), when rustls could load the key.
    pub spki: Option<Vec<u8>>,
    pub algorithm: Option<KeyAlgorithm>,
    /// RSA modulus, read from the DER when ring refuses the key (too small), for matching.
    rsa_modulus: Option<Vec<u8>>,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("origin", &self.origin)
            .field("format", &self.format)
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl Key {
    pub fn from_der(der: PrivateKeyDer<'static>, origin: Origin) -> Key {
        let format = match &der {
            PrivateKeyDer::Pkcs1(_) => KeyFormat::Pkcs1,
            PrivateKeyDer::Sec1(_) => KeyFormat::Sec1,
            _ => KeyFormat::Pkcs8,
        };
        let signer = rustls::crypto::ring::sign::any_supported_type(&der).map_err(|e| match e {
            rustls::Error::General(msg) => msg,
            other => other.to_string(),
        });
        let spki = signer
            .as_ref()
            .ok()
            .and_then(|s| s.public_key())
            .map(|spki| spki.as_ref().to_vec());
        let algorithm = spki
            .as_deref()
            .and_then(|spki| SubjectPublicKeyInfo::from_der(spki).ok())
            .map(|(_, spki)| key_algorithm(&spki));
        let (rsa_modulus, algorithm) = match (&signer, algorithm) {
            (Err(_), None) => match rsa_modulus(&der) {
                Some(modulus) => {
                    let bits = bit_length(&modulus);
                    (Some(modulus), Some(KeyAlgorithm::Rsa { bits }))
                }
                None => (None, None),
            },
            (_, algorithm) => (None, algorithm),
        };
        Key {
            origin,
            format,
            signer,
            spki,
            algorithm,
            rsa_modulus,
        }
    }

    /// The signer rustls would use, or why it cannot use this key.
    pub fn signer(&self) -> Result<&Arc<dyn SigningKey>, &str> {
        self.signer.as_ref().map_err(String::as_str)
    }

    /// Whether this is the private half of `cert`'s public key.
    pub fn matches(&self, cert: &Cert) -> bool {
        match (&self.spki, &self.rsa_modulus) {
            (Some(spki), _) => *spki == cert.spki,
            (None, Some(modulus)) => cert.rsa_modulus().as_ref() == Some(modulus),
            (None, None) => false,
        }
    }

    /// "ECDSA P-256 (PKCS#8)", or what is known of a key rustls cannot load.
    pub fn describe(&self) -> String {
        match &self.algorithm {
            Some(alg) => format!("{alg} key ({})", self.format),
            None => format!("{} key", self.format),
        }
    }

    /// SHA-256 of the public key, to tell keys apart without showing them.
    pub fn fingerprint(&self) -> Option<String> {
        self.spki.as_deref().map(crate::read::cert::sha256_hex)
    }
}

/// The modulus of an RSA key in PKCS#1 or PKCS#8 DER, leading zeros stripped.
fn rsa_modulus(der: &PrivateKeyDer<'_>) -> Option<Vec<u8>> {
    let pkcs1 = match der {
        PrivateKeyDer::Pkcs1(k) => k.secret_pkcs1_der().to_vec(),
        PrivateKeyDer::Pkcs8(k) => {
            let (_, info) = parse_der(k.secret_pkcs8_der()).ok()?;
            let seq = info.as_sequence().ok()?;
            seq.get(2)?.as_slice().ok()?.to_vec()
        }
        _ => return None,
    };
    let (_, key) = parse_der(&pkcs1).ok()?;
    let seq = key.as_sequence().ok()?;
    match &seq.get(1)?.content {
        BerObjectContent::Integer(n) => Some(strip_zeros(n).to_vec()),
        _ => None,
    }
}
