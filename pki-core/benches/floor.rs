//! The floor under `pki audit` on this machine: the per-store cryptography no audit can skip,
//! on all cores. Each store needs its private key loaded (ring derives the public key from the
//! private one: that is what proves the key is the certificate's) and its certificate's
//! signature checked under the issuing CA's key (ECDSA P-256 here, as in benches/audit.py).
//! Everything else an audit does (reading files, parsing, path building, findings) is above it.
//!
//!   cargo bench -p pki-core --bench floor -- [STORES]     prints: floor <seconds> <stores>

#![allow(clippy::unwrap_used)] // a benchmark that cannot unwrap has failed
#![allow(clippy::print_stdout)] // its output is the result

use rayon::prelude::*;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair, UnparsedPublicKey};

fn main() {
    let stores: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000);
    let rng = SystemRandom::new();
    let alg = &signature::ECDSA_P256_SHA256_ASN1_SIGNING;
    let ca = EcdsaKeyPair::from_pkcs8(
        alg,
        EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap().as_ref(),
        &rng,
    )
    .unwrap();
    let ca_public = ca.public_key().as_ref().to_vec();
    // what each store holds: a PKCS#8 key, and a to-be-signed part with the CA's signature on it
    let fleet: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)> = (0..stores)
        .into_par_iter()
        .map(|i| {
            let rng = SystemRandom::new();
            let key = EcdsaKeyPair::generate_pkcs8(alg, &rng)
                .unwrap()
                .as_ref()
                .to_vec();
            let tbs = format!("to-be-signed certificate of store {i:06}")
                .repeat(12)
                .into_bytes();
            let sig = ca.sign(&rng, &tbs).unwrap().as_ref().to_vec();
            (key, tbs, sig)
        })
        .collect();
    let verifier = UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_ASN1, &ca_public);
    let started = std::time::Instant::now();
    let ok = fleet
        .par_iter()
        .filter(|(key, tbs, sig)| {
            let rng = SystemRandom::new();
            EcdsaKeyPair::from_pkcs8(alg, key, &rng).is_ok() && verifier.verify(tbs, sig).is_ok()
        })
        .count();
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(ok, stores);
    println!("floor {seconds:.3} {stores}");
}
