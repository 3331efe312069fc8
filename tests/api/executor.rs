//! The executor (DESIGN.md §3): claims in claim order, what is not runnable, roles and bounds,
//! heartbeats and fencing, the loops (leases, timeouts, grace periods, cron) on the moved
//! clock, sweeps racing workers, repeated completions, and, on PostgreSQL, two replicas with
//! 16 claimers and their loops.

use crate::backend_tests;
use crate::harness::{Admin, Agent, Member, TestApp, Viewer, code, first_error};
use jobgraph::auth::Actor;
use serde_json::{Value, json};
use std::time::Duration;

backend_tests!(
    claims_take_runnable_jobs_in_claim_order,
    claims_skip_what_is_not_runnable,
    claim_roles_and_bounds,
    heartbeats_extend_leases_and_are_fenced,
    a_lost_lease_retries_with_backoff_and_keeps_the_checkpoint,
    timeouts_end_attempts,
    a_graceful_cancel_is_seen_by_heartbeat_then_ended_by_the_grace_loop,
    cron_jobs_are_rescheduled_after_a_series,
    a_sweep_never_overwrites_a_completion,
    repeated_completions_return_the_job,
    two_replicas_claim_every_job_exactly_once,
    the_example_worker_drains_50_jobs,
);

const CLAIM: &str = "mutation($n: Int, $l: Int, $a: String, $labels: [String!]) { claimJobs(limit: $n, leaseSeconds: $l, agent: $a, labels: $labels) { id title status attempt assignedAgent leaseExpiresAt version runs { attempt status agent } } }";

async fn claim(app: &TestApp, actor: &Actor, vars: Value) -> Vec<Value> {
    app.ok(actor, CLAIM, vars).await["claimJobs"]
        .as_array()
        .unwrap()
        .clone()
}

fn titles(jobs: &[Value]) -> Vec<String> {
    jobs.iter()
        .map(|j| j["title"].as_str().unwrap().to_string())
        .collect()
}

async fn job(app: &TestApp, actor: &Actor, id: &Value) -> Value {
    app.ok(
        actor,
        "query($id: UUID!) { job(id: $id) { id status attempt version updatedAt leaseExpiresAt runAt error cancelReason lastCompletedStep checkpointData assignedAgent cron runs { series attempt status error agent } } }",
        json!({"id": id}),
    )
    .await["job"]
        .clone()
}

fn at(v: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc)
}

async fn claims_take_runnable_jobs_in_claim_order(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let bot = app.actor("bot", &[Agent]);
    for (title, priority) in [("low", 10), ("high-1", 90), ("mid", 50), ("high-2", 90)] {
        app.create_job(&alice, json!({"title": title, "priority": priority}))
            .await;
    }
    // A past runAt ages the job: it goes before a newer one of the same priority.
    app.create_job(
        &alice,
        json!({"title": "mid-early", "priority": 50, "schedule": {"runAt": "2020-01-01T00:00:00Z"}}),
    )
    .await;
    let first = claim(&app, &bot, json!({"n": 2, "l": 30})).await;
    assert_eq!(titles(&first), ["high-1", "high-2"]);
    let now = chrono::Utc::now();
    for j in &first {
        assert_eq!(j["status"], "RUNNING");
        assert_eq!(j["attempt"], 1);
        assert_eq!(j["assignedAgent"], "bot");
        assert_eq!(
            j["runs"],
            json!([{"attempt": 1, "status": "RUNNING", "agent": "bot"}])
        );
        let lease = at(&j["leaseExpiresAt"]) - now;
        assert!(
            lease > chrono::Duration::seconds(25) && lease <= chrono::Duration::seconds(31),
            "{lease}"
        );
    }
    let rest = claim(&app, &bot, json!({"n": 10})).await;
    assert_eq!(titles(&rest), ["mid-early", "mid", "low"]);
    assert!(
        claim(&app, &bot, json!({})).await.is_empty(),
        "nothing runnable: an empty list"
    );
    // Each claim wrote the events of a start.
    let types = app.job_event_types(first[0]["id"].as_str().unwrap()).await;
    assert_eq!(types, ["job.created", "job.status_changed", "job.started"]);
}

