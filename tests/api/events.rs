//! Events you can read (DESIGN.md §7): every operation's events in order, read back through the
//! public `events` query; filters on what the rows stored; tenant isolation; cursors; pruning
//! with the watermark; snapshots rendered through `Job`/`Task`; small event rows.

use crate::backend_tests;
use crate::harness::{Admin, Member, TestApp, code, first_error};
use jobgraph::auth::Actor;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

backend_tests!(
    every_operation_writes_its_events_in_order,
    event_filters_match_what_the_rows_stored,
    event_reads_stay_in_the_tenant,
    event_cursors_are_ids_and_strictly_after,
    pruning_raises_the_watermark_and_old_cursors_are_refused,
    snapshots_render_through_job_and_task_with_live_documents,
    event_rows_stay_small,
    record_events_batch_per_page,
    services_read_the_injected_clock,
    filters_mean_the_same_in_sql_and_in_memory,
);

const EVENT_NODES: &str = "nodes { __typename
    ... on JobEvent { id type kind jobId fromStatus toStatus reason attempt }
    ... on TaskEvent { id type kind taskId fromStatus toStatus reason } }";

/// `latestEventId` of the actor's tenant (0 when there is none).
async fn latest(app: &TestApp, actor: &Actor) -> String {
    let data = app.ok(actor, "{ latestEventId }", json!({})).await;
    data["latestEventId"].as_str().unwrap_or("0").to_string()
}

/// Every event after `after`, read through the API page by page.
async fn events_after(app: &TestApp, actor: &Actor, after: &str) -> Vec<Value> {
    let q = format!(
        "query($a: String) {{ events(first: 200, after: $a) {{ edges {{ cursor }} {EVENT_NODES} pageInfo {{ hasNextPage endCursor }} }} }}"
    );
    let mut out = Vec::new();
    let mut cursor = after.to_string();
    loop {
        let data = app.ok(actor, &q, json!({"a": cursor})).await;
        let page = &data["events"];
        let nodes = page["nodes"].as_array().unwrap().clone();
        for (edge, node) in page["edges"].as_array().unwrap().iter().zip(&nodes) {
            assert_eq!(edge["cursor"], node["id"], "edge.cursor == node.id");
        }
        out.extend(nodes);
        if page["pageInfo"]["hasNextPage"] != json!(true) {
            return out;
        }
        cursor = page["pageInfo"]["endCursor"].as_str().unwrap().to_string();
    }
}

/// (type, record id) of events.
fn summary(events: &[Value]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            let id = e.get("jobId").or_else(|| e.get("taskId")).unwrap();
            (
                e["type"].as_str().unwrap().to_string(),
                id.as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Replaces every string "$NAME" in `v` by the id bound to NAME.
fn bind(v: &Value, ids: &HashMap<String, String>) -> Value {
    match v {
        Value::String(s) if s.starts_with('$') => {
            json!(
                ids.get(&s[1..])
                    .unwrap_or_else(|| panic!("no id bound to {s}"))
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| bind(i, ids)).collect()),
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), bind(v, ids))).collect())
        }
        other => other.clone(),
    }
}

/// One row of DESIGN.md §7's table: an operation, and the events it must write, in order, as
/// (type, name of the record).
struct Row {
    what: &'static str,
    /// A mutation whose single root field is aliased `r`.
    mutation: &'static str,
    variables: Value,
    /// Bind the returned `id` to this name.
    binds: Option<&'static str>,
    events: &'static [(&'static str, &'static str)],
}

fn row(
    what: &'static str,
    mutation: &'static str,
    variables: Value,
    binds: Option<&'static str>,
    events: &'static [(&'static str, &'static str)],
) -> Row {
    Row {
        what,
        mutation,
        variables,
        binds,
        events,
    }
}

const CREATE_JOB: &str = "mutation($i: CreateJobInput!) { r: createJob(input: $i) { id } }";
const CREATE_TASK: &str = "mutation($i: CreateTaskInput!) { r: createTask(input: $i) { id } }";
const JOB_EDGE: &str = "mutation($p: UUID!, $s: UUID!, $t: DependencyType) { r: addJobDependency(predecessorId: $p, successorId: $s, type: $t) { type } }";
const TASK_EDGE: &str = "mutation($p: UUID!, $s: UUID!, $t: DependencyType) { r: addTaskDependency(predecessorId: $p, successorId: $s, type: $t) { type } }";
const START_JOB: &str = "mutation($id: UUID!) { r: startJob(id: $id) { id } }";
const FAIL_JOB: &str = "mutation($id: UUID!) { r: failJob(id: $id, error: \"boom\") { id } }";
const CANCEL_JOB: &str = "mutation($id: UUID!, $m: CancelMode) { r: cancelJob(id: $id, reason: \"stop\", mode: $m) { id } }";

