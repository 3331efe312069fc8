//! Every API-driven row of the job transition table (DESIGN.md §3), and forbidden transitions:
//! INVALID_TRANSITION with `from` and `to`, and nothing changed.

use crate::backend_tests;
use crate::harness::{Member, TestApp, first_error};
use jobgraph::auth::Actor;
use serde_json::json;

backend_tests!(allowed_rows, forbidden_transitions_change_nothing);

/// Makes a job in `status` the way the API would (TIMED_OUT only the timeout loop reaches: the
/// row is set directly after a failed attempt).
async fn job_in(app: &TestApp, actor: &Actor, status: &str) -> String {
    let input = match status {
        "SCHEDULED" => {
            json!({"title": status, "retryPolicy": {"maxAttempts": 3}, "schedule": {"runAt": "2099-01-01T00:00:00Z"}})
        }
        _ => json!({"title": status, "retryPolicy": {"maxAttempts": 3}}),
    };
    let id = app.create_job(actor, input).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let v = json!({"id": id});
    let steps: &[&str] = match status {
        "PENDING" | "SCHEDULED" => &[],
        "RUNNING" => &["startJob(id: $id)"],
        "CANCELLING" => &["startJob(id: $id)", "cancelJob(id: $id, reason: \"r\")"],
        "SUCCEEDED" => &["startJob(id: $id)", "completeJob(id: $id)"],
        "FAILED" | "TIMED_OUT" => &[
            "startJob(id: $id)",
            "failJob(id: $id, error: \"e\", retryable: false)",
        ],
        "CANCELLED" => &["cancelJob(id: $id, reason: \"r\")"],
        other => panic!("no recipe for {other}"),
    };
    for step in steps {
        TestApp::data(app.job_op(actor, step, v.clone()).await);
    }
    if status == "TIMED_OUT" {
        app.force_status(&id, "TIMED_OUT").await;
    }
    let now = app
        .ok(actor, "query($id: UUID!) { job(id: $id) { status } }", v)
        .await;
    assert_eq!(now["job"]["status"], status);
    id
}

/// (from, operation, to, the events it must add after the ones already there)
const ALLOWED: &[(&str, &str, &str, &[&str])] = &[
    (
        "PENDING",
        "scheduleJob(id: $id, schedule: {runAt: \"2099-01-01T00:00:00Z\"})",
        "SCHEDULED",
        &["job.status_changed", "job.scheduled"],
    ),
    (
        "SCHEDULED",
        "scheduleJob(id: $id, schedule: {cron: \"0 * * * *\"})",
        "SCHEDULED",
        &["job.scheduled"],
    ),
    (
        "PENDING",
        "startJob(id: $id)",
        "RUNNING",
        &["job.status_changed", "job.started"],
    ),
    (
        "SCHEDULED",
        "startJob(id: $id)",
        "RUNNING",
        &["job.status_changed", "job.started"],
    ),
    (
        "PENDING",
        "cancelJob(id: $id, reason: \"r\")",
        "CANCELLED",
        &["job.status_changed", "job.cancelled"],
    ),
    (
        "PENDING",
        "cancelJob(id: $id, reason: \"r\", mode: HARD)",
        "CANCELLED",
        &["job.status_changed", "job.cancelled"],
    ),
    (
        "SCHEDULED",
        "cancelJob(id: $id, reason: \"r\")",
        "CANCELLED",
        &["job.status_changed", "job.cancelled"],
    ),
    (
        "SCHEDULED",
        "cancelJob(id: $id, reason: \"r\", mode: HARD)",
        "CANCELLED",
        &["job.status_changed", "job.cancelled"],
    ),
    (
        "RUNNING",
        "completeJob(id: $id)",
        "SUCCEEDED",
        &["job.status_changed", "job.succeeded"],
    ),
    (
        "RUNNING",
        "failJob(id: $id, error: \"e\")",
        "SCHEDULED",
        &["job.status_changed", "job.retry_scheduled"],
    ),
    (
        "RUNNING",
        "failJob(id: $id, error: \"e\", retryable: false)",
        "FAILED",
        &["job.status_changed", "job.failed"],
    ),
    (
        "RUNNING",
        "cancelJob(id: $id, reason: \"r\", mode: GRACEFUL)",
        "CANCELLING",
        &["job.status_changed", "job.cancel_requested"],
    ),
    (
        "RUNNING",
        "cancelJob(id: $id, reason: \"r\", mode: HARD)",
        "CANCELLED",
        &["job.status_changed", "job.cancelled"],
    ),
    (
        "CANCELLING",
        "cancelJob(id: $id, reason: \"r\", mode: HARD)",
        "CANCELLED",
        &["job.status_changed", "job.cancelled"],
    ),
    (
        "CANCELLING",
        "failJob(id: $id, error: \"e\")",
        "CANCELLED",
        &["job.status_changed", "job.cancelled"],
    ),
    (
        "CANCELLING",
        "completeJob(id: $id)",
        "SUCCEEDED",
        &["job.status_changed", "job.succeeded"],
    ),
    (
        "FAILED",
        "retryJob(id: $id)",
        "SCHEDULED",
        &["job.status_changed", "job.scheduled"],
    ),
    (
        "CANCELLED",
        "retryJob(id: $id)",
        "SCHEDULED",
        &["job.status_changed", "job.scheduled"],
    ),
    (
        "TIMED_OUT",
        "retryJob(id: $id)",
        "SCHEDULED",
        &["job.status_changed", "job.scheduled"],
    ),
];

