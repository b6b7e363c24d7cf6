//! The one instant every judgement is made at (`--at`), and how instants and spans are written.

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// Parses an RFC 3339 instant such as `2026-03-01T12:00:00Z`.
pub fn parse(text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| format!("'{text}' is not an RFC 3339 time like 2026-03-01T12:00:00Z ({e})"))
}

/// The years an instant given to act at (`--at`) may fall in: from the Unix epoch (rustls'
/// clock starts there) to 9000, so that what is reckoned from it (a root's 20 years, a policy's
/// lifetime of at most 100) stays within the year 9999, the last X.509 can write (RFC 5280
/// §4.1.2.5.2).
pub const AT_YEARS: std::ops::RangeInclusive<i32> = 1970..=9000;

/// [`parse`], and refused outside [`AT_YEARS`] (a typo such as `9026` for `2026`).
pub fn parse_at(text: &str) -> Result<OffsetDateTime, String> {
    let t = parse(text)?;
    let year = t.to_offset(time::UtcOffset::UTC).year();
    if AT_YEARS.contains(&year) {
        Ok(t)
    } else {
        Err(format!(
            "'{text}': pki acts at instants in the years {} to {} (certificates reckoned from year {year} could not be written)",
            AT_YEARS.start(),
            AT_YEARS.end()
        ))
    }
}

/// `t` without its fraction of a second, as rustls' clock (`UnixTime`) sees it.
pub fn whole_seconds(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}

/// RFC 3339 in UTC, to the second.
pub fn format(t: OffsetDateTime) -> String {
    let t = t
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// "3 days", "5 hours", "12 minutes": a span as a person says it.
pub fn span(d: Duration) -> String {
    let d = d.abs();
    let plural = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if d.whole_days() >= 2 {
        plural(d.whole_days(), "day")
    } else if d.whole_hours() >= 2 {
        plural(d.whole_hours(), "hour")
    } else if d.whole_minutes() >= 1 {
        plural(d.whole_minutes(), "minute")
    } else {
        plural(d.whole_seconds(), "second")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_names_spans() {
        let t = parse("2026-03-01T12:00:00Z").unwrap();
        assert_eq!(format(t), "2026-03-01T12:00:00Z");
        assert!(parse("yesterday").is_err());
        assert_eq!(span(Duration::minutes(90)), "90 minutes");
        assert_eq!(span(Duration::hours(-5)), "5 hours");
        assert_eq!(span(Duration::days(3)), "3 days");
    }
}
