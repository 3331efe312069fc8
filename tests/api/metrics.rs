//! `/metrics` (DESIGN.md §11): every family is there, in Prometheus text, and moves as
//! requests, events, claims, subscriptions and loops happen. The recorder is the process's,
//! so other tests add to the same counters: each check is "grew by at least", on labels
//! only this test uses where it can.

use crate::backend_tests;
use crate::harness::TestApp;
use crate::ws_client::{TRANSPORT, Ws};
use jobgraph::auth::Role;
use serde_json::json;
use std::time::Duration;

backend_tests!(metrics_move_as_things_happen);

const FAMILIES: [&str; 15] = [
    "jobgraph_requests_total",
    "jobgraph_request_duration_seconds",
    "jobgraph_db_connections",
    "jobgraph_websocket_connections",
    "jobgraph_subscriptions",
    "jobgraph_events_written_total",
    "jobgraph_events_delivered_total",
    "jobgraph_subscriber_lag_seconds",
    "jobgraph_claims_total",
    "jobgraph_jobs_claimed_total",
    "jobgraph_leases_expired_total",
    "jobgraph_loop_ticks_total",
    "jobgraph_loop_actions_total",
    "jobgraph_queue_depth",
    "jobgraph_oldest_runnable_job_age_seconds",
];

/// One scrape.
struct Scrape(String);

impl Scrape {
    async fn of(app: &TestApp) -> Self {
        let response = reqwest::get(format!("http://{}/metrics", app.addr))
            .await
            .expect("scrape");
        assert_eq!(response.status(), 200);
        let media = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(media.starts_with("text/plain; version=0.0.4"), "{media}");
        Self(response.text().await.expect("text"))
    }

    /// The sum of the samples of `name` whose labels include every one of `labels` (0 when
    /// there are none).
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.0
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|line| {
                let (series, value) = line.rsplit_once(' ')?;
                let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
                (metric == name
                    && labels
                        .iter()
                        .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
                .then(|| value.parse::<f64>().ok())?
            })
            .sum()
    }

    fn described(&self, family: &str) -> bool {
        self.0.contains(&format!("# TYPE {family} "))
    }
}

async fn metrics_move_as_things_happen(app: TestApp) {
    let agent = app.actor("metrics-agent", &[Role::Agent, Role::Member]);
    // The loops, as `serve` runs them, ticking often.
    let stop = tokio_util::sync::CancellationToken::new();
    let loops = jobgraph::loops::spawn(
        app.state.services.clone(),
        jobgraph::loops::LoopSettings {
            sweep_interval: Duration::from_millis(20),
            event_retention: None,
            cancel_grace: Duration::from_secs(30),
        },
        &stop,
    );
    let before = Scrape::of(&app).await;

    // A named query, a failing one, and three mutations over HTTP.
    let name = format!("Probe{}", uuid::Uuid::now_v7().simple());
    app.http(
        &agent,
        &format!("query {name} {{ me {{ id }} }}"),
        json!({}),
    )
    .await;
    let failed = app
        .http(
            &agent,
            &format!("query {name} {{ job(id: \"nope\") {{ id }} }}"),
            json!({}),
        )
        .await;
    let code = crate::harness::code(&failed);
    let mut ws = Ws::ready(app.addr, TRANSPORT, &app.token(&agent)).await;
    ws.subscribe("1", "subscription { jobEvents { id type } }", json!({}))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let during = Scrape::of(&app).await;
    for i in 0..3 {
        app.http(
            &agent,
            "mutation($t: String!) { createJob(input: {title: $t}) { id } }",
            json!({"t": format!("m{i}")}),
        )
        .await;
    }
    ws.next_of("1").await;
    // Three runnable jobs, the oldest due 5 s ago by the test's clock.
    app.clock.advance(Duration::from_secs(5));
    let queued = Scrape::of(&app).await;
    // A claim with a one-second lease that then runs out: the leases loop ends it.
    let claimed = app
        .http(
            &agent,
            "mutation { claimJobs(limit: 2, leaseSeconds: 1) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(claimed["data"]["claimJobs"].as_array().unwrap().len(), 2);
    let one_left = Scrape::of(&app).await;
    app.clock.advance(Duration::from_secs(2));
    let mut after = Scrape::of(&app).await;
    for _ in 0..100 {
        if after.value("jobgraph_leases_expired_total", &[])
            >= before.value("jobgraph_leases_expired_total", &[]) + 2.0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        after = Scrape::of(&app).await;
    }
    stop.cancel();
    for loop_task in loops {
        tokio::time::timeout(Duration::from_secs(10), loop_task)
            .await
            .expect("the loops stop when told")
            .expect("no loop panicked");
    }

    for family in FAMILIES {
        assert!(after.described(family), "{family} is missing:\n{}", after.0);
    }
    let grew = |name: &str, labels: &[(&str, &str)], by: f64| {
        let (b, a) = (before.value(name, labels), after.value(name, labels));
        assert!(
            a >= b + by,
            "{name}{labels:?} went from {b} to {a}, expected +{by}"
        );
    };
    let op = [
        ("type", "query"),
        ("operation", name.as_str()),
        ("code", "OK"),
    ];
    assert_eq!(after.value("jobgraph_requests_total", &op), 1.0);
    let op_failed = [
        ("type", "query"),
        ("operation", name.as_str()),
        ("code", code.as_str()),
    ];
    assert_eq!(after.value("jobgraph_requests_total", &op_failed), 1.0);
    grew(
        "jobgraph_requests_total",
        &[("type", "mutation"), ("code", "OK")],
        4.0,
    );
    grew(
        "jobgraph_request_duration_seconds_count",
        &[("type", "query")],
        2.0,
    );
    grew("jobgraph_events_written_total", &[], 3.0);
    grew("jobgraph_events_delivered_total", &[], 1.0);
    grew("jobgraph_subscriber_lag_seconds_count", &[], 1.0);
    grew("jobgraph_claims_total", &[], 1.0);
    grew("jobgraph_jobs_claimed_total", &[], 2.0);
    grew("jobgraph_leases_expired_total", &[], 2.0);
    grew(
        "jobgraph_loop_ticks_total",
        &[("loop", "leases"), ("outcome", "ok")],
        1.0,
    );
    grew(
        "jobgraph_loop_ticks_total",
        &[("loop", "timeouts"), ("outcome", "ok")],
        1.0,
    );
    grew("jobgraph_loop_actions_total", &[("loop", "leases")], 2.0);
    // Gauges: the socket and its subscription were open during the second scrape.
    assert!(during.value("jobgraph_websocket_connections", &[]) >= 1.0);
    assert!(during.value("jobgraph_subscriptions", &[]) >= 1.0);
    // Read at scrape, from this server's database alone.
    assert_eq!(queued.value("jobgraph_queue_depth", &[]), 3.0);
    assert!(queued.value("jobgraph_oldest_runnable_job_age_seconds", &[]) >= 5.0);
    assert_eq!(one_left.value("jobgraph_queue_depth", &[]), 1.0);
    assert!(after.value("jobgraph_db_connections", &[("state", "idle")]) >= 1.0);
    assert!(after.described("jobgraph_db_connections"));
    drop(ws);
}
