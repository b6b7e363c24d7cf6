//! RFC 5280 (and CA/Browser-style) defects that rustls/webpki tolerate: extension criticality,
//! misplaced extensions, malformed names, odd key sizes, serial numbers. Each is a warning, so
//! that a certificate other servers (OpenSSL, Go, browsers) would refuse never passes silently.

use crate::read::cert::{common_name_of, Cert, Parsed};
use crate::read::crl::Crl;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry as oids;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

/// How a certificate is used on the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The certificate judged. `server`: it is judged as a server certificate.
    Leaf { server: bool },
    /// An intermediate CA on the path.
    Intermediate,
    /// The trust anchor the path ends at (rustls reads nothing of it but name and key).
    Anchor,
}

impl Role {
    /// Every role, in the order [`Parsed::defects`] keeps them.
    pub(crate) const ALL: [Role; 4] = [
        Role::Leaf { server: false },
        Role::Leaf { server: true },
        Role::Intermediate,
        Role::Anchor,
    ];
}

/// What is wrong with `cert` in its `role`; empty when nothing is. Worked out when the
/// certificate was parsed (`find_defects`): a fleet's CA certificates, parsed once, are judged
/// once, and no certificate is parsed a second time for it.
pub fn defects(cert: &Cert, role: Role) -> &[String] {
    let slot = Role::ALL.iter().position(|r| *r == role).unwrap_or(0);
    &cert.defects[slot]
}

/// The defects of a certificate being parsed: its facts so far and the parse itself.
pub(crate) fn find_defects(cert: &Parsed, x509: &X509Certificate<'_>, role: Role) -> Vec<String> {
    let mut out = Vec::new();
    encoding(cert, &mut out);
    let is_ca = role != Role::Leaf { server: false } && role != Role::Leaf { server: true };
    for ext in x509.extensions() {
        let name = extension_name(&ext.oid);
        match ext.parsed_extension() {
            ParsedExtension::ParseError { error } => {
                out.push(format!("its {name} extension is malformed ({error})"))
            }
            ParsedExtension::UnsupportedExtension { .. } if ext.critical => out.push(format!(
                "it has an unknown critical extension {}",
                ext.oid.to_id_string()
            )),
            ParsedExtension::AuthorityKeyIdentifier(aki) => {
                if ext.critical {
                    out.push("its authorityKeyIdentifier is critical (must not be)".into());
                }
                if aki.key_identifier.is_none() {
                    out.push("its authorityKeyIdentifier has no keyIdentifier".into());
                }
                if cert.is_self_issued()
                    && (aki.authority_cert_issuer.is_some() || aki.authority_cert_serial.is_some())
                {
                    out.push("its authorityKeyIdentifier carries an issuer name or serial".into());
                }
                if cert.is_self_issued()
                    && cert.ski.is_some()
                    && cert.aki.is_some()
                    && cert.ski != cert.aki
                {
                    out.push("it is self-issued but its authorityKeyIdentifier differs from its subjectKeyIdentifier".into());
                }
            }
            ParsedExtension::SubjectKeyIdentifier(_) if ext.critical => {
                out.push("its subjectKeyIdentifier is critical (must not be)".into())
            }
            ParsedExtension::NameConstraints(nc) => {
                if !ext.critical {
                    out.push("its nameConstraints are not critical (must be)".into());
                }
                if !is_ca {
                    out.push("it is an end-entity certificate with nameConstraints".into());
                }
                let empty = |s: &Option<Vec<_>>| s.as_ref().is_none_or(|v: &Vec<_>| v.is_empty());
                if empty(&nc.permitted_subtrees) && empty(&nc.excluded_subtrees) {
                    out.push(
                        "its nameConstraints have neither permitted nor excluded subtrees".into(),
                    );
                }
                let subtrees = nc
                    .permitted_subtrees
                    .iter()
                    .chain(nc.excluded_subtrees.iter())
                    .flatten();
                for subtree in subtrees {
                    if let GeneralName::DNSName(dns) = &subtree.base {
                        if dns.starts_with('.') {
                            out.push(format!("its name constraint '{dns}' starts with a period (not a valid dNSName)"));
                        }
                    }
                }
            }
            ParsedExtension::PolicyConstraints(_) if !ext.critical => {
                out.push("its policyConstraints are not critical (must be)".into())
            }
            ParsedExtension::SubjectAlternativeName(san) => {
                if x509.subject().as_raw().len() <= 2 && !ext.critical {
                    out.push("its subject is empty but its subjectAltName is not critical".into());
                }
                if x509.subject().as_raw().len() > 2 && ext.critical && !is_ca {
                    out.push(
                        "its subjectAltName is critical although the subject is not empty".into(),
                    );
                }
                for name in &san.general_names {
                    if let GeneralName::DNSName(dns) = name {
                        if let Some(why) = bad_dns_name(dns) {
                            out.push(format!("its subjectAltName DNS:{dns} {why}"));
                        }
                    }
                }
            }
            ParsedExtension::BasicConstraints(bc) if bc.ca && !ext.critical && is_ca => out.push(
                "its basicConstraints are not critical (must be, in a CA certificate)".into(),
            ),
            ParsedExtension::ExtendedKeyUsage(eku) => {
                if !is_ca && ext.critical {
                    out.push("its extendedKeyUsage is critical".into());
                }
                // beside the purpose it is judged for, rustls tolerates it; without that
                // purpose rustls rejects the certificate (WRONG_EKU says so, not this)
                let wanted = match role {
                    Role::Leaf { server: true } => eku.server_auth,
                    _ => eku.client_auth,
                };
                if !is_ca && eku.any && wanted {
                    out.push("its extendedKeyUsage allows anyExtendedKeyUsage".into());
                }
                if role == Role::Anchor {
                    out.push("it is a root with an extendedKeyUsage extension".into());
                }
            }
            _ => {}
        }
    }
    if is_ca && cert.basic_constraints.is_none() {
        out.push("it acts as a CA without a basicConstraints extension".into());
    }
    if is_ca && cert.subject_raw.len() <= 2 {
        out.push("it is a CA with an empty subject".into());
    }
    if let Some(ku) = cert.key_usage {
        if !is_ca && ku.key_cert_sign {
            out.push("it is an end-entity certificate whose keyUsage includes keyCertSign".into());
        }
    }
    if let crate::read::cert::KeyAlgorithm::Rsa { bits } = cert.key {
        if bits % 8 != 0 {
            out.push(format!(
                "its RSA modulus is {bits} bits, not a multiple of 8"
            ));
        }
    }
    if role == (Role::Leaf { server: true }) {
        common_name_in_san(cert, &mut out);
    }
    out
}

