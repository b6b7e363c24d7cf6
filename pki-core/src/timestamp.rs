//! The one instant every judgement is made at (`--at`), and how instants and spans are written.

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// Parses an RFC 3339 instant such as `2026-03-01T12:00:00Z`.
pub fn parse(text: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|e| format!("'{text}' is not an RFC 3339 time like 2026-03-01T12:00:00Z ({e})"))
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
