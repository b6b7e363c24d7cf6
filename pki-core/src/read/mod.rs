//! Reading: bytes from the field to typed objects (certificates, keys, CRLs), safely and
//! tolerantly. Nothing here judges, writes or knows what a store is.

pub mod anchors;
pub mod cert;
pub mod cert_cache;
pub mod crl;
pub mod decode;
pub mod input;
pub mod key;
pub mod rfc5280;