/// Encoding rules checked on every certificate: serial, version, key identifiers.
fn encoding(cert: &Parsed, out: &mut Vec<String>) {
    let serial = &cert.serial_raw;
    if serial.iter().all(|b| *b == 0) {
        out.push("its serial number is zero".to_string());
    } else if serial.first().is_some_and(|b| b & 0x80 != 0) {
        out.push("its serial number is negative".to_string());
    }
    if serial.len() > 20 {
        out.push(format!(
            "its serial number is {} bytes long (at most 20)",
            serial.len()
        ));
    }
    if cert.version != 3 {
        out.push(format!(
            "it is an X.509 v{} certificate (v3 expected)",
            cert.version
        ));
    }
    if cert.aki.is_none() && !cert.is_self_issued() {
        out.push("it has no authorityKeyIdentifier".to_string());
    }
    if cert.not_after < cert.not_before {
        out.push("its notAfter is before its notBefore".to_string());
    }
}

/// A server certificate whose subject CN names a host should list it in subjectAltName, spelled
/// the same way; clients that still read the CN would otherwise disagree with rustls.
fn common_name_in_san(cert: &Parsed, out: &mut Vec<String>) {
    let cn = common_name_of(&cert.subject);
    if cn == cert.subject || cn.is_empty() {
        return;
    }
    let listed = cert.sans.iter().any(|san| {
        san.strip_prefix("DNS:")
            .or_else(|| san.strip_prefix("IP:"))
            .is_some_and(|v| v == cn)
    });
    if !listed {
        out.push(format!(
            "its subject CN '{cn}' is not among its subjectAltNames"
        ));
    }
}

fn bad_dns_name(dns: &str) -> Option<&'static str> {
    let labels: Vec<&str> = dns.trim_start_matches("*.").split('.').collect();
    if !dns.is_ascii() {
        Some("is not ASCII (IDNs go in as punycode)")
    } else if dns.contains('_') {
        Some("contains an underscore (not a valid hostname)")
    } else if labels.iter().any(|l| l.is_empty()) {
        Some("has an empty label")
    } else if dns.strip_prefix("*.").unwrap_or(dns).contains('*') {
        Some("has a wildcard outside the leftmost label")
    } else {
        None
    }
}

/// An extension's short name (the registry is built once: it is a large map).
fn extension_name(oid: &x509_parser::der_parser::oid::Oid<'_>) -> String {
    static REGISTRY: std::sync::OnceLock<oids::OidRegistry<'static>> = std::sync::OnceLock::new();
    REGISTRY
        .get_or_init(|| oids::OidRegistry::default().with_x509())
        .get(oid)
        .map(|entry| entry.sn().to_string())
        .unwrap_or_else(|| oid.to_id_string())
}

/// What is wrong with a CRL by RFC 5280 §5 that rustls tolerates; `issuer` is the CA of the
/// CRL's name, if at hand.
pub fn crl_defects(crl: &Crl, issuer: Option<&Cert>) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok((_, parsed)) = CertificateRevocationList::from_der(crl.der.as_ref()) {
        let number = parsed
            .extensions()
            .iter()
            .find(|e| e.oid == oids::OID_X509_EXT_CRL_NUMBER);
        match number {
            None => out.push("it has no cRLNumber (RFC 5280 5.2.3 requires one)".into()),
            Some(ext) if ext.critical => out.push("its cRLNumber is critical (must not be)".into()),
            Some(_) => {}
        }
    }
    if let Some(ku) = issuer.and_then(|i| i.key_usage) {
        if !ku.crl_sign {
            out.push("its issuer's keyUsage lacks cRLSign".into());
        }
    }
    out
}
