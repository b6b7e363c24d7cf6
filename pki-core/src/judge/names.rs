//! Which name a CA's nameConstraints reject, found the way rustls-webpki 0.103 evaluates them
//! (`subject_name::check_name_constraints`), to name what webpki reports only as "name
//! constraint violation". The verdict stays webpki's; this only points at the name and the CA.
//!
//! webpki checks every subjectAltName of each certificate below a constrained CA, and the
//! subject as a directoryName. It evaluates DNS and IP subtrees (RFC 5280 4.2.1.10); it does
//! not evaluate directoryName and URI subtrees, and fails closed on them: a directoryName
//! subtree rejects every certificate below the CA (each has a subject), a URI subtree every one
//! that carries a URI SAN, and a subtree of any other kind every one with a name of that kind.

use crate::read::cert::{Cert, Subtree};

/// The first name a CA on the path rejects.
#[derive(Debug)]
pub struct Violation<'a> {
    /// The CA whose constraints reject it.
    pub ca: &'a Cert,
    /// The certificate that carries the name.
    pub holder: &'a Cert,
    /// The name, as `Cert::sans` spells it (`IP:10.0.0.5`), or `subject <name>`.
    pub name: String,
    /// The subtree (or subtrees) it runs against.
    pub subtree: String,
    pub why: Why,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The name falls in an excluded subtree.
    Excluded,
    /// Permitted subtrees of its kind exist and it falls in none.
    NotPermitted,
    /// A subtree of a kind webpki does not evaluate: it rejects every such name.
    Unevaluated,
}

/// The first rejected name on `path` (the device certificate first, its issuers upwards, the
/// trust anchor last), if the hand-made reading finds one.
pub fn violation<'a>(path: &[&'a Cert]) -> Option<Violation<'a>> {
    for (j, ca) in path.iter().enumerate().skip(1) {
        let Some(nc) = &ca.name_constraints else {
            continue;
        };
        for holder in &path[..j] {
            let names = holder
                .sans
                .iter()
                .map(|s| (s.clone(), Kind::of_name(s)))
                .chain(std::iter::once((
                    format!("subject {}", holder.subject),
                    Kind::DirectoryName,
                )));
            for (name, kind) in names {
                let v = |subtree: String, why: Why| Violation {
                    ca,
                    holder,
                    name: name.clone(),
                    subtree,
                    why,
                };
                let permitted: Vec<&Subtree> = nc
                    .permitted
                    .iter()
                    .filter(|t| Kind::of_subtree(t) == kind)
                    .collect();
                let excluded: Vec<&Subtree> = nc
                    .excluded
                    .iter()
                    .filter(|t| Kind::of_subtree(t) == kind)
                    .collect();
                if let Some(t) = permitted.first().filter(|_| !kind.evaluated()) {
                    return Some(v(t.to_string(), Why::Unevaluated));
                }
                if let Some(t) = excluded.first().filter(|_| !kind.evaluated()) {
                    return Some(v(t.to_string(), Why::Unevaluated));
                }
                if !permitted.is_empty() && !permitted.iter().any(|t| matches(&name, t)) {
                    let all: Vec<String> = permitted.iter().map(|t| t.to_string()).collect();
                    return Some(v(all.join(", "), Why::NotPermitted));
                }
                if let Some(t) = excluded.iter().find(|t| matches(&name, t)) {
                    return Some(v(t.to_string(), Why::Excluded));
                }
            }
        }
    }
    None
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Dns,
    Ip,
    Uri,
    DirectoryName,
    Other(String),
}

impl Kind {
    fn of_name(san: &str) -> Kind {
        match san.split_once(':').map_or(san, |(kind, _)| kind) {
            "DNS" => Kind::Dns,
            "IP" => Kind::Ip,
            "URI" => Kind::Uri,
            "DirName" => Kind::DirectoryName,
            other => Kind::Other(other.to_string()),
        }
    }

    fn of_subtree(t: &Subtree) -> Kind {
        match t {
            Subtree::Dns(_) => Kind::Dns,
            Subtree::Ip { .. } => Kind::Ip,
            Subtree::Uri(_) => Kind::Uri,
            Subtree::DirectoryName(_) => Kind::DirectoryName,
            Subtree::Other(o) => Kind::of_name(o),
        }
    }

    /// Whether webpki matches names of this kind against subtrees (DNS, IP) rather than
    /// failing closed.
    fn evaluated(&self) -> bool {
        matches!(self, Kind::Dns | Kind::Ip)
    }
}

/// Whether a DNS or IP name falls in the subtree, as RFC 5280 4.2.1.10 reads: a DNS subtree
/// holds the name and every name below it; an IP subtree every address under its mask.
fn matches(name: &str, t: &Subtree) -> bool {
    match t {
        Subtree::Dns(base) => {
            let name = name
                .strip_prefix("DNS:")
                .unwrap_or(name)
                .to_ascii_lowercase();
            let base = base.to_ascii_lowercase();
            base.is_empty()
                || if base.starts_with('.') {
                    name.ends_with(&base)
                } else {
                    name == base || name.ends_with(&format!(".{base}"))
                }
        }
        Subtree::Ip { addr, mask } => {
            let Ok(ip) = name
                .strip_prefix("IP:")
                .unwrap_or(name)
                .parse::<std::net::IpAddr>()
            else {
                return false;
            };
            let bytes = match ip {
                std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
                std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
            };
            bytes.len() == addr.len()
                && bytes
                    .iter()
                    .zip(addr)
                    .zip(mask)
                    .all(|((b, a), m)| b & m == a & m)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_and_ip_subtrees_match_as_rfc_5280_reads() {
        let dns = |d: &str| Subtree::Dns(d.to_string());
        assert!(matches("DNS:a.example.com", &dns("example.com")));
        assert!(matches("DNS:example.com", &dns("example.com")));
        assert!(!matches("DNS:badexample.com", &dns("example.com")));
        assert!(!matches("DNS:example.com", &dns(".example.com")));
        let all_v4 = Subtree::Ip {
            addr: vec![0; 4],
            mask: vec![0; 4],
        };
        assert!(matches("IP:10.1.2.3", &all_v4));
        assert!(!matches("IP:::1", &all_v4));
        let ten = Subtree::Ip {
            addr: vec![10, 0, 0, 0],
            mask: vec![255, 0, 0, 0],
        };
        assert!(matches("IP:10.9.9.9", &ten));
        assert!(!matches("IP:11.0.0.1", &ten));
    }
}
