//! What `/metrics` reports (DESIGN.md §11), in Prometheus text through the `metrics` facade and
//! its Prometheus recorder: every family is named and described here, and recorded where it
//! happens by the helpers below, so a name is spelt once.
//!
//! The recorder is the process's (the `metrics` facade has one global recorder): replicas in
//! one process, as in the tests, add to the same families.
//!
//! May import: the `metrics` crates only; the layers call in, never the reverse.

use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Distinct operation names kept as labels per process; later ones count as `other`.
pub const MAX_OPERATION_NAMES: usize = 200;

pub const REQUESTS: &str = "jobgraph_requests_total";
pub const REQUEST_DURATION: &str = "jobgraph_request_duration_seconds";
pub const DB_CONNECTIONS: &str = "jobgraph_db_connections";
pub const WEBSOCKET_CONNECTIONS: &str = "jobgraph_websocket_connections";
pub const SUBSCRIPTIONS: &str = "jobgraph_subscriptions";
pub const EVENTS_WRITTEN: &str = "jobgraph_events_written_total";
pub const EVENTS_DELIVERED: &str = "jobgraph_events_delivered_total";
pub const SUBSCRIBER_LAG: &str = "jobgraph_subscriber_lag_seconds";
pub const CLAIMS: &str = "jobgraph_claims_total";
pub const JOBS_CLAIMED: &str = "jobgraph_jobs_claimed_total";
pub const LEASES_EXPIRED: &str = "jobgraph_leases_expired_total";
pub const LOOP_TICKS: &str = "jobgraph_loop_ticks_total";
pub const LOOP_ACTIONS: &str = "jobgraph_loop_actions_total";
pub const QUEUE_DEPTH: &str = "jobgraph_queue_depth";
pub const OLDEST_RUNNABLE_AGE: &str = "jobgraph_oldest_runnable_job_age_seconds";

/// Latency buckets of the `_seconds` histograms: 1 ms to 30 s.
const BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The process's recorder, installed on first use (later calls return the same handle).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder set first (an embedding program's) keeps its place: this handle
        // then renders nothing, which is theirs to decide.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics stays empty");
        }
        describe();
        // The families without labels are there from the first scrape, at zero.
        for name in [
            EVENTS_WRITTEN,
            EVENTS_DELIVERED,
            CLAIMS,
            JOBS_CLAIMED,
            LEASES_EXPIRED,
        ] {
            counter!(name).absolute(0);
        }
        for name in [
            WEBSOCKET_CONNECTIONS,
            SUBSCRIPTIONS,
            QUEUE_DEPTH,
            OLDEST_RUNNABLE_AGE,
        ] {
            gauge!(name).increment(0.0);
        }
        handle
    })
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        REQUESTS,
        "GraphQL operations answered, by type, operation name and outcome code"
    );
    describe_histogram!(
        REQUEST_DURATION,
        Unit::Seconds,
        "Time to answer a GraphQL operation over HTTP, by type"
    );
    describe_gauge!(
        DB_CONNECTIONS,
        "Database pool connections, by state (in_use, idle)"
    );
    describe_gauge!(WEBSOCKET_CONNECTIONS, "Open websocket connections");
    describe_gauge!(SUBSCRIPTIONS, "Running subscriptions");
    describe_counter!(EVENTS_WRITTEN, "Events stored and committed");
    describe_counter!(
        EVENTS_DELIVERED,
        "Events sent to subscriptions (an execution shared by identical ones counts once)"
    );
    describe_histogram!(
        SUBSCRIBER_LAG,
        Unit::Seconds,
        "Time from an event's commit to its delivery to a subscriber"
    );
    describe_counter!(CLAIMS, "claimJobs calls that claimed at least one job");
    describe_counter!(JOBS_CLAIMED, "Jobs claimed");
    describe_counter!(LEASES_EXPIRED, "Attempts ended because their lease expired");
    describe_counter!(
        LOOP_TICKS,
        "Background loop ticks, by loop and outcome (ok, error)"
    );
    describe_counter!(
        LOOP_ACTIONS,
        "What the background loops did: jobs moved (events deleted, for prune), by loop"
    );
    describe_gauge!(
        QUEUE_DEPTH,
        "Runnable jobs: waiting, due and not blocked (read at scrape)"
    );
    describe_gauge!(
        OLDEST_RUNNABLE_AGE,
        Unit::Seconds,
        "How long the oldest runnable job has been due (read at scrape)"
    );
}

