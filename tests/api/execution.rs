//! The execution mutations (DESIGN.md §3 "Checkpoints", "Execution context", "Fencing stale
//! workers", §6 "Costs"): updateExecutionContext, saveCheckpoint, recordJobCost and their task
//! twins, with their exact events, refusals in the order of §2, and nothing changed on refusal.

use crate::backend_tests;
use crate::harness::{Admin, Agent, Member, TEST_MAX_JSON_BYTES, TestApp, Viewer, first_error};
use jobgraph::auth::Actor;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::str::FromStr;

backend_tests!(
    job_context_merge_replace_and_events,
    task_context_with_linked_jobs,
    context_rfc7396_examples,
    context_refusals_change_nothing,
    context_no_op_writes_nothing,
    job_checkpoint_rules,
    checkpoint_kept_across_retries,
    task_checkpoint_rules,
    job_cost_split_and_exact_sums,
    task_costs_any_status,
    negative_and_inexact_amounts_refused,
    attempt_fencing_and_check_order,
    forbidden_for_viewer_and_stranger,
    not_found_across_tenants,
);

/// The fields these tests read of a job.
const JOB: &str = "id status version attempt updatedAt executionContext checkpointData \
    lastCompletedStep actualCost runs { series attempt status cost }";
/// The fields these tests read of a task.
const TASK: &str =
    "id status version updatedAt executionContext checkpointData lastCompletedStep actualCost";

fn id(record: &Value) -> String {
    record["id"].as_str().expect("an id").to_string()
}

/// Runs `mutation(<decl>) { r: <call> { JOB } }`; returns the whole response.
async fn job_mut(app: &TestApp, actor: &Actor, decl: &str, call: &str, vars: Value) -> Value {
    let q = format!("mutation({decl}) {{ r: {call} {{ {JOB} }} }}");
    app.exec(actor, &q, vars).await
}

/// Runs `mutation(<decl>) { r: <call> { TASK } }`; returns the whole response.
async fn task_mut(app: &TestApp, actor: &Actor, decl: &str, call: &str, vars: Value) -> Value {
    let q = format!("mutation({decl}) {{ r: {call} {{ {TASK} }} }}");
    app.exec(actor, &q, vars).await
}

/// updateExecutionContext with `mode` (None: the argument left out).
async fn job_context(
    app: &TestApp,
    a: &Actor,
    id: &str,
    patch: Value,
    mode: Option<&str>,
) -> Value {
    let call = match mode {
        Some(m) => format!("updateExecutionContext(id: $id, patch: $p, mode: {m})"),
        None => "updateExecutionContext(id: $id, patch: $p)".to_string(),
    };
    job_mut(
        app,
        a,
        "$id: UUID!, $p: JSON!",
        &call,
        json!({"id": id, "p": patch}),
    )
    .await
}

/// updateTaskExecutionContext with `mode` (None: the argument left out).
async fn task_context(
    app: &TestApp,
    a: &Actor,
    id: &str,
    patch: Value,
    mode: Option<&str>,
) -> Value {
    let call = match mode {
        Some(m) => format!("updateTaskExecutionContext(id: $id, patch: $p, mode: {m})"),
        None => "updateTaskExecutionContext(id: $id, patch: $p)".to_string(),
    };
    task_mut(
        app,
        a,
        "$id: UUID!, $p: JSON!",
        &call,
        json!({"id": id, "p": patch}),
    )
    .await
}

/// saveCheckpoint(checkpoint: `cp`, attempt: `attempt`).
async fn job_checkpoint(
    app: &TestApp,
    a: &Actor,
    id: &str,
    cp: Value,
    attempt: Option<i32>,
) -> Value {
    job_mut(
        app,
        a,
        "$id: UUID!, $c: CheckpointInput!, $n: Int",
        "saveCheckpoint(id: $id, checkpoint: $c, attempt: $n)",
        json!({"id": id, "c": cp, "n": attempt}),
    )
    .await
}

/// saveTaskCheckpoint(checkpoint: `cp`).
async fn task_checkpoint(app: &TestApp, a: &Actor, id: &str, cp: Value) -> Value {
    task_mut(
        app,
        a,
        "$id: UUID!, $c: CheckpointInput!",
        "saveTaskCheckpoint(id: $id, checkpoint: $c)",
        json!({"id": id, "c": cp}),
    )
    .await
}

/// recordJobCost(amount: `amount`, attempt: `attempt`).
async fn job_cost(
    app: &TestApp,
    a: &Actor,
    id: &str,
    amount: Value,
    attempt: Option<i32>,
) -> Value {
    job_mut(
        app,
        a,
        "$id: UUID!, $m: Decimal!, $n: Int",
        "recordJobCost(id: $id, amount: $m, attempt: $n)",
        json!({"id": id, "m": amount, "n": attempt}),
    )
    .await
}

/// recordTaskCost(amount: `amount`).
async fn task_cost(app: &TestApp, a: &Actor, id: &str, amount: Value) -> Value {
    task_mut(
        app,
        a,
        "$id: UUID!, $m: Decimal!",
        "recordTaskCost(id: $id, amount: $m)",
        json!({"id": id, "m": amount}),
    )
    .await
}

/// A one-job lifecycle call such as `startJob(id: $id)`, expecting success.
async fn job_step(app: &TestApp, a: &Actor, id: &str, call: &str) -> Value {
    TestApp::data(job_mut(app, a, "$id: UUID!", call, json!({"id": id})).await)["r"].clone()
}

/// A one-task lifecycle call such as `startTask(id: $id)`, expecting success.
async fn task_step(app: &TestApp, a: &Actor, id: &str, call: &str) -> Value {
    TestApp::data(task_mut(app, a, "$id: UUID!", call, json!({"id": id})).await)["r"].clone()
}

