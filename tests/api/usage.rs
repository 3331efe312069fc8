//! Usage and per-job limits (DESIGN.md §6): exact sums per run, job, task and plan by model,
//! the amount counted once as a cost and in budgets, fencing, the token and cost limits moving
//! a RUNNING job to CANCELLING (and not at exactly the limit), and refused inputs.

use crate::backend_tests;
use crate::harness::{Admin, Agent, Member, TestApp, Viewer};
use jobgraph::auth::Actor;
use serde_json::{Value, json};
use std::time::Duration;

backend_tests!(
    usage_sums_exactly_per_run_job_task_and_plan,
    the_amount_is_a_cost_counted_once,
    usage_is_fenced_and_checked,
    a_token_limit_stops_a_running_job,
    a_cost_limit_stops_a_running_job,
    limits_on_create_and_update,
    the_usage_report_groups_and_filters,
);

const RECORD: &str = "mutation($id: UUID!, $u: UsageInput!, $a: Int) { recordUsage(id: $id, usage: $u, attempt: $a) { id status version actualCost cancelReason } }";
const USAGE_FIELDS: &str = "inputTokens cachedInputTokens outputTokens toolCalls amount byModel { model inputTokens cachedInputTokens outputTokens toolCalls amount }";

async fn record(app: &TestApp, actor: &Actor, id: &Value, usage: Value) -> Value {
    app.ok(actor, RECORD, json!({"id": id, "u": usage})).await["recordUsage"].clone()
}

async fn job_usage(app: &TestApp, id: &Value) -> Value {
    let q = format!(
        "query($id: UUID!) {{ job(id: $id) {{ actualCost usage {{ {USAGE_FIELDS} }} runs {{ attempt usage {{ {USAGE_FIELDS} }} }} }} }}"
    );
    app.ok(&app.actor("reader", &[Viewer]), &q, json!({"id": id}))
        .await["job"]
        .clone()
}

async fn claim_one(app: &TestApp, bot: &Actor) -> Value {
    app.ok(
        bot,
        "mutation { claimJobs(limit: 1) { id attempt } }",
        json!({}),
    )
    .await["claimJobs"][0]
        .clone()
}

