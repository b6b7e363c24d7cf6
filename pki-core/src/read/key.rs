//! A private key as read from a file. The key material never leaves this module except into
//! rustls' signer; `Debug` shows what the key is, never its bytes.

use crate::origin::Origin;
use crate::read::cert::{key_algorithm, Cert, KeyAlgorithm};
use crate::read::key_algorithm::{identify, Public};
use rustls::sign::SigningKey;
use rustls_pki_types::PrivateKeyDer;
use std::fmt;
use std::sync::Arc;
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

/// How the key was encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    Pkcs8,
    Sec1,
    Pkcs1,
    /// OpenSSL's own DSA layout (`DSA PRIVATE KEY`).
    TraditionalDsa,
}

impl fmt::Display for KeyFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyFormat::Pkcs8 => "PKCS#8",
            KeyFormat::Sec1 => "SEC1",
            KeyFormat::Pkcs1 => "PKCS#1",
            KeyFormat::TraditionalDsa => "OpenSSL traditional DSA",
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
    /// The public part read from the DER when ring refuses the key, for matching.
    public: Option<Public>,
    /// The key itself, for the one use that needs it ([`Key::pkcs8_der`]).
    der: Arc<PrivateKeyDer<'static>>,
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
        let mut format = match &der {
            PrivateKeyDer::Pkcs1(_) => KeyFormat::Pkcs1,
            PrivateKeyDer::Sec1(_) => KeyFormat::Sec1,
            _ => KeyFormat::Pkcs8,
        };
        let mut signer =
            rustls::crypto::ring::sign::any_supported_type(&der).map_err(|e| match e {
                rustls::Error::General(msg) => msg,
                other => other.to_string(),
            });
        let spki = signer
            .as_ref()
            .ok()
            .and_then(|s| s.public_key())
            .map(|spki| spki.as_ref().to_vec());
        let mut algorithm = spki
            .as_deref()
            .and_then(|spki| SubjectPublicKeyInfo::from_der(spki).ok())
            .map(|(_, spki)| key_algorithm(&spki));
        let mut public = None;
        if let (Err(refusal), None) = (&mut signer, &algorithm) {
            // ring cannot load it: say what it is, when its structure says so
            if let Some(id) = identify(&der) {
                *refusal = match id.algorithm.weakness() {
                    Some(_) => format!(
                        "a valid {} key ({}), which the server cannot use: rustls with ring signs with ECDSA P-256 and P-384, Ed25519, and RSA of 2048 bits or more",
                        id.algorithm, id.format
                    ),
                    None => format!(
                        "a {} key ({}) that rustls cannot load ({refusal})",
                        id.algorithm, id.format
                    ),
                };
                format = id.format;
                algorithm = Some(id.algorithm);
                public = id.public;
            }
        }
        Key {
            origin,
            format,
            signer,
            spki,
            algorithm,
            public,
            der: Arc::new(der),
        }
    }

    /// The key as PKCS#8 DER (what rcgen signs requests with): PKCS#1 RSA and SEC1 P-256/P-384
    /// keys are wrapped in a PKCS#8 `PrivateKeyInfo` (RFC 5958); `None` for other shapes.
    pub fn pkcs8_der(&self) -> Option<Vec<u8>> {
        const RSA: &[u8] = &[
            0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
        ];
        const EC: &[u8] = &[0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
        const P256: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
        const P384: &[u8] = &[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22];
        let (algorithm, private): (Vec<u8>, &[u8]) = match (&*self.der, &self.algorithm) {
            (PrivateKeyDer::Pkcs8(k), _) => return Some(k.secret_pkcs8_der().to_vec()),
            (PrivateKeyDer::Pkcs1(k), Some(KeyAlgorithm::Rsa { .. })) => {
                (RSA.to_vec(), k.secret_pkcs1_der())
            }
            (PrivateKeyDer::Sec1(k), Some(KeyAlgorithm::Ec { curve, .. })) => {
                let curve = match *curve {
                    "P-256" => P256,
                    "P-384" => P384,
                    _ => return None,
                };
                ([EC, curve].concat(), k.secret_sec1_der())
            }
            _ => return None,
        };
        let body = [
            &[0x02, 0x01, 0x00][..],
            &der_tlv(0x30, &algorithm),
            &der_tlv(0x04, private),
        ]
        .concat();
        Some(der_tlv(0x30, &body))
    }

    /// The signer rustls would use, or why it cannot use this key.
    pub fn signer(&self) -> Result<&Arc<dyn SigningKey>, &str> {
        self.signer.as_ref().map_err(String::as_str)
    }

    /// Whether this is the private half of `cert`'s public key.
    pub fn matches(&self, cert: &Cert) -> bool {
        match (&self.spki, &self.public) {
            (Some(spki), _) => *spki == cert.spki,
            (None, Some(Public::RsaModulus(modulus))) => {
                cert.rsa_modulus().as_ref() == Some(modulus)
            }
            (None, Some(Public::Bits(bits))) => SubjectPublicKeyInfo::from_der(&cert.spki)
                .is_ok_and(|(_, spki)| spki.subject_public_key.data.as_ref() == bits.as_slice()),
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

/// One DER element: tag, definite length, content.
fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}
