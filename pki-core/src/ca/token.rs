//! `pki ca token`: a one-time enrollment token for a device's first certificate over EST
//! (`simpleenroll` with HTTP Basic, RFC 7030 §3.2.3: user = device id, password = the
//! secret). The token is shown once as `DEVICE_ID:SECRET` — the Basic user and password as
//! RFC 7617 joins them (a user id holds no ':', and no device id does) — so the device reads
//! its id from it. The secret is 160 random bits, hex; the inventory keeps only its SHA-256,
//! so a copy of the database enrolls nobody. Single use (enforced by the database) and
//! expiring.

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

impl NewToken {
    /// What the installer gets: `DEVICE_ID:SECRET` (see [`Presented`]).
    pub fn text(&self) -> String {
        format!("{}:{}", self.token.device_id, self.secret)
    }
}

/// A token as a device is given it: `DEVICE_ID:SECRET`, as `pki ca token` prints it, or a
/// bare `SECRET` whose device id is given apart (`--device-id`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    /// The device id it names, when it names one.
    pub device_id: Option<String>,
    /// The HTTP Basic password: what the inventory knows by its hash.
    pub secret: String,
}

impl Presented {
    /// Reads `text` (surrounding white space ignored). Errors say what is wrong without
    /// repeating the secret.
    pub fn parse(text: &str) -> Result<Presented, String> {
        let text = text.trim();
        let (device_id, secret) = match text.split_once(':') {
            Some((id, secret)) => {
                super::issue::check_device_id(id)
                    .map_err(|why| format!("the token's device id: {why}"))?;
                (Some(id.to_string()), secret)
            }
            None => (None, text),
        };
        if secret.is_empty() || secret.contains(|c: char| c.is_whitespace() || c == ':') {
            return Err(
                "not a token of pki ca token (DEVICE_ID:SECRET, the secret 40 hex digits)".into(),
            );
        }
        Ok(Presented {
            device_id,
            secret: secret.to_string(),
        })
    }

    /// The device id to enroll: the token's, `given` (`--device-id`) when it names none; a
    /// `given` id must be the token's.
    pub fn device_id(&self, given: Option<&str>) -> Result<String, String> {
        match (&self.device_id, given) {
            (Some(own), Some(given)) if own != given => Err(format!(
                "the token was made for device '{own}', not '{given}': a token for '{given}' comes from pki ca token --device-id {given}"
            )),
            (Some(own), _) => Ok(own.clone()),
            (None, Some(given)) => Ok(given.to_string()),
            (None, None) => Err(
                "this token names no device (a bare secret): give --device-id ID, or use the DEVICE_ID:SECRET line pki ca token prints".into(),
            ),
        }
    }
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
    let seconds_per = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("'{text}': unknown unit '{unit}' (s, m, h or d)")),
    };
    match n.checked_mul(seconds_per).map(Duration::seconds) {
        Some(ttl) if ttl <= MAX_TTL => Ok(ttl),
        _ => Err(format!(
            "'{text}': a one-time token lives at most {} days",
            MAX_TTL.whole_days()
        )),
    }
}

/// The longest lifetime a one-time enrollment token may be given: a year.
pub const MAX_TTL: Duration = Duration::days(365);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_device_and_an_id_given_must_agree() {
        let t = Presented::parse(" dev-7:0a1b2c\n").unwrap();
        assert_eq!(t.device_id.as_deref(), Some("dev-7"));
        assert_eq!(t.secret, "0a1b2c");
        assert_eq!(t.device_id(None).unwrap(), "dev-7");
        assert_eq!(t.device_id(Some("dev-7")).unwrap(), "dev-7");
        let err = t.device_id(Some("dev-8")).unwrap_err();
        assert!(err.contains("'dev-7', not 'dev-8'"), "{err}");
        assert!(!err.contains("0a1b2c"), "the secret is not repeated: {err}");

        let bare = Presented::parse("0a1b2c").unwrap();
        assert_eq!(bare.device_id, None);
        assert_eq!(bare.device_id(Some("dev-8")).unwrap(), "dev-8");
        assert!(bare.device_id(None).is_err());

        for bad in ["", "dev-7:", "bad id!:0a1b", "dev-7:0a:1b", "dev-7:0a 1b"] {
            let err = Presented::parse(bad).unwrap_err();
            assert!(!err.contains("0a"), "the secret is not repeated: {err}");
        }
    }

    #[test]
    fn lifetimes_parse() {
        assert_eq!(parse_ttl("24h"), Ok(Duration::hours(24)));
        assert_eq!(parse_ttl("90"), Ok(Duration::seconds(90)));
        assert_eq!(parse_ttl("7d"), Ok(Duration::days(7)));
        assert!(parse_ttl("1w").is_err());
        assert!(parse_ttl("h").is_err());
        assert_eq!(parse_ttl("365d"), Ok(MAX_TTL));
        assert!(parse_ttl("366d").is_err());
        assert!(parse_ttl("99999999999999999d").is_err());
    }
}
