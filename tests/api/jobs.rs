//! Each job mutation's happy path, with the exact events it stores (DESIGN.md §3, §7).

use crate::backend_tests;
use crate::harness::{Agent, Member, TestApp, Viewer, code, first_error};
use serde_json::{Value, json};

backend_tests!(
    create_defaults_and_me,
    create_scheduled_with_run_at_and_cron,
    create_with_everything,
    update_changes_fields_and_absent_vs_null,
    update_with_nothing_changed_writes_nothing,
    delete_removes_job_and_frees_key,
    schedule_start_complete_with_events,
    fail_retries_with_backoff_then_fails,
    fail_not_retryable,
    cancel_graceful_then_hard,
    cancel_graceful_then_fail_or_complete,
    retry_starts_new_series,
    delegate_appends_chain,
    queries_job_jobs_history,
    expected_version_conflict,
    attempt_fencing,
    exact_decimals,
);

async fn create_defaults_and_me(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let me = app
        .ok(&alice, "{ me { id tenantId roles } }", json!({}))
        .await;
    assert_eq!(
        me["me"],
        json!({"id": "alice", "tenantId": app.tenant, "roles": ["MEMBER"]})
    );

    let job = app
        .create_job(&alice, json!({"title": "  index the docs  "}))
        .await;
    assert_eq!(job["title"], "index the docs");
    assert_eq!(job["status"], "PENDING");
    assert_eq!(job["version"], 1);
    assert_eq!(job["attempt"], 0);
    assert_eq!(job["priority"], 50);
    assert_eq!(job["priorityLevel"], "MEDIUM");
    assert_eq!(job["labels"], json!([]));
    assert_eq!(job["executionContext"], json!({}));
    assert_eq!(job["actualCost"], "0");
    assert_eq!(job["estimatedCost"], Value::Null);
    assert_eq!(job["createdBy"], "alice");
    assert_eq!(job["runs"], json!([]));
    assert_eq!(job["delegationChain"], json!([]));
    assert_eq!(
        job["retryPolicy"],
        json!({"maxAttempts": 1, "initialBackoffSeconds": 10, "backoffMultiplier": 2.0, "maxBackoffSeconds": 300})
    );
    assert_eq!(job["createdAt"], job["updatedAt"]);
    let id = job["id"].as_str().unwrap();
    let events = app.job_events(id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, "job.created");
}

async fn create_scheduled_with_run_at_and_cron(app: TestApp) {
    let bob = app.actor("bob", &[Agent]);
    let at = "2030-01-02T03:04:05.123456Z";
    let job = app
        .create_job(&bob, json!({"title": "later", "schedule": {"runAt": at}}))
        .await;
    assert_eq!(job["status"], "SCHEDULED");
    assert_eq!(job["runAt"], at);
    assert_eq!(job["cron"], Value::Null);

    let job = app
        .create_job(
            &bob,
            json!({"title": "nightly", "schedule": {"cron": "0  3 * * *"}}),
        )
        .await;
    assert_eq!(job["status"], "SCHEDULED");
    assert_eq!(job["cron"], "0 3 * * *");
    let run_at = chrono::DateTime::parse_from_rfc3339(job["runAt"].as_str().unwrap()).unwrap();
    assert_eq!(run_at.format("%H:%M:%S").to_string(), "03:00:00");
    assert!(run_at > chrono::Utc::now());
    assert_eq!(
        app.job_event_types(job["id"].as_str().unwrap()).await,
        ["job.created"]
    );
}

