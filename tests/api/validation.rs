//! Every input limit of DESIGN.md §9 (and the JSON, schedule and cron rules of §3), each refused
//! with the exact `extensions.field`, and each boundary value accepted. Bad input changes nothing.

use crate::backend_tests;
use crate::harness::{Admin, Member, TEST_MAX_JSON_BYTES, TestApp, first_error};
use serde_json::{Value, json};

backend_tests!(
    create_limits,
    update_limits,
    boundaries_are_accepted,
    other_arguments,
    list_arguments
);

const CREATE: &str = "mutation($i: CreateJobInput!) { createJob(input: $i) { id title description labels priority timeoutSeconds planStepIndex idempotencyKey executionContext retryPolicy { maxAttempts initialBackoffSeconds backoffMultiplier maxBackoffSeconds } } }";
const UPDATE: &str = "mutation($id: UUID!, $i: UpdateJobInput!, $v: Int) { updateJob(id: $id, input: $i, expectedVersion: $v) { id version } }";
const BAD: &str = "BAD_USER_INPUT";
const TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";

/// One refused input: its fields, and the code and `extensions.field` it must get.
#[derive(Clone)]
struct Case {
    fields: Value,
    code: &'static str,
    field: String,
}

/// `value` at the dotted `path` of an input (`retryPolicy.maxAttempts`), refused as
/// BAD_USER_INPUT naming `input.<path>`.
fn case(path: &str, value: Value) -> Case {
    Case {
        fields: json!({}),
        code: BAD,
        field: format!("input.{path}"),
    }
    .and(path, value)
}

impl Case {
    /// Another field beside the first.
    fn and(mut self, path: &str, value: Value) -> Self {
        let mut at = &mut self.fields;
        let mut parts = path.split('.').peekable();
        while let Some(part) = parts.next() {
            at = &mut at[part];
            if parts.peek().is_none() {
                *at = value.clone();
            }
        }
        self
    }
    /// Refused naming `field` instead.
    fn at(mut self, field: &str) -> Self {
        self.field = field.to_string();
        self
    }
    /// Refused as PAYLOAD_TOO_LARGE.
    fn too_large(mut self) -> Self {
        self.code = TOO_LARGE;
        self
    }
    /// The fields as a createJob input (with a good title unless one is given).
    fn create_input(&self) -> Value {
        let mut input = json!({"title": "ok"});
        for (k, v) in self.fields.as_object().unwrap() {
            input[k] = v.clone();
        }
        input
    }
}

/// A JSON object whose compact encoding is exactly `bytes` long: `{"k":"xxx…"}`.
fn object_of_size(bytes: usize) -> Value {
    let value = json!({"k": "x".repeat(bytes - 8)});
    assert_eq!(serde_json::to_vec(&value).unwrap().len(), bytes);
    value
}

/// `n` distinct labels.
fn labels(n: usize) -> Value {
    json!((0..n).map(|i| format!("label-{i}")).collect::<Vec<_>>())
}

/// The bad inputs both createJob and updateJob refuse.
fn shared_cases() -> Vec<Case> {
    let rp = "retryPolicy";
    vec![
        case("title", json!("")),
        case("title", json!(" \t\n ")),
        case("title", json!("x".repeat(201))),
        case("title", json!("é".repeat(201))),
        case("title", json!(format!(" {} ", "y".repeat(201)))),
        case("description", json!("d".repeat(10_001))),
        case("labels", labels(21)),
        case("labels", json!(["a", "x".repeat(51)])).at("input.labels[1]"),
        case("labels", json!(["a", "b", "c", "  ", "e"])).at("input.labels[3]"),
        case("labels", json!([""])).at("input.labels[0]"),
        case("priority", json!(0)),
        case("priority", json!(101)),
        case("priority", json!(-5)),
        case("priority", json!(50)).and("priorityLevel", json!("HIGH")),
        case("timeoutSeconds", json!(0)),
        case("timeoutSeconds", json!(604_801)),
        case("planStepIndex", json!(-1)),
        case("retryPolicy.maxAttempts", json!(0)),
        case("retryPolicy.maxAttempts", json!(101)),
        case("retryPolicy.initialBackoffSeconds", json!(0)),
        case("retryPolicy.initialBackoffSeconds", json!(86_401)),
        case("retryPolicy.backoffMultiplier", json!(0.5)),
        case("retryPolicy.backoffMultiplier", json!(10.5)),
        // Below the default initial backoff (10), and below an initial given beside it.
        case("retryPolicy.maxBackoffSeconds", json!(9)),
        case("retryPolicy.maxBackoffSeconds", json!(99))
            .and(&format!("{rp}.initialBackoffSeconds"), json!(100)),
        case("retryPolicy.maxBackoffSeconds", json!(604_801)),
    ]
}