async fn usage_sums_exactly_per_run_job_task_and_plan(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let bot = app.actor("bot", &[Agent]);
    let plan = uuid::Uuid::now_v7().to_string();
    let job = app
        .create_job(
            &alice,
            json!({"title": "agentic", "planId": plan, "retryPolicy": {"maxAttempts": 2}}),
        )
        .await;
    let id = job["id"].clone();
    claim_one(&app, &bot).await;
    record(
        &app,
        &bot,
        &id,
        json!({"model": "gpt-5-mini", "inputTokens": 1000, "cachedInputTokens": 200, "outputTokens": 50, "toolCalls": 2, "amount": "0.000123456"}),
    )
    .await;
    record(
        &app,
        &bot,
        &id,
        json!({"model": "claude-x", "inputTokens": 7, "outputTokens": 3, "amount": "1.5"}),
    )
    .await;
    record(
        &app,
        &bot,
        &id,
        json!({"model": "gpt-5-mini", "inputTokens": 1, "toolCalls": 1}),
    )
    .await;
    // The first attempt fails and retries; the second records on its own run.
    app.job_op(&bot, "failJob(id: $id, error: \"boom\")", json!({"id": id}))
        .await;
    app.clock.advance(Duration::from_secs(11));
    claim_one(&app, &bot).await;
    record(
        &app,
        &bot,
        &id,
        json!({"model": "gpt-5-mini", "outputTokens": 2147483647, "amount": "2"}),
    )
    .await;
    let j = job_usage(&app, &id).await;
    assert_eq!(
        j["runs"][0]["usage"],
        json!({
            "inputTokens": 1008, "cachedInputTokens": 200, "outputTokens": 53, "toolCalls": 3,
            "amount": "1.500123456",
            "byModel": [
                {"model": "claude-x", "inputTokens": 7, "cachedInputTokens": 0, "outputTokens": 3, "toolCalls": 0, "amount": "1.5"},
                {"model": "gpt-5-mini", "inputTokens": 1001, "cachedInputTokens": 200, "outputTokens": 50, "toolCalls": 3, "amount": "0.000123456"}
            ]
        })
    );
    assert_eq!(
        j["runs"][1]["usage"]["byModel"],
        json!([{"model": "gpt-5-mini", "inputTokens": 0, "cachedInputTokens": 0, "outputTokens": 2147483647i64, "toolCalls": 0, "amount": "2"}])
    );
    assert_eq!(
        j["usage"],
        json!({
            "inputTokens": 1008, "cachedInputTokens": 200, "outputTokens": 2147483700i64, "toolCalls": 3,
            "amount": "3.500123456",
            "byModel": [
                {"model": "claude-x", "inputTokens": 7, "cachedInputTokens": 0, "outputTokens": 3, "toolCalls": 0, "amount": "1.5"},
                {"model": "gpt-5-mini", "inputTokens": 1001, "cachedInputTokens": 200, "outputTokens": 2147483697i64, "toolCalls": 3, "amount": "2.000123456"}
            ]
        })
    );
    assert_eq!(j["actualCost"], "3.500123456");
    // A task of the plan, with its own usage.
    let task = app
        .create_task(
            &alice,
            None,
            json!({"title": "research", "planId": plan, "assignedAgent": "bot"}),
        )
        .await;
    let t = app
        .ok(
            &bot,
            &format!("mutation($id: UUID!, $u: UsageInput!) {{ recordTaskUsage(id: $id, usage: $u) {{ actualCost usage {{ {USAGE_FIELDS} }} }} }}"),
            json!({"id": task["id"], "u": {"model": "claude-x", "inputTokens": 10, "amount": "0.25"}}),
        )
        .await["recordTaskUsage"]
        .clone();
    assert_eq!(t["actualCost"], "0.25");
    assert_eq!(t["usage"]["inputTokens"], 10);
    assert_eq!(t["usage"]["byModel"][0]["model"], "claude-x");
    // The plan sums its jobs and tasks.
    let p = app
        .ok(
            &alice,
            &format!("query($id: UUID!) {{ plan(id: $id) {{ usage {{ {USAGE_FIELDS} }} }} }}"),
            json!({"id": plan}),
        )
        .await["plan"]["usage"]
        .clone();
    assert_eq!(p["inputTokens"], 1018);
    assert_eq!(p["amount"], "3.750123456");
    assert_eq!(
        p["byModel"][0],
        json!({"model": "claude-x", "inputTokens": 17, "cachedInputTokens": 0, "outputTokens": 3, "toolCalls": 0, "amount": "1.75"})
    );
    // A job with no usage reads zeros and an empty list.
    let idle = app.create_job(&alice, json!({"title": "idle"})).await;
    assert_eq!(
        job_usage(&app, &idle["id"]).await["usage"],
        json!({"inputTokens": 0, "cachedInputTokens": 0, "outputTokens": 0, "toolCalls": 0, "amount": "0", "byModel": []})
    );
    // Events: one usage_recorded per report, no separate cost_recorded.
    let types = app.job_event_types(id.as_str().unwrap()).await;
    assert_eq!(
        types.iter().filter(|t| *t == "job.usage_recorded").count(),
        4
    );
    assert!(!types.contains(&"job.cost_recorded".to_string()));
    let read = app
        .ok(
            &alice,
            "query($id: UUID!) { job(id: $id) { events(first: 50) { nodes { ... on JobEvent { kind amount usage { model inputTokens toolCalls amount } } } } } }",
            json!({"id": id}),
        )
        .await;
    let first_usage = read["job"]["events"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "USAGE_RECORDED")
        .cloned()
        .unwrap();
    assert_eq!(
        first_usage,
        json!({"kind": "USAGE_RECORDED", "amount": "0.000123456", "usage": {"model": "gpt-5-mini", "inputTokens": 1000, "toolCalls": 2, "amount": "0.000123456"}})
    );
}

async fn the_amount_is_a_cost_counted_once(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let admin = app.actor("root", &[Admin]);
    let bot = app.actor("bot", &[Agent]);
    app.ok(
        &admin,
        "mutation { setBudget(limit: \"100\") { limit } }",
        json!({}),
    )
    .await;
    let job = app.create_job(&alice, json!({"title": "spend"})).await;
    claim_one(&app, &bot).await;
    let after = record(
        &app,
        &bot,
        &job["id"],
        json!({"model": "m", "inputTokens": 5, "amount": "7.25"}),
    )
    .await;
    assert_eq!(after["actualCost"], "7.25");
    app.ok(
        &bot,
        "mutation($id: UUID!) { recordJobCost(id: $id, amount: \"0.75\") { id } }",
        json!({"id": job["id"]}),
    )
    .await;
    let budget = app
        .ok(&alice, "{ budget { committed remaining } }", json!({}))
        .await["budget"]
        .clone();
    assert_eq!(budget, json!({"committed": "8", "remaining": "92"}));
    let j = job_usage(&app, &job["id"]).await;
    assert_eq!(j["actualCost"], "8");
    assert_eq!(j["usage"]["amount"], "7.25", "only the usage's part");
    assert_eq!(j["runs"][0]["usage"]["amount"], "7.25");
    // Usage without an amount costs nothing.
    let after = record(
        &app,
        &bot,
        &job["id"],
        json!({"model": "m", "outputTokens": 9}),
    )
    .await;
    assert_eq!(after["actualCost"], "8");
}