/// The label an operation name gets: itself while fewer than [`MAX_OPERATION_NAMES`] distinct
/// names were seen, `other` after; `anonymous` without one.
pub fn operation_label(name: Option<&str>) -> String {
    static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
    let Some(name) = name.filter(|n| !n.is_empty()) else {
        return "anonymous".into();
    };
    let mut seen = SEEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if seen.contains(name) {
        return name.to_string();
    }
    if seen.len() < MAX_OPERATION_NAMES {
        seen.insert(name.to_string());
        return name.to_string();
    }
    "other".into()
}

/// One GraphQL operation answered: its type (`query`, `mutation`, `subscription`, or
/// `unknown` when it never parsed), its capped name, its outcome (`OK` or the first error's
/// code), and over HTTP its duration.
pub fn request(kind: &'static str, name: Option<&str>, code: &str, took: Option<Duration>) {
    let operation = operation_label(name);
    counter!(REQUESTS, "type" => kind, "operation" => operation, "code" => code.to_string())
        .increment(1);
    if let Some(took) = took {
        histogram!(REQUEST_DURATION, "type" => kind).record(took.as_secs_f64());
    }
}

pub fn pool(in_use: u32, idle: u32) {
    gauge!(DB_CONNECTIONS, "state" => "in_use").set(in_use as f64);
    gauge!(DB_CONNECTIONS, "state" => "idle").set(idle as f64);
}

/// One open websocket (or running subscription) while it lives: the gauge goes up when it is
/// made and down when it is dropped, however the connection ends.
#[derive(Debug)]
pub struct Open(&'static str);

impl Open {
    pub fn websocket() -> Self {
        Self::of(WEBSOCKET_CONNECTIONS)
    }

    pub fn subscription() -> Self {
        Self::of(SUBSCRIPTIONS)
    }

    fn of(name: &'static str) -> Self {
        gauge!(name).increment(1.0);
        Self(name)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        gauge!(self.0).decrement(1.0);
    }
}

pub fn events_written(n: usize) {
    counter!(EVENTS_WRITTEN).increment(n as u64);
}

/// An event sent to a subscriber `lag` after its commit.
pub fn event_delivered(lag: Duration) {
    counter!(EVENTS_DELIVERED).increment(1);
    histogram!(SUBSCRIBER_LAG).record(lag.as_secs_f64());
}

pub fn claimed(jobs: usize) {
    if jobs > 0 {
        counter!(CLAIMS).increment(1);
        counter!(JOBS_CLAIMED).increment(jobs as u64);
    }
}

pub fn leases_expired(n: usize) {
    counter!(LEASES_EXPIRED).increment(n as u64);
}

/// A loop's tick: `Ok(n)` did n things, `Err` failed.
pub fn loop_tick(name: &'static str, acted: Result<u64, ()>) {
    let outcome = if acted.is_ok() { "ok" } else { "error" };
    counter!(LOOP_TICKS, "loop" => name, "outcome" => outcome).increment(1);
    if let Ok(n) = acted {
        counter!(LOOP_ACTIONS, "loop" => name).increment(n);
    }
}

/// The runnable jobs and how long the oldest has been due.
pub fn queue(depth: u64, oldest_age: Duration) {
    gauge!(QUEUE_DEPTH).set(depth as f64);
    gauge!(OLDEST_RUNNABLE_AGE).set(oldest_age.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_names_are_capped() {
        // No other unit test names operations: this one sees the set empty.
        assert_eq!(operation_label(None), "anonymous");
        assert_eq!(operation_label(Some("")), "anonymous");
        for i in 0..MAX_OPERATION_NAMES {
            let name = format!("op{i}");
            assert_eq!(operation_label(Some(&name)), name);
        }
        assert_eq!(operation_label(Some("one-too-many")), "other");
        assert_eq!(operation_label(Some("one-too-many")), "other");
        // A name seen before the cap keeps its label.
        assert_eq!(operation_label(Some("op0")), "op0");
    }
}