async fn claims_skip_what_is_not_runnable(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let admin = app.actor("root", &[Admin]);
    let bot = app.actor("bot", &[Agent]);
    // Ahead in claim order, each not runnable for one reason.
    app.create_job(
        &alice,
        json!({"title": "later", "priority": 100, "schedule": {"runAt": "2099-01-01T00:00:00Z"}}),
    )
    .await;
    let pred = app
        .create_job(&alice, json!({"title": "predecessor", "priority": 1}))
        .await;
    let blocked = app
        .create_job(&alice, json!({"title": "blocked", "priority": 100}))
        .await;
    app.ok(
        &alice,
        "mutation($p: UUID!, $s: UUID!) { addJobDependency(predecessorId: $p, successorId: $s) { type } }",
        json!({"p": pred["id"], "s": blocked["id"]}),
    )
    .await;
    let waits = app
        .create_job(
            &alice,
            json!({"title": "waits for a task", "priority": 100}),
        )
        .await;
    app.create_task(
        &alice,
        None,
        json!({"title": "prerequisite", "jobId": waits["id"], "role": "PREREQUISITE"}),
    )
    .await;
    app.ok(
        &admin,
        "mutation { setBudget(limit: \"10\") { limit } }",
        json!({}),
    )
    .await;
    app.create_job(
        &alice,
        json!({"title": "too dear", "priority": 100, "estimatedCost": "11"}),
    )
    .await;
    app.create_job(&alice, json!({"title": "no label", "priority": 100}))
        .await;
    // Behind them, runnable.
    app.create_job(
        &alice,
        json!({"title": "fits", "priority": 60, "estimatedCost": "6", "labels": ["gpu"]}),
    )
    .await;
    app.create_job(
        &alice,
        json!({"title": "fits too", "priority": 60, "estimatedCost": "4", "labels": ["gpu", "eu"]}),
    )
    .await;
    app.create_job(
        &alice,
        json!({"title": "over the rest", "priority": 60, "estimatedCost": "1", "labels": ["gpu"]}),
    )
    .await;
    // Labels: every one asked for.
    let eu = claim(&app, &bot, json!({"n": 10, "labels": ["gpu", "eu"]})).await;
    assert_eq!(titles(&eu), ["fits too"]);
    // The budget (10) holds 4 already: "fits" (6) takes it to 10, "over the rest" (1) would pass it.
    let gpu = claim(&app, &bot, json!({"n": 10, "labels": ["gpu"]})).await;
    assert_eq!(titles(&gpu), ["fits"]);
    // Without labels: the two runnable ones left, in claim order; the blocked, future,
    // prerequisite-bound and over-budget jobs ahead of them are skipped, not failed.
    let any = claim(&app, &bot, json!({"n": 10})).await;
    assert_eq!(titles(&any), ["no label", "predecessor"]);
    let pending: Vec<String> = app
        .ok(
            &alice,
            "{ pendingJobs(first: 20) { nodes { title status } } }",
            json!({}),
        )
        .await["pendingJobs"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["title"].as_str().unwrap().to_string())
        .collect();
    for skipped in [
        "later",
        "blocked",
        "waits for a task",
        "too dear",
        "over the rest",
    ] {
        assert!(
            pending.contains(&skipped.to_string()),
            "{skipped} is still waiting"
        );
    }
}

async fn claim_roles_and_bounds(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    app.create_job(&alice, json!({"title": "work"})).await;
    for actor in [app.actor("v", &[Viewer]), app.actor("m", &[Member])] {
        let err = app.err(&actor, CLAIM, json!({})).await;
        assert_eq!(err["extensions"]["code"], "FORBIDDEN", "{:?}", actor.roles);
    }
    let bot = app.actor("bot", &[Agent]);
    let err = app.err(&bot, CLAIM, json!({"a": "other-bot"})).await;
    assert_eq!(err["extensions"]["code"], "FORBIDDEN");
    for (vars, field) in [
        (json!({"n": 0}), "limit"),
        (json!({"n": 101}), "limit"),
        (json!({"l": 0}), "leaseSeconds"),
        (json!({"l": 3601}), "leaseSeconds"),
        (json!({"labels": vec!["x"; 101]}), "labels"),
        (json!({"labels": ["ok", ""]}), "labels[1]"),
    ] {
        let err = app.err(&bot, CLAIM, vars.clone()).await;
        assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT", "{vars}");
        assert_eq!(err["extensions"]["field"], field, "{vars}");
    }
    // An ADMIN may claim for a named agent.
    let admin = app.actor("root", &[Admin]);
    let got = claim(&app, &admin, json!({"a": "worker-7"})).await;
    assert_eq!(got[0]["assignedAgent"], "worker-7");
    assert_eq!(got[0]["runs"][0]["agent"], "worker-7");
}

