//! Calendar times in UTC for what people read (`2026-11-26 01:43:05 UTC`) and what APIs read (RFC 3339).
//! The calendar math is jiff's.

use std::time::{SystemTime, UNIX_EPOCH};

use jiff::Timestamp;

/// `t` as a jiff timestamp, whole seconds only; times before 1970 (or beyond jiff's range) count as 1970.
fn seconds(t: SystemTime) -> Timestamp {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    i64::try_from(secs)
        .ok()
        .and_then(|s| Timestamp::from_second(s).ok())
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `2026-11-26 01:43:05 UTC`.
pub fn utc(t: SystemTime) -> String {
    seconds(t).strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `2026-11-26T01:43:05Z`.
pub fn rfc3339(t: SystemTime) -> String {
    seconds(t).to_string()
}

/// `2026-11-26T01:43:05.123Z`: RFC 3339 with milliseconds, for records where order within a second matters.
pub fn rfc3339_millis(t: SystemTime) -> String {
    let millis = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_millis())
        .unwrap_or(0);
    let whole = seconds(t).strftime("%Y-%m-%dT%H:%M:%S");
    format!("{whole}.{millis:03}Z")
}

/// Reads back an RFC 3339 time (`2026-11-26T01:43:05Z`, with optional fractional seconds, `Z` or a
/// `+00:00`-style offset). `None` for anything else or a time before 1970.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let at: Timestamp = text.trim().parse().ok()?;
    let t = SystemTime::from(at);
    (t >= UNIX_EPOCH).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn epoch_leap_day_and_year_end() {
        assert_eq!(utc(at(0)), "1970-01-01 00:00:00 UTC");
        assert_eq!(rfc3339(at(951_782_400)), "2000-02-29T00:00:00Z");
        assert_eq!(utc(at(1_798_761_599)), "2026-12-31 23:59:59 UTC");
    }

    #[test]
    fn rfc3339_reads_back_what_it_writes() {
        for secs in [0, 951_782_400, 1_798_761_599, 4_102_444_800] {
            assert_eq!(parse_rfc3339(&rfc3339(at(secs))), Some(at(secs)));
        }
        let t = at(1_798_761_599) + Duration::from_millis(123);
        assert_eq!(rfc3339_millis(t), "2026-12-31T23:59:59.123Z");
        assert_eq!(parse_rfc3339(&rfc3339_millis(t)), Some(t));
        assert_eq!(
            parse_rfc3339("2027-01-01T01:00:00+01:00"),
            Some(at(1_798_761_600))
        );
        for bad in [
            "",
            "2026-13-01T00:00:00Z",
            "yesterday",
            "2026-01-01",
            "1969-12-31T23:59:59Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
