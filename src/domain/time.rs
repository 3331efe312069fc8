//! Time as the tables keep it (microseconds since the Unix epoch, UTC), and the one clock the
//! services and the background loops read it from.

use chrono::{DateTime, SubsecRound, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use tokio::sync::watch;

/// Microseconds since the epoch.
pub type Micros = i64;

/// The clock every service and loop asks for "now" (DESIGN.md §1). The server runs on the
/// system clock; tests use a [`ManualClock`] and move time forward instead of sleeping, so that
/// retention, leases, timeouts and token expiry are tested in no time and without flakiness.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    /// Microseconds added to the system time, and news of each move (only a manual clock).
    offset: Option<(Arc<AtomicI64>, watch::Receiver<i64>)>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self { offset: None }
    }

    /// Now, truncated to microseconds (what both backends store exactly).
    pub fn now(&self) -> DateTime<Utc> {
        let now = Utc::now().trunc_subsecs(6);
        match &self.offset {
            None => now,
            Some((offset, _)) => {
                now + chrono::Duration::microseconds(offset.load(Ordering::SeqCst))
            }
        }
    }

    /// Now, as stored.
    pub fn now_micros(&self) -> Micros {
        to_micros(self.now())
    }

    /// Waits until this clock reads `deadline` (microseconds) or later. On a manual clock a
    /// move past the deadline ends the wait at once.
    pub async fn sleep_until(&self, deadline: Micros) {
        let mut moves = self.offset.as_ref().map(|(_, rx)| rx.clone());
        loop {
            let left = deadline.saturating_sub(self.now_micros());
            if left <= 0 {
                return;
            }
            let sleep = tokio::time::sleep(std::time::Duration::from_micros(left as u64));
            match &mut moves {
                None => sleep.await,
                Some(rx) => {
                    tokio::select! {
                        _ = sleep => {}
                        changed = rx.changed() => {
                            if changed.is_err() {
                                // The manual clock is gone: only real time moves now.
                                moves = None;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A clock a test moves: it runs with the system clock, plus however far it was moved.
#[derive(Debug, Clone)]
pub struct ManualClock {
    offset: Arc<AtomicI64>,
    moved: Arc<watch::Sender<i64>>,
}

impl Default for ManualClock {
    fn default() -> Self {
        Self {
            offset: Arc::default(),
            moved: Arc::new(watch::channel(0).0),
        }
    }
}

impl ManualClock {
    pub fn new() -> Self {
        Self::default()
    }

    /// The clock to hand to the services.
    pub fn clock(&self) -> Clock {
        Clock {
            offset: Some((self.offset.clone(), self.moved.subscribe())),
        }
    }

    /// Moves the clock forward by `by` (never back: time read by the services stays monotonic),
    /// waking whoever sleeps on it.
    pub fn advance(&self, by: std::time::Duration) {
        let us = i64::try_from(by.as_micros()).unwrap_or(i64::MAX);
        let now = self
            .offset
            .fetch_add(us, Ordering::SeqCst)
            .saturating_add(us);
        self.moved.send_replace(now);
    }
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

/// Serde for a stored time as RFC 3339 text with microseconds (events, snapshots, chains).
pub mod serde_rfc3339 {
    use super::{Micros, rfc3339};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(us: &Micros, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&rfc3339(*us))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Micros, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_rfc3339(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("`{text}` is not an RFC 3339 time")))
    }
}

/// As [`serde_rfc3339`], for a time that may be absent.
pub mod serde_rfc3339_opt {
    use super::{Micros, rfc3339};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(us: &Option<Micros>, s: S) -> Result<S::Ok, S::Error> {
        match us {
            Some(us) => s.serialize_str(&rfc3339(*us)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Micros>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => super::parse_rfc3339(&text).map(Some).ok_or_else(|| {
                serde::de::Error::custom(format!("`{text}` is not an RFC 3339 time"))
            }),
        }
    }
}

/// Parses RFC 3339 text into a stored time (truncated to microseconds).
pub fn parse_rfc3339(text: &str) -> Option<Micros> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| to_micros(t.with_timezone(&Utc)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_forward_and_the_system_clock_does_not_move() {
        let manual = ManualClock::new();
        let clock = manual.clock();
        let before = clock.now_micros();
        manual.advance(std::time::Duration::from_secs(3600));
        let after = clock.now_micros();
        assert!(after - before >= 3_600_000_000, "{before} -> {after}");
        let system = Clock::system().now_micros();
        assert!(system < after - 3_000_000_000);
    }

    #[tokio::test]
    async fn sleeping_on_a_manual_clock_ends_when_it_is_moved_past_the_deadline() {
        let manual = ManualClock::new();
        let clock = manual.clock();
        let deadline = clock.now_micros() + 3_600_000_000;
        let sleeper = tokio::spawn(async move { clock.sleep_until(deadline).await });
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!sleeper.is_finished());
        manual.advance(std::time::Duration::from_secs(1800));
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(!sleeper.is_finished(), "half way is not there yet");
        manual.advance(std::time::Duration::from_secs(1801));
        tokio::time::timeout(std::time::Duration::from_secs(5), sleeper)
            .await
            .expect("woken by the move")
            .unwrap();
        // The system clock sleeps in real time.
        let system = Clock::system();
        let start = std::time::Instant::now();
        system.sleep_until(system.now_micros() + 30_000).await;
        assert!(start.elapsed() >= std::time::Duration::from_millis(29));
    }

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
