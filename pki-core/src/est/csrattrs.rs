//! `csrattrs` (RFC 7030 §4.5.2, as clarified by RFC 9908): what the CA wants a request to
//! carry, from its policy — the key type (an attribute of `id-ecPublicKey` naming the curve,
//! or the Ed25519 OID) and the signature algorithm. Everything else in a certificate comes
//! from the policy, so nothing else is asked for.

use crate::policy::{KeyKind, Policy};
use der::asn1::{ObjectIdentifier, SetOfVec};
use der::{Any, Encode};

const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const SECP256R1: &str = "1.2.840.10045.3.1.7";
const SECP384R1: &str = "1.3.132.0.34";
const ED25519: &str = "1.3.101.112";
const ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
const ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
const SHA256_WITH_RSA: &str = "1.2.840.113549.1.1.11";

fn any(v: &(impl der::EncodeValue + der::Tagged)) -> Result<Any, String> {
    Any::encode_from(v).map_err(|e| format!("csrattrs: {e}"))
}

/// The `CsrAttrs` DER for `policy` (a SEQUENCE of AttrOrOID).
pub fn encode(policy: &Policy) -> Result<Vec<u8>, String> {
    let oid = |s: &str| ObjectIdentifier::new(s).map_err(|e| format!("OID {s}: {e}"));
    let mut items: Vec<Any> = Vec::new();
    match policy.key_algorithm {
        KeyKind::EcdsaP256 | KeyKind::EcdsaP384 => {
            let (curve, signature) = if policy.key_algorithm == KeyKind::EcdsaP256 {
                (SECP256R1, ECDSA_SHA256)
            } else {
                (SECP384R1, ECDSA_SHA384)
            };
            let mut values = SetOfVec::new();
            values
                .insert(any(&oid(curve)?)?)
                .map_err(|e| format!("csrattrs: {e}"))?;
            items.push(any(&x509_cert::attr::Attribute {
                oid: oid(EC_PUBLIC_KEY)?,
                values,
            })?);
            items.push(any(&oid(signature)?)?);
        }
        KeyKind::Ed25519 => items.push(any(&oid(ED25519)?)?),
        KeyKind::Rsa => {
            items.push(any(&oid(RSA_ENCRYPTION)?)?);
            items.push(any(&oid(SHA256_WITH_RSA)?)?);
        }
    }
    items.to_der().map_err(|e| format!("csrattrs: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_asks_for_a_p256_key_signed_with_sha256() {
        let der = encode(&Policy::default()).expect("csrattrs");
        // SEQUENCE { SEQUENCE { ecPublicKey, SET { prime256v1 } }, ecdsa-with-SHA256 }
        let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
        assert!(hex.starts_with("30"), "{hex}");
        assert!(hex.contains("06072a8648ce3d0201"), "ecPublicKey: {hex}");
        assert!(hex.contains("06082a8648ce3d030107"), "prime256v1: {hex}");
        assert!(
            hex.contains("06082a8648ce3d040302"),
            "ecdsa-with-SHA256: {hex}"
        );
    }
}
