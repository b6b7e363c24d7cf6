//! Which algorithm a key is, read from its DER structure: for the private keys ring cannot
//! load (DSA, Ed448, X25519, X448, DH, ML-KEM, ML-DSA, RSA-PSS, curves other than P-256/P-384,
//! explicit curve parameters) a valid key is named as what it is, "a valid Ed448 key, which the
//! server cannot use", never "not a valid private key"; and the names certificates' public keys
//! get (`cert::key_algorithm`) come from the same table.
//!
//! Structures read: PKCS#8 `PrivateKeyInfo` (RFC 5958), PKCS#1 `RSAPrivateKey` (RFC 8017 A.1.2),
//! the OpenSSL traditional DSA key (SEQUENCE of six INTEGERs: 0, p, q, g, y, x), SEC1
//! `ECPrivateKey` (RFC 5915).

use crate::read::cert::{bit_length, strip_zeros, KeyAlgorithm};
use crate::read::key::KeyFormat;
use rustls_pki_types::PrivateKeyDer;
use x509_parser::der_parser::asn1_rs::Class;
use x509_parser::der_parser::ber::{BerObject, BerObjectContent};
use x509_parser::der_parser::der::parse_der;
use x509_parser::der_parser::oid::Oid;

/// What a private key is, when its structure could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Identified {
    pub algorithm: KeyAlgorithm,
    /// The encoding, corrected where rustls-pki-types guessed from the shape (a traditional
    /// DSA key looks like PKCS#1).
    pub format: KeyFormat,
    /// The public part, to tell which certificate the key belongs to without loading it.
    pub public: Option<Public>,
}

/// The public half of a key ring cannot load, as far as it can be read from the private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Public {
    /// An RSA modulus, leading zeros stripped.
    RsaModulus(Vec<u8>),
    /// The subjectPublicKey bits a certificate carries (an EC point, an Ed448 key).
    Bits(Vec<u8>),
}

/// Reads `der`'s structure. `None` when it is none of the structures above.
pub(crate) fn identify(der: &PrivateKeyDer<'_>) -> Option<Identified> {
    match der {
        PrivateKeyDer::Pkcs1(k) => traditional(k.secret_pkcs1_der()),
        PrivateKeyDer::Sec1(k) => {
            let (_, key) = parse_der(k.secret_sec1_der()).ok()?;
            let (algorithm, public) = sec1(&key, None)?;
            Some(Identified {
                algorithm,
                format: KeyFormat::Sec1,
                public,
            })
        }
        PrivateKeyDer::Pkcs8(k) => pkcs8(k.secret_pkcs8_der()),
        _ => None,
    }
}

/// A PKCS#1 RSA key (nine INTEGERs) or an OpenSSL traditional DSA key (six).
fn traditional(der: &[u8]) -> Option<Identified> {
    let (_, key) = parse_der(der).ok()?;
    let seq = key.as_sequence().ok()?;
    let ints: Vec<&[u8]> = seq
        .iter()
        .filter_map(|o| match &o.content {
            BerObjectContent::Integer(n) => Some(strip_zeros(n)),
            _ => None,
        })
        .collect();
    if ints.len() != seq.len() {
        return None;
    }
    match ints.len() {
        9 => Some(Identified {
            algorithm: KeyAlgorithm::Rsa {
                bits: bit_length(ints[1]),
            },
            format: KeyFormat::Pkcs1,
            public: Some(Public::RsaModulus(ints[1].to_vec())),
        }),
        6 => Some(Identified {
            algorithm: KeyAlgorithm::Other(format!("DSA {}", bit_length(ints[1]))),
            format: KeyFormat::TraditionalDsa,
            public: None,
        }),
        _ => None,
    }
}

fn pkcs8(der: &[u8]) -> Option<Identified> {
    let (_, info) = parse_der(der).ok()?;
    let seq = info.as_sequence().ok()?;
    let alg = seq.get(1)?.as_sequence().ok()?;
    let oid = alg.first()?.as_oid().ok()?;
    let params = alg.get(1);
    let private = seq.get(2)?.as_slice().ok()?;
    let id = oid.to_id_string();
    let (algorithm, public) = match id.as_str() {
        RSA | RSA_PSS => {
            let rsa = traditional(private)?;
            let algorithm = match (id.as_str(), rsa.algorithm) {
                (RSA_PSS, KeyAlgorithm::Rsa { bits }) => {
                    KeyAlgorithm::Other(format!("RSA-PSS {bits}"))
                }
                (_, algorithm) => algorithm,
            };
            (algorithm, rsa.public)
        }
        EC => {
            let (_, key) = parse_der(private).ok()?;
            sec1(&key, params)?
        }
        DSA | DH_PKCS3 | DH_X942 => {
            // the parameters start with the prime p: its size is the key's
            let p = params
                .and_then(|p| p.as_sequence().ok())
                .and_then(|p| p.first())
                .and_then(|p| p.as_slice().ok())
                .map_or(0, |p| bit_length(strip_zeros(p)));
            let name = if id == DSA { "DSA" } else { "DH" };
            (KeyAlgorithm::Other(format!("{name} {p}")), None)
        }
        _ => {
            let name = other_algorithm(oid)
                .map(str::to_string)
                .unwrap_or_else(|| format!("unknown algorithm {id}"));
            // OneAsymmetricKey (PKCS#8 v2) may carry the public key as [1] IMPLICIT BIT STRING
            let public = context(seq, 1).and_then(|bits| bits.get(1..).map(<[u8]>::to_vec));
            (KeyAlgorithm::Other(name), public.map(Public::Bits))
        }
    };
    Some(Identified {
        algorithm,
        format: KeyFormat::Pkcs8,
        public,
    })
}