async fn allowed_rows(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    for (from, op, to, events) in ALLOWED {
        let id = job_in(&app, &alice, from).await;
        let before = app.job_event_types(&id).await;
        let version = app
            .ok(
                &alice,
                "query($id: UUID!) { job(id: $id) { version } }",
                json!({"id": id}),
            )
            .await["job"]["version"]
            .as_i64()
            .unwrap();
        let out = TestApp::data(app.job_op(&alice, op, json!({"id": id})).await);
        assert_eq!(out["r"]["status"], *to, "{from} --{op}--> {to}");
        assert_eq!(
            out["r"]["version"].as_i64().unwrap(),
            version + 1,
            "{from} --{op}: one bump"
        );
        let after = app.job_event_types(&id).await;
        assert_eq!(&after[..before.len()], &before[..]);
        assert_eq!(
            &after[before.len()..],
            *events,
            "{from} --{op}--> {to}: events"
        );
        if after.len() > before.len() && events[0] == "job.status_changed" {
            let details = &app.job_events(&id).await[before.len()].1;
            assert_eq!(details, &json!({"fromStatus": from, "toStatus": to}));
        }
    }
}

/// (from, operation, the `to` of the refusal)
const FORBIDDEN: &[(&str, &str, &str)] = &[
    ("SUCCEEDED", "startJob(id: $id)", "RUNNING"),
    ("RUNNING", "startJob(id: $id)", "RUNNING"),
    ("CANCELLED", "startJob(id: $id)", "RUNNING"),
    ("PENDING", "completeJob(id: $id)", "SUCCEEDED"),
    ("FAILED", "completeJob(id: $id)", "SUCCEEDED"),
    ("SCHEDULED", "failJob(id: $id, error: \"e\")", "FAILED"),
    ("SUCCEEDED", "failJob(id: $id, error: \"e\")", "FAILED"),
    ("RUNNING", "retryJob(id: $id)", "SCHEDULED"),
    ("SUCCEEDED", "retryJob(id: $id)", "SCHEDULED"),
    ("PENDING", "retryJob(id: $id)", "SCHEDULED"),
    (
        "RUNNING",
        "scheduleJob(id: $id, schedule: {runAt: \"2099-01-01T00:00:00Z\"})",
        "SCHEDULED",
    ),
    (
        "FAILED",
        "scheduleJob(id: $id, schedule: {runAt: \"2099-01-01T00:00:00Z\"})",
        "SCHEDULED",
    ),
    (
        "CANCELLING",
        "cancelJob(id: $id, reason: \"r\")",
        "CANCELLING",
    ),
    (
        "SUCCEEDED",
        "cancelJob(id: $id, reason: \"r\", mode: HARD)",
        "CANCELLED",
    ),
    (
        "CANCELLED",
        "cancelJob(id: $id, reason: \"r\")",
        "CANCELLED",
    ),
    (
        "TIMED_OUT",
        "cancelJob(id: $id, reason: \"r\")",
        "CANCELLED",
    ),
    (
        "SUCCEEDED",
        "delegateJob(id: $id, to: \"zed\")",
        "SUCCEEDED",
    ),
];

async fn forbidden_transitions_change_nothing(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let read = "query($id: UUID!) { job(id: $id) { status version updatedAt runs { status } } }";
    for (from, op, to) in FORBIDDEN {
        let id = job_in(&app, &alice, from).await;
        let before = app.ok(&alice, read, json!({"id": id})).await;
        let events = app.event_count().await;
        let err = first_error(&app.job_op(&alice, op, json!({"id": id})).await);
        assert_eq!(
            err["extensions"],
            json!({"code": "INVALID_TRANSITION", "from": from, "to": to}),
            "{from} --{op}"
        );
        assert!(!err["message"].as_str().unwrap().is_empty());
        assert_eq!(
            app.ok(&alice, read, json!({"id": id})).await,
            before,
            "{from} --{op}: changed"
        );
        assert_eq!(app.event_count().await, events);
    }
    // Deleting a RUNNING or CANCELLING job: INVALID_TRANSITION to DELETED; the job stays.
    for from in ["RUNNING", "CANCELLING"] {
        let id = job_in(&app, &alice, from).await;
        let err = app
            .err(
                &alice,
                "mutation($id: UUID!) { deleteJob(id: $id) }",
                json!({"id": id}),
            )
            .await;
        assert_eq!(
            err["extensions"],
            json!({"code": "INVALID_TRANSITION", "from": from, "to": "DELETED"})
        );
        let still = app.ok(&alice, read, json!({"id": id})).await;
        assert_eq!(still["job"]["status"], from);
    }
}