async fn usage_is_fenced_and_checked(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let bot = app.actor("bot", &[Agent]);
    let job = app.create_job(&alice, json!({"title": "fenced"})).await;
    claim_one(&app, &bot).await;
    let id = job["id"].clone();
    let stale = app
        .err(
            &bot,
            RECORD,
            json!({"id": id, "u": {"model": "m", "inputTokens": 1}, "a": 2}),
        )
        .await;
    assert_eq!(stale["extensions"]["code"], "CONFLICT");
    let events = app.event_count().await;
    for (usage, field) in [
        (json!({"model": ""}), "usage.model"),
        (json!({"model": "  "}), "usage.model"),
        (json!({"model": "m".repeat(201)}), "usage.model"),
        (
            json!({"model": "m", "inputTokens": -1}),
            "usage.inputTokens",
        ),
        (
            json!({"model": "m", "cachedInputTokens": -1}),
            "usage.cachedInputTokens",
        ),
        (
            json!({"model": "m", "outputTokens": -5}),
            "usage.outputTokens",
        ),
        (json!({"model": "m", "toolCalls": -1}), "usage.toolCalls"),
        (json!({"model": "m", "amount": "-1"}), "usage.amount"),
        (
            json!({"model": "m", "amount": "0.0000000001"}),
            "usage.amount",
        ),
    ] {
        let err = app
            .err(&bot, RECORD, json!({"id": id, "u": usage.clone()}))
            .await;
        assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT", "{usage}");
        assert_eq!(err["extensions"]["field"], field, "{usage}");
    }
    assert_eq!(
        app.event_count().await,
        events,
        "refused reports change nothing"
    );
    // Counts above 2^31-1 are not Ints: refused by the schema.
    let err = app
        .err(
            &bot,
            RECORD,
            json!({"id": id, "u": {"model": "m", "inputTokens": 2147483648i64}}),
        )
        .await;
    assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT");
    // Roles: a VIEWER may not record; another tenant's job is NOT_FOUND.
    let viewer = app.actor("v", &[Viewer]);
    let err = app
        .err(&viewer, RECORD, json!({"id": id, "u": {"model": "m"}}))
        .await;
    assert_eq!(err["extensions"]["code"], "FORBIDDEN");
    let foreign = app.foreigner("bot", &[Agent]);
    let err = app
        .err(&foreign, RECORD, json!({"id": id, "u": {"model": "m"}}))
        .await;
    assert_eq!(err["extensions"]["code"], "NOT_FOUND");
}

