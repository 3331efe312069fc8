//! Time as the tables keep it: microseconds since the Unix epoch, UTC.

use chrono::{DateTime, SubsecRound, Utc};

/// Microseconds since the epoch.
pub type Micros = i64;

/// Now, truncated to microseconds (what both backends store exactly).
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// A time as stored.
pub fn to_micros(t: DateTime<Utc>) -> Micros {
    t.timestamp_micros()
}

/// A stored time back as a `DateTime`.
pub fn from_micros(us: Micros) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// RFC 3339 text with microseconds, as events and snapshots carry it.
pub fn rfc3339(us: Micros) -> String {
    from_micros(us).to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_round_trip_and_truncate() {
        let t = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456789Z")
            .unwrap()
            .with_timezone(&Utc);
        let us = to_micros(t);
        assert_eq!(us % 1_000_000, 123_456);
        assert_eq!(rfc3339(us), "2026-01-02T03:04:05.123456Z");
        assert_eq!(from_micros(us), t.trunc_subsecs(6));
    }
}