fn rows() -> Vec<Row> {
    let future = "2099-01-01T00:00:00Z";
    vec![
        row(
            "createJob",
            CREATE_JOB,
            json!({"i": {"title": "A"}}),
            Some("A"),
            &[("job.created", "A")],
        ),
        row(
            "createJob",
            CREATE_JOB,
            json!({"i": {"title": "B"}}),
            Some("B"),
            &[("job.created", "B")],
        ),
        row(
            "createTask linked to a job",
            CREATE_TASK,
            json!({"i": {"title": "T1", "jobId": "$A"}}),
            Some("T1"),
            &[("task.created", "T1")],
        ),
        row(
            "createTask",
            CREATE_TASK,
            json!({"i": {"title": "T2"}}),
            Some("T2"),
            &[("task.created", "T2")],
        ),
        row(
            "createSubtask",
            "mutation($p: UUID!) { r: createSubtask(parentId: $p, input: {title: \"S1\"}) { id } }",
            json!({"p": "$T2"}),
            Some("S1"),
            &[("task.created", "S1")],
        ),
        row(
            "updateJob",
            "mutation($id: UUID!) { r: updateJob(id: $id, input: {title: \"A2\"}) { id } }",
            json!({"id": "$A"}),
            None,
            &[("job.updated", "A")],
        ),
        row(
            "updateTask",
            "mutation($id: UUID!) { r: updateTask(id: $id, input: {title: \"T2b\"}) { id } }",
            json!({"id": "$T2"}),
            None,
            &[("task.updated", "T2")],
        ),
        row(
            "updateExecutionContext",
            "mutation($id: UUID!) { r: updateExecutionContext(id: $id, patch: {k: 1}) { id } }",
            json!({"id": "$A"}),
            None,
            &[("job.updated", "A")],
        ),
        row(
            "updateTaskExecutionContext",
            "mutation($id: UUID!) { r: updateTaskExecutionContext(id: $id, patch: {k: 1}) { id } }",
            json!({"id": "$T2"}),
            None,
            &[("task.updated", "T2")],
        ),
        row(
            "addJobDependency",
            JOB_EDGE,
            json!({"p": "$A", "s": "$B"}),
            None,
            &[("job.updated", "B")],
        ),
        row(
            "addTaskDependency",
            TASK_EDGE,
            json!({"p": "$T1", "s": "$T2", "t": "START_TO_START"}),
            None,
            &[("task.updated", "T2")],
        ),
        row(
            "linkTask",
            "mutation($j: UUID!, $t: UUID!) { r: linkTask(jobId: $j, taskId: $t, role: SUPPORTING) { role } }",
            json!({"j": "$B", "t": "$T2"}),
            None,
            &[("job.updated", "B")],
        ),
        row(
            "unlinkTask",
            "mutation($j: UUID!, $t: UUID!) { r: unlinkTask(jobId: $j, taskId: $t) }",
            json!({"j": "$B", "t": "$T2"}),
            None,
            &[("job.updated", "B")],
        ),
        row(
            "scheduleJob PENDING -> SCHEDULED",
            "mutation($id: UUID!, $at: DateTime) { r: scheduleJob(id: $id, schedule: {runAt: $at}) { id } }",
            json!({"id": "$B", "at": future}),
            None,
            &[("job.status_changed", "B"), ("job.scheduled", "B")],
        ),
        row(
            "scheduleJob SCHEDULED -> SCHEDULED",
            "mutation($id: UUID!, $at: DateTime) { r: scheduleJob(id: $id, schedule: {runAt: $at}) { id } }",
            json!({"id": "$B", "at": future}),
            None,
            &[("job.scheduled", "B")],
        ),
        row(
            "delegateJob",
            "mutation($id: UUID!) { r: delegateJob(id: $id, to: \"bob\") { id } }",
            json!({"id": "$A"}),
            None,
            &[("job.delegated", "A")],
        ),
        row(
            "assignTask",
            "mutation($id: UUID!) { r: assignTask(id: $id, assignee: \"bob\") { id } }",
            json!({"id": "$T1"}),
            None,
            &[("task.assigned", "T1")],
        ),
        row(
            "startJob (an FS successor stays blocked)",
            START_JOB,
            json!({"id": "$A"}),
            None,
            &[("job.status_changed", "A"), ("job.started", "A")],
        ),
        row(
            "saveCheckpoint",
            "mutation($id: UUID!) { r: saveCheckpoint(id: $id, checkpoint: {step: 1, data: {s: 1}}) { id } }",
            json!({"id": "$A"}),
            None,
            &[("job.checkpointed", "A")],
        ),
        row(
            "recordJobCost",
            "mutation($id: UUID!) { r: recordJobCost(id: $id, amount: \"1.5\") { id } }",
            json!({"id": "$A"}),
            None,
            &[("job.cost_recorded", "A")],
        ),
        row(
            "startTask (its SS successor is ready now)",
            "mutation($id: UUID!) { r: startTask(id: $id) { id } }",
            json!({"id": "$T1"}),
            None,
            &[
                ("task.status_changed", "T1"),
                ("task.started", "T1"),
                ("task.updated", "T2"),
            ],
        ),
        row(
            "saveTaskCheckpoint",
            "mutation($id: UUID!) { r: saveTaskCheckpoint(id: $id, checkpoint: {step: 1}) { id } }",
            json!({"id": "$T1"}),
            None,
            &[("task.checkpointed", "T1")],
        ),
        row(
            "recordTaskCost",
            "mutation($id: UUID!) { r: recordTaskCost(id: $id, amount: \"2\") { id } }",
            json!({"id": "$T1"}),
            None,
            &[("task.cost_recorded", "T1")],
        ),
        row(
            "completeTask (the linked job's progress changes)",
            "mutation($id: UUID!) { r: completeTask(id: $id) { id } }",
            json!({"id": "$T1"}),
            None,
            &[
                ("task.status_changed", "T1"),
                ("task.completed", "T1"),
                ("job.updated", "A"),
            ],
        ),
        row(
            "completeJob (its FS successor is ready now)",
            "mutation($id: UUID!) { r: completeJob(id: $id) { id } }",
            json!({"id": "$A"}),
            None,
            &[
                ("job.status_changed", "A"),
                ("job.succeeded", "A"),
                ("job.updated", "B"),
            ],
        ),
        row(
            "reopenTask",
            "mutation($id: UUID!) { r: reopenTask(id: $id) { id } }",
            json!({"id": "$T1"}),
            None,
            &[
                ("task.status_changed", "T1"),
                ("task.reopened", "T1"),
                ("job.updated", "A"),
            ],
        ),
        row(
            "cancelTask with an open subtask",
            "mutation($id: UUID!) { r: cancelTask(id: $id, reason: \"no\") { id } }",
            json!({"id": "$T2"}),
            None,
            &[
                ("task.status_changed", "T2"),
                ("task.cancelled", "T2"),
                ("task.status_changed", "S1"),
                ("task.cancelled", "S1"),
            ],
        ),
        row(
            "removeTaskDependency",
            "mutation($p: UUID!, $s: UUID!) { r: removeTaskDependency(predecessorId: $p, successorId: $s) }",
            json!({"p": "$T1", "s": "$T2"}),
            None,
            &[("task.updated", "T2")],
        ),
        row(
            "removeJobDependency",
            "mutation($p: UUID!, $s: UUID!) { r: removeJobDependency(predecessorId: $p, successorId: $s) }",
            json!({"p": "$A", "s": "$B"}),
            None,
            &[("job.updated", "B")],
        ),
        row(
            "createJob with retries",
            CREATE_JOB,
            json!({"i": {"title": "C", "retryPolicy": {"maxAttempts": 2}}}),
            Some("C"),
            &[("job.created", "C")],
        ),
        row(
            "startJob",
            START_JOB,
            json!({"id": "$C"}),
            None,
            &[("job.status_changed", "C"), ("job.started", "C")],
        ),
        row(
            "failJob with attempts left",
            FAIL_JOB,
            json!({"id": "$C"}),
            None,
            &[("job.status_changed", "C"), ("job.retry_scheduled", "C")],
        ),
        row(
            "startJob of a retry",
            START_JOB,
            json!({"id": "$C"}),
            None,
            &[("job.status_changed", "C"), ("job.started", "C")],
        ),
        row(
            "failJob with attempts spent",
            FAIL_JOB,
            json!({"id": "$C"}),
            None,
            &[("job.status_changed", "C"), ("job.failed", "C")],
        ),
        row(
            "retryJob",
            "mutation($id: UUID!) { r: retryJob(id: $id) { id } }",
            json!({"id": "$C"}),
            None,
            &[("job.status_changed", "C"), ("job.scheduled", "C")],
        ),
        row(
            "createJob",
            CREATE_JOB,
            json!({"i": {"title": "D"}}),
            Some("D"),
            &[("job.created", "D")],
        ),
        row(
            "createJob",
            CREATE_JOB,
            json!({"i": {"title": "E"}}),
            Some("E"),
            &[("job.created", "E")],
        ),
        row(
            "addJobDependency",
            JOB_EDGE,
            json!({"p": "$D", "s": "$E"}),
            None,
            &[("job.updated", "E")],
        ),
        row(
            "cancelJob HARD cancels waiting successors",
            CANCEL_JOB,
            json!({"id": "$D", "m": "HARD"}),
            None,
            &[
                ("job.status_changed", "D"),
                ("job.cancelled", "D"),
                ("job.status_changed", "E"),
                ("job.cancelled", "E"),
            ],
        ),
        row(
            "createJob",
            CREATE_JOB,
            json!({"i": {"title": "F"}}),
            Some("F"),
            &[("job.created", "F")],
        ),
        row(
            "startJob",
            START_JOB,
            json!({"id": "$F"}),
            None,
            &[("job.status_changed", "F"), ("job.started", "F")],
        ),
        row(
            "cancelJob GRACEFUL on RUNNING",
            CANCEL_JOB,
            json!({"id": "$F", "m": "GRACEFUL"}),
            None,
            &[("job.status_changed", "F"), ("job.cancel_requested", "F")],
        ),
        row(
            "cancelJob HARD on CANCELLING",
            CANCEL_JOB,
            json!({"id": "$F", "m": "HARD"}),
            None,
            &[("job.status_changed", "F"), ("job.cancelled", "F")],
        ),
        row(
            "createTask",
            CREATE_TASK,
            json!({"i": {"title": "P"}}),
            Some("P"),
            &[("task.created", "P")],
        ),
        row(
            "createTask",
            CREATE_TASK,
            json!({"i": {"title": "Q"}}),
            Some("Q"),
            &[("task.created", "Q")],
        ),
        row(
            "addTaskDependency",
            TASK_EDGE,
            json!({"p": "$P", "s": "$Q"}),
            None,
            &[("task.updated", "Q")],
        ),
        row(
            "cancelTask (a cancelled predecessor satisfies its FS successor)",
            "mutation($id: UUID!) { r: cancelTask(id: $id, reason: \"no\") { id } }",
            json!({"id": "$P"}),
            None,
            &[
                ("task.status_changed", "P"),
                ("task.cancelled", "P"),
                ("task.updated", "Q"),
            ],
        ),
        row(
            "createTask",
            CREATE_TASK,
            json!({"i": {"title": "X"}}),
            Some("X"),
            &[("task.created", "X")],
        ),
        row(
            "createTask",
            CREATE_TASK,
            json!({"i": {"title": "Y"}}),
            Some("Y"),
            &[("task.created", "Y")],
        ),
        row(
            "addTaskDependency",
            TASK_EDGE,
            json!({"p": "$X", "s": "$Y"}),
            None,
            &[("task.updated", "Y")],
        ),
        row(
            "deleteTask (its successor waits no more)",
            "mutation($id: UUID!) { r: deleteTask(id: $id) }",
            json!({"id": "$X"}),
            None,
            &[("task.deleted", "X"), ("task.updated", "Y")],
        ),
        row(
            "deleteTask with a subtask: deepest first",
            "mutation($id: UUID!) { r: deleteTask(id: $id) }",
            json!({"id": "$T2"}),
            None,
            &[("task.deleted", "S1"), ("task.deleted", "T2")],
        ),
        row(
            "deleteJob",
            "mutation($id: UUID!) { r: deleteJob(id: $id) }",
            json!({"id": "$C"}),
            None,
            &[("job.deleted", "C")],
        ),
        row(
            "createJob",
            CREATE_JOB,
            json!({"i": {"title": "G"}}),
            Some("G"),
            &[("job.created", "G")],
        ),
        row(
            "createJob",
            CREATE_JOB,
            json!({"i": {"title": "H"}}),
            Some("H"),
            &[("job.created", "H")],
        ),
        row(
            "addJobDependency",
            JOB_EDGE,
            json!({"p": "$G", "s": "$H"}),
            None,
            &[("job.updated", "H")],
        ),
        row(
            "deleteJob of an unfinished predecessor cancels its successors",
            "mutation($id: UUID!) { r: deleteJob(id: $id) }",
            json!({"id": "$G"}),
            None,
            &[
                ("job.deleted", "G"),
                ("job.status_changed", "H"),
                ("job.cancelled", "H"),
            ],
        ),
        row(
            "createJob",
            CREATE_JOB,
            json!({"i": {"title": "K"}}),
            Some("K"),
            &[("job.created", "K")],
        ),
        row(
            "createTask as a PREREQUISITE",
            CREATE_TASK,
            json!({"i": {"title": "R", "jobId": "$K", "role": "PREREQUISITE"}}),
            Some("R"),
            &[("task.created", "R")],
        ),
        row(
            "completeTask (a prerequisite: the job is ready now)",
            "mutation($id: UUID!) { r: completeTask(id: $id) { id } }",
            json!({"id": "$R"}),
            None,
            &[
                ("task.status_changed", "R"),
                ("task.completed", "R"),
                ("job.updated", "K"),
            ],
        ),
        row(
            "createJob",
            CREATE_JOB,
            json!({"i": {"title": "L"}}),
            Some("L"),
            &[("job.created", "L")],
        ),
        row(
            "createJob",
            CREATE_JOB,
            json!({"i": {"title": "M"}}),
            Some("M"),
            &[("job.created", "M")],
        ),
        row(
            "addJobDependency SS",
            JOB_EDGE,
            json!({"p": "$L", "s": "$M", "t": "START_TO_START"}),
            None,
            &[("job.updated", "M")],
        ),
        row(
            "startJob (its SS successor is ready now)",
            START_JOB,
            json!({"id": "$L"}),
            None,
            &[
                ("job.status_changed", "L"),
                ("job.started", "L"),
                ("job.updated", "M"),
            ],
        ),
        row(
            "createJob",
            CREATE_JOB,
            json!({"i": {"title": "N"}}),
            Some("N"),
            &[("job.created", "N")],
        ),
        row(
            "createJob",
            CREATE_JOB,
            json!({"i": {"title": "O"}}),
            Some("O"),
            &[("job.created", "O")],
        ),
        row(
            "addJobDependency",
            JOB_EDGE,
            json!({"p": "$N", "s": "$O"}),
            None,
            &[("job.updated", "O")],
        ),
        row(
            "startJob",
            START_JOB,
            json!({"id": "$N"}),
            None,
            &[("job.status_changed", "N"), ("job.started", "N")],
        ),
        row(
            "failJob cancels its waiting successor",
            FAIL_JOB,
            json!({"id": "$N"}),
            None,
            &[
                ("job.status_changed", "N"),
                ("job.failed", "N"),
                ("job.status_changed", "O"),
                ("job.cancelled", "O"),
            ],
        ),
    ]
}

