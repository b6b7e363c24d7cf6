//! A certificate request (PKCS#10, RFC 2986) found in a file: `inspect` shows it, and where a
//! certificate was expected it is named as the request it is (not as a broken certificate).

use crate::origin::Origin;
use crate::read::cert::{
    display_name, general_name, key_algorithm, sha256_hex, signature_algorithm, KeyAlgorithm,
};
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;

/// What a request asks for.
#[derive(Debug, Clone)]
pub struct Request {
    pub origin: Origin,
    pub subject: String,
    pub key: KeyAlgorithm,
    /// The subjectAltName entries it requests (`DNS:…`, `URI:…`, `IP:…`).
    pub names: Vec<String>,
    pub signature_algorithm: String,
    /// Whether its signature verifies with the key it carries (proof the requester holds it).
    pub signature_valid: bool,
    /// SHA-256 of the request's DER.
    pub sha256: String,
}

impl Request {
    /// Parses a DER request; the error says, for people, why it is none.
    pub fn from_der(der: &[u8], origin: Origin) -> Result<Request, String> {
        let (rest, csr) = X509CertificationRequest::from_der(der).map_err(|e| {
            format!(
                "not a valid certificate request ({})",
                crate::read::cert::der_problem(&e)
            )
        })?;
        if !rest.is_empty() {
            return Err(format!(
                "{} bytes of trailing data after the certificate request",
                rest.len()
            ));
        }
        let info = &csr.certification_request_info;
        let names = csr
            .requested_extensions()
            .into_iter()
            .flatten()
            .filter_map(|ext| match ext {
                ParsedExtension::SubjectAlternativeName(san) => Some(
                    san.general_names
                        .iter()
                        .map(general_name)
                        .collect::<Vec<_>>(),
                ),
                _ => None,
            })
            .flatten()
            .collect();
        Ok(Request {
            origin,
            subject: display_name(&info.subject),
            key: key_algorithm(&info.subject_pki),
            names,
            signature_algorithm: signature_algorithm(&csr.signature_algorithm.algorithm).name,
            signature_valid: csr.verify_signature().is_ok(),
            sha256: sha256_hex(der),
        })
    }
}
