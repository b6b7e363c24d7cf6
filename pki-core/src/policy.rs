//! The profile a device certificate is issued and judged by (`policies/*.yaml`). The default is
//! `policies/device.yaml`, compiled in so that a bare `pki diagnose` needs no file.

use crate::error::Error;
use crate::read::cert::{Cert, KeyAlgorithm};
use serde::{Deserialize, Serialize};
use std::path::Path;
use time::{Duration, OffsetDateTime};

const DEFAULT: &str = include_str!("../../policies/device.yaml");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub name: String,
    /// The key made on the device.
    pub key_algorithm: KeyKind,
    /// Key algorithms a CSR may carry.
    pub accepted_keys: Vec<KeyKind>,
    pub min_rsa_bits: usize,
    pub lifetime_days: u32,
    pub backdate_minutes: u32,
    pub renewal: Renewal,
    pub subject: SubjectTemplate,
    pub san: SanTemplate,
    /// Signature algorithms accepted on requests and on certificates judged (names as
    /// `pki inspect` prints them, e.g. `ecdsa-with-SHA256`).
    pub signature_algorithms: Vec<String>,
    pub extended_key_usage: Vec<Eku>,
    pub key_usage: Vec<KeyUsageBit>,
    pub crl_validity_days: u32,
    pub leaf_not_after: LeafNotAfter,
    pub clock_skew_hours: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyKind {
    EcdsaP256,
    EcdsaP384,
    Ed25519,
    Rsa,
}

