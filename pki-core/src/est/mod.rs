//! EST's wire formats (RFC 7030, with RFC 8951's clarifications), shared by `pki serve` and the
//! device's client: bodies are base64 of DER, read tolerantly ([`body`]); certificates travel
//! as a PKCS#7 "certs-only" SignedData ([`pkcs7`]); `csrattrs` says what a request should
//! carry ([`csrattrs`]). Pure transformations: no socket here.

pub mod body;
pub mod csrattrs;
pub mod pkcs7;

/// The path prefix of every EST operation (RFC 7030 §3.2.2).
pub const PREFIX: &str = "/.well-known/est/";

/// `Content-Type` of certificates (RFC 7030 §4.1.3, §4.2.3).
pub const PKCS7_CERTS: &str = "application/pkcs7-mime; smime-type=certs-only";
/// `Content-Type` of a request (RFC 7030 §4.2.1).
pub const PKCS10: &str = "application/pkcs10";
/// `Content-Type` of `csrattrs` (RFC 7030 §4.5.2).
pub const CSRATTRS: &str = "application/csrattrs";
/// `Content-Type` of a CRL (RFC 2585).
pub const CRL: &str = "application/pkix-crl";