const HEARTBEAT: &str = "mutation($id: UUID!, $l: Int, $c: CheckpointInput, $a: Int) { r: heartbeatJob(id: $id, leaseSeconds: $l, checkpoint: $c, attempt: $a) { status version updatedAt leaseExpiresAt lastCompletedStep } }";

async fn heartbeats_extend_leases_and_are_fenced(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let bot = app.actor("bot", &[Agent]);
    let other = app.actor("other-bot", &[Agent]);
    app.create_job(&alice, json!({"title": "work"})).await;
    let claimed = claim(&app, &bot, json!({"l": 30})).await.remove(0);
    let id = claimed["id"].clone();
    let events = app.event_count().await;
    app.clock.advance(Duration::from_secs(20));
    // A plain heartbeat: the lease moves (the claim's 30 s again), nothing else.
    let beat = app.ok(&bot, HEARTBEAT, json!({"id": id, "a": 1})).await["r"].clone();
    assert!(
        at(&beat["leaseExpiresAt"]) - at(&claimed["leaseExpiresAt"])
            >= chrono::Duration::seconds(19)
    );
    assert_eq!(beat["version"], claimed["version"]);
    assert_eq!(
        app.event_count().await,
        events,
        "a plain heartbeat writes no event"
    );
    let now = job(&app, &alice, &id).await;
    assert_eq!(now["updatedAt"], job(&app, &alice, &id).await["updatedAt"]);
    // An explicit lease length, and a checkpoint (which does bump and write).
    let beat = app
        .ok(
            &bot,
            HEARTBEAT,
            json!({"id": id, "l": 600, "c": {"step": 2, "data": {"at": 2}}}),
        )
        .await["r"]
        .clone();
    assert_eq!(beat["lastCompletedStep"], 2);
    assert_eq!(beat["version"], claimed["version"].as_i64().unwrap() + 1);
    assert_eq!(app.event_count().await, events + 1);
    // Another agent may not; a stale attempt is CONFLICT; bounds name the field.
    assert_eq!(
        app.err(&other, HEARTBEAT, json!({"id": id})).await["extensions"]["code"],
        "FORBIDDEN"
    );
    let stale = app.err(&bot, HEARTBEAT, json!({"id": id, "a": 2})).await;
    assert_eq!(stale["extensions"]["code"], "CONFLICT");
    let bad = app.err(&bot, HEARTBEAT, json!({"id": id, "l": 0})).await;
    assert_eq!(
        (
            bad["extensions"]["code"].clone(),
            bad["extensions"]["field"].clone()
        ),
        (json!("BAD_USER_INPUT"), json!("leaseSeconds"))
    );
    // Not running: INVALID_TRANSITION.
    let pending = app
        .create_job(&alice, json!({"title": "waiting", "assignedAgent": "bot"}))
        .await;
    assert_eq!(
        app.err(&bot, HEARTBEAT, json!({"id": pending["id"]})).await["extensions"]["code"],
        "INVALID_TRANSITION"
    );
    // A job started by startJob has no lease; its first heartbeat gives it one (60 s).
    let started = app
        .create_job(&alice, json!({"title": "by hand", "assignedAgent": "bot"}))
        .await;
    let s = TestApp::data(
        app.job_op(&bot, "startJob(id: $id)", json!({"id": started["id"]}))
            .await,
    );
    assert_eq!(s["r"]["leaseExpiresAt"], Value::Null);
    let beat = app.ok(&bot, HEARTBEAT, json!({"id": started["id"]})).await["r"].clone();
    let lease = at(&beat["leaseExpiresAt"]) - chrono::Utc::now();
    assert!(
        lease > chrono::Duration::seconds(55 + 20),
        "the clock was moved 20 s: {lease}"
    );
}