async fn create_with_everything(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let plan = uuid::Uuid::now_v7().to_string();
    let job = app
        .create_job(
            &alice,
            json!({
                "title": "full",
                "description": "all the fields",
                "labels": [" gpu", "etl ", "gpu"],
                "priorityLevel": "HIGH",
                "planId": plan,
                "planStepIndex": 2,
                "estimatedCost": "12.50",
                "timeoutSeconds": 600,
                "retryPolicy": {"maxAttempts": 3},
                "executionContext": {"repo": "x", "depth": 2},
                "assignedAgent": "agent-7",
                "idempotencyKey": "k-1"
            }),
        )
        .await;
    assert_eq!(job["labels"], json!(["gpu", "etl"]));
    assert_eq!(job["priority"], 75);
    assert_eq!(job["priorityLevel"], "HIGH");
    assert_eq!(job["planId"], plan);
    assert_eq!(job["planStepIndex"], 2);
    assert_eq!(job["estimatedCost"], "12.5");
    assert_eq!(job["timeoutSeconds"], 600);
    assert_eq!(job["retryPolicy"]["maxAttempts"], 3);
    assert_eq!(
        job["retryPolicy"]["initialBackoffSeconds"], 10,
        "the rest from the defaults"
    );
    assert_eq!(job["executionContext"], json!({"repo": "x", "depth": 2}));
    assert_eq!(job["assignedAgent"], "agent-7");
    assert_eq!(job["idempotencyKey"], "k-1");
    let chain = job["delegationChain"].as_array().unwrap();
    assert_eq!(chain.len(), 1);
    assert_eq!(chain[0]["from"], Value::Null);
    assert_eq!(chain[0]["to"], "agent-7");
    assert_eq!(chain[0]["by"], "alice");
    assert_eq!(chain[0]["at"], job["createdAt"]);
    // Only `job.created`, whatever the initial assignee or schedule.
    assert_eq!(
        app.job_event_types(job["id"].as_str().unwrap()).await,
        ["job.created"]
    );

    // The same key returns the same job whatever the other fields say, and writes nothing.
    let events = app.event_count().await;
    let again = app
        .create_job(
            &alice,
            json!({"title": "something else", "idempotencyKey": "k-1"}),
        )
        .await;
    assert_eq!(again["id"], job["id"]);
    assert_eq!(again["title"], "full");
    assert_eq!(app.event_count().await, events);
    assert_eq!(app.job_count().await, 1);
    // Keys are per tenant.
    let other = app.foreigner("alice", &[Member]);
    let theirs = app
        .create_job(&other, json!({"title": "theirs", "idempotencyKey": "k-1"}))
        .await;
    assert_ne!(theirs["id"], job["id"]);
}

