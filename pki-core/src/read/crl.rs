//! A certificate revocation list as read from a file.

use crate::origin::Origin;
use crate::read::cert::colon_hex;
use rustls_pki_types::CertificateRevocationListDer;
use time::OffsetDateTime;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

#[derive(Debug, Clone)]
pub struct Crl {
    pub der: CertificateRevocationListDer<'static>,
    pub origin: Origin,
    pub issuer: String,
    pub issuer_raw: Vec<u8>,
    pub this_update: OffsetDateTime,
    pub next_update: Option<OffsetDateTime>,
    pub number: Option<String>,
    /// The key identifier of the CA that signed it (authorityKeyIdentifier), which tells two
    /// generations of one CA name apart.
    pub aki: Option<Vec<u8>>,
    /// Serials listed, as colon hex (the same spelling as [`crate::read::cert::Parsed::serial`]), with the
    /// revocation date and reason where given.
    pub revoked: Vec<Revoked>,
}

#[derive(Debug, Clone)]
pub struct Revoked {
    pub serial: String,
    pub date: OffsetDateTime,
    pub reason: Option<String>,
}

impl Crl {
    pub fn from_der(der: Vec<u8>, origin: Origin) -> Result<Crl, String> {
        let facts = {
            let (rest, crl) = CertificateRevocationList::from_der(&der)
                .map_err(|e| format!("not a valid CRL ({})", crate::read::cert::der_problem(&e)))?;
            if !rest.is_empty() {
                return Err(format!(
                    "{} bytes of trailing data after the CRL",
                    rest.len()
                ));
            }
            Crl {
                der: CertificateRevocationListDer::from(Vec::new()),
                origin,
                issuer: crl.issuer().to_string(),
                issuer_raw: crl.issuer().as_raw().to_vec(),
                this_update: crl.last_update().to_datetime(),
                next_update: crl.next_update().map(|t| t.to_datetime()),
                number: crl.crl_number().map(|n| n.to_string()),
                aki: crl
                    .extensions()
                    .iter()
                    .find_map(|e| match e.parsed_extension() {
                        x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(aki) => {
                            aki.key_identifier.as_ref().map(|k| k.0.to_vec())
                        }
                        _ => None,
                    }),
                revoked: crl
                    .iter_revoked_certificates()
                    .map(|r| Revoked {
                        serial: colon_hex(r.raw_serial()),
                        date: r.revocation_date.to_datetime(),
                        reason: r.reason_code().map(|(_, code)| format!("{code}")),
                    })
                    .collect(),
            }
        };
        Ok(Crl {
            der: CertificateRevocationListDer::from(der),
            ..facts
        })
    }

    /// Whether `issuer`'s key verifies this CRL's signature (the check webpki makes with the
    /// key of the CA that issued the certificate looked up, RFC 5280 §6.3.3 (f)).
    pub fn is_signed_by(&self, issuer: &crate::read::cert::Cert) -> bool {
        let (Ok((_, crl)), Ok((_, ca))) = (
            CertificateRevocationList::from_der(self.der.as_ref()),
            x509_parser::certificate::X509Certificate::from_der(&issuer.der),
        ) else {
            return false;
        };
        crl.verify_signature(ca.public_key()).is_ok()
    }

    /// The entry for `serial` (colon hex), if this CRL lists it.
    pub fn lists(&self, serial: &str) -> Option<&Revoked> {
        self.revoked.iter().find(|r| r.serial == serial)
    }
}
