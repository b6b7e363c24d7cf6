//! Signature checks remembered across a fleet. A signature check is a pure function of the
//! algorithm, the public key, the message and the signature; an audit of thousands of stores
//! checks the same intermediate's signature under the same root once per store. Wrapping the
//! ring provider's verification algorithms with this memo makes rustls itself (the same
//! verifier, the same path building) check it once per process: the verdict cannot change,
//! only the repeated work goes.

use ring::digest::{Context, SHA256};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls_pki_types::{AlgorithmIdentifier, InvalidSignature, SignatureVerificationAlgorithm};
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// Beyond this many remembered results the memo starts afresh. Every store's own certificate
/// passes through once and would fill it as the fleet grows; starting afresh costs the shared
/// intermediate one more check per 4,096 signatures and keeps memory flat (~200 KiB).
const CAPACITY: usize = 4096;

/// `algorithms` with every verification remembered.
pub fn memoized(algorithms: WebPkiSupportedAlgorithms) -> WebPkiSupportedAlgorithms {
    let wrap = |alg: &'static dyn SignatureVerificationAlgorithm| -> &'static dyn SignatureVerificationAlgorithm {
        Box::leak(Box::new(Memoized { inner: alg }))
    };
    let all: Vec<&'static dyn SignatureVerificationAlgorithm> =
        algorithms.all.iter().map(|a| wrap(*a)).collect();
    let mapping: Vec<_> = algorithms
        .mapping
        .iter()
        .map(|(scheme, algs)| {
            let wrapped: Vec<&'static dyn SignatureVerificationAlgorithm> =
                algs.iter().map(|a| wrap(*a)).collect();
            (*scheme, &*Box::leak(wrapped.into_boxed_slice()))
        })
        .collect();
    // built once per process (see `verify::provider`), so leaking these small tables is fine
    WebPkiSupportedAlgorithms {
        all: Box::leak(all.into_boxed_slice()),
        mapping: Box::leak(mapping.into_boxed_slice()),
    }
}

struct Memoized {
    inner: &'static dyn SignatureVerificationAlgorithm,
}

impl std::fmt::Debug for Memoized {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Memoized({:?})", self.inner)
    }
}

fn memo() -> &'static Mutex<HashMap<[u8; 32], bool>> {
    static MEMO: OnceLock<Mutex<HashMap<[u8; 32], bool>>> = OnceLock::new();
    MEMO.get_or_init(|| Mutex::new(HashMap::new()))
}

impl SignatureVerificationAlgorithm for Memoized {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        let mut ctx = Context::new(&SHA256);
        for part in [
            self.signature_alg_id().as_ref(),
            self.public_key_alg_id().as_ref(),
            public_key,
            message,
            signature,
        ] {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part);
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(ctx.finish().as_ref());
        let known = memo()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .copied();
        let ok = match known {
            Some(ok) => ok,
            None => {
                let ok = self
                    .inner
                    .verify_signature(public_key, message, signature)
                    .is_ok();
                let mut m = memo().lock().unwrap_or_else(|p| p.into_inner());
                if m.len() >= CAPACITY {
                    m.clear();
                }
                m.insert(key, ok);
                ok
            }
        };
        if ok {
            Ok(())
        } else {
            Err(InvalidSignature)
        }
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        self.inner.public_key_alg_id()
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.inner.signature_alg_id()
    }

    fn fips(&self) -> bool {
        self.inner.fips()
    }
}

#[cfg(test)]
mod tests {
    use rustls::SignatureScheme;

    #[test]
    fn remembered_results_are_the_real_ones() {
        let algs = crate::judge::verify::provider().signature_verification_algorithms;
        let (_, p256) = algs
            .mapping
            .iter()
            .find(|(s, _)| *s == SignatureScheme::ECDSA_NISTP256_SHA256)
            .unwrap();
        let alg = p256[0];
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &rng,
        )
        .unwrap();
        let key = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            pkcs8.as_ref(),
            &rng,
        )
        .unwrap();
        use ring::signature::KeyPair;
        let public = key.public_key().as_ref().to_vec();
        let sig = key.sign(&rng, b"intermediate tbs").unwrap();
        for _ in 0..2 {
            assert!(alg
                .verify_signature(&public, b"intermediate tbs", sig.as_ref())
                .is_ok());
            assert!(alg
                .verify_signature(&public, b"another message", sig.as_ref())
                .is_err());
        }
        let mut bad = sig.as_ref().to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(alg
            .verify_signature(&public, b"intermediate tbs", &bad)
            .is_err());
    }
}
