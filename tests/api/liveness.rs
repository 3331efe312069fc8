//! Agent liveness (DESIGN.md §3): one heartbeatAgent for every lease an agent holds (and only
//! those), and releaseJobs handing work back: RELEASED runs not counted toward maxAttempts,
//! checkpoints kept, runnable at once, CANCELLING jobs ended, events in order.

use crate::backend_tests;
use crate::harness::{Admin, Agent, Member, TestApp, Viewer};
use serde_json::{Value, json};
use std::time::Duration;

backend_tests!(
    heartbeat_agent_extends_exactly_the_callers_leases,
    release_jobs_hands_work_back_without_spending_attempts,
    release_jobs_ends_cancelling_jobs,
    liveness_roles_and_bounds,
);

const BEAT: &str = "mutation($l: Int) { heartbeatAgent(leaseSeconds: $l) { extended cancelling } }";
const RELEASE: &str = "mutation($r: String!) { releaseJobs(reason: $r) { id status attempt runAt leaseExpiresAt assignedAgent lastCompletedStep checkpointData error cancelReason runs { series attempt status error } } }";
const CLAIM: &str =
    "mutation($n: Int, $l: Int) { claimJobs(limit: $n, leaseSeconds: $l) { id title attempt } }";

async fn lease_of(app: &TestApp, id: &Value) -> (Value, Value) {
    let j = app
        .ok(
            &app.actor("reader", &[Viewer]),
            "query($id: UUID!) { job(id: $id) { leaseExpiresAt version } }",
            json!({"id": id}),
        )
        .await["job"]
        .clone();
    (j["leaseExpiresAt"].clone(), j["version"].clone())
}

fn at(v: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc)
}

async fn heartbeat_agent_extends_exactly_the_callers_leases(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let bot = app.actor("bot", &[Agent]);
    let other = app.actor("other-bot", &[Agent]);
    for i in 0..3 {
        app.create_job(&alice, json!({"title": format!("job {i}")}))
            .await;
    }
    let mine = app.ok(&bot, CLAIM, json!({"n": 2, "l": 30})).await["claimJobs"]
        .as_array()
        .unwrap()
        .clone();
    let theirs = app.ok(&other, CLAIM, json!({"n": 1, "l": 30})).await["claimJobs"][0].clone();
    // Started by hand and assigned to bot: no lease, so not held.
    let by_hand = app
        .create_job(&alice, json!({"title": "by hand", "assignedAgent": "bot"}))
        .await;
    app.job_op(&bot, "startJob(id: $id)", json!({"id": by_hand["id"]}))
        .await;
    // One of bot's jobs is asked to stop.
    app.job_op(
        &alice,
        "cancelJob(id: $id, reason: \"not needed\")",
        json!({"id": mine[1]["id"]}),
    )
    .await;
    let before: Vec<(Value, Value)> = {
        let mut v = Vec::new();
        for id in [
            &mine[0]["id"],
            &mine[1]["id"],
            &theirs["id"],
            &by_hand["id"],
        ] {
            v.push(lease_of(&app, id).await);
        }
        v
    };
    let events = app.event_count().await;
    app.clock.advance(Duration::from_secs(20));
    let beat = app.ok(&bot, BEAT, json!({"l": 120})).await["heartbeatAgent"].clone();
    assert_eq!(beat["extended"], 2);
    assert_eq!(beat["cancelling"], json!([mine[1]["id"]]));
    let now = app.clock.clock().now();
    for (i, id) in [&mine[0]["id"], &mine[1]["id"]].into_iter().enumerate() {
        let (lease, version) = lease_of(&app, id).await;
        let left = at(&lease) - now;
        assert!(
            left > chrono::Duration::seconds(119) && left <= chrono::Duration::seconds(120),
            "{left}"
        );
        assert_eq!(version, before[i].1, "a heartbeat bumps no version");
    }
    assert_eq!(
        lease_of(&app, &theirs["id"]).await,
        before[2],
        "another agent's lease is not touched"
    );
    assert_eq!(lease_of(&app, &by_hand["id"]).await.0, Value::Null);
    assert_eq!(
        app.event_count().await,
        events,
        "heartbeatAgent writes no event"
    );
    // Null leaseSeconds: 60.
    let beat = app.ok(&bot, BEAT, json!({})).await["heartbeatAgent"].clone();
    assert_eq!(beat["extended"], 2);
    let left = at(&lease_of(&app, &mine[0]["id"]).await.0) - app.clock.clock().now();
    assert!(left <= chrono::Duration::seconds(60) && left > chrono::Duration::seconds(59));
    // An agent holding nothing extends nothing.
    let idle = app.actor("idle", &[Agent]);
    assert_eq!(
        app.ok(&idle, BEAT, json!({})).await["heartbeatAgent"],
        json!({"extended": 0, "cancelling": []})
    );
    // The extended leases hold: the lease loop, 50 s later, leaves them alone and takes the
    // other agent's, which was not extended.
    app.clock.advance(Duration::from_secs(50));
    let swept = jobgraph::loops::leases::tick(&app.state.services)
        .await
        .unwrap();
    assert_eq!(swept.jobs, 1);
}

