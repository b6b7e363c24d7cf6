//! The server's one clock: the system's, or an instant fixed with `pki serve --at T` (for
//! tests: handshakes, renewal grace and issuance all happen at T). rustls reads it too, as its
//! `TimeProvider`, so a handshake is judged at the same instant as everything else.

use rustls::time_provider::TimeProvider;
use rustls_pki_types::UnixTime;
use time::OffsetDateTime;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Clock {
    System,
    Fixed(OffsetDateTime),
}

impl Clock {
    pub fn now(&self) -> OffsetDateTime {
        match self {
            Clock::System => OffsetDateTime::now_utc(),
            Clock::Fixed(at) => *at,
        }
    }

    /// `now()` as an HTTP `Date` header value (RFC 9110 §5.6.7).
    pub fn http_date(&self) -> String {
        let secs = u64::try_from(self.now().unix_timestamp()).unwrap_or(0);
        httpdate::fmt_http_date(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
    }
}

impl TimeProvider for Clock {
    fn current_time(&self) -> Option<UnixTime> {
        Some(pki_core::judge::verify::unix_time(self.now()))
    }
}
