//! Concurrency keys (DESIGN.md §3): limits exact under concurrent claims (on PostgreSQL over two
//! replicas too), startJob refused at the limit, a slot freed by every kind of attempt end,
//! claims that take turns between keys, and the inputs, roles and lists around them.

use crate::backend_tests;
use crate::harness::{Admin, Agent, Backend, Member, TestApp, Viewer};
use jobgraph::auth::Actor;
use jobgraph::services::Services;
use jobgraph::services::executor::ClaimRequest;
use jobgraph::services::jobs::NewJob;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

backend_tests!(
    a_limit_holds_under_concurrent_claims,
    concurrent_starts_respect_the_limit,
    a_claim_reaches_past_refused_and_locked_candidates,
    start_at_the_limit_is_refused,
    every_attempt_end_frees_its_slot,
    claims_skip_keys_at_their_limit,
    claims_take_turns_between_keys,
    one_claim_spans_ranks_by_running_counts,
    one_busy_key_does_not_starve_another,
    concurrency_key_inputs_and_filter,
    set_concurrency_limit_roles_bounds_and_list,
);

const CLAIM: &str =
    "mutation($n: Int) { claimJobs(limit: $n) { id title attempt concurrencyKey } }";
const SET_LIMIT: &str = "mutation($k: String!, $l: Int) { setConcurrencyLimit(key: $k, limit: $l) { key limit running } }";
const LIMITS: &str = "{ concurrencyLimits { key limit running } }";

async fn set_limit(app: &TestApp, key: &str, limit: Option<i32>) -> Value {
    let admin = app.actor("root", &[Admin]);
    app.ok(&admin, SET_LIMIT, json!({"k": key, "l": limit}))
        .await["setConcurrencyLimit"]
        .clone()
}

async fn claim(app: &TestApp, actor: &Actor, n: i32) -> Vec<Value> {
    app.ok(actor, CLAIM, json!({"n": n})).await["claimJobs"]
        .as_array()
        .unwrap()
        .clone()
}

fn titles(jobs: &[Value]) -> Vec<&str> {
    jobs.iter().map(|j| j["title"].as_str().unwrap()).collect()
}