/// The returned record of a successful mutation.
fn ok(response: Value) -> Value {
    TestApp::data(response)["r"].clone()
}

/// The job as it is stored now.
async fn read_job(app: &TestApp, id: &str) -> Value {
    let admin = app.actor("root", &[Admin]);
    let q = format!("query($id: UUID!) {{ job(id: $id) {{ {JOB} }} }}");
    app.ok(&admin, &q, json!({"id": id})).await["job"].clone()
}

/// The task as it is stored now.
async fn read_task(app: &TestApp, id: &str) -> Value {
    let admin = app.actor("root", &[Admin]);
    let q = format!("query($id: UUID!) {{ task(id: $id) {{ {TASK} }} }}");
    app.ok(&admin, &q, json!({"id": id})).await["task"].clone()
}

/// The task events' (type, details, linked job ids), oldest first.
async fn task_events_with_links(app: &TestApp, task_id: &str) -> Vec<(String, Value, Value)> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let task_id = uuid::Uuid::parse_str(task_id).unwrap();
    entity::event::Entity::find()
        .filter(entity::event::Column::TaskId.eq(task_id))
        .order_by_asc(entity::event::Column::Id)
        .all(&app.db)
        .await
        .expect("read events")
        .into_iter()
        .map(|e| {
            (
                e.event_type,
                e.details,
                e.linked_job_ids.unwrap_or(Value::Null),
            )
        })
        .collect()
}

/// The one error's extensions.
fn ext(response: &Value) -> Value {
    first_error(response)["extensions"].clone()
}

fn dec(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().expect("a decimal string")).unwrap()
}

async fn job_context_merge_replace_and_events(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let job = app
        .create_job(
            &alice,
            json!({"title": "ctx", "executionContext": {"repo": "x", "opts": {"depth": 1, "tags": ["a"]}}}),
        )
        .await;
    let jid = id(&job);
    // MERGE is the default: nested objects merge, null removes, arrays replace.
    let merged = ok(job_context(
        &app,
        &alice,
        &jid,
        json!({"opts": {"depth": null, "tags": ["b"], "fast": true}, "branch": "main"}),
        None,
    )
    .await);
    assert_eq!(
        merged["executionContext"],
        json!({"repo": "x", "opts": {"tags": ["b"], "fast": true}, "branch": "main"})
    );
    assert_eq!(merged["version"], 2);
    assert_ne!(merged["updatedAt"], job["updatedAt"]);
    // An explicit null mode means the default (MERGE).
    let q = format!(
        "mutation($id: UUID!, $p: JSON!, $m: ContextMode) {{ r: updateExecutionContext(id: $id, patch: $p, mode: $m) {{ {JOB} }} }}"
    );
    let nulled = TestApp::data(
        app.exec(
            &alice,
            &q,
            json!({"id": jid, "p": {"repo": "y"}, "m": null}),
        )
        .await,
    )["r"]
        .clone();
    assert_eq!(nulled["executionContext"]["repo"], "y");
    assert_eq!(
        nulled["executionContext"]["branch"], "main",
        "merged, not replaced"
    );
    assert_eq!(nulled["version"], 3);
    // REPLACE swaps the whole context; null members are stored as given.
    let replaced = ok(job_context(
        &app,
        &alice,
        &jid,
        json!({"only": 1, "n": null}),
        Some("REPLACE"),
    )
    .await);
    assert_eq!(replaced["executionContext"], json!({"only": 1, "n": null}));
    assert_eq!(replaced["version"], 4);
    // An explicit MERGE, in a status that is not PENDING: context changes in any status.
    job_step(&app, &alice, &jid, "startJob(id: $id)").await;
    job_step(&app, &alice, &jid, "completeJob(id: $id)").await;
    let late = ok(job_context(&app, &alice, &jid, json!({"report": "done"}), Some("MERGE")).await);
    assert_eq!(late["status"], "SUCCEEDED");
    assert_eq!(
        late["executionContext"],
        json!({"only": 1, "n": null, "report": "done"})
    );
    assert_eq!(late["version"], 7);

    let events = app.job_events(&jid).await;
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        types,
        [
            "job.created",
            "job.updated",
            "job.updated",
            "job.updated",
            "job.status_changed",
            "job.started",
            "job.status_changed",
            "job.succeeded",
            "job.updated"
        ]
    );
    for (t, details) in &events {
        if t == "job.updated" {
            assert_eq!(details, &json!({}), "job.updated carries no details");
        }
    }
    assert_eq!(read_job(&app, &jid).await, late);
}

async fn task_context_with_linked_jobs(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let task = app
        .create_task(
            &alice,
            None,
            json!({"title": "t", "executionContext": {"a": 1}}),
        )
        .await;
    let tid = id(&task);
    let job = app.create_job(&alice, json!({"title": "j"})).await;
    app.link(&id(&job), &tid, entity::status::JobTaskRole::Supporting)
        .await;

    let merged = ok(task_context(&app, &alice, &tid, json!({"b": {"c": 2}}), None).await);
    assert_eq!(merged["executionContext"], json!({"a": 1, "b": {"c": 2}}));
    assert_eq!(merged["version"], 2);
    let replaced = ok(task_context(&app, &alice, &tid, json!({"z": true}), Some("REPLACE")).await);
    assert_eq!(replaced["executionContext"], json!({"z": true}));
    assert_eq!(replaced["version"], 3);
    // Any status: a cancelled task still takes context changes.
    task_step(&app, &alice, &tid, "cancelTask(id: $id, reason: \"stop\")").await;
    let late = ok(task_context(&app, &alice, &tid, json!({"z": null}), Some("MERGE")).await);
    assert_eq!(late["executionContext"], json!({}));
    assert_eq!(late["status"], "CANCELLED");

    let events = task_events_with_links(&app, &tid).await;
    let updated: Vec<_> = events
        .iter()
        .filter(|(t, _, _)| t == "task.updated")
        .collect();
    assert_eq!(updated.len(), 3);
    for (_, details, links) in updated {
        assert_eq!(details, &json!({}));
        assert_eq!(
            links,
            &json!([id(&job)]),
            "task events carry the linked jobs"
        );
    }
    assert_eq!(read_task(&app, &tid).await, late);
}