/// An `ECPrivateKey`: its curve (from the PKCS#8 parameters, else its own [0]) and the public
/// point ([1]) when present.
fn sec1(
    key: &BerObject<'_>,
    outer: Option<&BerObject<'_>>,
) -> Option<(KeyAlgorithm, Option<Public>)> {
    let seq = key.as_sequence().ok()?;
    if !matches!(seq.first()?.content, BerObjectContent::Integer(_)) {
        return None;
    }
    let inner_params = context(seq, 0).and_then(|bytes| parse_der(bytes).ok().map(|(_, p)| p));
    let params = outer.or(inner_params.as_ref());
    let algorithm = match params.map(|p| (p.as_oid().ok(), p)) {
        Some((Some(curve), _)) => ec_curve(curve),
        Some((None, p)) if p.as_sequence().is_ok() => {
            KeyAlgorithm::Other("EC (explicit curve parameters)".to_string())
        }
        _ => KeyAlgorithm::Other("EC without a curve".to_string()),
    };
    // [1] holds a BIT STRING: its first content byte counts unused bits
    let public = context(seq, 1)
        .and_then(|bytes| parse_der(bytes).ok())
        .and_then(|(_, bits)| match bits.content {
            BerObjectContent::BitString(_, b) => Some(b.data.to_vec()),
            _ => None,
        })
        .map(Public::Bits);
    Some((algorithm, public))
}

/// The content of the context-specific element `[tag]` among `seq`'s elements.
fn context<'a>(seq: &'a [BerObject<'a>], tag: u32) -> Option<&'a [u8]> {
    seq.iter().find_map(|o| match &o.content {
        BerObjectContent::Unknown(any)
            if o.header.class() == Class::ContextSpecific && o.header.tag().0 == tag =>
        {
            Some(any.data)
        }
        _ => None,
    })
}

const RSA: &str = "1.2.840.113549.1.1.1";
const RSA_PSS: &str = "1.2.840.113549.1.1.10";
const EC: &str = "1.2.840.10045.2.1";
const DSA: &str = "1.2.840.10040.4.1";
const DH_PKCS3: &str = "1.2.840.113549.1.3.1";
const DH_X942: &str = "1.2.840.10046.2.1";

/// A named curve: P-256 and P-384 are the ones rustls with ring uses.
pub(crate) fn ec_curve(curve: &Oid<'_>) -> KeyAlgorithm {
    let (name, bits) = match curve.to_id_string().as_str() {
        "1.2.840.10045.3.1.7" => ("P-256", 256),
        "1.3.132.0.34" => ("P-384", 384),
        "1.3.132.0.35" => ("P-521", 521),
        "1.2.840.10045.3.1.1" => ("P-192", 192),
        "1.3.132.0.33" => ("P-224", 224),
        "1.3.132.0.10" => ("secp256k1", 256),
        "1.3.36.3.3.2.8.1.1.7" => ("brainpoolP256r1", 256),
        "1.3.36.3.3.2.8.1.1.11" => ("brainpoolP384r1", 384),
        "1.3.36.3.3.2.8.1.1.13" => ("brainpoolP512r1", 512),
        "1.2.156.10197.1.301" => ("SM2", 256),
        other => return KeyAlgorithm::Other(format!("EC curve {other}")),
    };
    KeyAlgorithm::Ec { curve: name, bits }
}

/// Algorithms known by name that are neither RSA nor EC.
pub(crate) fn other_algorithm(oid: &Oid<'_>) -> Option<&'static str> {
    Some(match oid.to_id_string().as_str() {
        "1.3.101.110" => "X25519",
        "1.3.101.111" => "X448",
        "1.3.101.113" => "Ed448",
        DSA => "DSA",
        DH_PKCS3 | DH_X942 => "DH",
        "2.16.840.1.101.3.4.4.1" => "ML-KEM-512",
        "2.16.840.1.101.3.4.4.2" => "ML-KEM-768",
        "2.16.840.1.101.3.4.4.3" => "ML-KEM-1024",
        "2.16.840.1.101.3.4.3.17" => "ML-DSA-44",
        "2.16.840.1.101.3.4.3.18" => "ML-DSA-65",
        "2.16.840.1.101.3.4.3.19" => "ML-DSA-87",
        "1.2.156.10197.1.301" => "SM2",
        _ => return None,
    })
}