async fn update_changes_fields_and_absent_vs_null(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let job = app
        .create_job(
            &alice,
            json!({"title": "t", "description": "d", "timeoutSeconds": 5, "labels": ["a"], "estimatedCost": "1"}),
        )
        .await;
    let id = job["id"].as_str().unwrap();
    let q = "mutation($id: UUID!, $i: UpdateJobInput!, $v: Int) { updateJob(id: $id, input: $i, expectedVersion: $v) { id version title description timeoutSeconds labels priority priorityLevel estimatedCost retryPolicy { maxAttempts initialBackoffSeconds } updatedAt } }";
    let out = app
        .ok(
            &alice,
            q,
            json!({"id": id, "v": 1, "i": {"title": "t2", "description": null, "priority": 5, "labels": ["b", "a"], "retryPolicy": {"initialBackoffSeconds": 30}}}),
        )
        .await;
    let u = &out["updateJob"];
    assert_eq!(u["version"], 2);
    assert_eq!(u["title"], "t2");
    assert_eq!(u["description"], Value::Null, "explicit null clears");
    assert_eq!(u["timeoutSeconds"], 5, "absent keeps");
    assert_eq!(u["estimatedCost"], "1");
    assert_eq!(u["labels"], json!(["b", "a"]));
    assert_eq!(u["priority"], 5);
    assert_eq!(u["priorityLevel"], "BACKGROUND");
    assert_eq!(
        u["retryPolicy"],
        json!({"maxAttempts": 1, "initialBackoffSeconds": 30})
    );
    assert_ne!(u["updatedAt"], job["updatedAt"]);
    assert_eq!(
        app.job_event_types(id).await,
        ["job.created", "job.updated"]
    );

    // Null for a field that cannot be null is refused, naming it, and changes nothing.
    for field in ["title", "labels", "priority", "retryPolicy"] {
        let err = app
            .err(&alice, q, json!({"id": id, "i": {field: null}}))
            .await;
        assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT", "{field}");
        assert_eq!(err["extensions"]["field"], format!("input.{field}"));
    }
    let now = app
        .ok(
            &alice,
            "query($id: UUID!) { job(id: $id) { version } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(now["job"]["version"], 2);
}

async fn update_with_nothing_changed_writes_nothing(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let job = app
        .create_job(&alice, json!({"title": "same", "priority": 20}))
        .await;
    let id = job["id"].as_str().unwrap();
    let q = "mutation($id: UUID!, $i: UpdateJobInput!) { updateJob(id: $id, input: $i) { version updatedAt } }";
    let out = app
        .ok(
            &alice,
            q,
            json!({"id": id, "i": {"title": " same ", "priority": 20}}),
        )
        .await;
    assert_eq!(out["updateJob"]["version"], 1);
    assert_eq!(out["updateJob"]["updatedAt"], job["updatedAt"]);
    assert_eq!(app.job_event_types(id).await, ["job.created"]);
}

async fn delete_removes_job_and_frees_key(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let job = app
        .create_job(&alice, json!({"title": "doomed", "idempotencyKey": "once"}))
        .await;
    let id = job["id"].as_str().unwrap();
    app.job_op(&alice, "startJob(id: $id)", json!({"id": id}))
        .await;
    app.job_op(&alice, "completeJob(id: $id)", json!({"id": id}))
        .await;
    let out = app
        .ok(
            &alice,
            "mutation($id: UUID!) { deleteJob(id: $id) }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(out["deleteJob"], id);
    let gone = app
        .ok(
            &alice,
            "query($id: UUID!) { job(id: $id) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(gone["job"], Value::Null);
    let history = app
        .exec(
            &alice,
            "query($id: UUID!) { jobHistory(id: $id) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(code(&history), "NOT_FOUND");
    let types = app.job_event_types(id).await;
    assert_eq!(types.last().unwrap(), "job.deleted");
    // The deleted job's key is free again.
    let fresh = app
        .create_job(&alice, json!({"title": "reborn", "idempotencyKey": "once"}))
        .await;
    assert_ne!(fresh["id"], job["id"]);
}

async fn schedule_start_complete_with_events(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let job = app.create_job(&alice, json!({"title": "j"})).await;
    let id = job["id"].as_str().unwrap();

    let at = "2031-05-06T07:08:09Z";
    let s = TestApp::data(
        app.job_op(
            &alice,
            "scheduleJob(id: $id, schedule: {runAt: \"2031-05-06T07:08:09Z\"})",
            json!({"id": id}),
        )
        .await,
    );
    assert_eq!(s["r"]["status"], "SCHEDULED");
    assert_eq!(s["r"]["runAt"], "2031-05-06T07:08:09Z");
    assert_eq!(s["r"]["version"], 2);

    // Rescheduling a SCHEDULED job writes only `job.scheduled`; a cron replaces runAt.
    let s = TestApp::data(
        app.job_op(
            &alice,
            "scheduleJob(id: $id, schedule: {cron: \"*/5 * * * *\"})",
            json!({"id": id}),
        )
        .await,
    );
    assert_eq!(s["r"]["cron"], "*/5 * * * *");
    let s = TestApp::data(
        app.job_op(
            &alice,
            "scheduleJob(id: $id, schedule: {runAt: \"2031-05-06T07:08:09Z\"})",
            json!({"id": id}),
        )
        .await,
    );
    assert_eq!(s["r"]["cron"], Value::Null, "runAt clears cron");
    assert_eq!(s["r"]["runAt"], at);

    let started = TestApp::data(
        app.job_op(&alice, "startJob(id: $id)", json!({"id": id}))
            .await,
    )["r"]
        .clone();
    assert_eq!(started["status"], "RUNNING");
    assert_eq!(started["attempt"], 1);
    assert_eq!(started["runs"][0]["status"], "RUNNING");
    assert_eq!(started["runs"][0]["agent"], "alice");
    assert_eq!(started["runs"][0]["series"], 1);
    assert_eq!(started["runs"][0]["attempt"], 1);
    assert_eq!(started["startedAt"], started["runs"][0]["startedAt"]);
    assert_eq!(
        started["assignedAgent"],
        Value::Null,
        "startJob leaves the assignee alone"
    );
    assert_eq!(started["leaseExpiresAt"], Value::Null);

    let done = TestApp::data(
        app.job_op(
            &alice,
            "completeJob(id: $id, result: {output: {rows: 42}, actualCost: \"0.75\"}, attempt: 1)",
            json!({"id": id}),
        )
        .await,
    )["r"]
        .clone();
    assert_eq!(done["status"], "SUCCEEDED");
    assert_eq!(done["result"], json!({"rows": 42}));
    assert_eq!(done["actualCost"], "0.75");
    assert_eq!(done["runs"][0]["status"], "SUCCEEDED");
    assert_eq!(done["runs"][0]["cost"], "0.75");
    assert_eq!(done["runs"][0]["result"], json!({"rows": 42}));
    assert_eq!(done["runs"][0]["finishedAt"], done["finishedAt"]);

    let events = app.job_events(id).await;
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        types,
        [
            "job.created",
            "job.status_changed",
            "job.scheduled",
            "job.scheduled",
            "job.scheduled",
            "job.status_changed",
            "job.started",
            "job.status_changed",
            "job.succeeded",
        ]
    );
    assert_eq!(
        events[1].1,
        json!({"fromStatus": "PENDING", "toStatus": "SCHEDULED"})
    );
    assert_eq!(events[2].1["runAt"], "2031-05-06T07:08:09.000000Z");
    assert_eq!(
        events[5].1,
        json!({"fromStatus": "SCHEDULED", "toStatus": "RUNNING"})
    );
    assert_eq!(events[6].1, json!({"attempt": 1}));
    assert_eq!(
        events[7].1,
        json!({"fromStatus": "RUNNING", "toStatus": "SUCCEEDED"})
    );
    assert_eq!(events[8].1, json!({"result": {"rows": 42}}));
}

fn micros(t: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(t.as_str().unwrap())
        .unwrap()
        .timestamp_micros()
}

async fn fail_retries_with_backoff_then_fails(app: TestApp) {
    let bob = app.actor("bob", &[Agent]);
    let job = app
        .create_job(
            &bob,
            json!({"title": "flaky", "retryPolicy": {"maxAttempts": 3, "initialBackoffSeconds": 10, "backoffMultiplier": 2.5, "maxBackoffSeconds": 20}}),
        )
        .await;
    let id = job["id"].as_str().unwrap();
    let mut expected_backoff = [10_i64, 20].into_iter();
    for attempt in 1..=3 {
        let s = TestApp::data(
            app.job_op(&bob, "startJob(id: $id)", json!({"id": id}))
                .await,
        )["r"]
            .clone();
        assert_eq!(s["attempt"], attempt);
        let f = TestApp::data(
            app.job_op(
                &bob,
                &format!("failJob(id: $id, error: \"boom {attempt}\", attempt: {attempt})"),
                json!({"id": id}),
            )
            .await,
        )["r"]
            .clone();
        let run = &f["runs"][(attempt - 1) as usize];
        assert_eq!(run["status"], "FAILED");
        assert_eq!(run["error"], format!("boom {attempt}"));
        if attempt < 3 {
            assert_eq!(f["status"], "SCHEDULED");
            assert_eq!(f["error"], Value::Null, "entering SCHEDULED clears error");
            assert_eq!(f["finishedAt"], Value::Null);
            // runAt = the failure time + min(max, initial × multiplier^(n−1)) seconds, exactly.
            let backoff = expected_backoff.next().unwrap();
            assert_eq!(
                micros(&f["runAt"]) - micros(&run["finishedAt"]),
                backoff * 1_000_000
            );
        } else {
            assert_eq!(f["status"], "FAILED");
            assert_eq!(f["error"], "boom 3");
            assert_eq!(f["finishedAt"], run["finishedAt"]);
        }
    }
    let events = app.job_events(id).await;
    let retry: Vec<&Value> = events
        .iter()
        .filter(|(t, _)| t == "job.retry_scheduled")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(retry.len(), 2);
    assert_eq!(retry[0]["attempt"], 1);
    assert_eq!(retry[0]["error"], "boom 1");
    assert!(retry[0]["runAt"].is_string());
    let (last_type, last) = events.last().unwrap();
    assert_eq!(last_type, "job.failed");
    assert_eq!(last, &json!({"error": "boom 3", "attempt": 3}));
    let changes: Vec<&Value> = events
        .iter()
        .filter(|(t, _)| t == "job.status_changed")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(
        changes[1],
        &json!({"fromStatus": "RUNNING", "toStatus": "SCHEDULED"})
    );
}

async fn fail_not_retryable(app: TestApp) {
    let bob = app.actor("bob", &[Agent]);
    let job = app
        .create_job(
            &bob,
            json!({"title": "x", "retryPolicy": {"maxAttempts": 5}}),
        )
        .await;
    let id = job["id"].as_str().unwrap();
    app.job_op(&bob, "startJob(id: $id)", json!({"id": id}))
        .await;
    let f = TestApp::data(
        app.job_op(
            &bob,
            "failJob(id: $id, error: \"fatal\", retryable: false)",
            json!({"id": id}),
        )
        .await,
    );
    assert_eq!(f["r"]["status"], "FAILED");
    assert_eq!(app.job_event_types(id).await.last().unwrap(), "job.failed");
}

async fn cancel_graceful_then_hard(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let job = app.create_job(&alice, json!({"title": "x"})).await;
    let id = job["id"].as_str().unwrap();
    app.job_op(&alice, "startJob(id: $id)", json!({"id": id}))
        .await;
    let c = TestApp::data(
        app.job_op(
            &alice,
            "cancelJob(id: $id, reason: \"no longer needed\")",
            json!({"id": id}),
        )
        .await,
    );
    assert_eq!(c["r"]["status"], "CANCELLING");
    assert_eq!(c["r"]["cancelReason"], "no longer needed");
    assert_eq!(
        c["r"]["runs"][0]["status"], "RUNNING",
        "the attempt goes on until it stops"
    );
    // GRACEFUL again is refused; HARD ends it.
    let again = app
        .job_op(
            &alice,
            "cancelJob(id: $id, reason: \"again\")",
            json!({"id": id}),
        )
        .await;
    assert_eq!(code(&again), "INVALID_TRANSITION");
    let h = TestApp::data(
        app.job_op(
            &alice,
            "cancelJob(id: $id, reason: \"now\", mode: HARD)",
            json!({"id": id}),
        )
        .await,
    );
    assert_eq!(h["r"]["status"], "CANCELLED");
    assert_eq!(h["r"]["runs"][0]["status"], "CANCELLED");
    assert!(h["r"]["finishedAt"].is_string());
    let events = app.job_events(id).await;
    let tail: Vec<(String, Value)> = events[events.len() - 4..].to_vec();
    assert_eq!(
        tail[0],
        (
            "job.status_changed".into(),
            json!({"fromStatus": "RUNNING", "toStatus": "CANCELLING"})
        )
    );
    assert_eq!(
        tail[1],
        (
            "job.cancel_requested".into(),
            json!({"reason": "no longer needed"})
        )
    );
    assert_eq!(
        tail[2],
        (
            "job.status_changed".into(),
            json!({"fromStatus": "CANCELLING", "toStatus": "CANCELLED"})
        )
    );
    assert_eq!(tail[3], ("job.cancelled".into(), json!({"reason": "now"})));

    // A job that never started is cancelled at once in either mode.
    let p = app.create_job(&alice, json!({"title": "p"})).await;
    let pid = p["id"].as_str().unwrap();
    let c = TestApp::data(
        app.job_op(
            &alice,
            "cancelJob(id: $id, reason: \"r\", mode: GRACEFUL)",
            json!({"id": pid}),
        )
        .await,
    );
    assert_eq!(c["r"]["status"], "CANCELLED");
    assert_eq!(
        app.job_event_types(pid).await,
        ["job.created", "job.status_changed", "job.cancelled"]
    );
}

async fn cancel_graceful_then_fail_or_complete(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let a = app
        .create_job(
            &alice,
            json!({"title": "a", "retryPolicy": {"maxAttempts": 4}}),
        )
        .await;
    let aid = a["id"].as_str().unwrap();
    app.job_op(&alice, "startJob(id: $id)", json!({"id": aid}))
        .await;
    app.job_op(
        &alice,
        "cancelJob(id: $id, reason: \"stop\")",
        json!({"id": aid}),
    )
    .await;
    let f = TestApp::data(
        app.job_op(
            &alice,
            "failJob(id: $id, error: \"interrupted\")",
            json!({"id": aid}),
        )
        .await,
    );
    assert_eq!(f["r"]["status"], "CANCELLED", "no retry from CANCELLING");
    assert_eq!(f["r"]["runs"][0]["status"], "FAILED");
    assert_eq!(f["r"]["runs"][0]["error"], "interrupted");
    assert_eq!(
        app.job_event_types(aid).await.last().unwrap(),
        "job.cancelled"
    );

    let b = app.create_job(&alice, json!({"title": "b"})).await;
    let bid = b["id"].as_str().unwrap();
    app.job_op(&alice, "startJob(id: $id)", json!({"id": bid}))
        .await;
    app.job_op(
        &alice,
        "cancelJob(id: $id, reason: \"stop\")",
        json!({"id": bid}),
    )
    .await;
    let c = TestApp::data(
        app.job_op(&alice, "completeJob(id: $id)", json!({"id": bid}))
            .await,
    );
    assert_eq!(c["r"]["status"], "SUCCEEDED", "the work finished anyway");
}

async fn retry_starts_new_series(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let job = app.create_job(&alice, json!({"title": "again"})).await;
    let id = job["id"].as_str().unwrap();
    app.job_op(&alice, "startJob(id: $id)", json!({"id": id}))
        .await;
    app.job_op(&alice, "failJob(id: $id, error: \"e\")", json!({"id": id}))
        .await;
    let r = TestApp::data(
        app.job_op(&alice, "retryJob(id: $id)", json!({"id": id}))
            .await,
    )["r"]
        .clone();
    assert_eq!(r["status"], "SCHEDULED");
    assert_eq!(r["attempt"], 0);
    assert_eq!(r["error"], Value::Null);
    assert_eq!(r["finishedAt"], Value::Null);
    assert_eq!(r["runAt"], r["updatedAt"], "runAt = now");
    let s = TestApp::data(
        app.job_op(&alice, "startJob(id: $id)", json!({"id": id}))
            .await,
    )["r"]
        .clone();
    assert_eq!(s["attempt"], 1);
    let runs = s["runs"].as_array().unwrap();
    assert_eq!(
        (runs[0]["series"].clone(), runs[0]["attempt"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(
        (runs[1]["series"].clone(), runs[1]["attempt"].clone()),
        (json!(2), json!(1))
    );
    let events = app.job_events(id).await;
    let n = events.len();
    assert_eq!(events[n - 4].0, "job.status_changed");
    assert_eq!(
        events[n - 4].1,
        json!({"fromStatus": "FAILED", "toStatus": "SCHEDULED"})
    );
    assert_eq!(events[n - 3].0, "job.scheduled");
}

async fn delegate_appends_chain(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let job = app
        .create_job(&alice, json!({"title": "d", "assignedAgent": "a1"}))
        .await;
    let id = job["id"].as_str().unwrap();
    let d = TestApp::data(
        app.job_op(
            &alice,
            "delegateJob(id: $id, to: \"a2\", reason: \"load\")",
            json!({"id": id}),
        )
        .await,
    )["r"]
        .clone();
    assert_eq!(d["assignedAgent"], "a2");
    assert_eq!(d["version"], 2);
    let chain = d["delegationChain"].as_array().unwrap();
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[1]["from"], "a1");
    assert_eq!(chain[1]["to"], "a2");
    assert_eq!(chain[1]["by"], "alice");
    assert_eq!(chain[1]["reason"], "load");
    let events = app.job_events(id).await;
    assert_eq!(
        events.last().unwrap(),
        &(
            "job.delegated".to_string(),
            json!({"fromAssignee": "a1", "toAssignee": "a2", "reason": "load"})
        )
    );
    // To the current assignee: refused.
    let same = app
        .job_op(
            &alice,
            "delegateJob(id: $id, to: \"a2\")",
            json!({"id": id}),
        )
        .await;
    assert_eq!(first_error(&same)["extensions"]["field"], "to");
    // The new assignee may now act on it.
    let a2 = app.actor("a2", &[Agent]);
    let s = TestApp::data(
        app.job_op(&a2, "startJob(id: $id)", json!({"id": id}))
            .await,
    );
    assert_eq!(s["r"]["runs"][0]["agent"], "a2");
}

async fn queries_job_jobs_history(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let viewer = app.actor("val", &[Viewer]);
    let mut ids = Vec::new();
    for i in 0..5 {
        let job = app
            .create_job(&alice, json!({"title": format!("job {i}")}))
            .await;
        ids.push(job["id"].as_str().unwrap().to_string());
    }
    app.job_op(&alice, "startJob(id: $id)", json!({"id": ids[1]}))
        .await;
    // Default order: newest first; pages of 2 with keyset cursors.
    let q = "query($after: String, $f: JobFilter) { jobs(first: 2, after: $after, filter: $f) { totalCount edges { cursor node { id } } nodes { id } pageInfo { hasNextPage hasPreviousPage endCursor startCursor } } }";
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let page = app.ok(&viewer, q, json!({"after": after})).await["jobs"].clone();
        assert_eq!(page["totalCount"], 5);
        for node in page["nodes"].as_array().unwrap() {
            seen.push(node["id"].as_str().unwrap().to_string());
        }
        if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = page["pageInfo"]["endCursor"].clone();
    }
    let mut expected = ids.clone();
    expected.reverse();
    assert_eq!(seen, expected);
    let running = app
        .ok(&viewer, q, json!({"f": {"status": ["RUNNING"]}}))
        .await;
    assert_eq!(running["jobs"]["totalCount"], 1);
    assert_eq!(running["jobs"]["nodes"][0]["id"], ids[1].as_str());

    let one = app.ok(&viewer, "query($id: UUID!) { job(id: $id) { id title } jobHistory(id: $id) { attempt status } }", json!({"id": ids[1]})).await;
    assert_eq!(one["job"]["title"], "job 1");
    assert_eq!(
        one["jobHistory"],
        json!([{"attempt": 1, "status": "RUNNING"}])
    );
    let missing = app
        .ok(
            &viewer,
            "query($id: UUID!) { job(id: $id) { id } }",
            json!({"id": uuid::Uuid::now_v7()}),
        )
        .await;
    assert_eq!(missing["job"], Value::Null);
}

async fn expected_version_conflict(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let job = app.create_job(&alice, json!({"title": "v"})).await;
    let id = job["id"].as_str().unwrap();
    let q = "mutation($id: UUID!, $v: Int) { updateJob(id: $id, input: {title: \"w\"}, expectedVersion: $v) { version } }";
    let err = app.err(&alice, q, json!({"id": id, "v": 7})).await;
    assert_eq!(
        err["extensions"],
        json!({"code": "CONFLICT", "expectedVersion": 7, "actualVersion": 1})
    );
    assert_eq!(app.job_event_types(id).await, ["job.created"]);
    let ok = app.ok(&alice, q, json!({"id": id, "v": 1})).await;
    assert_eq!(ok["updateJob"]["version"], 2);
}

async fn attempt_fencing(app: TestApp) {
    let bob = app.actor("bob", &[Agent]);
    let job = app
        .create_job(
            &bob,
            json!({"title": "fenced", "retryPolicy": {"maxAttempts": 2}}),
        )
        .await;
    let id = job["id"].as_str().unwrap();
    app.job_op(&bob, "startJob(id: $id)", json!({"id": id}))
        .await;
    // A stale attempt number: CONFLICT, nothing changes.
    let stale = app
        .job_op(&bob, "completeJob(id: $id, attempt: 2)", json!({"id": id}))
        .await;
    let err = first_error(&stale);
    assert_eq!(
        err["extensions"],
        json!({"code": "CONFLICT", "expectedAttempt": 2, "actualAttempt": 1})
    );
    app.job_op(
        &bob,
        "failJob(id: $id, error: \"e\", attempt: 1)",
        json!({"id": id}),
    )
    .await;
    // Attempt 1 has ended (the job is SCHEDULED for attempt 2): its worker is fenced off.
    let late = app
        .job_op(
            &bob,
            "failJob(id: $id, error: \"late\", attempt: 1)",
            json!({"id": id}),
        )
        .await;
    assert_eq!(code(&late), "CONFLICT");
    app.job_op(&bob, "startJob(id: $id)", json!({"id": id}))
        .await;
    let late = app
        .job_op(&bob, "completeJob(id: $id, attempt: 1)", json!({"id": id}))
        .await;
    assert_eq!(code(&late), "CONFLICT");
    let done = TestApp::data(
        app.job_op(&bob, "completeJob(id: $id, attempt: 2)", json!({"id": id}))
            .await,
    );
    assert_eq!(done["r"]["status"], "SUCCEEDED");
    // The same completion sent again (its answer was lost): the job as it is, nothing written.
    let events = app.event_count().await;
    let again = TestApp::data(
        app.job_op(&bob, "completeJob(id: $id, attempt: 2)", json!({"id": id}))
            .await,
    );
    assert_eq!(again["r"]["version"], done["r"]["version"]);
    assert_eq!(again["r"]["status"], "SUCCEEDED");
    assert_eq!(app.event_count().await, events);
    // Any other call on the closed attempt is CONFLICT (it comes before the state check).
    let other = app
        .job_op(
            &bob,
            "failJob(id: $id, error: \"e\", attempt: 2)",
            json!({"id": id}),
        )
        .await;
    assert_eq!(code(&other), "CONFLICT");
}

async fn exact_decimals(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let q = "mutation($i: CreateJobInput!) { createJob(input: $i) { estimatedCost } }";
    for (given, shown) in [
        (json!("999999999.999999999"), "999999999.999999999"),
        (json!("0.000000001"), "0.000000001"),
        (json!("1.50"), "1.5"),
        (json!("100"), "100"),
        (json!(42), "42"),
    ] {
        let out = app
            .ok(
                &alice,
                q,
                json!({"i": {"title": "c", "estimatedCost": given}}),
            )
            .await;
        assert_eq!(out["createJob"]["estimatedCost"], shown);
    }
    let before = app.job_count().await;
    for (bad, field) in [
        (json!(0.1), None),
        (json!("1e3"), None),
        (json!("0.0000000001"), Some("input.estimatedCost")),
        (json!("1000000000"), Some("input.estimatedCost")),
        (json!("-1"), Some("input.estimatedCost")),
    ] {
        let err = app
            .err(
                &alice,
                q,
                json!({"i": {"title": "c", "estimatedCost": bad}}),
            )
            .await;
        assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT", "{bad}");
        if let Some(field) = field {
            assert_eq!(err["extensions"]["field"], field);
        }
    }
    assert_eq!(app.job_count().await, before);
    // The closing run's cost is the job's cost; sums stay exact (0.1 + 0.2 = 0.3).
    let job = app
        .create_job(
            &alice,
            json!({"title": "sum", "retryPolicy": {"maxAttempts": 2}}),
        )
        .await;
    let id = job["id"].as_str().unwrap();
    app.job_op(&alice, "startJob(id: $id)", json!({"id": id}))
        .await;
    let done = TestApp::data(
        app.job_op(
            &alice,
            "completeJob(id: $id, result: {actualCost: \"0.1\"})",
            json!({"id": id}),
        )
        .await,
    );
    assert_eq!(done["r"]["actualCost"], "0.1");
    app.job_op(
        &alice,
        "cancelJob(id: $id, reason: \"r\")",
        json!({"id": id}),
    )
    .await;
}