async fn a_token_limit_stops_a_running_job(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let bot = app.actor("bot", &[Agent]);
    let job = app
        .create_job(
            &alice,
            json!({"title": "loops", "limits": {"maxTokens": 1000}}),
        )
        .await;
    let id = job["id"].clone();
    claim_one(&app, &bot).await;
    // Exactly at the limit (input + cached + output): still running.
    let at = record(
        &app,
        &bot,
        &id,
        json!({"model": "m", "inputTokens": 600, "cachedInputTokens": 300, "outputTokens": 100}),
    )
    .await;
    assert_eq!(at["status"], "RUNNING");
    let mark = app.last_event_id().await;
    let over = record(&app, &bot, &id, json!({"model": "m", "outputTokens": 1})).await;
    assert_eq!(over["status"], "CANCELLING");
    assert_eq!(over["cancelReason"], "token limit exceeded");
    let types: Vec<String> = app
        .events_since(mark)
        .await
        .into_iter()
        .map(|(t, _, _)| t)
        .collect();
    assert_eq!(
        types,
        [
            "job.usage_recorded",
            "job.limit_exceeded",
            "job.status_changed",
            "job.cancel_requested"
        ]
    );
    // The worker learns of it on its next heartbeat.
    let beat = app
        .ok(
            &bot,
            "mutation { heartbeatAgent { extended cancelling } }",
            json!({}),
        )
        .await;
    assert_eq!(beat["heartbeatAgent"]["cancelling"], json!([id]));
    let hb = TestApp::data(
        app.job_op(&bot, "heartbeatJob(id: $id)", json!({"id": id}))
            .await,
    );
    assert_eq!(hb["r"]["status"], "CANCELLING");
    // The recording itself is never refused, and the grace period applies.
    let more = record(&app, &bot, &id, json!({"model": "m", "outputTokens": 5})).await;
    assert_eq!(more["status"], "CANCELLING");
    let grace = Duration::from_secs(30);
    app.clock.advance(grace + Duration::from_secs(1));
    jobgraph::loops::grace::tick(&app.state.services, grace)
        .await
        .unwrap();
    let j = app
        .ok(
            &alice,
            "query($id: UUID!) { job(id: $id) { status cancelReason limits { maxTokens maxCost } } }",
            json!({"id": id}),
        )
        .await["job"]
        .clone();
    assert_eq!(j["status"], "CANCELLED");
    assert_eq!(j["limits"], json!({"maxTokens": 1000, "maxCost": null}));
    // The limit counts within the series: a retried job starts afresh.
    app.job_op(&alice, "retryJob(id: $id)", json!({"id": id}))
        .await;
    claim_one(&app, &bot).await;
    let fresh = record(&app, &bot, &id, json!({"model": "m", "inputTokens": 1000})).await;
    assert_eq!(fresh["status"], "RUNNING");
}