async fn context_rfc7396_examples(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    // RFC 7396 Appendix A's examples whose original and result are objects (a context is
    // always one); the others are unit tests of the merge function.
    let cases = [
        (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
        (
            json!({"a": "b"}),
            json!({"b": "c"}),
            json!({"a": "b", "b": "c"}),
        ),
        (json!({"a": "b"}), json!({"a": null}), json!({})),
        (
            json!({"a": "b", "b": "c"}),
            json!({"a": null}),
            json!({"b": "c"}),
        ),
        (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
        (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
        (
            json!({"a": {"b": "c"}}),
            json!({"a": {"b": "d", "c": null}}),
            json!({"a": {"b": "d"}}),
        ),
        (
            json!({"a": [{"b": "c"}]}),
            json!({"a": [1]}),
            json!({"a": [1]}),
        ),
        (
            json!({"e": null}),
            json!({"a": 1}),
            json!({"e": null, "a": 1}),
        ),
        (
            json!({}),
            json!({"a": {"bb": {"ccc": null}}}),
            json!({"a": {"bb": {}}}),
        ),
    ];
    for (original, patch, result) in cases {
        let job = app
            .create_job(
                &alice,
                json!({"title": "rfc", "executionContext": original}),
            )
            .await;
        let jid = id(&job);
        let out = ok(job_context(&app, &alice, &jid, patch.clone(), None).await);
        assert_eq!(out["executionContext"], result, "{original} + {patch}");
        assert_eq!(read_job(&app, &jid).await["executionContext"], result);
        let task = app
            .create_task(
                &alice,
                None,
                json!({"title": "rfc", "executionContext": original}),
            )
            .await;
        let out = ok(task_context(&app, &alice, &id(&task), patch.clone(), None).await);
        assert_eq!(
            out["executionContext"], result,
            "task: {original} + {patch}"
        );
    }
}

async fn context_refusals_change_nothing(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let big = "x".repeat(3000);
    let job = app
        .create_job(
            &alice,
            json!({"title": "big", "executionContext": {"big": big}}),
        )
        .await;
    let task = app
        .create_task(
            &alice,
            None,
            json!({"title": "big", "executionContext": {"big": big}}),
        )
        .await;
    let (jid, tid) = (id(&job), id(&task));
    let before_job = read_job(&app, &jid).await;
    let before_task = read_task(&app, &tid).await;
    let events = app.event_count().await;

    for patch in [
        json!([1]),
        json!("s"),
        json!(5),
        json!(true),
        json!([{"a": 1}]),
    ] {
        for mode in ["MERGE", "REPLACE"] {
            let e = ext(&job_context(&app, &alice, &jid, patch.clone(), Some(mode)).await);
            assert_eq!(
                e,
                json!({"code": "BAD_USER_INPUT", "field": "patch"}),
                "{patch} {mode}"
            );
            let e = ext(&task_context(&app, &alice, &tid, patch.clone(), Some(mode)).await);
            assert_eq!(
                e,
                json!({"code": "BAD_USER_INPUT", "field": "patch"}),
                "{patch} {mode}"
            );
        }
    }
    // The patch alone is small; the merged result is over the limit.
    let more = json!({"more": "y".repeat(1500)});
    assert!(more.to_string().len() < TEST_MAX_JSON_BYTES);
    let e = ext(&job_context(&app, &alice, &jid, more.clone(), None).await);
    assert_eq!(e, json!({"code": "PAYLOAD_TOO_LARGE", "field": "patch"}));
    let e = ext(&task_context(&app, &alice, &tid, more, None).await);
    assert_eq!(e, json!({"code": "PAYLOAD_TOO_LARGE", "field": "patch"}));
    // REPLACE with an oversized object.
    let huge = json!({"huge": "z".repeat(TEST_MAX_JSON_BYTES)});
    let e = ext(&job_context(&app, &alice, &jid, huge.clone(), Some("REPLACE")).await);
    assert_eq!(e, json!({"code": "PAYLOAD_TOO_LARGE", "field": "patch"}));
    let e = ext(&task_context(&app, &alice, &tid, huge, Some("REPLACE")).await);
    assert_eq!(e, json!({"code": "PAYLOAD_TOO_LARGE", "field": "patch"}));

    assert_eq!(read_job(&app, &jid).await, before_job);
    assert_eq!(read_task(&app, &tid).await, before_task);
    assert_eq!(app.event_count().await, events);

    // A patch that shrinks the context makes room again.
    let small = ok(job_context(&app, &alice, &jid, json!({"big": null, "k": 1}), None).await);
    assert_eq!(small["executionContext"], json!({"k": 1}));
}

async fn context_no_op_writes_nothing(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let ctx = json!({"a": 1, "b": {"c": [1, 2]}});
    let job = app
        .create_job(&alice, json!({"title": "same", "executionContext": ctx}))
        .await;
    let task = app
        .create_task(
            &alice,
            None,
            json!({"title": "same", "executionContext": ctx}),
        )
        .await;
    let (jid, tid) = (id(&job), id(&task));
    let before_job = read_job(&app, &jid).await;
    let before_task = read_task(&app, &tid).await;
    let events = app.event_count().await;
    let no_ops = [
        (json!({}), "MERGE"),
        (json!({"a": 1}), "MERGE"),
        (json!({"b": {"c": [1, 2]}}), "MERGE"),
        (json!({"missing": null}), "MERGE"),
        (json!({"b": {"gone": null}}), "MERGE"),
        (json!({"b": {"c": [1, 2]}, "a": 1}), "REPLACE"),
    ];
    for (patch, mode) in no_ops {
        let out = ok(job_context(&app, &alice, &jid, patch.clone(), Some(mode)).await);
        assert_eq!(out, before_job, "{patch} {mode}");
        let out = ok(task_context(&app, &alice, &tid, patch.clone(), Some(mode)).await);
        assert_eq!(out, before_task, "{patch} {mode}");
    }
    assert_eq!(
        app.event_count().await,
        events,
        "no event for a change of nothing"
    );
    assert_eq!(read_job(&app, &jid).await, before_job);
    assert_eq!(read_task(&app, &tid).await, before_task);
}

async fn job_checkpoint_rules(app: TestApp) {
    let bob = app.actor("bob", &[Agent]);
    let job = app.create_job(&bob, json!({"title": "steps"})).await;
    let jid = id(&job);
    assert_eq!(read_job(&app, &jid).await["lastCompletedStep"], Value::Null);
    // Allowed before the job runs (any non-terminal status).
    let c0 = ok(job_checkpoint(&app, &bob, &jid, json!({"step": 0}), None).await);
    assert_eq!(c0["lastCompletedStep"], 0);
    assert_eq!(c0["checkpointData"], Value::Null);
    assert_eq!(c0["version"], 2);
    job_step(&app, &bob, &jid, "startJob(id: $id)").await;
    let c1 = ok(job_checkpoint(
        &app,
        &bob,
        &jid,
        json!({"step": 1, "data": {"cursor": 10}}),
        Some(1),
    )
    .await);
    assert_eq!(c1["lastCompletedStep"], 1);
    assert_eq!(c1["checkpointData"], json!({"cursor": 10}));
    assert_eq!(c1["version"], 4);
    // Absent data and explicit null data both keep the data saved before.
    let c2 = ok(job_checkpoint(&app, &bob, &jid, json!({"step": 2}), None).await);
    assert_eq!(c2["lastCompletedStep"], 2);
    assert_eq!(c2["checkpointData"], json!({"cursor": 10}));
    let c3 = ok(job_checkpoint(&app, &bob, &jid, json!({"step": 3, "data": null}), None).await);
    assert_eq!(c3["lastCompletedStep"], 3);
    assert_eq!(c3["checkpointData"], json!({"cursor": 10}));
    // An equal step overwrites; any JSON value may be the data.
    let c3b = ok(job_checkpoint(
        &app,
        &bob,
        &jid,
        json!({"step": 3, "data": [1, "two"]}),
        None,
    )
    .await);
    assert_eq!(c3b["lastCompletedStep"], 3);
    assert_eq!(c3b["checkpointData"], json!([1, "two"]));
    assert_eq!(c3b["version"], 7);

    // Refusals change nothing.
    let before = read_job(&app, &jid).await;
    let events = app.event_count().await;
    let e =
        ext(&job_checkpoint(&app, &bob, &jid, json!({"step": 2, "data": {"x": 1}}), None).await);
    assert_eq!(
        e,
        json!({"code": "BAD_USER_INPUT", "field": "checkpoint.step"})
    );
    let e = ext(&job_checkpoint(&app, &bob, &jid, json!({"step": -1}), None).await);
    assert_eq!(
        e,
        json!({"code": "BAD_USER_INPUT", "field": "checkpoint.step"})
    );
    let huge = json!({"step": 4, "data": "z".repeat(TEST_MAX_JSON_BYTES)});
    let e = ext(&job_checkpoint(&app, &bob, &jid, huge, None).await);
    assert_eq!(
        e,
        json!({"code": "PAYLOAD_TOO_LARGE", "field": "checkpoint.data"})
    );
    assert_eq!(read_job(&app, &jid).await, before);
    assert_eq!(app.event_count().await, events);

    // A finished job takes no checkpoint: INVALID_TRANSITION from and to its status.
    job_step(&app, &bob, &jid, "completeJob(id: $id)").await;
    let before = read_job(&app, &jid).await;
    let events = app.event_count().await;
    let e = ext(&job_checkpoint(&app, &bob, &jid, json!({"step": 9}), None).await);
    assert_eq!(
        e,
        json!({"code": "INVALID_TRANSITION", "from": "SUCCEEDED", "to": "SUCCEEDED"})
    );
    assert_eq!(read_job(&app, &jid).await, before);
    assert_eq!(app.event_count().await, events);

    let checkpoints: Vec<Value> = app
        .job_events(&jid)
        .await
        .into_iter()
        .filter(|(t, _)| t == "job.checkpointed")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(
        checkpoints,
        [
            json!({"step": 0}),
            json!({"step": 1}),
            json!({"step": 2}),
            json!({"step": 3}),
            json!({"step": 3})
        ]
    );

    // CANCELLING is not terminal.
    let other = app.create_job(&bob, json!({"title": "cancelling"})).await;
    let oid = id(&other);
    job_step(&app, &bob, &oid, "startJob(id: $id)").await;
    job_step(&app, &bob, &oid, "cancelJob(id: $id, reason: \"stop\")").await;
    let c = ok(job_checkpoint(&app, &bob, &oid, json!({"step": 5, "data": 5}), Some(1)).await);
    assert_eq!(c["status"], "CANCELLING");
    assert_eq!(c["lastCompletedStep"], 5);
    job_step(
        &app,
        &bob,
        &oid,
        "cancelJob(id: $id, reason: \"now\", mode: HARD)",
    )
    .await;
    let e = ext(&job_checkpoint(&app, &bob, &oid, json!({"step": 6}), None).await);
    assert_eq!(
        e,
        json!({"code": "INVALID_TRANSITION", "from": "CANCELLED", "to": "CANCELLED"})
    );
}

async fn checkpoint_kept_across_retries(app: TestApp) {
    let bob = app.actor("bob", &[Agent]);
    let job = app
        .create_job(
            &bob,
            json!({"title": "resume", "retryPolicy": {"maxAttempts": 2}}),
        )
        .await;
    let jid = id(&job);
    job_step(&app, &bob, &jid, "startJob(id: $id)").await;
    ok(job_checkpoint(
        &app,
        &bob,
        &jid,
        json!({"step": 3, "data": {"cursor": 30}}),
        Some(1),
    )
    .await);
    // failJob with attempts left: SCHEDULED, the checkpoint stays for the next attempt.
    let retried = job_step(
        &app,
        &bob,
        &jid,
        "failJob(id: $id, error: \"flaky\", attempt: 1)",
    )
    .await;
    assert_eq!(retried["status"], "SCHEDULED");
    assert_eq!(retried["lastCompletedStep"], 3);
    assert_eq!(retried["checkpointData"], json!({"cursor": 30}));
    let second = job_step(&app, &bob, &jid, "startJob(id: $id)").await;
    assert_eq!(second["attempt"], 2);
    assert_eq!(second["lastCompletedStep"], 3);
    assert_eq!(second["checkpointData"], json!({"cursor": 30}));
    ok(job_checkpoint(
        &app,
        &bob,
        &jid,
        json!({"step": 4, "data": {"cursor": 40}}),
        Some(2),
    )
    .await);
    let failed = job_step(
        &app,
        &bob,
        &jid,
        "failJob(id: $id, error: \"dead\", retryable: false)",
    )
    .await;
    assert_eq!(failed["status"], "FAILED");
    // retryJob starts a new series; the checkpoint is kept (the next attempt resumes).
    let again = job_step(&app, &bob, &jid, "retryJob(id: $id)").await;
    assert_eq!(again["status"], "SCHEDULED");
    assert_eq!(again["attempt"], 0);
    assert_eq!(again["lastCompletedStep"], 4);
    assert_eq!(again["checkpointData"], json!({"cursor": 40}));
    assert_eq!(read_job(&app, &jid).await, again);
    // Steps still never go back after the retry.
    let e = ext(&job_checkpoint(&app, &bob, &jid, json!({"step": 3}), None).await);
    assert_eq!(
        e,
        json!({"code": "BAD_USER_INPUT", "field": "checkpoint.step"})
    );
    let resumed = ok(job_checkpoint(&app, &bob, &jid, json!({"step": 4}), None).await);
    assert_eq!(resumed["checkpointData"], json!({"cursor": 40}));
}

async fn task_checkpoint_rules(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let task = app.create_task(&alice, None, json!({"title": "t"})).await;
    let tid = id(&task);
    let job = app.create_job(&alice, json!({"title": "j"})).await;
    app.link(&id(&job), &tid, entity::status::JobTaskRole::Primary)
        .await;
    // OPEN and IN_PROGRESS take checkpoints.
    let c1 = ok(task_checkpoint(&app, &alice, &tid, json!({"step": 1, "data": {"page": 1}})).await);
    assert_eq!(c1["lastCompletedStep"], 1);
    assert_eq!(c1["checkpointData"], json!({"page": 1}));
    assert_eq!(c1["version"], 2);
    task_step(&app, &alice, &tid, "startTask(id: $id)").await;
    let c2 = ok(task_checkpoint(&app, &alice, &tid, json!({"step": 2})).await);
    assert_eq!(c2["lastCompletedStep"], 2);
    assert_eq!(
        c2["checkpointData"],
        json!({"page": 1}),
        "absent data keeps"
    );
    let c2b = ok(task_checkpoint(&app, &alice, &tid, json!({"step": 2, "data": null})).await);
    assert_eq!(c2b["checkpointData"], json!({"page": 1}), "null data keeps");
    let c2c =
        ok(task_checkpoint(&app, &alice, &tid, json!({"step": 2, "data": {"page": 2}})).await);
    assert_eq!(
        c2c["checkpointData"],
        json!({"page": 2}),
        "equal step overwrites"
    );
    assert_eq!(c2c["version"], 6);

    let before = read_task(&app, &tid).await;
    let events = app.event_count().await;
    let e = ext(&task_checkpoint(&app, &alice, &tid, json!({"step": 1})).await);
    assert_eq!(
        e,
        json!({"code": "BAD_USER_INPUT", "field": "checkpoint.step"})
    );
    let e = ext(&task_checkpoint(&app, &alice, &tid, json!({"step": -5})).await);
    assert_eq!(
        e,
        json!({"code": "BAD_USER_INPUT", "field": "checkpoint.step"})
    );
    let huge = json!({"step": 3, "data": {"z": "z".repeat(TEST_MAX_JSON_BYTES)}});
    let e = ext(&task_checkpoint(&app, &alice, &tid, huge).await);
    assert_eq!(
        e,
        json!({"code": "PAYLOAD_TOO_LARGE", "field": "checkpoint.data"})
    );
    assert_eq!(read_task(&app, &tid).await, before);
    assert_eq!(app.event_count().await, events);

    task_step(&app, &alice, &tid, "completeTask(id: $id)").await;
    let e = ext(&task_checkpoint(&app, &alice, &tid, json!({"step": 3})).await);
    assert_eq!(
        e,
        json!({"code": "INVALID_TRANSITION", "from": "COMPLETED", "to": "COMPLETED"})
    );
    task_step(&app, &alice, &tid, "reopenTask(id: $id)").await;
    task_step(&app, &alice, &tid, "cancelTask(id: $id, reason: \"no\")").await;
    let e = ext(&task_checkpoint(&app, &alice, &tid, json!({"step": 3})).await);
    assert_eq!(
        e,
        json!({"code": "INVALID_TRANSITION", "from": "CANCELLED", "to": "CANCELLED"})
    );

    let checkpoints: Vec<(Value, Value)> = task_events_with_links(&app, &tid)
        .await
        .into_iter()
        .filter(|(t, _, _)| t == "task.checkpointed")
        .map(|(_, d, l)| (d, l))
        .collect();
    assert_eq!(checkpoints.len(), 4);
    let steps: Vec<&Value> = checkpoints.iter().map(|(d, _)| d).collect();
    assert_eq!(
        steps,
        [
            &json!({"step": 1}),
            &json!({"step": 2}),
            &json!({"step": 2}),
            &json!({"step": 2})
        ]
    );
    for (_, links) in &checkpoints {
        assert_eq!(links, &json!([id(&job)]));
    }
}

async fn job_cost_split_and_exact_sums(app: TestApp) {
    let bob = app.actor("bob", &[Agent]);
    let job = app
        .create_job(
            &bob,
            json!({"title": "billed", "retryPolicy": {"maxAttempts": 2}}),
        )
        .await;
    let jid = id(&job);
    // No run open: the cost lands on the job.
    let j = ok(job_cost(&app, &bob, &jid, json!("0.1"), None).await);
    assert_eq!(j["actualCost"], "0.1");
    assert_eq!(j["runs"], json!([]));
    assert_eq!(j["version"], 2);
    // Attempt 1 RUNNING: on its run, and in the job's total. 0.1 + 0.2 is exactly 0.3.
    job_step(&app, &bob, &jid, "startJob(id: $id)").await;
    let j = ok(job_cost(&app, &bob, &jid, json!("0.2"), Some(1)).await);
    assert_eq!(j["actualCost"], "0.3");
    assert_eq!(j["runs"][0]["cost"], "0.2");
    let j = ok(job_cost(&app, &bob, &jid, json!(2), None).await);
    assert_eq!(j["actualCost"], "2.3", "an integer literal is an amount");
    assert_eq!(j["runs"][0]["cost"], "2.2");
    // Between attempts (SCHEDULED for a retry): on the job.
    let j = job_step(
        &app,
        &bob,
        &jid,
        "failJob(id: $id, error: \"flaky\", attempt: 1)",
    )
    .await;
    assert_eq!(j["status"], "SCHEDULED");
    let j = ok(job_cost(&app, &bob, &jid, json!("0.05"), None).await);
    assert_eq!(j["actualCost"], "2.35");
    assert_eq!(j["runs"][0]["cost"], "2.2");
    // Attempt 2.
    job_step(&app, &bob, &jid, "startJob(id: $id)").await;
    let j = ok(job_cost(&app, &bob, &jid, json!("1.000000001"), Some(2)).await);
    assert_eq!(j["runs"][1]["cost"], "1.000000001");
    assert_eq!(j["actualCost"], "3.350000001");
    job_step(&app, &bob, &jid, "completeJob(id: $id, attempt: 2)").await;
    // A late bill after completion: on the job only; zero is an amount too.
    let j = ok(job_cost(&app, &bob, &jid, json!("0.000000001"), None).await);
    assert_eq!(j["status"], "SUCCEEDED");
    assert_eq!(j["actualCost"], "3.350000002");
    assert_eq!(j["runs"][0]["cost"], "2.2");
    assert_eq!(j["runs"][1]["cost"], "1.000000001");
    let j = ok(job_cost(&app, &bob, &jid, json!("0"), None).await);
    assert_eq!(j["actualCost"], "3.350000002");

    // actualCost = Σ runs' cost + what was recorded while no run was open.
    let runs: Decimal = j["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| dec(&r["cost"]))
        .sum();
    let job_only = dec(&json!("0.1")) + dec(&json!("0.05")) + dec(&json!("0.000000001"));
    assert_eq!(dec(&j["actualCost"]), runs + job_only);
    assert_eq!(read_job(&app, &jid).await, j);

    let amounts: Vec<Value> = app
        .job_events(&jid)
        .await
        .into_iter()
        .filter(|(t, _)| t == "job.cost_recorded")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(
        amounts,
        [
            json!({"amount": "0.1"}),
            json!({"amount": "0.2"}),
            json!({"amount": "2"}),
            json!({"amount": "0.05"}),
            json!({"amount": "1.000000001"}),
            json!({"amount": "0.000000001"}),
            json!({"amount": "0"})
        ]
    );
    // jobStats sums the same totals.
    let bill = app.create_job(&bob, json!({"title": "other"})).await;
    ok(job_cost(&app, &bob, &id(&bill), json!("0.7"), None).await);
    let stats = app.ok(&bob, "{ jobStats { actualCost } }", json!({})).await;
    assert_eq!(stats["jobStats"]["actualCost"], "4.050000002");
}

async fn task_costs_any_status(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let task = app.create_task(&alice, None, json!({"title": "t"})).await;
    let tid = id(&task);
    let t = ok(task_cost(&app, &alice, &tid, json!("0.1")).await);
    assert_eq!(t["actualCost"], "0.1");
    assert_eq!(t["version"], 2);
    let t = ok(task_cost(&app, &alice, &tid, json!("0.2")).await);
    assert_eq!(t["actualCost"], "0.3");
    task_step(&app, &alice, &tid, "completeTask(id: $id)").await;
    let t = ok(task_cost(&app, &alice, &tid, json!("12.50")).await);
    assert_eq!(t["status"], "COMPLETED");
    assert_eq!(t["actualCost"], "12.8");
    assert_eq!(read_task(&app, &tid).await, t);
    let costs: Vec<(Value, Value)> = task_events_with_links(&app, &tid)
        .await
        .into_iter()
        .filter(|(t, _, _)| t == "task.cost_recorded")
        .map(|(_, d, l)| (d, l))
        .collect();
    assert_eq!(
        costs,
        [
            (json!({"amount": "0.1"}), json!([])),
            (json!({"amount": "0.2"}), json!([])),
            (json!({"amount": "12.5"}), json!([]))
        ]
    );
}

async fn negative_and_inexact_amounts_refused(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let job = app.create_job(&alice, json!({"title": "j"})).await;
    let task = app.create_task(&alice, None, json!({"title": "t"})).await;
    let (jid, tid) = (id(&job), id(&task));
    let before_job = read_job(&app, &jid).await;
    let before_task = read_task(&app, &tid).await;
    let events = app.event_count().await;
    for bad in ["-0.01", "-1", "0.0000000001", "1000000000"] {
        let e = ext(&job_cost(&app, &alice, &jid, json!(bad), None).await);
        assert_eq!(
            e,
            json!({"code": "BAD_USER_INPUT", "field": "amount"}),
            "{bad}"
        );
        let e = ext(&task_cost(&app, &alice, &tid, json!(bad)).await);
        assert_eq!(
            e,
            json!({"code": "BAD_USER_INPUT", "field": "amount"}),
            "{bad}"
        );
    }
    // A JSON number with a fraction is refused by the scalar (send decimals as strings).
    let e = ext(&job_cost(&app, &alice, &jid, json!(0.1), None).await);
    assert_eq!(e["code"], "BAD_USER_INPUT");
    let e = ext(&task_cost(&app, &alice, &tid, json!("1e3")).await);
    assert_eq!(e["code"], "BAD_USER_INPUT");
    assert_eq!(read_job(&app, &jid).await, before_job);
    assert_eq!(read_task(&app, &tid).await, before_task);
    assert_eq!(app.event_count().await, events);
}

async fn attempt_fencing_and_check_order(app: TestApp) {
    let bob = app.actor("bob", &[Agent]);
    let job = app.create_job(&bob, json!({"title": "fenced"})).await;
    let jid = id(&job);
    // Before any attempt, a given attempt has no open run to match.
    let e = ext(&job_cost(&app, &bob, &jid, json!("1"), Some(0)).await);
    assert_eq!(
        e,
        json!({"code": "CONFLICT", "expectedAttempt": 0, "actualAttempt": 0})
    );
    job_step(&app, &bob, &jid, "startJob(id: $id)").await;
    let before = read_job(&app, &jid).await;
    let events = app.event_count().await;
    let e = ext(&job_checkpoint(&app, &bob, &jid, json!({"step": 1, "data": 1}), Some(2)).await);
    assert_eq!(
        e,
        json!({"code": "CONFLICT", "expectedAttempt": 2, "actualAttempt": 1})
    );
    let e = ext(&job_cost(&app, &bob, &jid, json!("1"), Some(0)).await);
    assert_eq!(
        e,
        json!({"code": "CONFLICT", "expectedAttempt": 0, "actualAttempt": 1})
    );
    assert_eq!(
        read_job(&app, &jid).await,
        before,
        "a fenced call changes nothing"
    );
    assert_eq!(app.event_count().await, events);
    // The current attempt passes.
    ok(job_checkpoint(&app, &bob, &jid, json!({"step": 1, "data": 1}), Some(1)).await);
    let j = ok(job_cost(&app, &bob, &jid, json!("1"), Some(1)).await);
    assert_eq!(j["runs"][0]["cost"], "1");
    job_step(&app, &bob, &jid, "completeJob(id: $id, attempt: 1)").await;
    // Attempt 1's run is closed: its worker is fenced off, even with the right number.
    let before = read_job(&app, &jid).await;
    let e = ext(&job_cost(&app, &bob, &jid, json!("1"), Some(1)).await);
    assert_eq!(
        e,
        json!({"code": "CONFLICT", "expectedAttempt": 1, "actualAttempt": 1})
    );
    // Check order: CONFLICT before INVALID_TRANSITION; BAD_USER_INPUT before CONFLICT.
    let e = ext(&job_checkpoint(&app, &bob, &jid, json!({"step": 2}), Some(1)).await);
    assert_eq!(e["code"], "CONFLICT");
    let e = ext(&job_checkpoint(&app, &bob, &jid, json!({"step": 0}), Some(7)).await);
    assert_eq!(
        e,
        json!({"code": "BAD_USER_INPUT", "field": "checkpoint.step"})
    );
    let e = ext(&job_cost(&app, &bob, &jid, json!("-1"), Some(7)).await);
    assert_eq!(e, json!({"code": "BAD_USER_INPUT", "field": "amount"}));
    assert_eq!(read_job(&app, &jid).await, before);
    // Without an attempt, a late bill is fine.
    let j = ok(job_cost(&app, &bob, &jid, json!("0.5"), None).await);
    assert_eq!(j["actualCost"], "1.5");
    assert_eq!(j["runs"][0]["cost"], "1");
    // FORBIDDEN comes before input errors and NOT_FOUND before FORBIDDEN.
    let viewer = app.actor("vic", &[Viewer]);
    let e = ext(&job_context(&app, &viewer, &jid, json!([1]), None).await);
    assert_eq!(e["code"], "FORBIDDEN");
    let e = ext(&job_cost(&app, &viewer, &jid, json!("-1"), Some(9)).await);
    assert_eq!(e["code"], "FORBIDDEN");
    let missing = uuid::Uuid::now_v7().to_string();
    let e = ext(&job_cost(&app, &viewer, &missing, json!("-1"), None).await);
    assert_eq!(e, json!({"code": "NOT_FOUND", "id": missing}));
}

async fn forbidden_for_viewer_and_stranger(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let job = app.create_job(&alice, json!({"title": "mine"})).await;
    let task = app
        .create_task(&alice, None, json!({"title": "mine"}))
        .await;
    let (jid, tid) = (id(&job), id(&task));
    let before_job = read_job(&app, &jid).await;
    let before_task = read_task(&app, &tid).await;
    let events = app.event_count().await;
    for stranger in [
        app.actor("vic", &[Viewer]),
        app.actor("mallory", &[Member]),
        app.actor("agent-9", &[Agent]),
    ] {
        let responses = [
            job_context(&app, &stranger, &jid, json!({"a": 1}), None).await,
            job_checkpoint(&app, &stranger, &jid, json!({"step": 1}), None).await,
            job_cost(&app, &stranger, &jid, json!("1"), None).await,
            task_context(&app, &stranger, &tid, json!({"a": 1}), None).await,
            task_checkpoint(&app, &stranger, &tid, json!({"step": 1})).await,
            task_cost(&app, &stranger, &tid, json!("1")).await,
        ];
        for r in responses {
            assert_eq!(
                ext(&r),
                json!({"code": "FORBIDDEN"}),
                "{}: {r}",
                stranger.id
            );
        }
    }
    assert_eq!(read_job(&app, &jid).await, before_job);
    assert_eq!(read_task(&app, &tid).await, before_task);
    assert_eq!(app.event_count().await, events);

    // own*: the assignee of a job; the owner of a job that links the task as PRIMARY; ADMIN.
    let delegated = app
        .create_job(
            &alice,
            json!({"title": "theirs", "assignedAgent": "agent-9"}),
        )
        .await;
    let agent = app.actor("agent-9", &[Agent]);
    ok(job_cost(&app, &agent, &id(&delegated), json!("1"), None).await);
    let carol = app.actor("carol", &[Member]);
    let carols = app.create_job(&carol, json!({"title": "carol's"})).await;
    let e = ext(&task_cost(&app, &carol, &tid, json!("1")).await);
    assert_eq!(e["code"], "FORBIDDEN");
    app.link(&id(&carols), &tid, entity::status::JobTaskRole::Primary)
        .await;
    ok(task_cost(&app, &carol, &tid, json!("1")).await);
    ok(task_checkpoint(&app, &carol, &tid, json!({"step": 1})).await);
    let admin = app.actor("root", &[Admin]);
    ok(job_context(&app, &admin, &jid, json!({"by": "admin"}), None).await);
    ok(task_context(&app, &admin, &tid, json!({"by": "admin"}), None).await);
}

async fn not_found_across_tenants(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let job = app.create_job(&alice, json!({"title": "here"})).await;
    let task = app
        .create_task(&alice, None, json!({"title": "here"}))
        .await;
    let (jid, tid) = (id(&job), id(&task));
    let before_job = read_job(&app, &jid).await;
    let before_task = read_task(&app, &tid).await;
    let events = app.event_count().await;
    // Even an ADMIN of another tenant, with valid or invalid input alike.
    let outsider = app.foreigner("alice", &[Admin]);
    let responses = [
        (
            jid.clone(),
            job_context(&app, &outsider, &jid, json!({"a": 1}), None).await,
        ),
        (
            jid.clone(),
            job_context(&app, &outsider, &jid, json!([1]), Some("REPLACE")).await,
        ),
        (
            jid.clone(),
            job_checkpoint(&app, &outsider, &jid, json!({"step": 1}), Some(1)).await,
        ),
        (
            jid.clone(),
            job_cost(&app, &outsider, &jid, json!("-1"), None).await,
        ),
        (
            tid.clone(),
            task_context(&app, &outsider, &tid, json!({"a": 1}), None).await,
        ),
        (
            tid.clone(),
            task_checkpoint(&app, &outsider, &tid, json!({"step": -1})).await,
        ),
        (
            tid.clone(),
            task_cost(&app, &outsider, &tid, json!("1")).await,
        ),
    ];
    for (expected, r) in responses {
        assert_eq!(ext(&r), json!({"code": "NOT_FOUND", "id": expected}), "{r}");
    }
    assert_eq!(read_job(&app, &jid).await, before_job);
    assert_eq!(read_task(&app, &tid).await, before_task);
    assert_eq!(app.event_count().await, events);
    // A job id given to a task mutation (and the reverse) is NOT_FOUND too.
    let e = ext(&task_cost(&app, &alice, &jid, json!("1")).await);
    assert_eq!(e, json!({"code": "NOT_FOUND", "id": jid}));
    let e = ext(&job_cost(&app, &alice, &tid, json!("1"), None).await);
    assert_eq!(e, json!({"code": "NOT_FOUND", "id": tid}));
}
