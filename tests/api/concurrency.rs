//! Races: exactly one of two concurrent completes wins; concurrent creates with one idempotency
//! key return one job; event ids become visible in commit order under concurrent writers.

use crate::backend_tests;
use crate::harness::{Agent, Member, TestApp, code};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use std::collections::BTreeSet;

backend_tests!(
    concurrent_completes_one_wins,
    concurrent_creates_with_one_key,
    event_ids_visible_in_commit_order
);

const ROUNDS: usize = 20;

async fn concurrent_completes_one_wins(app: TestApp) {
    let bob = app.actor("bob", &[Agent]);
    let q = "mutation($id: UUID!, $c: Decimal) { completeJob(id: $id, result: {actualCost: $c}) { status } }";
    for round in 0..ROUNDS {
        let job = app
            .create_job(&bob, json!({"title": format!("race {round}")}))
            .await;
        let id = job["id"].as_str().unwrap().to_string();
        app.job_op(&bob, "startJob(id: $id)", json!({"id": id}))
            .await;
        let (a, b) = tokio::join!(
            app.http(&bob, q, json!({"id": id, "c": "1"})),
            app.http(&bob, q, json!({"id": id, "c": "2"})),
        );
        let wins: Vec<&Value> = [&a, &b]
            .into_iter()
            .filter(|r| r.get("errors").is_none())
            .collect();
        assert_eq!(wins.len(), 1, "round {round}: exactly one wins: {a} / {b}");
        let loser = if a.get("errors").is_some() { &a } else { &b };
        let loser_code = code(loser);
        assert!(
            loser_code == "INVALID_TRANSITION" || loser_code == "CONFLICT",
            "round {round}: the loser got {loser}"
        );
        let types = app.job_event_types(&id).await;
        assert_eq!(
            types.iter().filter(|t| *t == "job.succeeded").count(),
            1,
            "round {round}"
        );
        let runs = app.ok(&bob, "query($id: UUID!) { jobHistory(id: $id) { status cost } job(id: $id) { actualCost version } }", json!({"id": id})).await;
        assert_eq!(runs["jobHistory"].as_array().unwrap().len(), 1);
        assert_eq!(
            runs["job"]["version"], 3,
            "create 1, start 2, one complete 3"
        );
        assert_eq!(runs["job"]["actualCost"], runs["jobHistory"][0]["cost"]);
    }
}

async fn concurrent_creates_with_one_key(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let q = "mutation($i: CreateJobInput!) { createJob(input: $i) { id } }";
    for round in 0..5 {
        let key = format!("key-{round}");
        let calls = (0..8).map(|i| {
            let input = json!({"i": {"title": format!("writer {i}"), "idempotencyKey": key}});
            app.http(&alice, q, input)
        });
        let results = futures_util::future::join_all(calls).await;
        let ids: BTreeSet<String> = results
            .iter()
            .map(|r| {
                TestApp::data(r.clone())["createJob"]["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(
            ids.len(),
            1,
            "round {round}: every create returns the same job"
        );
        let id = ids.into_iter().next().unwrap();
        assert_eq!(app.job_event_types(&id).await, ["job.created"]);
    }
    assert_eq!(app.job_count().await, 5);
}

/// Writers change jobs while a reader pages through the event table by id, as a subscriber
/// resuming from a cursor would. If an id could commit after a higher one had been read, the
/// reader would skip it; so the reader must end up with every event, in increasing order.
async fn event_ids_visible_in_commit_order(app: TestApp) {
    let writers = 6;
    let per_writer = 12;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let db = app.db.clone();
        let tenant = app.tenant.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let mut seen: Vec<i64> = Vec::new();
            let mut cursor = 0_i64;
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let rows = entity::event::Entity::find()
                    .filter(entity::event::Column::TenantId.eq(tenant.as_str()))
                    .filter(entity::event::Column::Id.gt(cursor))
                    .order_by_asc(entity::event::Column::Id)
                    .all(&db)
                    .await
                    .expect("read events");
                for row in rows {
                    assert!(row.id > cursor, "ids go up");
                    cursor = row.id;
                    seen.push(row.id);
                }
                if finished {
                    return seen;
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let q = "mutation($i: CreateJobInput!) { createJob(input: $i) { id } }";
    let tasks = (0..writers).map(|w| {
        let app = app.clone();
        tokio::spawn(async move {
            let actor = app.actor(&format!("writer-{w}"), &[Member]);
            for i in 0..per_writer {
                let out = app
                    .http(&actor, q, json!({"i": {"title": format!("w{w} j{i}")}}))
                    .await;
                let id = TestApp::data(out)["createJob"]["id"]
                    .as_str()
                    .unwrap()
                    .to_string();
                let started = app
                    .http(
                        &actor,
                        "mutation($id: UUID!) { startJob(id: $id) { id } }",
                        json!({"id": id}),
                    )
                    .await;
                TestApp::data(started);
            }
        })
    });
    for t in futures_util::future::join_all(tasks).await {
        t.expect("writer");
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = reader.await.expect("reader");
    let all: Vec<i64> = entity::event::Entity::find()
        .filter(entity::event::Column::TenantId.eq(app.tenant.as_str()))
        .order_by_asc(entity::event::Column::Id)
        .all(&app.db)
        .await
        .expect("all events")
        .into_iter()
        .map(|e| e.id)
        .collect();
    // created + status_changed + started per job.
    assert_eq!(all.len(), writers * per_writer * 3);
    assert_eq!(
        seen, all,
        "a reader following the ids missed an event that committed late"
    );
}