async fn a_lost_lease_retries_with_backoff_and_keeps_the_checkpoint(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let bot = app.actor("bot", &[Agent]);
    let created = app.create_job(&alice, json!({"title": "long", "retryPolicy": {"maxAttempts": 2, "initialBackoffSeconds": 10}})).await;
    let id = created["id"].clone();
    claim(&app, &bot, json!({"l": 30})).await;
    app.ok(&bot, "mutation($id: UUID!) { saveCheckpoint(id: $id, checkpoint: {step: 3, data: {cursor: \"abc\"}}, attempt: 1) { id } }", json!({"id": id})).await;
    // Not yet: the lease holds.
    assert_eq!(
        jobgraph::loops::leases::tick(&app.state.services)
            .await
            .unwrap()
            .jobs,
        0
    );
    app.clock.advance(Duration::from_secs(31));
    let report = jobgraph::loops::leases::tick(&app.state.services)
        .await
        .unwrap();
    assert_eq!(report.jobs, 1);
    let j = job(&app, &alice, &id).await;
    assert_eq!(j["status"], "SCHEDULED");
    assert_eq!(j["runs"][0]["status"], "FAILED");
    assert_eq!(j["runs"][0]["error"], "lease expired");
    assert_eq!(
        j["lastCompletedStep"], 3,
        "the checkpoint survives into the next attempt"
    );
    assert_eq!(j["checkpointData"], json!({"cursor": "abc"}));
    let wait = at(&j["runAt"]) - at(&j["updatedAt"]);
    assert_eq!(wait, chrono::Duration::seconds(10), "the backoff");
    let types = app.job_event_types(id.as_str().unwrap()).await;
    assert_eq!(
        &types[types.len() - 2..],
        ["job.status_changed", "job.retry_scheduled"]
    );
    // The stale worker comes back: fenced, nothing changed.
    let late = app
        .job_op(&bot, "completeJob(id: $id, attempt: 1)", json!({"id": id}))
        .await;
    assert_eq!(code(&late), "CONFLICT");
    assert_eq!(job(&app, &alice, &id).await["version"], j["version"]);
    // Not claimable before the backoff, then claimable as attempt 2, resuming from step 3.
    assert!(claim(&app, &bot, json!({})).await.is_empty());
    app.clock.advance(Duration::from_secs(10));
    let again = claim(&app, &bot, json!({})).await;
    assert_eq!(again[0]["attempt"], 2);
    assert_eq!(job(&app, &alice, &id).await["lastCompletedStep"], 3);
    // A second lost lease spends the attempts: FAILED.
    app.clock.advance(Duration::from_secs(61));
    jobgraph::loops::leases::tick(&app.state.services)
        .await
        .unwrap();
    let j = job(&app, &alice, &id).await;
    assert_eq!(
        (j["status"].clone(), j["error"].clone()),
        (json!("FAILED"), json!("lease expired"))
    );
}

async fn timeouts_end_attempts(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let bot = app.actor("bot", &[Agent]);
    let once = app
        .create_job(&alice, json!({"title": "once", "timeoutSeconds": 5}))
        .await;
    let twice = app
        .create_job(
            &alice,
            json!({"title": "twice", "timeoutSeconds": 5, "retryPolicy": {"maxAttempts": 2}}),
        )
        .await;
    claim(&app, &bot, json!({"n": 2, "l": 3600})).await;
    assert_eq!(
        jobgraph::loops::timeouts::tick(&app.state.services)
            .await
            .unwrap()
            .jobs,
        0
    );
    app.clock.advance(Duration::from_secs(6));
    assert_eq!(
        jobgraph::loops::timeouts::tick(&app.state.services)
            .await
            .unwrap()
            .jobs,
        2
    );
    let j = job(&app, &alice, &once["id"]).await;
    assert_eq!(
        (j["status"].clone(), j["error"].clone()),
        (json!("TIMED_OUT"), json!("timed out after 5 s"))
    );
    assert_eq!(j["runs"][0]["status"], "TIMED_OUT");
    let types = app.job_event_types(once["id"].as_str().unwrap()).await;
    assert_eq!(types.last().unwrap(), "job.timed_out");
    let j = job(&app, &alice, &twice["id"]).await;
    assert_eq!(j["status"], "SCHEDULED");
    assert_eq!(j["runs"][0]["status"], "TIMED_OUT");
    // A timed-out job's waiting successors are cancelled, as for any failure.
    let pred = app
        .create_job(
            &alice,
            json!({"title": "pred", "timeoutSeconds": 1, "priority": 100}),
        )
        .await;
    let succ = app.create_job(&alice, json!({"title": "succ"})).await;
    app.ok(&alice, "mutation($p: UUID!, $s: UUID!) { addJobDependency(predecessorId: $p, successorId: $s) { type } }", json!({"p": pred["id"], "s": succ["id"]})).await;
    let c = claim(&app, &bot, json!({"l": 3600})).await;
    assert_eq!(titles(&c), ["pred"]);
    app.clock.advance(Duration::from_secs(2));
    jobgraph::loops::timeouts::tick(&app.state.services)
        .await
        .unwrap();
    assert_eq!(job(&app, &alice, &succ["id"]).await["status"], "CANCELLED");
}

