//! Reading: bytes from the field to typed objects (certificates, keys, CRLs, requests; PEM,
//! DER, PKCS#12; plain or encrypted), safely and tolerantly. Nothing here judges, writes or
//! knows what a store is.

pub mod anchors;
pub mod cert;
pub mod cert_cache;
pub mod crl;
pub mod csr;
pub mod decode;
pub mod encrypted;
pub mod input;
pub mod key;
pub(crate) mod key_algorithm;
pub mod password;
pub mod pkcs12;
pub mod rfc5280;