/// One table over every operation of DESIGN.md §7's table (including the rows for linked jobs'
/// progress and for successors whose `blocked` flipped): each writes exactly its events, in
/// order, read back through `latestEventId` and `events(after:)`.
async fn every_operation_writes_its_events_in_order(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let mut ids: HashMap<String, String> = HashMap::new();
    for r in rows() {
        let before = latest(&app, &alice).await;
        let data = app.ok(&alice, r.mutation, bind(&r.variables, &ids)).await;
        if let Some(name) = r.binds {
            ids.insert(
                name.to_string(),
                data["r"]["id"].as_str().unwrap().to_string(),
            );
        }
        let got = summary(&events_after(&app, &alice, &before).await);
        let want: Vec<(String, String)> = r
            .events
            .iter()
            .map(|(t, name)| (t.to_string(), ids[*name].clone()))
            .collect();
        let names: HashMap<&String, &String> = ids.iter().map(|(k, v)| (v, k)).collect();
        let readable = |list: &[(String, String)]| -> Vec<String> {
            list.iter()
                .map(|(t, id)| format!("{t} {}", names.get(id).map_or(id.as_str(), |n| n.as_str())))
                .collect()
        };
        assert_eq!(
            readable(&got),
            readable(&want),
            "{}: the events written",
            r.what
        );
        let newest = latest(&app, &alice).await;
        let last_id = events_after(&app, &alice, &before)
            .await
            .last()
            .map(|e| e["id"].as_str().unwrap().to_string());
        assert_eq!(
            Some(newest),
            last_id,
            "{}: latestEventId is the newest event",
            r.what
        );
    }
    // The kinds, statuses and details come from what the rows stored.
    let all = events_after(&app, &alice, "0").await;
    let started = all
        .iter()
        .find(|e| e["type"] == "job.started" && e["jobId"] == json!(ids["C"]))
        .unwrap();
    assert_eq!(started["kind"], "STARTED");
    assert_eq!(started["attempt"], 1);
    let changed = all
        .iter()
        .find(|e| e["type"] == "task.status_changed" && e["taskId"] == json!(ids["T1"]))
        .unwrap();
    assert_eq!(changed["__typename"], "TaskEvent");
    assert_eq!(changed["kind"], "STATUS_CHANGED");
    assert_eq!(
        (changed["fromStatus"].clone(), changed["toStatus"].clone()),
        (json!("OPEN"), json!("IN_PROGRESS"))
    );
    let ids_in_order: Vec<u64> = all
        .iter()
        .map(|e| e["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(ids_in_order.windows(2).all(|w| w[0] < w[1]), "oldest first");
}

const EVENTS_Q: &str = "query($f: EventFilter, $a: String, $n: Int) { events(filter: $f, after: $a, first: $n) { nodes { ... on JobEvent { type jobId } ... on TaskEvent { type taskId } } } }";

async fn filtered(app: &TestApp, actor: &Actor, filter: Value) -> Vec<(String, String)> {
    let data = app
        .ok(actor, EVENTS_Q, json!({"f": filter, "n": 200}))
        .await;
    summary(data["events"]["nodes"].as_array().unwrap())
}

async fn event_filters_match_what_the_rows_stored(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let plan = uuid::Uuid::now_v7().to_string();
    let job = app
        .create_job(&alice, json!({"title": "j", "planId": plan}))
        .await;
    let jid = job["id"].as_str().unwrap().to_string();
    let other = app.create_job(&alice, json!({"title": "other"})).await;
    let oid = other["id"].as_str().unwrap().to_string();
    let task = app
        .create_task(&alice, None, json!({"title": "t", "jobId": jid}))
        .await;
    let tid = task["id"].as_str().unwrap().to_string();
    app.job_op(&alice, "startJob(id: $id)", json!({"id": jid}))
        .await;
    app.task_op(&alice, "startTask(id: $id)", json!({"id": tid}))
        .await;

    let types = |list: &[(String, String)]| list.iter().map(|(t, _)| t.clone()).collect::<Vec<_>>();
    // An exact type, a prefix, several.
    assert_eq!(
        types(&filtered(&app, &alice, json!({"types": ["job.started"]})).await),
        ["job.started"]
    );
    assert_eq!(
        types(&filtered(&app, &alice, json!({"types": ["task.*"]})).await),
        ["task.created", "task.status_changed", "task.started"]
    );
    assert_eq!(
        types(
            &filtered(
                &app,
                &alice,
                json!({"types": ["job.created", "task.started"]})
            )
            .await
        ),
        ["job.created", "job.created", "task.started"]
    );
    // A well-formed type that was never written matches nothing.
    assert!(
        filtered(&app, &alice, json!({"types": ["job.exploded"]}))
            .await
            .is_empty()
    );
    // jobId: that job's events only; taskId: that task's; both: either.
    let of_job = filtered(&app, &alice, json!({"jobId": jid})).await;
    assert_eq!(
        types(&of_job),
        ["job.created", "job.status_changed", "job.started"]
    );
    assert!(of_job.iter().all(|(_, id)| *id == jid));
    let of_task = filtered(&app, &alice, json!({"taskId": tid})).await;
    assert_eq!(
        types(&of_task),
        ["task.created", "task.status_changed", "task.started"]
    );
    assert_eq!(
        filtered(&app, &alice, json!({"jobId": jid, "taskId": tid}))
            .await
            .len(),
        6
    );
    assert_eq!(
        types(&filtered(&app, &alice, json!({"jobId": oid, "types": ["job.*"]})).await),
        ["job.created"]
    );
    // planId: the rows that stored it.
    let of_plan = filtered(&app, &alice, json!({"planId": plan})).await;
    assert_eq!(
        types(&of_plan),
        ["job.created", "job.status_changed", "job.started"]
    );
    // What a row stored stays: moving the job to another plan does not move its old events.
    app.ok(
        &alice,
        "mutation($id: UUID!) { updateJob(id: $id, input: {planId: null}) { id } }",
        json!({"id": jid}),
    )
    .await;
    assert_eq!(
        filtered(&app, &alice, json!({"planId": plan})).await.len(),
        3
    );

    // Bad filters answer BAD_USER_INPUT naming the value, and read nothing.
    for (filter, field) in [
        (json!({"types": ["JOB.created"]}), "filter.types[0]"),
        (
            json!({"types": ["job.started", "job.%"]}),
            "filter.types[1]",
        ),
        (json!({"types": ["*"]}), "filter.types[0]"),
        (json!({"types": []}), "filter.types"),
        (json!({"types": vec!["job.created"; 101]}), "filter.types"),
    ] {
        let err = app.err(&alice, EVENTS_Q, json!({"f": filter})).await;
        assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT", "{filter}");
        assert_eq!(err["extensions"]["field"], field, "{filter}");
    }
}

async fn event_reads_stay_in_the_tenant(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let mallory = app.foreigner("mallory", &[Admin]);
    assert_eq!(
        app.ok(&mallory, "{ latestEventId }", json!({})).await["latestEventId"],
        Value::Null
    );
    let job = app.create_job(&alice, json!({"title": "secret"})).await;
    let jid = job["id"].as_str().unwrap().to_string();
    let task = app
        .create_task(&alice, None, json!({"title": "secret"}))
        .await;
    let tid = task["id"].as_str().unwrap().to_string();
    // Another tenant sees none of it: not in the list, not by id, not by plan, and its newest
    // id is still null.
    for filter in [
        json!(null),
        json!({"jobId": jid}),
        json!({"taskId": tid}),
        json!({"types": ["job.*", "task.*"]}),
    ] {
        assert!(
            filtered(&app, &mallory, filter.clone()).await.is_empty(),
            "{filter}"
        );
    }
    assert_eq!(
        app.ok(&mallory, "{ latestEventId }", json!({})).await["latestEventId"],
        Value::Null
    );
    // Its own events are its own; the other tenant's cursor is just a number to it.
    let own = app.create_job(&mallory, json!({"title": "mine"})).await;
    let all = events_after(&app, &mallory, "0").await;
    assert_eq!(
        summary(&all),
        [(
            "job.created".to_string(),
            own["id"].as_str().unwrap().to_string()
        )]
    );
    let alices_latest = latest(&app, &alice).await;
    assert!(
        filtered(&app, &mallory, json!({"jobId": jid}))
            .await
            .is_empty()
    );
    assert!(events_after(&app, &mallory, &alices_latest).await.len() <= 1);
    // Job.events and Task.events of a foreign record cannot even be reached (the record is null).
    let q = "query($id: UUID!) { job(id: $id) { events { nodes { __typename } } } }";
    assert_eq!(
        app.ok(&mallory, q, json!({"id": jid})).await["job"],
        Value::Null
    );
    // And through the owner they are there.
    let mine = app.ok(&alice, q, json!({"id": jid})).await;
    assert_eq!(mine["job"]["events"]["nodes"].as_array().unwrap().len(), 1);
}

async fn event_cursors_are_ids_and_strictly_after(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    for i in 0..5 {
        app.create_job(&alice, json!({"title": format!("j{i}")}))
            .await;
    }
    let q = "query($a: String, $n: Int) { events(after: $a, first: $n) { edges { cursor node { ... on JobEvent { id } } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";
    let page = app.ok(&alice, q, json!({"n": 2})).await["events"].clone();
    let edges = page["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 2);
    assert_eq!(edges[0]["cursor"], edges[0]["node"]["id"]);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    assert_eq!(page["pageInfo"]["hasPreviousPage"], false);
    assert_eq!(page["pageInfo"]["endCursor"], edges[1]["cursor"]);
    // Strictly after: the cursor's own event is not repeated.
    let second = edges[1]["cursor"].as_str().unwrap().to_string();
    let rest = app.ok(&alice, q, json!({"a": second, "n": 10})).await["events"].clone();
    let rest_ids: Vec<u64> = rest["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["cursor"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(rest_ids.len(), 3);
    assert!(
        rest_ids
            .iter()
            .all(|id| *id > second.parse::<u64>().unwrap())
    );
    assert_eq!(rest["pageInfo"]["hasNextPage"], false);
    assert_eq!(rest["pageInfo"]["hasPreviousPage"], true);
    // After the newest: an empty page, not an error.
    let newest = latest(&app, &alice).await;
    let empty = app.ok(&alice, q, json!({"a": newest})).await;
    assert!(empty["events"]["edges"].as_array().unwrap().is_empty());
    // A cursor is an event id: anything else is BAD_USER_INPUT naming `after`, and so are bad
    // page sizes (naming `first`), on the list and on a record's events alike.
    let job = app.create_job(&alice, json!({"title": "x"})).await;
    let jq = "query($id: UUID!, $a: String, $n: Int) { job(id: $id) { events(after: $a, first: $n) { nodes { __typename } } } }";
    for (vars, field) in [
        (json!({"a": "abc"}), "after"),
        (json!({"a": "-1"}), "after"),
        (json!({"a": "1.5"}), "after"),
        (json!({"a": "eyJpZCI6MX0"}), "after"),
        (json!({"n": 0}), "first"),
        (json!({"n": 201}), "first"),
    ] {
        let err = app.err(&alice, q, vars.clone()).await;
        assert_eq!(
            code(&json!({"errors": [err.clone()]})),
            "BAD_USER_INPUT",
            "{vars}"
        );
        assert_eq!(err["extensions"]["field"], field, "{vars}");
        let mut jvars = vars.clone();
        jvars["id"] = job["id"].clone();
        let err = app.err(&alice, jq, jvars).await;
        assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT", "{vars}");
        assert_eq!(err["extensions"]["field"], field, "{vars}");
    }
}

async fn pruning_raises_the_watermark_and_old_cursors_are_refused(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let other = app.foreigner("olga", &[Member]);
    let retention = Duration::from_secs(3600);
    let old = app.create_job(&alice, json!({"title": "old"})).await;
    app.job_op(&alice, "startJob(id: $id)", json!({"id": old["id"]}))
        .await;
    app.create_job(&other, json!({"title": "other tenant, old"}))
        .await;
    let before_all = "0".to_string();
    let mid = latest(&app, &alice).await;
    // Nothing is old enough yet.
    let report = jobgraph::loops::prune::tick(&app.state.services, retention)
        .await
        .unwrap();
    assert_eq!(report.events, 0);
    // Two hours later the first events are past retention; new ones are not.
    app.clock.advance(Duration::from_secs(2 * 3600));
    let young = app.create_job(&alice, json!({"title": "young"})).await;
    let report = jobgraph::loops::prune::tick(&app.state.services, retention)
        .await
        .unwrap();
    assert_eq!(
        report.events, 4,
        "three of alice's events and one of the other tenant's"
    );
    assert_eq!(report.tenants, 2);
    // What remains is everything after the watermark.
    let remaining = events_after(&app, &alice, &mid).await;
    assert_eq!(
        summary(&remaining),
        [(
            "job.created".to_string(),
            young["id"].as_str().unwrap().to_string()
        )]
    );
    let q = "query($a: String) { events(after: $a) { nodes { ... on JobEvent { type } } } }";
    let all = app.ok(&alice, q, json!({})).await;
    assert_eq!(all["events"]["nodes"].as_array().unwrap().len(), 1);
    // A cursor below the watermark may have lost events: EVENTS_PRUNED, naming the watermark.
    let err = app.err(&alice, q, json!({"a": before_all})).await;
    assert_eq!(err["extensions"]["code"], "EVENTS_PRUNED");
    assert_eq!(err["extensions"]["prunedThrough"], json!(mid));
    // So does a record's own event list.
    let jq = "query($id: UUID!, $a: String) { job(id: $id) { events(after: $a) { nodes { __typename } } } }";
    let response = app
        .exec(&alice, jq, json!({"id": old["id"], "a": "1"}))
        .await;
    assert_eq!(
        first_error(&response)["extensions"]["code"],
        "EVENTS_PRUNED"
    );
    // At the watermark nothing is lost: a normal page.
    assert_eq!(events_after(&app, &alice, &mid).await.len(), 1);
    // The watermark is per tenant: the other tenant's pruning did not raise alice's, and a
    // tenant that never pruned refuses nothing.
    let fresh = app.actor("fresh", &[Member]);
    let fresh = Actor::new(fresh.id, format!("{}-fresh", app.tenant), fresh.roles);
    assert!(
        app.ok(&fresh, q, json!({"a": "1"})).await["events"]["nodes"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Pruning again prunes nothing more, and the mark never goes down.
    let again = jobgraph::loops::prune::tick(&app.state.services, retention)
        .await
        .unwrap();
    assert_eq!(again.events, 0);
    assert_eq!(
        app.err(&alice, q, json!({"a": "0"})).await["extensions"]["prunedThrough"],
        json!(mid)
    );
}

async fn snapshots_render_through_job_and_task_with_live_documents(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let job = app
        .create_job(
            &alice,
            json!({"title": "first title", "labels": ["a"], "executionContext": {"v": 1}}),
        )
        .await;
    let jid = job["id"].as_str().unwrap().to_string();
    let task = app
        .create_task(&alice, None, json!({"title": "task title", "jobId": jid}))
        .await;
    let tid = task["id"].as_str().unwrap().to_string();
    app.ok(&alice, "mutation($id: UUID!) { updateJob(id: $id, input: {title: \"second title\", labels: [\"b\"]}) { id } }", json!({"id": jid})).await;
    app.ok(&alice, "mutation($id: UUID!) { updateExecutionContext(id: $id, patch: {v: 2}, mode: REPLACE) { id } }", json!({"id": jid})).await;
    app.ok(&alice, "mutation($id: UUID!) { saveCheckpoint(id: $id, checkpoint: {step: 3, data: {at: 3}}) { id } }", json!({"id": jid})).await;
    app.ok(
        &alice,
        "mutation($id: UUID!) { updateTask(id: $id, input: {title: \"task title 2\"}) { id } }",
        json!({"id": tid}),
    )
    .await;
    let q = "query($f: EventFilter) { events(filter: $f) { nodes {
        ... on JobEvent { type job { id title labels version status priorityLevel executionContext checkpointData lastCompletedStep tasks { task { title } } progress { total } blocked } }
        ... on TaskEvent { type task { id title version executionContext jobs { job { title } } } } } } }";
    let data = app.ok(&alice, q, json!({"f": {"jobId": jid}})).await;
    let nodes = data["events"]["nodes"].as_array().unwrap();
    let created = &nodes[0]["job"];
    assert_eq!(nodes[0]["type"], "job.created");
    // The stored fields are as they were right after the change…
    assert_eq!(created["title"], "first title");
    assert_eq!(created["labels"], json!(["a"]));
    assert_eq!(created["version"], 1);
    assert_eq!(created["lastCompletedStep"], Value::Null);
    assert_eq!(created["priorityLevel"], "MEDIUM");
    // …the documents, relations and computed fields are the record's now.
    assert_eq!(created["executionContext"], json!({"v": 2}));
    assert_eq!(created["checkpointData"], json!({"at": 3}));
    assert_eq!(created["tasks"][0]["task"]["title"], "task title 2");
    assert_eq!(created["progress"]["total"], 1);
    assert_eq!(created["blocked"], false);
    let updated = &nodes[1]["job"];
    assert_eq!(updated["title"], "second title");
    assert_eq!(updated["version"], 2);
    let checkpointed = nodes
        .iter()
        .find(|n| n["type"] == "job.checkpointed")
        .unwrap();
    assert_eq!(checkpointed["job"]["lastCompletedStep"], 3);
    // Tasks alike.
    let data = app.ok(&alice, q, json!({"f": {"taskId": tid}})).await;
    let nodes = data["events"]["nodes"].as_array().unwrap();
    assert_eq!(nodes[0]["task"]["title"], "task title");
    assert_eq!(nodes[0]["task"]["jobs"][0]["job"]["title"], "second title");
    assert_eq!(nodes[1]["task"]["title"], "task title 2");
    // A deleted job's events still render: the snapshot, with an empty context.
    app.ok(
        &alice,
        "mutation($id: UUID!) { deleteJob(id: $id) }",
        json!({"id": jid}),
    )
    .await;
    let data = app
        .ok(
            &alice,
            q,
            json!({"f": {"jobId": jid, "types": ["job.deleted", "job.created"]}}),
        )
        .await;
    let nodes = data["events"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2);
    assert_eq!(nodes[1]["type"], "job.deleted");
    assert_eq!(nodes[1]["job"]["title"], "second title");
    assert_eq!(nodes[1]["job"]["executionContext"], json!({}));
    assert_eq!(nodes[1]["job"]["checkpointData"], Value::Null);
    assert_eq!(nodes[0]["job"]["title"], "first title");
}

async fn event_rows_stay_small(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let boss = app.actor("boss", &[Admin]);
    // A chain of 25 hand-overs: the record keeps them all, each snapshot the newest 20.
    let job = app
        .create_job(
            &alice,
            json!({"title": "passed around", "assignedAgent": "a0"}),
        )
        .await;
    let jid = job["id"].as_str().unwrap().to_string();
    for n in 1..=25 {
        app.ok(
            &boss,
            "mutation($id: UUID!, $to: String!) { delegateJob(id: $id, to: $to) { id } }",
            json!({"id": jid, "to": format!("a{n}")}),
        )
        .await;
    }
    let q = "query($id: UUID!) { job(id: $id) { delegationChain { to } events(first: 200) { nodes { ... on JobEvent { type job { delegationChain { from to } } } } } } }";
    let data = app.ok(&alice, q, json!({"id": jid})).await;
    assert_eq!(data["job"]["delegationChain"].as_array().unwrap().len(), 26);
    let nodes = data["job"]["events"]["nodes"].as_array().unwrap();
    let last = &nodes.last().unwrap()["job"]["delegationChain"];
    let chain = last.as_array().unwrap();
    assert_eq!(chain.len(), 20, "a snapshot carries the last 20 hand-overs");
    assert_eq!(chain[0]["to"], "a6");
    assert_eq!(chain[19]["to"], "a25");
    // Storage grows with the chain, not with its square: the last event row is no larger than
    // the one written at 20 entries.
    let sizes: Vec<i64> = {
        use sea_orm::{ConnectionTrait, Statement};
        let sql = "SELECT CAST(LENGTH(CAST(snapshot AS TEXT)) AS BIGINT) FROM event WHERE event_type = 'job.delegated' ORDER BY id";
        app.db
            .query_all_raw(Statement::from_string(app.db.get_database_backend(), sql))
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get_by_index::<i64>(0).unwrap())
            .collect()
    };
    assert_eq!(sizes.len(), 25);
    assert!(sizes[24] <= sizes[19] + 16, "{sizes:?}");

    // A record's own chain keeps its newest 1,000 hand-overs.
    {
        use sea_orm::{ConnectionTrait, Statement};
        let entries: Vec<Value> = (0..1000)
            .map(|n| json!({"from": format!("b{n}"), "to": format!("b{}", n + 1), "by": "boss", "reason": null, "at": "2026-01-01T00:00:00.000000Z"}))
            .collect();
        let chain = Value::Array(entries).to_string();
        let backend = app.db.get_database_backend();
        let sql = match backend {
            sea_orm::DbBackend::Postgres => {
                "UPDATE job SET delegation_chain = $1::jsonb, assigned_agent = 'b1000' WHERE id = $2"
            }
            _ => "UPDATE job SET delegation_chain = ?, assigned_agent = 'b1000' WHERE id = ?",
        };
        let id = uuid::Uuid::parse_str(&jid).unwrap();
        app.db
            .execute_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [chain.into(), id.into()],
            ))
            .await
            .unwrap();
    }
    app.ok(
        &boss,
        "mutation($id: UUID!) { delegateJob(id: $id, to: \"last\") { id } }",
        json!({"id": jid}),
    )
    .await;
    let chain = app
        .ok(
            &alice,
            "query($id: UUID!) { job(id: $id) { delegationChain { from to } } }",
            json!({"id": jid}),
        )
        .await;
    let chain = chain["job"]["delegationChain"].as_array().unwrap().clone();
    assert_eq!(chain.len(), 1000);
    assert_eq!(chain[0]["from"], "b1", "the oldest hand-over was dropped");
    assert_eq!(chain[999]["to"], "last");

    // A result over 64 KiB is not copied into the event: the event's `result` and its job's
    // `result` read the job's current one. (The test server's JSON limit is small, so this
    // completion goes through services with the default 1 MiB limit.)
    let services = jobgraph::services::Services::new(
        app.db.clone(),
        jobgraph::services::Limits::default(),
        app.clock.clock(),
        app.state.services.bus().clone(),
    );
    let big = json!({"blob": "x".repeat(70 * 1024)});
    let job = app.create_job(&alice, json!({"title": "big result"})).await;
    let id = uuid::Uuid::parse_str(job["id"].as_str().unwrap()).unwrap();
    services.jobs.start(&alice, id).await.unwrap();
    services
        .jobs
        .complete(
            &alice,
            id,
            jobgraph::services::jobs::JobResult {
                output: Some(big.clone()),
                actual_cost: None,
            },
            None,
        )
        .await
        .unwrap();
    let q = "query($f: EventFilter) { events(filter: $f) { nodes { ... on JobEvent { type result job { result } } } } }";
    let data = app
        .ok(
            &alice,
            q,
            json!({"f": {"jobId": job["id"], "types": ["job.succeeded"]}}),
        )
        .await;
    let node = &data["events"]["nodes"][0];
    assert_eq!(node["result"], big);
    assert_eq!(node["job"]["result"], big);
    let largest: i64 = {
        use sea_orm::{ConnectionTrait, Statement};
        let sql = "SELECT CAST(MAX(LENGTH(CAST(details AS TEXT)) + LENGTH(CAST(snapshot AS TEXT))) AS BIGINT) FROM event";
        app.db
            .query_one_raw(Statement::from_string(app.db.get_database_backend(), sql))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap()
    };
    assert!(
        largest < 64 * 1024,
        "the largest event row is {largest} bytes"
    );
}