async fn a_graceful_cancel_is_seen_by_heartbeat_then_ended_by_the_grace_loop(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let bot = app.actor("bot", &[Agent]);
    let created = app.create_job(&alice, json!({"title": "stop me"})).await;
    let id = created["id"].clone();
    claim(&app, &bot, json!({"l": 3600})).await;
    app.job_op(
        &alice,
        "cancelJob(id: $id, reason: \"enough\")",
        json!({"id": id}),
    )
    .await;
    // The worker learns of it on its heartbeat (answered normally).
    let beat = app.ok(&bot, HEARTBEAT, json!({"id": id, "a": 1})).await["r"].clone();
    assert_eq!(beat["status"], "CANCELLING");
    let grace = Duration::from_secs(30);
    assert_eq!(
        jobgraph::loops::grace::tick(&app.state.services, grace)
            .await
            .unwrap()
            .jobs,
        0
    );
    app.clock.advance(Duration::from_secs(31));
    assert_eq!(
        jobgraph::loops::grace::tick(&app.state.services, grace)
            .await
            .unwrap()
            .jobs,
        1
    );
    let j = job(&app, &alice, &id).await;
    assert_eq!(j["status"], "CANCELLED");
    assert_eq!(j["cancelReason"], "cancel grace period over");
    assert_eq!(j["runs"][0]["status"], "CANCELLED");
    // And a CANCELLING job whose lease is lost ends CANCELLED too.
    let other = app
        .create_job(&alice, json!({"title": "lost while cancelling"}))
        .await;
    claim(&app, &bot, json!({"l": 10})).await;
    app.job_op(
        &alice,
        "cancelJob(id: $id, reason: \"enough\")",
        json!({"id": other["id"]}),
    )
    .await;
    app.clock.advance(Duration::from_secs(11));
    jobgraph::loops::leases::tick(&app.state.services)
        .await
        .unwrap();
    let j = job(&app, &alice, &other["id"]).await;
    assert_eq!(
        (j["status"].clone(), j["cancelReason"].clone()),
        (json!("CANCELLED"), json!("lease expired"))
    );
}

async fn cron_jobs_are_rescheduled_after_a_series(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let bot = app.actor("bot", &[Agent]);
    let created = app
        .create_job(
            &alice,
            json!({"title": "every 5 minutes", "schedule": {"cron": "*/5 * * * *"}}),
        )
        .await;
    let id = created["id"].clone();
    let first_run = at(&created["runAt"]);
    assert!(
        claim(&app, &bot, json!({})).await.is_empty(),
        "not before its time"
    );
    app.clock.advance(Duration::from_secs(301));
    let c = claim(&app, &bot, json!({})).await;
    assert_eq!(c.len(), 1);
    app.ok(
        &bot,
        "mutation($id: UUID!) { saveCheckpoint(id: $id, checkpoint: {step: 1}) { id } }",
        json!({"id": id}),
    )
    .await;
    let done = TestApp::data(
        app.job_op(&bot, "completeJob(id: $id, attempt: 1)", json!({"id": id}))
            .await,
    );
    assert_eq!(done["r"]["status"], "SUCCEEDED");
    assert_eq!(
        jobgraph::loops::cron::tick(&app.state.services)
            .await
            .unwrap()
            .jobs,
        1
    );
    let j = job(&app, &alice, &id).await;
    assert_eq!(j["status"], "SCHEDULED");
    assert_eq!(j["attempt"], 0);
    assert_eq!(
        j["lastCompletedStep"],
        Value::Null,
        "a cron reschedule clears the checkpoint"
    );
    let next = at(&j["runAt"]);
    let finished = at(&done["r"]["finishedAt"]);
    assert!(
        next > finished && next - finished <= chrono::Duration::minutes(5),
        "{finished} -> {next}"
    );
    assert_eq!(next.timestamp() % 300, 0, "on a 5-minute mark");
    assert!(next > first_run);
    // The next claim starts series 2.
    app.clock.advance(Duration::from_secs(301));
    claim(&app, &bot, json!({})).await;
    let j = job(&app, &alice, &id).await;
    assert_eq!(j["runs"][1]["series"], 2);
    assert_eq!(j["runs"][1]["attempt"], 1);
    // A tick with nothing to do does nothing; a CANCELLED cron job stays so.
    assert_eq!(
        jobgraph::loops::cron::tick(&app.state.services)
            .await
            .unwrap()
            .jobs,
        0
    );
    app.job_op(
        &alice,
        "cancelJob(id: $id, reason: \"off\", mode: HARD)",
        json!({"id": id}),
    )
    .await;
    assert_eq!(
        jobgraph::loops::cron::tick(&app.state.services)
            .await
            .unwrap()
            .jobs,
        0
    );
    assert_eq!(job(&app, &alice, &id).await["status"], "CANCELLED");
}