async fn release_jobs_hands_work_back_without_spending_attempts(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let bot = app.actor("bot", &[Agent]);
    let other = app.actor("other-bot", &[Agent]);
    let job = app
        .create_job(
            &alice,
            json!({"title": "long", "retryPolicy": {"maxAttempts": 1}}),
        )
        .await;
    let id = job["id"].clone();
    let elsewhere = app.create_job(&alice, json!({"title": "elsewhere"})).await;
    let claimed = app.ok(&bot, CLAIM, json!({"n": 1})).await["claimJobs"][0].clone();
    assert_eq!(claimed["id"], id);
    app.ok(&other, CLAIM, json!({"n": 1})).await;
    app.ok(
        &bot,
        "mutation($id: UUID!) { saveCheckpoint(id: $id, checkpoint: {step: 2, data: {cursor: \"c2\"}}, attempt: 1) { id } }",
        json!({"id": id}),
    )
    .await;
    let mark = app.last_event_id().await;
    app.clock.advance(Duration::from_secs(5));
    let released = app.ok(&bot, RELEASE, json!({"r": "deploy"})).await["releaseJobs"].clone();
    let released = released.as_array().unwrap();
    assert_eq!(released.len(), 1, "only the caller's jobs");
    let r = &released[0];
    assert_eq!(r["id"], id);
    assert_eq!(r["status"], "SCHEDULED");
    let since = app.clock.clock().now() - at(&r["runAt"]);
    assert!(
        since >= chrono::TimeDelta::zero() && since < chrono::TimeDelta::seconds(2),
        "runnable at once: {since}"
    );
    assert_eq!(r["leaseExpiresAt"], Value::Null);
    assert_eq!(r["attempt"], 1, "Job.attempt keeps counting");
    assert_eq!(r["lastCompletedStep"], 2, "the checkpoint is kept");
    assert_eq!(r["checkpointData"], json!({"cursor": "c2"}));
    assert_eq!(r["error"], Value::Null);
    assert_eq!(
        r["runs"],
        json!([{"series": 1, "attempt": 1, "status": "RELEASED", "error": "released: deploy"}])
    );
    // Events, in order.
    let events: Vec<(String, Value)> = app
        .events_since(mark)
        .await
        .into_iter()
        .map(|(t, _, d)| (t, d))
        .collect();
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types, ["job.status_changed", "job.released"]);
    assert_eq!(events[0].1["fromStatus"], "RUNNING");
    assert_eq!(events[0].1["toStatus"], "SCHEDULED");
    assert_eq!(events[1].1["reason"], "deploy");
    assert_eq!(events[1].1["attempt"], 1);
    // The released event reads as RELEASED through the API.
    let read = app
        .ok(
            &alice,
            "query($id: UUID!) { job(id: $id) { events(first: 20) { nodes { ... on JobEvent { kind reason attempt } } } } }",
            json!({"id": id}),
        )
        .await;
    let nodes = read["job"]["events"]["nodes"].as_array().unwrap();
    assert_eq!(
        nodes.last().unwrap(),
        &json!({"kind": "RELEASED", "reason": "deploy", "attempt": 1})
    );
    // The other agent's job is still its own and running.
    let e = app
        .ok(
            &alice,
            "query($id: UUID!) { job(id: $id) { status assignedAgent } }",
            json!({"id": elsewhere["id"]}),
        )
        .await;
    assert_eq!(
        e["job"],
        json!({"status": "RUNNING", "assignedAgent": "other-bot"})
    );
    // maxAttempts 1, released twice, still runs: the next claims are attempts 2 and 3.
    let again = app.ok(&bot, CLAIM, json!({"n": 1})).await["claimJobs"][0].clone();
    assert_eq!(
        (again["id"].clone(), again["attempt"].clone()),
        (id.clone(), json!(2))
    );
    // The releasing worker's stale call for attempt 1 is fenced.
    let stale = app
        .err(
            &bot,
            "mutation($id: UUID!) { completeJob(id: $id, attempt: 1) { id } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(stale["extensions"]["code"], "CONFLICT");
    app.ok(&bot, RELEASE, json!({"r": "deploy again"})).await;
    let third = app.ok(&bot, CLAIM, json!({"n": 1})).await["claimJobs"][0].clone();
    assert_eq!(third["attempt"], 3);
    // Its one counted attempt fails: no retry left.
    let failed = TestApp::data(
        app.job_op(
            &bot,
            "failJob(id: $id, error: \"boom\", attempt: 3)",
            json!({"id": id}),
        )
        .await,
    );
    assert_eq!(failed["r"]["status"], "FAILED");
    let statuses: Vec<&str> = failed["r"]["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["RELEASED", "RELEASED", "FAILED"]);
    // With maxAttempts 2, one release and one failure leave a retry: the release was not
    // counted (counting it would make the failure the last attempt, FAILED).
    let two = app
        .create_job(
            &alice,
            json!({"title": "two tries", "priority": 100, "retryPolicy": {"maxAttempts": 2}}),
        )
        .await;
    assert_eq!(
        app.ok(&bot, CLAIM, json!({"n": 1})).await["claimJobs"][0]["id"],
        two["id"]
    );
    app.ok(&bot, RELEASE, json!({"r": "deploy"})).await;
    let again = app.ok(&bot, CLAIM, json!({"n": 1})).await["claimJobs"][0].clone();
    assert_eq!(
        (again["id"].clone(), again["attempt"].clone()),
        (two["id"].clone(), json!(2))
    );
    let retried = TestApp::data(
        app.job_op(
            &bot,
            "failJob(id: $id, error: \"flaky\", attempt: 2)",
            json!({"id": two["id"]}),
        )
        .await,
    );
    assert_eq!(retried["r"]["status"], "SCHEDULED", "a retry is left");
    let types = app.job_event_types(two["id"].as_str().unwrap()).await;
    assert_eq!(types.last().unwrap(), "job.retry_scheduled");
    // Nothing held: releasing again is an empty list.
    assert_eq!(
        app.ok(&bot, RELEASE, json!({"r": "deploy"})).await["releaseJobs"],
        json!([])
    );
}

async fn release_jobs_ends_cancelling_jobs(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let bot = app.actor("bot", &[Agent]);
    let pred = app
        .create_job(&alice, json!({"title": "predecessor", "priority": 90}))
        .await;
    let succ = app.create_job(&alice, json!({"title": "successor"})).await;
    app.ok(
        &alice,
        "mutation($p: UUID!, $s: UUID!) { addJobDependency(predecessorId: $p, successorId: $s) { type } }",
        json!({"p": pred["id"], "s": succ["id"]}),
    )
    .await;
    let running = app
        .create_job(&alice, json!({"title": "keeps running", "priority": 80}))
        .await;
    let claimed = app.ok(&bot, CLAIM, json!({"n": 2})).await["claimJobs"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(claimed, 2);
    app.job_op(
        &alice,
        "cancelJob(id: $id, reason: \"changed my mind\")",
        json!({"id": pred["id"]}),
    )
    .await;
    let mark = app.last_event_id().await;
    let released = app.ok(&bot, RELEASE, json!({"r": "deploy"})).await["releaseJobs"].clone();
    let by_id = |id: &Value| {
        released
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["id"] == *id)
            .cloned()
            .unwrap()
    };
    let p = by_id(&pred["id"]);
    assert_eq!(p["status"], "CANCELLED");
    assert_eq!(
        p["cancelReason"], "changed my mind",
        "its cancel reason is kept"
    );
    assert_eq!(p["runs"][0]["status"], "CANCELLED");
    assert_eq!(by_id(&running["id"])["status"], "SCHEDULED");
    // The cancelled one's events are those of any end in CANCELLED, and so is the cascade:
    // its FINISH_TO_START successor, waiting, is cancelled with it.
    let of_pred = app.job_event_types(pred["id"].as_str().unwrap()).await;
    assert_eq!(
        of_pred[of_pred.len() - 2..],
        ["job.status_changed", "job.cancelled"]
    );
    let s = app
        .ok(
            &alice,
            "query($id: UUID!) { job(id: $id) { status } }",
            json!({"id": succ["id"]}),
        )
        .await;
    assert_eq!(s["job"]["status"], "CANCELLED", "the cascade ran");
    let after_mark: Vec<String> = app
        .events_since(mark)
        .await
        .into_iter()
        .map(|(t, _, _)| t)
        .collect();
    assert!(
        after_mark.contains(&"job.released".to_string()),
        "the running one was released: {after_mark:?}"
    );
}

async fn liveness_roles_and_bounds(app: TestApp) {
    for actor in [app.actor("v", &[Viewer]), app.actor("m", &[Member])] {
        for (q, vars) in [(BEAT, json!({})), (RELEASE, json!({"r": "x"}))] {
            let err = app.err(&actor, q, vars).await;
            assert_eq!(
                err["extensions"]["code"], "FORBIDDEN",
                "{:?} {q}",
                actor.roles
            );
        }
    }
    let bot = app.actor("bot", &[Agent]);
    for l in [0, 3601] {
        let err = app.err(&bot, BEAT, json!({"l": l})).await;
        assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT");
        assert_eq!(err["extensions"]["field"], "leaseSeconds");
    }
    let err = app.err(&bot, RELEASE, json!({"r": "  "})).await;
    assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(err["extensions"]["field"], "reason");
    // An ADMIN may, for the leases it holds itself.
    let admin = app.actor("root", &[Admin]);
    assert_eq!(
        app.ok(&admin, BEAT, json!({})).await["heartbeatAgent"]["extended"],
        0
    );
}