/// Asserts `query` is refused with `code` naming `field`, and answers no data.
async fn refused(app: &TestApp, query: &str, variables: Value, code: &str, field: &str) {
    let alice = app.actor("alice", &[Member]);
    let response = app.exec(&alice, query, variables.clone()).await;
    let ext = &first_error(&response)["extensions"];
    assert_eq!(ext["code"], code, "{variables}: {response}");
    assert_eq!(ext["field"], field, "{variables}: {response}");
    assert_eq!(response["data"], Value::Null, "{response}");
}

async fn create_limits(app: TestApp) {
    let mut cases = shared_cases();
    let too_big = object_of_size(TEST_MAX_JSON_BYTES + 1);
    let both = json!({"runAt": "2031-01-01T00:00:00Z", "cron": "0 3 * * *"});
    cases.extend([
        case("idempotencyKey", json!("")),
        case("idempotencyKey", json!("k".repeat(201))),
        case("executionContext", json!([1, 2])),
        case("executionContext", json!("a string")),
        case("executionContext", json!(7)),
        case("executionContext", too_big).too_large(),
        case("schedule", json!({})),
        case("schedule", json!({"runAt": null, "cron": null})),
        case("schedule", both),
        case("assignedAgent", json!("  ")),
        case("estimatedCost", json!("-1")),
    ]);
    let crons = [
        "* * * *",
        "0 0 * * * *",
        "@daily",
        "61 * * * *",
        "* 24 * * *",
        "0 0 L * *",
        "*/0 * * * *",
        "",
    ];
    for cron in crons {
        cases.push(case("schedule.cron", json!(cron)));
    }
    let before = (app.job_count().await, app.event_count().await);
    for c in cases {
        let variables = json!({"i": c.create_input()});
        refused(&app, CREATE, variables, c.code, &c.field).await;
    }
    let after = (app.job_count().await, app.event_count().await);
    assert_eq!(after, before, "a refused create wrote a job or an event");
}

async fn update_limits(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let policy = json!({"maxAttempts": 2});
    let original = json!({"title": "original", "labels": ["keep"], "retryPolicy": policy});
    let job = app.create_job(&alice, original).await;
    let id = job["id"].as_str().unwrap();
    let before = (app.job_count().await, app.event_count().await);
    let mut cases = shared_cases();
    // A bad field beside good ones.
    cases.push(case("priority", json!(0)).and("title", json!("new")));
    for field in ["title", "labels", "priority", "retryPolicy"] {
        cases.push(case(field, Value::Null));
    }
    for c in cases {
        let variables = json!({"id": id, "i": c.fields});
        refused(&app, UPDATE, variables, c.code, &c.field).await;
        // ... and with a stale expectedVersion: the input is checked first.
        let variables = json!({"id": id, "i": c.fields, "v": 99});
        refused(&app, UPDATE, variables, c.code, &c.field).await;
    }
    let after = (app.job_count().await, app.event_count().await);
    assert_eq!(after, before, "a refused update wrote something");
    let q = "query($id: UUID!) { job(id: $id) { version title labels priority retryPolicy { maxAttempts } } }";
    let now = app.ok(&alice, q, json!({"id": id})).await;
    let expected = json!({"version": 1, "title": "original", "labels": ["keep"], "priority": 50, "retryPolicy": policy});
    assert_eq!(now["job"], expected);
}

