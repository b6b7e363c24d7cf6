//! `ca.yaml`: the CA folder's manifest — its name, its policy, every root and issuing CA
//! generation (current last), and where its inventory lives when that is not the default
//! SQLite file in the folder.

use serde::{Deserialize, Serialize};

pub const CONFIG: &str = "ca.yaml";
pub const SCHEMA: u32 = 1;

/// Where an issuing generation's CRL is published when `ca.yaml` names no URL for it: `pki
/// serve`'s route `/crl/<generation>` at its default port, on the host name the examples give
/// the CA's server. `pki ca init` and `pki ca rotate` record the URL of every generation they
/// make (`--crl-url`); this is the URL of the generations of CAs made before, which their
/// certificates carry since. Never change it: those certificates would no longer name their
/// generation's CRL.
pub const DEFAULT_CRL_BASE: &str = "https://ca.fleet.internal:8443/crl";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub schema: u32,
    pub name: String,
    /// The policy file in the CA folder.
    pub policy: String,
    /// Root CA generations, oldest first; the last is current.
    pub roots: Vec<Generation>,
    /// Issuing CA generations, oldest first; the last is current.
    pub issuers: Vec<Generation>,
    /// The number of the last CRL issued, as releases before the inventory kept it: read
    /// once, to carry it into the inventory (which keeps it since); never written again.
    #[serde(default, skip_serializing)]
    pub crl_number: u64,
    /// The inventory's database when it is not `inventory.sqlite` in this folder: a
    /// `postgres://` URL without its password (give that with `PGPASSWORD`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
}

/// One CA certificate and its key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Generation {
    pub id: String,
    pub cert: String,
    pub key: String,
    /// The generation that signed it (`None` for a self-signed root).
    #[serde(default)]
    pub parent: Option<String>,
    /// For a rotated root: its certificate cross-signed by the previous root.
    #[serde(default)]
    pub cross: Option<String>,
    /// After this instant (RFC 3339) it leaves the bundles handed to endpoints.
    #[serde(default)]
    pub retire_after: Option<String>,
    /// For an issuing generation: the URI of its CRL (`<base>/<id>`), which every certificate
    /// it issues names in its cRLDistributionPoints and its CRLs in their
    /// IssuingDistributionPoint (RFC 5280 §4.2.1.13, §5.2.5). Absent in CAs made before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crl_url: Option<String>,
}

impl Generation {
    /// The URI of this issuing generation's CRL: the one recorded, else
    /// `<DEFAULT_CRL_BASE>/<id>`.
    pub fn crl_distribution_point(&self) -> String {
        self.crl_url
            .clone()
            .unwrap_or_else(|| format!("{DEFAULT_CRL_BASE}/{}", self.id))
    }

    /// The base its CRL's URI was made from (the URI without its last segment).
    pub fn crl_base(&self) -> String {
        let url = self.crl_distribution_point();
        match url.rsplit_once('/') {
            Some((base, _)) if base.contains("://") && !base.ends_with('/') => base.to_string(),
            _ => url,
        }
    }
}

/// Checks a CRL base URL given on the command line (`--crl-url`): an absolute `http` or
/// `https` URL of printable ASCII (a certificate's URI is an IA5String, RFC 5280 §4.2.1.6)
/// whose host is a fully qualified name or an IP address (pkilint refuses a single-label host
/// such as `localhost`), without query or fragment (the generation is appended to its path);
/// the trailing `/` is dropped. The error says what is wrong.
pub fn crl_base(url: &str) -> Result<String, String> {
    let trimmed = url.trim_end_matches('/');
    let wrong = |why: &str| {
        Err(format!(
            "'{url}' is not a CRL URL ({why}): give http(s)://HOST[:PORT]/PATH, where devices and servers reach pki serve's /crl (e.g. https://pki.example.net:8443/crl)"
        ))
    };
    if !trimmed
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b'?' && b != b'#')
    {
        return wrong("only printable ASCII, without spaces, query or fragment");
    }
    let Some(rest) = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
    else {
        return wrong("not http or https");
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    let dns = host.contains('.')
        && host.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if !dns && host.parse::<std::net::IpAddr>().is_err() {
        return wrong("its host must be a fully qualified name or an IP address");
    }
    Ok(trimmed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_never_changes() {
        // certificates of CAs made before CRLs were partitioned name it
        assert_eq!(DEFAULT_CRL_BASE, "https://ca.fleet.internal:8443/crl");
        assert_eq!(crl_base(DEFAULT_CRL_BASE).as_deref(), Ok(DEFAULT_CRL_BASE));
    }

    #[test]
    fn crl_urls_are_checked() {
        for good in [
            "https://pki.example.net:8443/crl/",
            "http://10.0.0.5/crl",
            "https://[2001:db8::1]:8443/pki/crl",
        ] {
            assert!(crl_base(good).is_ok(), "{good}");
        }
        assert_eq!(
            crl_base("https://pki.example.net/crl///").as_deref(),
            Ok("https://pki.example.net/crl")
        );
        for bad in [
            "https://localhost:8443/crl",
            "ftp://pki.example.net/crl",
            "pki.example.net/crl",
            "https://pki.example.net/crl?x=1",
            "https://pki example.net/crl",
            "https://pki..net/crl",
            "https:///crl",
        ] {
            assert!(crl_base(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_generation_without_a_url_has_the_default_one() {
        let mut g = Generation {
            id: "issuing-2".into(),
            cert: "issuing-2.crt".into(),
            key: "issuing-2.key".into(),
            parent: None,
            cross: None,
            retire_after: None,
            crl_url: None,
        };
        assert_eq!(
            g.crl_distribution_point(),
            "https://ca.fleet.internal:8443/crl/issuing-2"
        );
        assert_eq!(g.crl_base(), DEFAULT_CRL_BASE);
        g.crl_url = Some("https://pki.example.net/pki/crl/issuing-2".into());
        assert_eq!(g.crl_base(), "https://pki.example.net/pki/crl");
    }
}
