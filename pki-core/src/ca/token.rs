//! `pki ca token`: a one-time enrollment token for a device's first certificate over EST
//! (`simpleenroll` with HTTP Basic: user = device id, password = the token). 160 random bits,
//! shown once; the inventory keeps only its SHA-256, so a copy of the database enrolls
//! nobody. Single use (enforced by the database) and expiring.

use super::inventory::Token;
use super::Ca;
use crate::error::Error;
use ring::rand::{SecureRandom, SystemRandom};
use time::{Duration, OffsetDateTime};

/// The default lifetime of a token.
pub const DEFAULT_TTL: Duration = Duration::hours(24);

/// A token just made: the secret (to hand to the installer) and what was stored.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub secret: String,
    pub token: Token,
}

/// Makes and stores a token for `device_id`, valid from `at` for `ttl`.
pub fn make(
    ca: &Ca,
    device_id: &str,
    ttl: Duration,
    at: OffsetDateTime,
) -> Result<NewToken, Error> {
    super::issue::check_device_id(device_id).map_err(Error::Usage)?;
    if ttl <= Duration::ZERO {
        return Err(Error::Usage("a token's lifetime must be positive".into()));
    }
    let mut bytes = [0u8; 20];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::ca(&ca.dir, "the system has no entropy source for tokens"))?;
    let secret = crate::read::cert::hex(&bytes);
    let token = Token {
        hash: hash(&secret),
        device_id: device_id.to_string(),
        created_at: at,
        expires_at: at + ttl,
        used_by: None,
    };
    ca.inventory.add_token(&token)?;
    Ok(NewToken { secret, token })
}

/// What the inventory stores for `secret`: its SHA-256, hex.
pub fn hash(secret: &str) -> String {
    crate::read::cert::sha256_hex(secret.trim().as_bytes())
}

/// A lifetime like `24h`, `30m`, `7d`, `3600s` (a bare number is seconds).
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: i64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a lifetime like 24h, 30m, 7d or 3600s"))?;
    match unit {
        "" | "s" => Ok(Duration::seconds(n)),
        "m" => Ok(Duration::minutes(n)),
        "h" => Ok(Duration::hours(n)),
        "d" => Ok(Duration::days(n)),
        _ => Err(format!("'{text}': unknown unit '{unit}' (s, m, h or d)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_parse() {
        assert_eq!(parse_ttl("24h"), Ok(Duration::hours(24)));
        assert_eq!(parse_ttl("90"), Ok(Duration::seconds(90)));
        assert_eq!(parse_ttl("7d"), Ok(Duration::days(7)));
        assert!(parse_ttl("1w").is_err());
        assert!(parse_ttl("h").is_err());
    }
}
