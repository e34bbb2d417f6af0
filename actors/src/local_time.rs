//! Shift ends and starts as a reader reads them: in their time zone (IANA name, through jiff's zone
//! database), relative to now, the date only when it is far enough away to need one.
//!
//! `18:00 UTC (in 3 h)` today, `Thu 18:00 UTC (in 2 d 4 h)` within six days, `Thu 10 Dec 18:00 UTC (in 11 d)`
//! beyond. Shared by the cache (handoff announcements) and the commands (`!ic` replies); [`crate::utc`] stays
//! the format for logs and APIs.

use std::fmt;
use std::time::{Duration, SystemTime};

use jiff::tz::TimeZone;
use jiff::Timestamp;

/// Beyond this, a time is shown with its date.
pub const DATE_AFTER: Duration = Duration::from_secs(6 * 86_400);

/// A time zone people read times in: UTC, or one from the IANA database (`Europe/Lisbon`).
#[derive(Clone, PartialEq)]
pub struct ReaderZone {
    name: String,
    zone: TimeZone,
}

impl fmt::Debug for ReaderZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl Default for ReaderZone {
    fn default() -> Self {
        ReaderZone::utc()
    }
}

impl ReaderZone {
    pub fn utc() -> Self {
        ReaderZone {
            name: "UTC".into(),
            zone: TimeZone::UTC,
        }
    }

    /// A zone by its IANA name; the error says what is wrong in words a config reader understands.
    pub fn named(name: &str) -> Result<Self, String> {
        let name = name.trim();
        if name.is_empty() {
            return Err(
                "empty; use an IANA time zone name such as \"Europe/Lisbon\" or \"UTC\"".into(),
            );
        }
        TimeZone::get(name)
            .map(|zone| ReaderZone {
                name: name.to_string(),
                zone,
            })
            .map_err(|e| {
                format!("{name:?} is not a known IANA time zone (such as \"Europe/Lisbon\"): {e}")
            })
    }

    /// The IANA name as configured (`UTC` for the default).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// When `at` is, for a reader at `now`: `18:00 UTC (in 3 h)`, `Thu 18:00 UTC (in 2 d 4 h)`,
    /// `Thu 10 Dec 18:00 UTC (in 11 d 2 h)`; a time past says `(3 min ago)`.
    pub fn when(&self, at: SystemTime, now: SystemTime) -> String {
        let (Ok(at_ts), Ok(now_ts)) = (Timestamp::try_from(at), Timestamp::try_from(now)) else {
            return crate::utc::utc(at);
        };
        let local = at_ts.to_zoned(self.zone.clone());
        let today = now_ts.to_zoned(self.zone.clone()).date();
        let (distance, relative) = match at.duration_since(now) {
            Ok(ahead) => (ahead, format!("in {}", rounded(ahead))),
            Err(e) => (e.duration(), format!("{} ago", rounded(e.duration()))),
        };
        let pattern = if distance > DATE_AFTER {
            "%a %-d %b %H:%M %Z"
        } else if local.date() == today {
            "%H:%M %Z"
        } else {
            "%a %H:%M %Z"
        };
        format!("{} ({relative})", local.strftime(pattern))
    }
}

/// A short distance in time: `12 s`, `7 min`, `3 h`, `3 h 5 min`, `2 d 4 h` (the cache's ages read the same).
fn rounded(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=59 => format!("{s} s"),
        60..=3599 => format!("{} min", s / 60),
        3600..=86_399 if s % 3600 < 60 => format!("{} h", s / 3600),
        3600..=86_399 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        _ => format!("{} d {} h", s / 86_400, (s % 86_400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Thursday 2026-12-03 15:00:00 UTC.
    fn thursday_3pm() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_310_000)
    }

    fn h(hours: u64) -> Duration {
        Duration::from_secs(hours * 3600)
    }

    #[test]
    fn today_shows_the_clock_and_how_long() {
        let z = ReaderZone::utc();
        let now = thursday_3pm();
        assert_eq!(z.when(now + h(3), now), "18:00 UTC (in 3 h)");
    }

    #[test]
    fn later_this_week_shows_the_weekday() {
        let z = ReaderZone::utc();
        let now = thursday_3pm();
        assert_eq!(z.when(now + h(24 + 3), now), "Fri 18:00 UTC (in 1 d 3 h)");
    }

    #[test]
    fn more_than_six_days_away_shows_the_date() {
        let z = ReaderZone::utc();
        let now = thursday_3pm();
        assert_eq!(
            z.when(now + h(7 * 24 + 3), now),
            "Thu 10 Dec 18:00 UTC (in 7 d 3 h)"
        );
    }

    #[test]
    fn a_reader_zone_moves_the_clock_and_maybe_the_day() {
        let now = thursday_3pm();
        let lisbon = ReaderZone::named("Europe/Lisbon").unwrap();
        assert_eq!(lisbon.when(now + h(3), now), "18:00 WET (in 3 h)");
        let tokyo = ReaderZone::named("Asia/Tokyo").unwrap();
        // 18:00 UTC is 03:00 on Friday in Tokyo, where it is already Friday 00:00 now.
        assert_eq!(tokyo.when(now + h(3), now), "03:00 JST (in 3 h)");
        let la = ReaderZone::named("America/Los_Angeles").unwrap();
        // 07:00 on Thursday in Los Angeles: 01:00 UTC Friday is still Thursday there, 11:00 UTC is not.
        assert_eq!(la.when(now + h(10), now), "17:00 PST (in 10 h)");
        assert_eq!(la.when(now + h(20), now), "Fri 03:00 PST (in 20 h)");
    }

    #[test]
    fn past_times_say_ago() {
        let z = ReaderZone::utc();
        let now = thursday_3pm();
        assert_eq!(
            z.when(now - Duration::from_secs(180), now),
            "14:57 UTC (3 min ago)"
        );
    }

    #[test]
    fn unknown_zones_are_refused_with_the_name() {
        let e = ReaderZone::named("Mars/Olympus").unwrap_err();
        assert!(
            e.starts_with("\"Mars/Olympus\" is not a known IANA time zone"),
            "{e}"
        );
        assert!(ReaderZone::named(" ").is_err());
    }
}