/// A lease sweep and the worker's completeJob race on the same jobs: whichever wins, the
/// other changes nothing: a job never ends up both completed and retried.
async fn a_sweep_never_overwrites_a_completion(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let bot = app.actor("bot", &[Agent]);
    for i in 0..12 {
        app.create_job(
            &alice,
            json!({"title": format!("race {i}"), "retryPolicy": {"maxAttempts": 3}}),
        )
        .await;
    }
    let claimed = claim(&app, &bot, json!({"n": 12, "l": 5})).await;
    app.clock.advance(Duration::from_secs(6));
    let completions: Vec<_> = claimed
        .iter()
        .map(|j| {
            let app = app.clone();
            let bot = bot.clone();
            let id = j["id"].clone();
            tokio::spawn(async move {
                let r = app
                    .job_op(&bot, "completeJob(id: $id, attempt: 1)", json!({"id": id}))
                    .await;
                (id, r.get("errors").is_none())
            })
        })
        .collect();
    let sweep = {
        let app = app.clone();
        tokio::spawn(async move {
            jobgraph::loops::leases::tick(&app.state.services)
                .await
                .unwrap()
        })
    };
    let mut completed = 0;
    for c in completions {
        let (id, ok) = c.await.unwrap();
        let j = job(&app, &alice, &id).await;
        if ok {
            completed += 1;
            assert_eq!(j["status"], "SUCCEEDED", "{j}");
            assert_eq!(j["runs"].as_array().unwrap().len(), 1);
            assert_eq!(j["runs"][0]["status"], "SUCCEEDED");
        } else {
            assert_eq!(j["status"], "SCHEDULED", "{j}");
            assert_eq!(j["runs"][0]["status"], "FAILED");
        }
    }
    let swept = sweep.await.unwrap().jobs;
    assert_eq!(completed + swept, 12, "each job moved exactly once");
    // Whatever is left over is swept next tick, and nothing completed is touched.
    assert_eq!(
        jobgraph::loops::leases::tick(&app.state.services)
            .await
            .unwrap()
            .jobs,
        0
    );
}

async fn repeated_completions_return_the_job(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let bot = app.actor("bot", &[Agent]);
    app.create_job(&alice, json!({"title": "done twice"})).await;
    app.create_job(
        &alice,
        json!({"title": "failed twice", "retryPolicy": {"maxAttempts": 3}}),
    )
    .await;
    let jobs = claim(&app, &bot, json!({"n": 2})).await;
    let (a, b) = (jobs[0]["id"].clone(), jobs[1]["id"].clone());
    let complete = "completeJob(id: $id, attempt: 1, result: {output: {ok: true}})";
    let first = TestApp::data(app.job_op(&bot, complete, json!({"id": a})).await);
    let events = app.event_count().await;
    let second = TestApp::data(app.job_op(&bot, complete, json!({"id": a})).await);
    assert_eq!(first["r"]["version"], second["r"]["version"]);
    assert_eq!(second["r"]["result"], json!({"ok": true}));
    let fail = "failJob(id: $id, error: \"flaky\", attempt: 1)";
    let first = TestApp::data(app.job_op(&bot, fail, json!({"id": b})).await);
    assert_eq!(first["r"]["status"], "SCHEDULED");
    let events_after_fail = app.event_count().await;
    assert!(events_after_fail > events);
    let second = TestApp::data(app.job_op(&bot, fail, json!({"id": b})).await);
    assert_eq!(first["r"]["version"], second["r"]["version"]);
    assert_eq!(
        app.event_count().await,
        events_after_fail,
        "nothing written twice"
    );
    // Another error on the closed attempt is not a repeat: CONFLICT.
    let other = app
        .job_op(
            &bot,
            "failJob(id: $id, error: \"other\", attempt: 1)",
            json!({"id": b}),
        )
        .await;
    assert_eq!(code(&other), "CONFLICT");
    let wrong = app
        .job_op(&bot, "completeJob(id: $id, attempt: 1)", json!({"id": b}))
        .await;
    assert_eq!(first_error(&wrong)["extensions"]["code"], "CONFLICT");
}