impl std::fmt::Display for KeyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            KeyKind::EcdsaP256 => "ECDSA P-256",
            KeyKind::EcdsaP384 => "ECDSA P-384",
            KeyKind::Ed25519 => "Ed25519",
            KeyKind::Rsa => "RSA",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Renewal {
    /// Fraction of the lifetime after which renewal is due (0 < f ≤ 1).
    pub fraction: f64,
    /// Days before notAfter at which renewal is due at the latest.
    #[serde(default)]
    pub before_days: Option<u32>,
    /// Spread of the due time, in percent of the lifetime (0–50), earlier only.
    #[serde(default)]
    pub jitter_percent: u32,
    /// Keep the device key on renewal instead of making a new one (default: a new key).
    #[serde(default)]
    pub reuse_key: bool,
    /// Days after notAfter in which an expired certificate may still be renewed without
    /// `--force` (default 0: an expired certificate is not renewed silently).
    #[serde(default)]
    pub grace_days: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectTemplate {
    pub common_name: String,
    #[serde(default)]
    pub organization: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SanTemplate {
    #[serde(default)]
    pub dns: Vec<String>,
    #[serde(default)]
    pub uri: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Eku {
    ClientAuth,
    ServerAuth,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum KeyUsageBit {
    DigitalSignature,
    KeyEncipherment,
    KeyAgreement,
}

/// What to do when a leaf would outlive its issuer (Vault's `leaf_not_after_behavior`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeafNotAfter {
    Truncate,
    Refuse,
}

impl Default for Policy {
    fn default() -> Self {
        // The compiled-in file is checked by a unit test, so this cannot fail in a build that
        // passed its tests; the fallback keeps `default()` infallible all the same.
        Policy::parse(DEFAULT).unwrap_or_else(|_| Policy::fallback())
    }
}

impl Policy {
    /// Reads and checks a policy file; errors carry the file, line and column.
    /// The policy in `path`, or the compiled-in default (`policies/device.yaml`) without one.
    pub fn load_or_default(path: Option<&Path>) -> Result<Policy, Error> {
        path.map_or_else(|| Ok(Policy::default()), Policy::load)
    }

    /// Reads and checks a policy file (through the capped reader, as every file is read).
    /// What is not a policy (a binary file, a FIFO, bad YAML, a bad value) is
    /// [`Error::Policy`] naming the file, line and column; a missing file is
    /// [`Error::NotFound`].
    pub fn load(path: &Path) -> Result<Policy, Error> {
        let unusable = |reason: String| Error::Policy {
            path: path.to_path_buf(),
            reason,
        };
        let text = crate::read::input::text(path).map_err(|e| match e {
            Error::BadRequest { reason, .. } if reason.contains("UTF-8") => {
                unusable("not a policy file: it is not text (UTF-8)".to_string())
            }
            Error::BadRequest { reason, .. } => unusable(reason),
            e => e,
        })?;
        let name = path.display().to_string();
        Policy::parse_named(&text, &name).map_err(unusable)
    }

    /// Parses and checks policy YAML.
    pub fn parse(text: &str) -> Result<Policy, String> {
        Policy::parse_named(text, "policy")
    }

    /// The same; errors name `source` (the file) with the line and column.
    fn parse_named(text: &str, source: &str) -> Result<Policy, String> {
        let policy: Policy = serde_saphyr::from_str(text).map_err(|e| {
            e.render_with_options(serde_saphyr::render_options! {
                formatter: &Messages,
                source_name: Some(source),
            })
        })?;
        policy.check()?;
        Ok(policy)
    }

    fn check(&self) -> Result<(), String> {
        let bad = |field: &str, why: String| Err(format!("{field}: {why}"));
        if !(self.renewal.fraction > 0.0 && self.renewal.fraction <= 1.0) {
            return bad(
                "renewal.fraction",
                format!("must be in (0, 1], not {}", self.renewal.fraction),
            );
        }
        if self.renewal.jitter_percent > 50 {
            return bad(
                "renewal.jitter_percent",
                format!("must be 0 to 50, not {}", self.renewal.jitter_percent),
            );
        }
        // spans are bounded so that what is reckoned with them stays within X.509's year 9999
        // from any instant pki acts at (timestamp::AT_YEARS)
        let spans = [
            ("lifetime_days", self.lifetime_days, 1, 36_500),
            ("crl_validity_days", self.crl_validity_days, 1, 3_650),
            ("backdate_minutes", self.backdate_minutes, 0, 43_200),
            ("clock_skew_hours", self.clock_skew_hours, 0, 8_760),
            ("renewal.grace_days", self.renewal.grace_days, 0, 36_500),
            (
                "renewal.before_days",
                self.renewal.before_days.unwrap_or(0),
                0,
                36_500,
            ),
        ];
        for (field, value, least, most) in spans {
            if value < least {
                return bad(field, format!("must be at least {least}"));
            }
            if value > most {
                return bad(field, format!("must be at most {most}, not {value}"));
            }
        }
        if self.min_rsa_bits < 2048 {
            return bad(
                "min_rsa_bits",
                format!("{} is below 2048, which rustls refuses", self.min_rsa_bits),
            );
        }
        if !self.subject.common_name.contains("{device_id}")
            && !self
                .san
                .dns
                .iter()
                .chain(&self.san.uri)
                .any(|s| s.contains("{device_id}"))
        {
            return bad(
                "subject",
                "neither the common name nor a SAN names {device_id}".into(),
            );
        }
        if self.extended_key_usage.is_empty() {
            return bad(
                "extended_key_usage",
                "must list clientAuth (a device authenticates as a client)".into(),
            );
        }
        if !self.key_usage.contains(&KeyUsageBit::DigitalSignature) {
            return bad(
                "key_usage",
                "must include digitalSignature (a TLS client signs)".into(),
            );
        }
        if self.signature_algorithms.is_empty() {
            return bad(
                "signature_algorithms",
                "must list at least one algorithm".into(),
            );
        }
        if self.key_algorithm != KeyKind::Rsa && !self.accepted_keys.contains(&self.key_algorithm) {
            return bad(
                "accepted_keys",
                format!("must include key_algorithm {}", self.key_algorithm),
            );
        }
        Ok(())
    }

    /// When a certificate valid from `not_before` to `not_after` is due for renewal, before
    /// jitter.
    pub fn renewal_due(
        &self,
        not_before: OffsetDateTime,
        not_after: OffsetDateTime,
    ) -> OffsetDateTime {
        let lifetime = not_after - not_before;
        let by_fraction = not_before + lifetime * self.renewal.fraction;
        match self.renewal.before_days {
            Some(days) => by_fraction.min(not_after - Duration::days(days.into())),
            None => by_fraction,
        }
    }

    /// When a certificate is due for renewal, jittered: moved earlier by a fraction of
    /// `jitter_percent` of its lifetime that depends only on `seed` and the certificate's serial,
    /// so a fleet enrolled in one minute spreads its renewals, and each endpoint always gets
    /// the same answer.
    pub fn renewal_due_jittered(&self, cert: &Cert, seed: &str) -> OffsetDateTime {
        let base = self.renewal_due(cert.not_before, cert.not_after);
        let lifetime = cert.not_after - cert.not_before;
        let digest = ring::digest::digest(
            &ring::digest::SHA256,
            format!("{seed}/{}", cert.serial).as_bytes(),
        );
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest.as_ref()[..8]);
        let unit = u64::from_be_bytes(first) as f64 / u64::MAX as f64;
        base - lifetime * (f64::from(self.renewal.jitter_percent) / 100.0 * unit)
    }

    /// The longest lifetime a certificate under this policy may have: the lifetime plus the
    /// backdating, plus a day of slack for CAs that round.
    pub fn max_lifetime(&self) -> Duration {
        Duration::days(i64::from(self.lifetime_days) + 1)
            + Duration::minutes(self.backdate_minutes.into())
    }

    /// `template` with the device id filled in.
    pub fn fill(template: &str, device_id: &str) -> String {
        template.replace("{device_id}", device_id)
    }

    /// Why a key of this algorithm may not be certified under this policy, if it may not.
    pub fn refuses_key(&self, key: &KeyAlgorithm) -> Option<String> {
        let kind = match key {
            KeyAlgorithm::Ec { curve: "P-256", .. } => KeyKind::EcdsaP256,
            KeyAlgorithm::Ec { curve: "P-384", .. } => KeyKind::EcdsaP384,
            KeyAlgorithm::Ed25519 => KeyKind::Ed25519,
            KeyAlgorithm::Rsa { bits } => {
                if *bits < self.min_rsa_bits {
                    return Some(format!(
                        "an RSA key of {bits} bits; policy '{}' wants at least {}",
                        self.name, self.min_rsa_bits
                    ));
                }
                KeyKind::Rsa
            }
            other => return Some(format!("a {other} key, which rustls cannot use")),
        };
        (!self.accepted_keys.contains(&kind)).then(|| {
            let accepted: Vec<String> = self.accepted_keys.iter().map(|k| k.to_string()).collect();
            format!(
                "a {key} key; policy '{}' accepts {}",
                self.name,
                accepted.join(", ")
            )
        })
    }

    /// Whether `cert` names `device_id` the way this policy's templates would.
    pub fn names_device(&self, cert: &Cert, device_id: &str) -> bool {
        let expected_cn = Policy::fill(&self.subject.common_name, device_id);
        cert.common_name() == expected_cn
            || self
                .sans_for(device_id)
                .into_iter()
                .any(|san| cert.sans.contains(&san))
    }

    /// The subjectAltNames this policy gives `device_id`, spelled as [`Parsed::sans`](crate::read::cert::Parsed::sans) spells
    /// them (`DNS:…`, `URI:…`).
    pub fn sans_for(&self, device_id: &str) -> Vec<String> {
        let dns = self
            .san
            .dns
            .iter()
            .map(|d| format!("DNS:{}", Policy::fill(d, device_id)));
        let uri = self
            .san
            .uri
            .iter()
            .map(|u| format!("URI:{}", Policy::fill(u, device_id)));
        dns.chain(uri).collect()
    }

    fn fallback() -> Policy {
        Policy {
            name: "device".into(),
            key_algorithm: KeyKind::EcdsaP256,
            accepted_keys: vec![KeyKind::EcdsaP256, KeyKind::EcdsaP384, KeyKind::Ed25519],
            min_rsa_bits: 2048,
            lifetime_days: 365,
            backdate_minutes: 60,
            renewal: Renewal {
                fraction: 2.0 / 3.0,
                before_days: Some(14),
                jitter_percent: 5,
                reuse_key: false,
                grace_days: 0,
            },
            subject: SubjectTemplate {
                common_name: "{device_id}".into(),
                organization: None,
            },
            san: SanTemplate {
                dns: vec![],
                uri: vec!["https://fleet.internal/devices/{device_id}".into()],
            },
            signature_algorithms: vec![
                "ecdsa-with-SHA256".into(),
                "ecdsa-with-SHA384".into(),
                "Ed25519".into(),
            ],
            extended_key_usage: vec![Eku::ClientAuth],
            key_usage: vec![KeyUsageBit::DigitalSignature],
            crl_validity_days: 7,
            leaf_not_after: LeafNotAfter::Truncate,
            clock_skew_hours: 24,
        }
    }
}

/// YAML errors in words for people: "expected a whole number from 0 to 4294967295" rather than
/// the parser's "invalid u32".
struct Messages;

impl serde_saphyr::MessageFormatter for Messages {
    fn format_message<'a>(&self, err: &'a serde_saphyr::Error) -> std::borrow::Cow<'a, str> {
        use std::borrow::Cow;
        match err {
            serde_saphyr::Error::InvalidScalar { ty, .. } => Cow::Owned(match *ty {
                "u8" | "u16" | "u32" | "u64" | "usize" => format!(
                    "expected a whole number from 0 to {}",
                    match *ty {
                        "u8" => u64::from(u8::MAX),
                        "u16" => u64::from(u16::MAX),
                        "u32" => u64::from(u32::MAX),
                        _ => u64::MAX,
                    }
                ),
                "f32" | "f64" => "expected a number".to_string(),
                "bool" => "expected true or false".to_string(),
                other => format!("expected a value of type {other}"),
            }),
            _ => serde_saphyr::UserMessageFormatter.format_message(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_default_parses_and_equals_the_fallback_in_spirit() {
        let p = Policy::parse(DEFAULT).unwrap();
        assert_eq!(p.name, "device");
        assert_eq!(p.key_algorithm, KeyKind::EcdsaP256);
        assert_eq!(Policy::default(), p);
    }

    #[test]
    fn every_shipped_profile_parses() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            Policy::load(&path).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
        assert!(n >= 3);
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_with_a_position() {
        let err = Policy::parse(&format!("{DEFAULT}\nsurprise: 1\n")).unwrap_err();
        assert!(err.contains("surprise"), "{err}");
        assert!(err.contains("line"), "{err}");
        let err = Policy::parse(&DEFAULT.replace("lifetime_days: 365", "lifetime_days: soon"))
            .unwrap_err();
        assert!(err.contains("line"), "{err}");
        let err = Policy::parse(&DEFAULT.replace("fraction: 0.6667", "fraction: 1.5")).unwrap_err();
        assert!(err.contains("renewal.fraction"), "{err}");
    }

    #[test]
    fn jitter_is_deterministic_and_spreads_a_fleet_over_the_window() {
        let p = Policy::default();
        let nb = OffsetDateTime::UNIX_EPOCH;
        let cert = |n: u32| {
            let key = rcgen::KeyPair::generate().unwrap();
            let mut params = rcgen::CertificateParams::new(vec![format!("dev-{n}")]).unwrap();
            params.not_before = nb;
            params.not_after = nb + Duration::days(365);
            params.serial_number = Some(rcgen::SerialNumber::from(u64::from(n) + 1));
            let pem = params.self_signed(&key).unwrap().pem();
            crate::read::decode::decode(Path::new("c"), pem.as_bytes())
                .certs
                .remove(0)
        };
        let base = p.renewal_due(nb, nb + Duration::days(365));
        let window = Duration::days(365) * (f64::from(p.renewal.jitter_percent) / 100.0);
        let fleet: Vec<OffsetDateTime> = (0..1000)
            .map(|n| p.renewal_due_jittered(&cert(n), "fleet-seed"))
            .collect();
        let first = cert(0);
        assert_eq!(
            p.renewal_due_jittered(&first, "fleet-seed"),
            fleet[0],
            "same seed, same answer"
        );
        assert_ne!(
            p.renewal_due_jittered(&first, "other-seed"),
            fleet[0],
            "another seed moves it"
        );
        assert!(
            fleet.iter().all(|d| *d <= base && *d >= base - window),
            "inside the window, earlier only"
        );
        // ten equal slices of the window each hold a share of the fleet (uniform: ~100 each)
        let mut slices = [0u32; 10];
        for d in &fleet {
            let slice = (((base - *d) / window) * 10.0).floor().clamp(0.0, 9.0) as usize;
            slices[slice] += 1;
        }
        assert!(slices.iter().all(|n| (50..=150).contains(n)), "{slices:?}");
    }

    #[test]
    fn the_renewal_point_is_the_earlier_of_fraction_and_days() {
        let p = Policy::default();
        let nb = OffsetDateTime::UNIX_EPOCH;
        // 365 days: 2/3 is day 243; 14 days before the end is day 351
        assert_eq!(
            (p.renewal_due(nb, nb + Duration::days(365)) - nb).whole_days(),
            243
        );
        // 15 days: 2/3 is day 10; 14 days before the end is day 1
        assert_eq!(
            (p.renewal_due(nb, nb + Duration::days(15)) - nb).whole_days(),
            1
        );
    }
}