async fn boundaries_are_accepted(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let rp = "retryPolicy";
    let low = case("retryPolicy.maxAttempts", json!(1))
        .and(&format!("{rp}.initialBackoffSeconds"), json!(1))
        .and(&format!("{rp}.backoffMultiplier"), json!(1.0))
        .and(&format!("{rp}.maxBackoffSeconds"), json!(1));
    let high = case("retryPolicy.maxAttempts", json!(100))
        .and(&format!("{rp}.initialBackoffSeconds"), json!(86_400))
        .and(&format!("{rp}.backoffMultiplier"), json!(10.0))
        .and(&format!("{rp}.maxBackoffSeconds"), json!(604_800));
    let dupes: Vec<String> = (0..25).map(|i| format!("l{}", i % 20)).collect();
    let cases = [
        case("title", json!("x".repeat(200))),
        case("title", json!("é".repeat(200))),
        case("title", json!(format!("   {}   ", "z".repeat(200)))),
        case("description", json!("d".repeat(10_000))),
        case("labels", labels(20)),
        case("labels", json!(dupes)),
        case("labels", json!(["x".repeat(50)])),
        case("priority", json!(1)).and("timeoutSeconds", json!(1)),
        case("priority", json!(100)).and("timeoutSeconds", json!(604_800)),
        case("planStepIndex", json!(0)).and("idempotencyKey", json!("k")),
        case("idempotencyKey", json!("k".repeat(200))),
        low,
        high,
        case("executionContext", object_of_size(TEST_MAX_JSON_BYTES)),
        case("schedule.cron", json!("*/15 9-17 * JAN,dec mon-fri")),
    ];
    let count = cases.len();
    for c in cases {
        let out = app.ok(&alice, CREATE, json!({"i": c.create_input()})).await;
        let job = &out["createJob"];
        for (k, v) in c.fields.as_object().unwrap() {
            match k.as_str() {
                "title" => assert_eq!(job[k].as_str().unwrap().chars().count(), 200),
                "labels" => assert!(job[k].as_array().unwrap().len() <= 20),
                "schedule" => {}
                _ => assert_eq!(&job[k], v, "{k}"),
            }
        }
    }
    assert_eq!(app.job_count().await, count as u64);

    // The same boundaries through updateJob.
    let id = app.create_job(&alice, json!({"title": "u"})).await["id"].clone();
    let updates = [
        case("title", json!("é".repeat(200))),
        case("description", json!("d".repeat(10_000))),
        case("labels", labels(20)),
        case("priority", json!(100)).and("timeoutSeconds", json!(604_800)),
        case("planStepIndex", json!(0)),
        case("retryPolicy.initialBackoffSeconds", json!(86_400))
            .and(&format!("{rp}.maxBackoffSeconds"), json!(86_400)),
    ];
    for (i, c) in updates.into_iter().enumerate() {
        let out = app
            .ok(&alice, UPDATE, json!({"id": id, "i": c.fields}))
            .await;
        assert_eq!(out["updateJob"]["version"], i + 2);
    }
}

