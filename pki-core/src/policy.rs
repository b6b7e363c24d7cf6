//! The profile a device certificate is judged against (`policies/*.yaml`). The default is
//! `policies/device.yaml`, compiled in so that a bare `pki diagnose` needs no file.

use crate::error::Error;
use serde::{Deserialize, Serialize};
use std::path::Path;
use time::{Duration, OffsetDateTime};

const DEFAULT: &str = include_str!("../../policies/device.yaml");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub name: String,
    pub renewal: Renewal,
    pub max_lifetime_days: u32,
    pub min_rsa_bits: usize,
    pub require_san: bool,
    pub clock_skew_hours: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Renewal {
    /// Fraction of the lifetime after which renewal is due (0 < f ≤ 1).
    pub fraction: f64,
    /// Days before notAfter at which renewal is due at the latest.
    #[serde(default)]
    pub before_days: Option<u32>,
}

impl Default for Policy {
    fn default() -> Self {
        // The compiled-in file is checked by a unit test; a broken build cannot ship.
        Policy::parse(DEFAULT).unwrap_or_else(|_| Policy {
            name: "device".into(),
            renewal: Renewal {
                fraction: 2.0 / 3.0,
                before_days: Some(14),
            },
            max_lifetime_days: 398,
            min_rsa_bits: 2048,
            require_san: true,
            clock_skew_hours: 24,
        })
    }
}

impl Policy {
    /// Reads and checks a policy file; errors carry the file, line and column.
    pub fn load(path: &Path) -> Result<Policy, Error> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Policy::parse(&text).map_err(|reason| Error::Policy {
            path: path.to_path_buf(),
            reason,
        })
    }

    pub fn parse(text: &str) -> Result<Policy, String> {
        let policy: Policy = serde_saphyr::from_str(text).map_err(|e| e.to_string())?;
        policy.check()?;
        Ok(policy)
    }

    fn check(&self) -> Result<(), String> {
        if !(self.renewal.fraction > 0.0 && self.renewal.fraction <= 1.0) {
            return Err(format!(
                "renewal.fraction must be in (0, 1], not {}",
                self.renewal.fraction
            ));
        }
        if self.max_lifetime_days == 0 {
            return Err("max_lifetime_days must be at least 1".into());
        }
        Ok(())
    }

    /// When a certificate valid from `not_before` to `not_after` is due for renewal.
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_default_parses() {
        assert_eq!(
            Policy::parse(DEFAULT).map(|p| p.name),
            Ok("device".to_string())
        );
    }

    #[test]
    fn unknown_keys_are_refused_with_a_position() {
        let err = Policy::parse(&format!("{DEFAULT}\nsurprise: 1\n")).unwrap_err();
        assert!(err.contains("surprise"), "{err}");
        assert!(err.contains("line"), "{err}");
    }
}