/// `n` jobs through the service (fast), titled `{prefix}{i}`, oldest first.
async fn seed(services: &Services, actor: &Actor, prefix: &str, key: Option<&str>, n: usize) {
    for i in 0..n {
        services
            .jobs
            .create(
                actor,
                NewJob {
                    title: format!("{prefix}{i}"),
                    concurrency_key: key.map(str::to_string),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
    }
}

/// How many jobs of the tenant with `key` are RUNNING or CANCELLING, read from the table.
async fn running_in_db(app: &TestApp, key: &str) -> u64 {
    entity::job::Entity::find()
        .filter(entity::job::Column::TenantId.eq(app.tenant.as_str()))
        .filter(entity::job::Column::ConcurrencyKey.eq(key))
        .filter(entity::job::Column::Status.is_in(["RUNNING", "CANCELLING"]))
        .count(&app.db)
        .await
        .unwrap()
}

async fn a_limit_holds_under_concurrent_claims(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    set_limit(&app, "model-api", Some(2)).await;
    seed(&app.state.services, &alice, "keyed ", Some("model-api"), 10).await;
    // On PostgreSQL half the claimers go through a second replica.
    let replica = match app.backend {
        Backend::Postgres { .. } => Some(app.replica().await),
        Backend::Sqlite { .. } => None,
    };
    let held = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let claimers: Vec<_> = (0..8)
        .map(|c| {
            let services = match (&replica, c % 2) {
                (Some(r), 1) => r.state.services.clone(),
                _ => app.state.services.clone(),
            };
            let bot = app.actor(&format!("bot-{c}"), &[Agent]);
            let (held, peak, done, app) = (held.clone(), peak.clone(), done.clone(), app.clone());
            tokio::spawn(async move {
                while done.load(Ordering::SeqCst) < 10 {
                    let got = services
                        .executor
                        .claim(&bot, ClaimRequest::default())
                        .await
                        .unwrap();
                    let Some(job) = got.into_iter().next() else {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        continue;
                    };
                    let now = held.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    let in_db = running_in_db(&app, "model-api").await;
                    assert!(in_db <= 2, "{in_db} jobs with the key are running");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    services
                        .jobs
                        .complete(&bot, job.id, Default::default(), Some(job.attempt))
                        .await
                        .unwrap();
                    held.fetch_sub(1, Ordering::SeqCst);
                    done.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for c in claimers {
        tokio::time::timeout(Duration::from_secs(60), c)
            .await
            .expect("the claimers finish")
            .unwrap();
    }
    assert_eq!(done.load(Ordering::SeqCst), 10, "every job ran once");
    // Counted between each claim's commit and its completion's commit, so never below the
    // true number running: more than 2 in flight would have shown here.
    assert!(peak.load(Ordering::SeqCst) <= 2);
    assert!(
        peak.load(Ordering::SeqCst) == 2,
        "the claimers did run two at once"
    );
    let succeeded = entity::job::Entity::find()
        .filter(entity::job::Column::TenantId.eq(app.tenant.as_str()))
        .filter(entity::job::Column::Status.eq("SUCCEEDED"))
        .count(&app.db)
        .await
        .unwrap();
    assert_eq!(succeeded, 10);
}

async fn concurrent_starts_respect_the_limit(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    set_limit(&app, "api", Some(2)).await;
    let mut ids = Vec::new();
    for i in 0..10 {
        let j = app
            .create_job(
                &alice,
                json!({"title": format!("s{i}"), "concurrencyKey": "api"}),
            )
            .await;
        ids.push(uuid::Uuid::parse_str(j["id"].as_str().unwrap()).unwrap());
    }
    let replica = match app.backend {
        Backend::Postgres { .. } => Some(app.replica().await),
        Backend::Sqlite { .. } => None,
    };
    let starts: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let services = match (&replica, i % 2) {
                (Some(r), 1) => r.state.services.clone(),
                _ => app.state.services.clone(),
            };
            let (alice, id) = (alice.clone(), *id);
            tokio::spawn(async move { services.jobs.start(&alice, id).await })
        })
        .collect();
    let mut started = 0;
    let mut refused = 0;
    for s in starts {
        match s.await.unwrap() {
            Ok(_) => started += 1,
            Err(jobgraph::error::ServiceError::ConcurrencyLimit { limit, .. }) => {
                assert_eq!(limit, 2);
                refused += 1;
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((started, refused), (2, 8));
    assert_eq!(running_in_db(&app, "api").await, 2);
}

async fn a_claim_reaches_past_refused_and_locked_candidates(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let admin = app.actor("root", &[Admin]);
    let bot = app.actor("bot", &[Agent]);
    app.ok(
        &admin,
        "mutation { setBudget(limit: \"10\") { limit } }",
        json!({}),
    )
    .await;
    // The oldest job of the top group is over budget: the claim of one job must look behind
    // it in the same group, not settle for a lower priority.
    for (title, priority, cost) in [
        ("too dear", 100, "11"),
        ("fits", 100, "1"),
        ("lower", 50, "1"),
    ] {
        app.create_job(
            &alice,
            json!({"title": title, "priority": priority, "estimatedCost": cost}),
        )
        .await;
    }
    assert_eq!(titles(&claim(&app, &bot, 1).await), ["fits"]);
    assert_eq!(titles(&claim(&app, &bot, 1).await), ["lower"]);
    // The same with keys, where each key's group offers only its first jobs per batch.
    for (title, key, priority, cost) in [
        ("keyed too dear", "k", 100, "11"),
        ("keyed fits", "k", 100, "1"),
        ("keyed lower", "k2", 50, "1"),
    ] {
        app.create_job(
            &alice,
            json!({"title": title, "concurrencyKey": key, "priority": priority, "estimatedCost": cost}),
        )
        .await;
    }
    assert_eq!(titles(&claim(&app, &bot, 1).await), ["keyed fits"]);
    assert_eq!(titles(&claim(&app, &bot, 1).await), ["keyed lower"]);
    // On PostgreSQL: a candidate another transaction holds is skipped, and the claim takes the
    // next one instead of coming back empty.
    if let Backend::Postgres { .. } = app.backend {
        use sea_orm::{ConnectionTrait, TransactionTrait};
        let first = app
            .create_job(&alice, json!({"title": "held", "priority": 90}))
            .await;
        app.create_job(&alice, json!({"title": "next", "priority": 90}))
            .await;
        let holder = app.db.begin().await.unwrap();
        holder
            .execute_unprepared(&format!(
                "SELECT id FROM job WHERE id = '{}' FOR UPDATE",
                first["id"].as_str().unwrap()
            ))
            .await
            .unwrap();
        assert_eq!(titles(&claim(&app, &bot, 1).await), ["next"]);
        holder.rollback().await.unwrap();
        assert_eq!(titles(&claim(&app, &bot, 1).await), ["held"]);
    }
}

async fn start_at_the_limit_is_refused(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    set_limit(&app, "gpu", Some(1)).await;
    let a = app
        .create_job(&alice, json!({"title": "a", "concurrencyKey": "gpu"}))
        .await;
    let b = app
        .create_job(&alice, json!({"title": "b", "concurrencyKey": "gpu"}))
        .await;
    let started = TestApp::data(
        app.job_op(&alice, "startJob(id: $id)", json!({"id": a["id"]}))
            .await,
    );
    assert_eq!(started["r"]["status"], "RUNNING");
    let events = app.event_count().await;
    let refused = app
        .err(
            &alice,
            "mutation($id: UUID!) { startJob(id: $id) { id } }",
            json!({"id": b["id"]}),
        )
        .await;
    assert_eq!(refused["extensions"]["code"], "CONCURRENCY_LIMIT");
    assert_eq!(refused["extensions"]["key"], "gpu");
    assert_eq!(refused["extensions"]["limit"], 1);
    assert_eq!(refused["extensions"]["running"], 1);
    assert!(
        refused["message"].as_str().unwrap().contains("gpu"),
        "{refused}"
    );
    assert_eq!(
        app.event_count().await,
        events,
        "a refused start writes nothing"
    );
    let b_now = app
        .ok(
            &alice,
            "query($id: UUID!) { job(id: $id) { status version } }",
            json!({"id": b["id"]}),
        )
        .await;
    assert_eq!(b_now["job"], json!({"status": "PENDING", "version": 1}));
    assert_eq!(
        app.ok(&alice, LIMITS, json!({})).await["concurrencyLimits"],
        json!([{"key": "gpu", "limit": 1, "running": 1}])
    );
    // A job without a key, or with another key, is not held back.
    let free = app.create_job(&alice, json!({"title": "free"})).await;
    let other = app
        .create_job(&alice, json!({"title": "other", "concurrencyKey": "cpu"}))
        .await;
    for j in [free, other] {
        let s = TestApp::data(
            app.job_op(&alice, "startJob(id: $id)", json!({"id": j["id"]}))
                .await,
        );
        assert_eq!(s["r"]["status"], "RUNNING");
    }
    // Raising the limit lets b start.
    set_limit(&app, "gpu", Some(2)).await;
    let s = TestApp::data(
        app.job_op(&alice, "startJob(id: $id)", json!({"id": b["id"]}))
            .await,
    );
    assert_eq!(s["r"]["status"], "RUNNING");
}

/// Ends the RUNNING job `id` (claimed by `bot`, lease 30 s) in the way `how` names.
async fn end_attempt(app: &TestApp, bot: &Actor, id: &Value, how: &str) {
    let grace = Duration::from_secs(30);
    match how {
        "complete" => {
            app.job_op(bot, "completeJob(id: $id)", json!({"id": id}))
                .await;
        }
        "fail" => {
            app.job_op(bot, "failJob(id: $id, error: \"boom\")", json!({"id": id}))
                .await;
        }
        "cancel hard" => {
            app.job_op(
                bot,
                "cancelJob(id: $id, reason: \"stop\", mode: HARD)",
                json!({"id": id}),
            )
            .await;
        }
        "grace over" => {
            app.job_op(
                bot,
                "cancelJob(id: $id, reason: \"stop\")",
                json!({"id": id}),
            )
            .await;
            app.clock.advance(grace + Duration::from_secs(1));
            let r = jobgraph::loops::grace::tick(&app.state.services, grace)
                .await
                .unwrap();
            assert_eq!(r.jobs, 1);
        }
        "timeout" => {
            app.clock.advance(Duration::from_secs(11));
            let r = jobgraph::loops::timeouts::tick(&app.state.services)
                .await
                .unwrap();
            assert_eq!(r.jobs, 1);
        }
        "lease lost" => {
            app.clock.advance(Duration::from_secs(31));
            let r = jobgraph::loops::leases::tick(&app.state.services)
                .await
                .unwrap();
            assert_eq!(r.jobs, 1);
        }
        "release" => {
            let released = app
                .ok(
                    bot,
                    "mutation { releaseJobs(reason: \"deploy\") { id } }",
                    json!({}),
                )
                .await;
            assert_eq!(released["releaseJobs"][0]["id"], *id);
        }
        other => panic!("unknown end {other}"),
    }
}

async fn every_attempt_end_frees_its_slot(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let bot = app.actor("bot", &[Agent]);
    for how in [
        "complete",
        "fail",
        "cancel hard",
        "grace over",
        "timeout",
        "lease lost",
        "release",
    ] {
        let key = format!("key {how}");
        set_limit(&app, &key, Some(1)).await;
        let first = app
            .create_job(
                &alice,
                json!({"title": format!("{how} 1"), "concurrencyKey": key, "timeoutSeconds": 10, "priority": 90}),
            )
            .await;
        app.create_job(
            &alice,
            json!({"title": format!("{how} 2"), "concurrencyKey": key, "priority": 90}),
        )
        .await;
        let got = app
            .ok(
                &bot,
                "mutation { claimJobs(limit: 2, leaseSeconds: 30) { id title } }",
                json!({}),
            )
            .await["claimJobs"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(titles(&got), [format!("{how} 1")], "one slot: one job");
        assert_eq!(running_in_db(&app, &key).await, 1);
        end_attempt(&app, &bot, &first["id"], how).await;
        assert_eq!(running_in_db(&app, &key).await, 0, "{how} freed the slot");
        // The second job takes the slot (a released or retried first job may compete, so
        // look for it among what is claimed).
        let next = app
            .ok(
                &bot,
                "mutation { claimJobs(limit: 2, leaseSeconds: 30) { id title } }",
                json!({}),
            )
            .await["claimJobs"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(next.len(), 1, "{how}: still one slot: {next:?}");
        // Leave nothing running for the next round.
        app.job_op(&bot, "completeJob(id: $id)", json!({"id": next[0]["id"]}))
            .await;
        // Anything of this round still waiting (a retry, a released job) is cancelled.
        for j in app
            .ok(
                &alice,
                "query($k: String) { jobs(filter: {concurrencyKey: $k, status: [PENDING, SCHEDULED]}) { nodes { id } } }",
                json!({"k": key}),
            )
            .await["jobs"]["nodes"]
            .as_array()
            .unwrap()
        {
            app.job_op(&alice, "cancelJob(id: $id, reason: \"done\")", json!({"id": j["id"]}))
                .await;
        }
    }
}

async fn claims_skip_keys_at_their_limit(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let bot = app.actor("bot", &[Agent]);
    set_limit(&app, "a", Some(1)).await;
    for (title, key, priority) in [
        ("a1", Some("a"), 90),
        ("a2", Some("a"), 90),
        ("a3", Some("a"), 80),
        ("free", None, 10),
    ] {
        app.create_job(
            &alice,
            json!({"title": title, "concurrencyKey": key, "priority": priority}),
        )
        .await;
    }
    assert_eq!(titles(&claim(&app, &bot, 1).await), ["a1"]);
    // a2 and a3 are ahead in claim order, but their key is full: the claim takes what is behind.
    assert_eq!(titles(&claim(&app, &bot, 5).await), ["free"]);
    assert!(claim(&app, &bot, 5).await.is_empty());
}

async fn claims_take_turns_between_keys(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let bot = app.actor("bot", &[Agent]);
    // Same priority, in creation order: three of A, one without a key, one of B, one more A.
    for (title, key) in [
        ("A1", Some("A")),
        ("A2", Some("A")),
        ("A3", Some("A")),
        ("N1", None),
        ("B1", Some("B")),
        ("N2", None),
        ("B2", Some("B")),
    ] {
        app.create_job(&alice, json!({"title": title, "concurrencyKey": key}))
            .await;
    }
    // Rank 1 of each key and every keyless job, oldest first; then rank 2; then rank 3.
    assert_eq!(
        titles(&claim(&app, &bot, 7).await),
        ["A1", "N1", "B1", "N2", "A2", "B2", "A3"]
    );
    // Priority still comes first.
    app.create_job(
        &alice,
        json!({"title": "A4", "concurrencyKey": "A", "priority": 60}),
    )
    .await;
    app.create_job(&alice, json!({"title": "B3", "concurrencyKey": "B"}))
        .await;
    app.create_job(
        &alice,
        json!({"title": "A5", "concurrencyKey": "A", "priority": 60}),
    )
    .await;
    assert_eq!(titles(&claim(&app, &bot, 3).await), ["A4", "A5", "B3"]);
    // pendingJobs keeps the keyless claim order.
    for (title, key) in [("C1", "C"), ("C2", "C"), ("D1", "D")] {
        app.create_job(&alice, json!({"title": title, "concurrencyKey": key}))
            .await;
    }
    let pending = app
        .ok(
            &alice,
            "{ pendingJobs(first: 10) { nodes { title } } }",
            json!({}),
        )
        .await["pendingJobs"]["nodes"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(titles(&pending), ["C1", "C2", "D1"]);
}

/// Keys with different running counts: one claim takes rank 1, then rank 2, then rank 3,
/// across the keys, each rank oldest first (a key's rank counts its running jobs).
async fn one_claim_spans_ranks_by_running_counts(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let bot = app.actor("bot", &[Agent]);
    // Two of A and one of C run: their keys' waiting jobs rank from 3 and from 2.
    for (title, key) in [("ax1", "A"), ("ax2", "A"), ("cx1", "C")] {
        app.create_job(&alice, json!({"title": title, "concurrencyKey": key}))
            .await;
    }
    let running = claim(&app, &bot, 3).await;
    assert_eq!(titles(&running), ["ax1", "cx1", "ax2"]);
    for round in 1..=3 {
        for key in ["A", "B", "C"] {
            let title = format!("{key}{round}");
            app.create_job(&alice, json!({"title": title, "concurrencyKey": key}))
                .await;
        }
    }
    // Ranks: A1 3, A2 4, A3 5; B1 1, B2 2, B3 3; C1 2, C2 3, C3 4.
    assert_eq!(
        titles(&claim(&app, &bot, 6).await),
        ["B1", "C1", "B2", "A1", "C2", "B3"]
    );
    // What is left goes rank 4 (A2, C3), then rank 5 (A3).
    assert_eq!(titles(&claim(&app, &bot, 5).await), ["A2", "C3", "A3"]);
}

async fn one_busy_key_does_not_starve_another(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let bot = app.actor("bot", &[Agent]);
    seed(&app.state.services, &alice, "a", Some("customer-a"), 1000).await;
    seed(&app.state.services, &alice, "b", Some("customer-b"), 1).await;
    let first = claim(&app, &bot, 1).await;
    let second = claim(&app, &bot, 1).await;
    let both = [titles(&first), titles(&second)].concat();
    assert!(both.contains(&"b0"), "B is among the first two: {both:?}");
    assert!(both.contains(&"a0"), "{both:?}");
}

async fn concurrency_key_inputs_and_filter(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let created = app
        .create_job(
            &alice,
            json!({"title": "keyed", "concurrencyKey": "  openai  "}),
        )
        .await;
    assert_eq!(created["concurrencyKey"], "openai", "stored trimmed");
    for (key, why) in [
        (json!(""), "empty"),
        (json!("   "), "blank"),
        (json!("x".repeat(201)), "201 characters"),
        (json!("tab\there"), "a control character"),
    ] {
        let err = app
            .err(
                &alice,
                "mutation($k: String) { createJob(input: {title: \"t\", concurrencyKey: $k}) { id } }",
                json!({"k": key}),
            )
            .await;
        assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT", "{why}");
        assert_eq!(err["extensions"]["field"], "input.concurrencyKey", "{why}");
    }
    let ok = app
        .create_job(
            &alice,
            json!({"title": "long key", "concurrencyKey": "k".repeat(200)}),
        )
        .await;
    assert_eq!(ok["concurrencyKey"].as_str().unwrap().len(), 200);
    let update = "mutation($id: UUID!, $k: String) { updateJob(id: $id, input: {concurrencyKey: $k}) { concurrencyKey version } }";
    // While waiting it may change, or go.
    let changed = app
        .ok(
            &alice,
            update,
            json!({"id": created["id"], "k": "anthropic"}),
        )
        .await;
    assert_eq!(
        changed["updateJob"],
        json!({"concurrencyKey": "anthropic", "version": 2})
    );
    // The filter matches the key exactly.
    let found = app
        .ok(
            &alice,
            "{ jobs(filter: {concurrencyKey: \"anthropic\"}) { totalCount nodes { title } } }",
            json!({}),
        )
        .await;
    assert_eq!(found["jobs"]["totalCount"], 1);
    assert_eq!(found["jobs"]["nodes"][0]["title"], "keyed");
    let none = app
        .ok(
            &alice,
            "{ jobs(filter: {concurrencyKey: \"nobody\"}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(none["jobs"]["totalCount"], 0);
    // While running it may not.
    app.job_op(&alice, "startJob(id: $id)", json!({"id": created["id"]}))
        .await;
    for k in [json!("other"), Value::Null] {
        let err = app
            .err(&alice, update, json!({"id": created["id"], "k": k}))
            .await;
        assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT");
        assert_eq!(err["extensions"]["field"], "input.concurrencyKey");
    }
    // The same key again is no change at all.
    let same = app
        .ok(
            &alice,
            update,
            json!({"id": created["id"], "k": "anthropic"}),
        )
        .await;
    assert_eq!(same["updateJob"]["concurrencyKey"], "anthropic");
    app.job_op(&alice, "completeJob(id: $id)", json!({"id": created["id"]}))
        .await;
    let cleared = app
        .ok(&alice, update, json!({"id": created["id"], "k": null}))
        .await;
    assert_eq!(cleared["updateJob"]["concurrencyKey"], Value::Null);
}

async fn set_concurrency_limit_roles_bounds_and_list(app: TestApp) {
    for actor in [
        app.actor("v", &[Viewer]),
        app.actor("m", &[Member]),
        app.actor("bot", &[Agent]),
    ] {
        let err = app.err(&actor, SET_LIMIT, json!({"k": "x", "l": 3})).await;
        assert_eq!(err["extensions"]["code"], "FORBIDDEN", "{:?}", actor.roles);
    }
    let admin = app.actor("root", &[Admin]);
    for (vars, field) in [
        (json!({"k": "x", "l": 0}), "limit"),
        (json!({"k": "x", "l": 10_001}), "limit"),
        (json!({"k": "", "l": 3}), "key"),
        (json!({"k": "y".repeat(201), "l": 3}), "key"),
    ] {
        let err = app.err(&admin, SET_LIMIT, vars.clone()).await;
        assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT", "{vars}");
        assert_eq!(err["extensions"]["field"], field, "{vars}");
    }
    assert_eq!(
        app.ok(&admin, LIMITS, json!({})).await["concurrencyLimits"],
        json!([]),
        "refused inputs changed nothing"
    );
    assert_eq!(
        set_limit(&app, "zeta", Some(10_000)).await,
        json!({"key": "zeta", "limit": 10000, "running": 0})
    );
    set_limit(&app, "alpha", Some(1)).await;
    // Setting again replaces it.
    assert_eq!(
        set_limit(&app, " alpha ", Some(3)).await,
        json!({"key": "alpha", "limit": 3, "running": 0})
    );
    let viewer = app.actor("v", &[Viewer]);
    assert_eq!(
        app.ok(&viewer, LIMITS, json!({})).await["concurrencyLimits"],
        json!([
            {"key": "alpha", "limit": 3, "running": 0},
            {"key": "zeta", "limit": 10000, "running": 0}
        ])
    );
    // Another tenant sees none of them, and its own limit is its own.
    let foreign_admin = app.foreigner("root", &[Admin]);
    assert_eq!(
        app.ok(&foreign_admin, LIMITS, json!({})).await["concurrencyLimits"],
        json!([])
    );
    // Null removes the limit.
    assert_eq!(set_limit(&app, "zeta", None).await, Value::Null);
    assert_eq!(
        app.ok(&viewer, LIMITS, json!({})).await["concurrencyLimits"],
        json!([{"key": "alpha", "limit": 3, "running": 0}])
    );
    // A removed limit no longer holds anything back.
    let alice = app.actor("alice", &[Member]);
    set_limit(&app, "solo", Some(1)).await;
    for t in ["s1", "s2"] {
        app.create_job(&alice, json!({"title": t, "concurrencyKey": "solo"}))
            .await;
    }
    let bot = app.actor("bot", &[Agent]);
    assert_eq!(claim(&app, &bot, 5).await.len(), 1);
    set_limit(&app, "solo", None).await;
    assert_eq!(claim(&app, &bot, 5).await.len(), 1);
}