async fn other_arguments(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let pending = app
        .create_job(&alice, json!({"title": "p", "assignedAgent": "bot"}))
        .await["id"]
        .clone();
    let running = app.create_job(&alice, json!({"title": "running"})).await["id"].clone();
    let started = app
        .job_op(&alice, "startJob(id: $id)", json!({"id": running}))
        .await;
    TestApp::data(started);
    let before = (app.job_count().await, app.event_count().await);

    let sched =
        "mutation($id: UUID!, $s: ScheduleInput!) { scheduleJob(id: $id, schedule: $s) { id } }";
    let complete =
        "mutation($id: UUID!, $o: JSON) { completeJob(id: $id, result: {output: $o}) { id } }";
    let cancel = "mutation($id: UUID!, $r: String!) { cancelJob(id: $id, reason: $r) { id } }";
    let fail = "mutation($id: UUID!, $e: String!) { failJob(id: $id, error: $e) { id } }";
    let delegate = "mutation($id: UUID!, $to: String!) { delegateJob(id: $id, to: $to) { id } }";
    let both = json!({"runAt": "2031-01-01T00:00:00Z", "cron": "0 3 * * *"});
    let big_object = object_of_size(TEST_MAX_JSON_BYTES + 1);
    let big_string = json!("y".repeat(TEST_MAX_JSON_BYTES));
    let mut cases = vec![
        (sched, json!({"id": pending, "s": {}}), BAD, "schedule"),
        (sched, json!({"id": pending, "s": both}), BAD, "schedule"),
        (
            complete,
            json!({"id": running, "o": big_object}),
            TOO_LARGE,
            "result.output",
        ),
        (
            complete,
            json!({"id": running, "o": big_string}),
            TOO_LARGE,
            "result.output",
        ),
        (cancel, json!({"id": running, "r": ""}), BAD, "reason"),
        (cancel, json!({"id": pending, "r": "   "}), BAD, "reason"),
        (fail, json!({"id": running, "e": ""}), BAD, "error"),
        (fail, json!({"id": running, "e": " \n"}), BAD, "error"),
        (delegate, json!({"id": pending, "to": ""}), BAD, "to"),
        (delegate, json!({"id": pending, "to": "  "}), BAD, "to"),
        (delegate, json!({"id": pending, "to": "bot"}), BAD, "to"),
    ];
    for cron in ["* * * *", "0 0 * * * *", "@daily", "61 * * * *"] {
        let variables = json!({"id": pending, "s": {"cron": cron}});
        cases.push((sched, variables, BAD, "schedule.cron"));
    }
    for (query, variables, code, field) in cases {
        refused(&app, query, variables, code, field).await;
    }
    let after = (app.job_count().await, app.event_count().await);
    assert_eq!(after, before, "a refused call wrote something");
    let root = app.actor("root", &[Admin]);
    let now = app
        .ok(&root, "{ jobs { nodes { status version } } }", json!({}))
        .await;
    let expected =
        json!([{"status": "RUNNING", "version": 2}, {"status": "PENDING", "version": 1}]);
    assert_eq!(now["jobs"]["nodes"], expected);
}

async fn list_arguments(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    for i in 0..3 {
        let input = json!({"title": format!("j{i}"), "priority": 10 * (i + 1)});
        app.create_job(&alice, input).await;
    }
    let before = (app.job_count().await, app.event_count().await);
    let q = "query($first: Int, $after: String, $f: JobFilter, $o: JobOrder) { jobs(first: $first, after: $after, filter: $f, orderBy: $o) { nodes { id } pageInfo { endCursor } } }";
    let page = app.ok(&alice, q, json!({"first": 1})).await;
    let cursor = page["jobs"]["pageInfo"]["endCursor"].clone();
    assert!(cursor.is_string());
    let by_priority = json!({"field": "PRIORITY", "direction": "ASC"});
    let cases = [
        (json!({"first": 0}), "first"),
        (json!({"first": -1}), "first"),
        (json!({"first": 201}), "first"),
        (json!({"f": {"status": []}}), "filter.status"),
        (json!({"after": "not a cursor!"}), "after"),
        (json!({"after": ""}), "after"),
        (json!({"after": "bm90IGEgY3Vyc29y"}), "after"),
        // A real cursor, but of another ordering.
        (json!({"after": cursor, "o": by_priority}), "after"),
    ];
    for (variables, field) in cases {
        refused(&app, q, variables, BAD, field).await;
    }
    // priorityMin above priorityMax: refused (the field names one of the two).
    let inverted = json!({"f": {"priorityMin": 60, "priorityMax": 10}});
    let response = app.exec(&alice, q, inverted).await;
    let ext = &first_error(&response)["extensions"];
    assert_eq!(ext["code"], BAD, "{response}");
    let field = ext["field"].as_str().unwrap_or_default();
    assert!(field.starts_with("filter.priorityM"), "{response}");
    // The boundaries and the real cursor are fine.
    let fine = [
        json!({"first": 1}),
        json!({"first": 200}),
        json!({"after": cursor}),
        json!({"f": {"priorityMin": 20, "priorityMax": 20}}),
    ];
    for variables in fine {
        app.ok(&alice, q, variables).await;
    }
    let after = (app.job_count().await, app.event_count().await);
    assert_eq!(after, before);
}
