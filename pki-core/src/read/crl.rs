//! A certificate revocation list as read from a file.

use crate::origin::Origin;
use crate::read::cert::{colon_hex, Cert};
use rustls_pki_types::CertificateRevocationListDer;
use time::OffsetDateTime;
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
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
    /// The IssuingDistributionPoint extension (RFC 5280 §5.2.5), if present: the part of the
    /// issuer's certificates this CRL covers.
    pub idp: Option<IssuingDistributionPoint>,
    /// Serials listed, as colon hex (the same spelling as [`crate::read::cert::Parsed::serial`]), with the
    /// revocation date and reason where given.
    pub revoked: Vec<Revoked>,
}

/// What a CRL's IssuingDistributionPoint says about its scope (RFC 5280 §5.2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuingDistributionPoint {
    /// The URIs of its distributionPoint's full name (the CA's `/crl/<generation>`).
    pub uris: Vec<String>,
    /// onlyContainsCACerts: it covers no end-entity certificate.
    pub only_ca_certs: bool,
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
                        ParsedExtension::AuthorityKeyIdentifier(aki) => {
                            aki.key_identifier.as_ref().map(|k| k.0.to_vec())
                        }
                        _ => None,
                    }),
                idp: crl
                    .extensions()
                    .iter()
                    .find_map(|e| match e.parsed_extension() {
                        ParsedExtension::IssuingDistributionPoint(idp) => {
                            Some(IssuingDistributionPoint {
                                uris: match &idp.distribution_point {
                                    Some(DistributionPointName::FullName(names)) => names
                                        .iter()
                                        .filter_map(|n| match n {
                                            GeneralName::URI(uri) => Some(uri.to_string()),
                                            _ => None,
                                        })
                                        .collect(),
                                    _ => Vec::new(),
                                },
                                only_ca_certs: idp.only_contains_ca_certs,
                            })
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

    /// Whether rustls would check the end-entity certificate `cert` against this CRL: the CRL
    /// webpki takes for a certificate is the first *authoritative* one among those loaded
    /// (rustls-webpki 0.103, `CertRevocationList::authoritative` and
    /// `IssuingDistributionPoint::authoritative_for`). It is when it bears the certificate's
    /// issuer name and either has no IssuingDistributionPoint, or its IDP's scope includes
    /// end-entity certificates and the certificate has no cRLDistributionPoints or names one
    /// of the IDP's URIs (RFC 5280 §5.2.5, §6.3.3 (b)). So the CRLs of two keys of one name
    /// (an issuing CA rotated under the same name) stay apart only when each carries an IDP of
    /// its own and the certificate names it; webpki then checks the signature with the
    /// issuer's key, and a CRL of the other key fails there.
    pub fn authoritative_for(&self, cert: &Cert) -> bool {
        self.covers(&cert.issuer_raw, cert.crl_distribution_points.as_deref())
    }

    /// [`Crl::authoritative_for`] a certificate issued by the CA named `issuer` (raw DER)
    /// that carries the distribution point URIs `points` (`None`: no cRLDistributionPoints).
    pub fn covers(&self, issuer: &[u8], points: Option<&[String]>) -> bool {
        if self.issuer_raw != issuer {
            return false;
        }
        let Some(idp) = &self.idp else {
            return true;
        };
        if idp.only_ca_certs {
            return false;
        }
        match points {
            None => true,
            Some(points) => points.iter().any(|p| idp.uris.contains(p)),
        }
    }

    /// Whether `issuer`'s key verifies this CRL's signature (the check webpki makes with the
    /// key of the CA that issued the certificate looked up, RFC 5280 §6.3.3 (f)).
    pub fn is_signed_by(&self, issuer: &Cert) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn crl(issuer: &[u8], idp: Option<(&[&str], bool)>) -> Crl {
        Crl {
            der: CertificateRevocationListDer::from(Vec::new()),
            origin: Origin {
                path: "crl".into(),
                index: 0,
                of: 1,
            },
            issuer: String::new(),
            issuer_raw: issuer.to_vec(),
            this_update: OffsetDateTime::UNIX_EPOCH,
            next_update: None,
            number: None,
            aki: None,
            idp: idp.map(|(uris, only_ca_certs)| IssuingDistributionPoint {
                uris: uris.iter().map(|u| u.to_string()).collect(),
                only_ca_certs,
            }),
            revoked: Vec::new(),
        }
    }

    #[test]
    fn which_crls_cover_a_certificate_as_webpki_decides() {
        let (one, two) = (
            "https://ca.example.net/crl/issuing-1",
            "https://ca.example.net/crl/issuing-2",
        );
        let points = |p: &[&str]| p.iter().map(|u| u.to_string()).collect::<Vec<_>>();
        let named_one = points(&[one]);
        let named_none: Vec<String> = Vec::new();
        // no IDP: every certificate of its issuer's name, with distribution points or not
        let full = crl(b"CA", None);
        assert!(full.covers(b"CA", None) && full.covers(b"CA", Some(&named_one)));
        assert!(!full.covers(b"other CA", None));
        // an IDP: certificates that name one of its URIs, and those that name none at all
        let first = crl(b"CA", Some((&[one], false)));
        assert!(first.covers(b"CA", Some(&named_one)));
        assert!(!crl(b"CA", Some((&[two], false))).covers(b"CA", Some(&named_one)));
        assert!(
            first.covers(b"CA", None),
            "a certificate from before: covered"
        );
        assert!(
            !first.covers(b"CA", Some(&named_none)),
            "a distribution point extension without a URI: not covered"
        );
        assert!(!first.covers(b"other CA", Some(&named_one)));
        // CA certificates only: no device certificate
        assert!(!crl(b"CA", Some((&[one], true))).covers(b"CA", Some(&named_one)));
    }
}