/// `Job.events` of a whole page, and a page of events with their jobs, are a fixed number of
/// statements whatever the page size.
async fn record_events_batch_per_page(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    for i in 0..50 {
        let job = app
            .create_job(&alice, json!({"title": format!("j{i}")}))
            .await;
        app.job_op(&alice, "startJob(id: $id)", json!({"id": job["id"]}))
            .await;
    }
    let events_page = "query($n: Int, $a: String) { events(first: $n, after: $a) { nodes { ... on JobEvent { id type job { id title executionContext blocked } } } } }";
    let (small, _, r1) =
        crate::statements::count_statements(&app, &alice, events_page, json!({"n": 5})).await;
    let (large, statements, r2) =
        crate::statements::count_statements(&app, &alice, events_page, json!({"n": 50})).await;
    for r in [&r1, &r2] {
        assert!(r.get("errors").is_none(), "{r}");
    }
    assert_eq!(r2["data"]["events"]["nodes"].as_array().unwrap().len(), 50);
    assert_eq!(small, large, "{statements:#?}");
    assert!(large <= 3, "{large}: {statements:#?}");
    let (with_cursor, statements, _) =
        crate::statements::count_statements(&app, &alice, events_page, json!({"n": 50, "a": "1"}))
            .await;
    assert!(with_cursor <= large + 1, "{statements:#?}");
    eprintln!("a page of 50 events with their job: {large} SQL statements");

    let jobs_page = "query($n: Int) { jobs(first: $n) { nodes { id events(first: 3) { nodes { ... on JobEvent { type } } pageInfo { hasNextPage } } } } }";
    let (small, _, _) =
        crate::statements::count_statements(&app, &alice, jobs_page, json!({"n": 5})).await;
    let (large, statements, r) =
        crate::statements::count_statements(&app, &alice, jobs_page, json!({"n": 50})).await;
    assert!(r.get("errors").is_none(), "{r}");
    let nodes = r["data"]["jobs"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 50);
    let first = &nodes[0]["events"];
    let types: Vec<&str> = first["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["job.created", "job.status_changed", "job.started"]);
    assert_eq!(first["pageInfo"]["hasNextPage"], false);
    assert_eq!(small, large, "{statements:#?}");
    assert!(large <= 2, "{large}: {statements:#?}");
    eprintln!("a page of 50 jobs with their events: {large} SQL statements");
    // Paging a record's events: first 2 then after the second.
    let id = nodes[0]["id"].clone();
    let q = "query($id: UUID!, $a: String) { job(id: $id) { events(first: 2, after: $a) { edges { cursor } nodes { ... on JobEvent { type } } pageInfo { hasNextPage endCursor } } } }";
    let p1 = app.ok(&alice, q, json!({"id": id})).await;
    assert_eq!(p1["job"]["events"]["pageInfo"]["hasNextPage"], true);
    let end = p1["job"]["events"]["pageInfo"]["endCursor"].clone();
    let p2 = app.ok(&alice, q, json!({"id": id, "a": end})).await;
    let rest: Vec<&str> = p2["job"]["events"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert_eq!(rest, ["job.started"]);
}

async fn services_read_the_injected_clock(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let first = app.create_job(&alice, json!({"title": "now"})).await;
    app.clock.advance(Duration::from_secs(3 * 86_400));
    let later = app
        .create_job(&alice, json!({"title": "three days later"}))
        .await;
    let at =
        |j: &Value| chrono::DateTime::parse_from_rfc3339(j["createdAt"].as_str().unwrap()).unwrap();
    let gap = at(&later) - at(&first);
    assert!(gap >= chrono::Duration::days(3), "{gap}");
    assert!(
        gap < chrono::Duration::days(3) + chrono::Duration::minutes(5),
        "{gap}"
    );
    // Events carry the same clock.
    let q = "query($f: EventFilter) { events(filter: $f) { nodes { ... on JobEvent { occurredAt } } } }";
    let data = app
        .ok(&alice, q, json!({"f": {"jobId": later["id"]}}))
        .await;
    assert_eq!(data["events"]["nodes"][0]["occurredAt"], later["createdAt"]);
}

/// The live streams test events in memory, the reads in SQL: both must select the same rows,
/// for every part of a filter (the stored linked jobs and assignee among them).
async fn filters_mean_the_same_in_sql_and_in_memory(app: TestApp) {
    use jobgraph::events::{EventFilter, TypePattern, store};
    let alice = app.actor("alice", &[Member]);
    let plan = uuid::Uuid::now_v7();
    let j1 = app
        .create_job(&alice, json!({"title": "j1", "planId": plan.to_string()}))
        .await;
    let j2 = app.create_job(&alice, json!({"title": "j2"})).await;
    let t1 = app
        .create_task(
            &alice,
            None,
            json!({"title": "t1", "jobId": j1["id"], "assignedAgent": "ann"}),
        )
        .await;
    let t2 = app
        .create_task(&alice, None, json!({"title": "t2", "jobId": j2["id"]}))
        .await;
    app.link(
        j1["id"].as_str().unwrap(),
        t2["id"].as_str().unwrap(),
        entity::status::JobTaskRole::Supporting,
    )
    .await;
    app.task_op(&alice, "startTask(id: $id)", json!({"id": t1["id"]}))
        .await;
    app.task_op(&alice, "startTask(id: $id)", json!({"id": t2["id"]}))
        .await;
    app.job_op(&alice, "startJob(id: $id)", json!({"id": j2["id"]}))
        .await;
    let id = |v: &Value| uuid::Uuid::parse_str(v["id"].as_str().unwrap()).unwrap();
    let all = store::page(&app.db, &app.tenant, &EventFilter::default(), None, 1000)
        .await
        .unwrap();
    assert!(all.len() >= 10);
    let p = |t: &str| TypePattern::parse(t).unwrap();
    let filters = vec![
        EventFilter {
            types: vec![p("task.*")],
            ..Default::default()
        },
        EventFilter {
            types: vec![p("job.started"), p("task.started")],
            ..Default::default()
        },
        EventFilter {
            job_ids: vec![id(&j1)],
            ..Default::default()
        },
        EventFilter {
            job_ids: vec![id(&j2)],
            task_ids: vec![id(&t1)],
            ..Default::default()
        },
        EventFilter {
            plan_id: Some(plan),
            ..Default::default()
        },
        EventFilter {
            linked_job: Some(id(&j1)),
            ..Default::default()
        },
        EventFilter {
            linked_job: Some(id(&j2)),
            types: vec![p("task.started")],
            ..Default::default()
        },
        EventFilter {
            assignee: Some("ann".into()),
            ..Default::default()
        },
        EventFilter {
            assignee: Some("nobody".into()),
            ..Default::default()
        },
    ];
    for filter in filters {
        let in_sql: Vec<i64> = store::page(&app.db, &app.tenant, &filter, None, 1000)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect();
        let in_memory: Vec<i64> = all
            .iter()
            .filter(|e| filter.matches(e))
            .map(|e| e.id)
            .collect();
        assert_eq!(in_sql, in_memory, "{filter:?}");
    }
    // The linked-job filter found something (not two empty lists agreeing).
    let linked = EventFilter {
        linked_job: Some(id(&j1)),
        ..Default::default()
    };
    assert!(all.iter().filter(|e| linked.matches(e)).count() >= 3);
}