async fn a_cost_limit_stops_a_running_job(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let bot = app.actor("bot", &[Agent]);
    let job = app
        .create_job(
            &alice,
            json!({"title": "spends", "limits": {"maxCost": "2.5"}}),
        )
        .await;
    let id = job["id"].clone();
    claim_one(&app, &bot).await;
    let at = record(&app, &bot, &id, json!({"model": "m", "amount": "2"})).await;
    assert_eq!(at["status"], "RUNNING");
    // A plain cost crosses it too; reaching 2.5 exactly does not.
    let exact = app
        .ok(
            &bot,
            "mutation($id: UUID!) { recordJobCost(id: $id, amount: \"0.5\") { status } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(exact["recordJobCost"]["status"], "RUNNING");
    let mark = app.last_event_id().await;
    let over = app
        .ok(
            &bot,
            "mutation($id: UUID!) { recordJobCost(id: $id, amount: \"0.000000001\") { status cancelReason actualCost } }",
            json!({"id": id}),
        )
        .await["recordJobCost"]
        .clone();
    assert_eq!(
        over,
        json!({"status": "CANCELLING", "cancelReason": "cost limit exceeded", "actualCost": "2.500000001"})
    );
    let events = app.events_since(mark).await;
    let types: Vec<&str> = events.iter().map(|(t, _, _)| t.as_str()).collect();
    assert_eq!(
        types,
        [
            "job.cost_recorded",
            "job.limit_exceeded",
            "job.status_changed",
            "job.cancel_requested"
        ]
    );
    assert_eq!(events[1].2["reason"], "cost limit exceeded");
    assert_eq!(events[3].2["reason"], "cost limit exceeded");
    // A job that is not running only records.
    let waiting = app
        .create_job(
            &alice,
            json!({"title": "not started", "limits": {"maxCost": "1"}}),
        )
        .await;
    let r = record(
        &app,
        &alice,
        &waiting["id"],
        json!({"model": "m", "amount": "5"}),
    )
    .await;
    assert_eq!(r["status"], "PENDING");
}

async fn limits_on_create_and_update(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let create = "mutation($l: JobLimitsInput) { createJob(input: {title: \"t\", limits: $l}) { limits { maxTokens maxCost } } }";
    for (limits, field) in [
        (json!({"maxTokens": 0}), "input.limits.maxTokens"),
        (json!({"maxTokens": -3}), "input.limits.maxTokens"),
        (json!({"maxCost": "0"}), "input.limits.maxCost"),
        (json!({"maxCost": "-1"}), "input.limits.maxCost"),
    ] {
        let err = app.err(&alice, create, json!({"l": limits.clone()})).await;
        assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT", "{limits}");
        assert_eq!(err["extensions"]["field"], field, "{limits}");
    }
    let none = app.ok(&alice, create, json!({})).await;
    assert_eq!(
        none["createJob"]["limits"],
        json!({"maxTokens": null, "maxCost": null})
    );
    let job = app
        .create_job(
            &alice,
            json!({"title": "limited", "limits": {"maxTokens": 5000, "maxCost": "1.25"}}),
        )
        .await;
    let update = "mutation($id: UUID!, $l: JobLimitsInput) { updateJob(id: $id, input: {limits: $l}) { version limits { maxTokens maxCost } } }";
    // An absent field keeps its value; null clears it.
    let u = app
        .ok(
            &alice,
            update,
            json!({"id": job["id"], "l": {"maxCost": null}}),
        )
        .await["updateJob"]
        .clone();
    assert_eq!(u["limits"], json!({"maxTokens": 5000, "maxCost": null}));
    let u = app
        .ok(
            &alice,
            update,
            json!({"id": job["id"], "l": {"maxTokens": 10}}),
        )
        .await["updateJob"]
        .clone();
    assert_eq!(u["limits"], json!({"maxTokens": 10, "maxCost": null}));
    let same = app
        .ok(
            &alice,
            update,
            json!({"id": job["id"], "l": {"maxTokens": 10}}),
        )
        .await["updateJob"]
        .clone();
    assert_eq!(same["version"], u["version"], "no change, no bump");
    let err = app
        .err(
            &alice,
            update,
            json!({"id": job["id"], "l": {"maxTokens": 0}}),
        )
        .await;
    assert_eq!(err["extensions"]["field"], "input.limits.maxTokens");
}

const REPORT: &str = "query($f: UsageFilter, $g: [UsageGroup!]) { usageReport(filter: $f, groupBy: $g) { agent model planId day usage { inputTokens amount byModel { model inputTokens amount } } } }";

async fn report(app: &TestApp, actor: &Actor, filter: Value, groups: Value) -> Vec<Value> {
    app.ok(actor, REPORT, json!({"f": filter, "g": groups}))
        .await["usageReport"]
        .as_array()
        .unwrap()
        .clone()
}

/// (key, inputTokens, amount) of each row, keyed by `field`.
fn summary(rows: &[Value], field: &str) -> Vec<(Value, i64, String)> {
    rows.iter()
        .map(|r| {
            (
                r[field].clone(),
                r["usage"]["inputTokens"].as_i64().unwrap(),
                r["usage"]["amount"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn the_usage_report_groups_and_filters(app: TestApp) {
    // Start at noon (UTC), so that nothing below straddles a midnight.
    let now = app.clock.clock().now();
    let noon = (now.date_naive() + chrono::Days::new(1))
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc();
    app.clock.advance((noon - now).to_std().unwrap());
    let alice = app.actor("alice", &[Member]);
    let bot1 = app.actor("bot1", &[Agent]);
    let bot2 = app.actor("bot2", &[Agent]);
    let plan = uuid::Uuid::now_v7().to_string();
    let a = app
        .create_job(
            &alice,
            json!({"title": "a", "planId": plan, "priority": 90}),
        )
        .await;
    let b = app.create_job(&alice, json!({"title": "b"})).await;
    claim_one(&app, &bot1).await;
    let before_first = app.clock.clock().now();
    record(
        &app,
        &bot1,
        &a["id"],
        json!({"model": "m1", "inputTokens": 10, "amount": "1"}),
    )
    .await;
    let day_one = app.clock.clock().now();
    // The next day.
    app.clock.advance(Duration::from_secs(86_400));
    let day_two = app.clock.clock().now();
    claim_one(&app, &bot2).await;
    record(
        &app,
        &bot2,
        &b["id"],
        json!({"model": "m2", "inputTokens": 5, "amount": "2"}),
    )
    .await;
    record(
        &app,
        &bot2,
        &b["id"],
        json!({"model": "m1", "inputTokens": 1, "amount": "0.5"}),
    )
    .await;
    let task = app
        .create_task(
            &alice,
            None,
            json!({"title": "t", "planId": plan, "assignedAgent": "carol"}),
        )
        .await;
    app.ok(
        &alice,
        "mutation($id: UUID!) { recordTaskUsage(id: $id, usage: {model: \"m1\", inputTokens: 7, amount: \"3\"}) { id } }",
        json!({"id": task["id"]}),
    )
    .await;
    let viewer = app.actor("v", &[Viewer]);
    // No groups: one row for everything, its models inside.
    let all = report(&app, &viewer, json!(null), json!(null)).await;
    assert_eq!(all.len(), 1);
    assert_eq!(
        all[0],
        json!({"agent": null, "model": null, "planId": null, "day": null, "usage": {
        "inputTokens": 23, "amount": "6.5",
        "byModel": [
            {"model": "m1", "inputTokens": 18, "amount": "4.5"},
            {"model": "m2", "inputTokens": 5, "amount": "2"}
        ]}})
    );
    // By agent: the run's agent, else the record's assignee; largest amount first.
    assert_eq!(
        summary(
            &report(&app, &viewer, json!(null), json!(["AGENT"])).await,
            "agent"
        ),
        [
            (json!("carol"), 7, "3".to_string()),
            (json!("bot2"), 6, "2.5".to_string()),
            (json!("bot1"), 10, "1".to_string())
        ]
    );
    assert_eq!(
        summary(
            &report(&app, &viewer, json!(null), json!(["MODEL"])).await,
            "model"
        ),
        [
            (json!("m1"), 18, "4.5".to_string()),
            (json!("m2"), 5, "2".to_string())
        ]
    );
    assert_eq!(
        summary(
            &report(&app, &viewer, json!(null), json!(["PLAN"])).await,
            "planId"
        ),
        [
            (json!(plan), 17, "4".to_string()),
            (Value::Null, 6, "2.5".to_string())
        ]
    );
    let day = |t: chrono::DateTime<chrono::Utc>| json!(t.format("%Y-%m-%d").to_string());
    assert_eq!(
        summary(
            &report(&app, &viewer, json!(null), json!(["DAY"])).await,
            "day"
        ),
        [
            (day(day_two), 13, "5.5".to_string()),
            (day(day_one), 10, "1".to_string())
        ]
    );
    // Several groups at once.
    let combo = report(&app, &viewer, json!(null), json!(["AGENT", "MODEL", "DAY"])).await;
    assert_eq!(combo.len(), 4);
    assert_eq!(
        (
            combo[1]["agent"].clone(),
            combo[1]["model"].clone(),
            combo[1]["day"].clone()
        ),
        (json!("bot2"), json!("m2"), day(day_two))
    );
    // Filters.
    let only = |f: Value| {
        let app = app.clone();
        let viewer = viewer.clone();
        async move {
            let rows = report(&app, &viewer, f, json!(null)).await;
            rows.first().map(|r| {
                (
                    r["usage"]["inputTokens"].as_i64().unwrap(),
                    r["usage"]["amount"].as_str().unwrap().to_string(),
                )
            })
        }
    };
    assert_eq!(
        only(json!({"agent": "bot2"})).await,
        Some((6, "2.5".into()))
    );
    assert_eq!(only(json!({"model": "m2"})).await, Some((5, "2".into())));
    assert_eq!(only(json!({"planId": plan})).await, Some((17, "4".into())));
    assert_eq!(only(json!({"agent": "nobody"})).await, None);
    // Time: `from` inclusive and `to` exclusive, on whole days and inside a day.
    let start_two = day_two.date_naive().and_hms_opt(0, 0, 0).unwrap().and_utc();
    let rfc = |t: chrono::DateTime<chrono::Utc>| json!(t.to_rfc3339());
    assert_eq!(
        only(json!({"from": rfc(start_two)})).await,
        Some((13, "5.5".into()))
    );
    assert_eq!(
        only(json!({"to": rfc(start_two)})).await,
        Some((10, "1".into()))
    );
    assert_eq!(
        only(json!({"from": rfc(day_two)})).await,
        Some((13, "5.5".into()))
    );
    assert_eq!(
        only(json!({"to": rfc(day_two)})).await,
        Some((10, "1".into()))
    );
    // Inside one day: the partial day alone.
    assert_eq!(
        only(json!({"from": rfc(before_first), "to": rfc(day_one)})).await,
        Some((10, "1".into()))
    );
    assert_eq!(
        only(json!({"from": rfc(day_one), "to": rfc(day_two)})).await,
        None,
        "the first report is just before `from`, the others at or after `to`"
    );
    let err = app
        .err(
            &viewer,
            REPORT,
            json!({"f": {"from": rfc(day_two), "to": rfc(day_one)}}),
        )
        .await;
    assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT");
    assert_eq!(err["extensions"]["field"], "filter.from");
    // Another tenant sees nothing.
    let foreign = app.foreigner("v", &[Viewer]);
    assert!(
        report(&app, &foreign, json!(null), json!(["AGENT"]))
            .await
            .is_empty()
    );
}