/// Two servers on one PostgreSQL, 16 claimers spread over both, 2,000 jobs: every job claimed
/// exactly once, none lost, every run closed; then both instances' loops at once act once per
/// job.
async fn two_replicas_claim_every_job_exactly_once(app: TestApp) {
    if !matches!(app.backend, crate::harness::Backend::Postgres { .. }) {
        return; // one process is all SQLite has
    }
    let alice = app.actor("alice", &[Member]);
    let b = app.replica().await;
    let services_a = app.state.services.clone();
    let services_b = b.state.services.clone();
    // 2,000 jobs, straight through the service (the HTTP layer is not what is tested here).
    let seeders: Vec<_> = (0..8)
        .map(|w| {
            let s = services_a.clone();
            let alice = alice.clone();
            tokio::spawn(async move {
                for i in 0..250 {
                    s.jobs
                        .create(
                            &alice,
                            jobgraph::services::jobs::NewJob {
                                title: format!("job {w}-{i}"),
                                ..Default::default()
                            },
                        )
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for s in seeders {
        s.await.unwrap();
    }
    let claimers: Vec<_> = (0..16)
        .map(|c| {
            let s = if c % 2 == 0 {
                services_a.clone()
            } else {
                services_b.clone()
            };
            let bot = app.actor(&format!("bot-{c}"), &[Agent]);
            tokio::spawn(async move {
                let mut done = Vec::new();
                loop {
                    let got = s
                        .executor
                        .claim(
                            &bot,
                            jobgraph::services::executor::ClaimRequest {
                                limit: Some(5),
                                ..Default::default()
                            },
                        )
                        .await
                        .unwrap();
                    if got.is_empty() {
                        return done;
                    }
                    for j in got {
                        s.jobs
                            .complete(&bot, j.id, Default::default(), Some(j.attempt))
                            .await
                            .unwrap();
                        done.push(j.id);
                    }
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for c in claimers {
        all.extend(c.await.unwrap());
    }
    all.sort();
    let before = all.len();
    all.dedup();
    assert_eq!(before, all.len(), "no job was claimed twice");
    assert_eq!(all.len(), 2000, "none lost");
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let runs = entity::job_run::Entity::find()
        .filter(entity::job_run::Column::TenantId.eq(app.tenant.as_str()))
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(runs.len(), 2000, "one run per job");
    assert!(
        runs.iter()
            .all(|r| r.status == entity::status::JobRunStatus::Succeeded)
    );

    // Both instances' lease loops at once, over 200 expired leases: one retry each.
    for i in 0..200 {
        services_a
            .jobs
            .create(
                &alice,
                jobgraph::services::jobs::NewJob {
                    title: format!("lease {i}"),
                    retry_policy: Some(jobgraph::services::jobs::RetryPolicyPatch {
                        max_attempts: Some(2),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }
    let bot = app.actor("bot", &[Agent]);
    let mut claimed = 0;
    while claimed < 200 {
        claimed += services_a
            .executor
            .claim(
                &bot,
                jobgraph::services::executor::ClaimRequest {
                    limit: Some(100),
                    lease_seconds: Some(5),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .len();
    }
    app.clock.advance(Duration::from_secs(6));
    let sweeps: Vec<_> = (0..4)
        .map(|i| {
            let s = if i % 2 == 0 {
                services_a.clone()
            } else {
                services_b.clone()
            };
            tokio::spawn(async move { s.executor.sweep_leases().await.unwrap().jobs })
        })
        .collect();
    let mut swept = 0;
    for s in sweeps {
        swept += s.await.unwrap();
    }
    // Leftovers (rows skipped while locked) go at the next tick.
    swept += services_b.executor.sweep_leases().await.unwrap().jobs;
    assert_eq!(swept, 200, "each expired lease handled once");
    let retries = entity::event::Entity::find()
        .filter(entity::event::Column::TenantId.eq(app.tenant.as_str()))
        .filter(entity::event::Column::EventType.eq("job.retry_scheduled"))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(retries, 200);
}

/// The example worker, started as processes against the test server, drains 50 jobs: one fails
/// once and resumes from its checkpoint, one is cancelled gracefully while it runs.
async fn the_example_worker_drains_50_jobs(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let worker = std::env::current_exe()
        .ok()
        .and_then(|p| {
            p.parent()?
                .parent()
                .map(|d| d.join("examples").join("worker"))
        })
        .filter(|p| p.exists())
        .expect("target/debug/examples/worker is missing: `cargo test --workspace` builds the examples (or run `cargo build --example worker` first)");
    let mut ids = Vec::new();
    for i in 0..48 {
        let j = app
            .create_job(&alice, json!({"title": format!("plain {i}"), "executionContext": {"steps": 2, "stepMs": 10}}))
            .await;
        ids.push(j["id"].clone());
    }
    let flaky = app
        .create_job(
            &alice,
            json!({"title": "flaky", "priority": 90, "executionContext": {"steps": 3, "stepMs": 10, "failOnceAtStep": 2},
                   "retryPolicy": {"maxAttempts": 2, "initialBackoffSeconds": 1}}),
        )
        .await;
    let long = app
        .create_job(&alice, json!({"title": "long", "priority": 100, "executionContext": {"steps": 600, "stepMs": 50}}))
        .await;
    // 1,250 tokens a step against a limit of 2,500: the third step crosses it.
    let limited = app
        .create_job(
            &alice,
            json!({"title": "limited", "priority": 95, "limits": {"maxTokens": 2500},
            "executionContext": {"steps": 50, "stepMs": 20, "tokensPerStep": 1000, "model": "m"}}),
        )
        .await;
    let spawn = |name: &str| {
        let token = app
            .state
            .keys
            .mint(&app.actor(name, &[Agent]), 3600)
            .unwrap();
        std::process::Command::new(&worker)
            .args([
                "--url",
                &format!("http://{}", app.addr),
                "--token",
                &token,
                "--lease-seconds",
                "3",
                "--poll-seconds",
                "1",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start a worker")
    };
    let workers = vec![spawn("worker-1"), spawn("worker-2")];
    // Once the long job runs, cancel it gracefully: its worker sees it on a heartbeat.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if job(&app, &alice, &long["id"]).await["status"] == "RUNNING" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the long job never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.job_op(
        &alice,
        "cancelJob(id: $id, reason: \"not needed\")",
        json!({"id": long["id"]}),
    )
    .await;
    // Everything ends.
    loop {
        let stats = app
            .ok(
                &alice,
                "{ jobStats { byStatus { status count } } }",
                json!({}),
            )
            .await;
        let count = |s: &str| {
            stats["jobStats"]["byStatus"]
                .as_array()
                .unwrap()
                .iter()
                .find(|b| b["status"] == s)
                .map_or(0, |b| b["count"].as_i64().unwrap())
        };
        if count("SUCCEEDED") + count("CANCELLED") == 51 {
            assert_eq!((count("SUCCEEDED"), count("CANCELLED")), (49, 2));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the workers did not drain the queue: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let l = job(&app, &alice, &long["id"]).await;
    assert_eq!(l["status"], "CANCELLED");
    assert_eq!(l["cancelReason"], "not needed");
    // The limited job was stopped when its usage crossed the limit, having reported it.
    let lim = app
        .ok(
            &alice,
            "query($id: UUID!) { job(id: $id) { status cancelReason usage { inputTokens outputTokens toolCalls byModel { model } } } }",
            json!({"id": limited["id"]}),
        )
        .await["job"]
        .clone();
    assert_eq!(lim["status"], "CANCELLED");
    assert_eq!(lim["cancelReason"], "token limit exceeded");
    assert_eq!(lim["usage"]["inputTokens"], 3000);
    assert_eq!(lim["usage"]["outputTokens"], 750);
    assert_eq!(lim["usage"]["byModel"], json!([{"model": "m"}]));
    let f = job(&app, &alice, &flaky["id"]).await;
    assert_eq!(f["status"], "SUCCEEDED");
    let runs: Vec<(Value, Value)> = f["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["attempt"].clone(), r["status"].clone()))
        .collect();
    assert_eq!(
        runs,
        [(json!(1), json!("FAILED")), (json!(2), json!("SUCCEEDED"))]
    );
    // The retry resumed after step 1: each step was checkpointed once.
    let steps: Vec<i64> = app
        .job_events(f["id"].as_str().unwrap())
        .await
        .into_iter()
        .filter(|(t, _)| t == "job.checkpointed")
        .map(|(_, d)| d["step"].as_i64().unwrap())
        .collect();
    assert_eq!(steps, [1, 2, 3]);
    // Every plain job ran once, with its cost recorded per step.
    let plain = job(&app, &alice, &ids[0]).await;
    assert_eq!(plain["runs"].as_array().unwrap().len(), 1);
    // SIGTERM: each worker stops cleanly.
    for mut w in workers {
        unsafe {
            libc::kill(w.id() as i32, libc::SIGTERM);
        }
        let status = w.wait().unwrap();
        assert!(status.success(), "{status}");
        let mut out = String::new();
        use std::io::Read;
        w.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        assert!(out.contains("worker: stopping after"), "{out}");
    }
}
