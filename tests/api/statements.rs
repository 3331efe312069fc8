//! Nested fields are batched (DESIGN.md §10): a page of tasks with their parents, subtasks and
//! their subtasks, or of jobs with their runs, costs a fixed number of SQL statements whatever
//! the page size. Statements are counted with SeaORM's metric callback on a connection of the
//! test's own database.

use crate::backend_tests;
use crate::harness::{Member, TestApp};
use jobgraph::domain::time::Clock;
use jobgraph::graphql::{SchemaLimits, build_schema, context};
use jobgraph::services::{Limits, Services};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

backend_tests!(
    task_page_is_a_fixed_number_of_statements,
    job_page_is_a_fixed_number_of_statements,
    graph_page_is_a_fixed_number_of_statements,
);

/// Counts the SQL statements a query makes; returns (count, the statements, the response).
///
/// A DataLoader gathers the keys asked for during its batch window, then loads them in one
/// statement. The server's window (2 ms) is ample for a release build; a debug build under a
/// loaded test run can take longer than that for one pass over a level, which would split a
/// batch for reasons of speed, not design. So the count runs with a 250 ms window, on a
/// current-thread runtime of its own: what is counted is what the loaders ask for.
pub async fn count_statements(
    app: &TestApp,
    actor: &jobgraph::auth::Actor,
    query: &str,
    variables: Value,
) -> (usize, Vec<String>, Value) {
    let url = app.url.clone();
    let actor = actor.clone();
    let query = query.to_string();
    tokio::task::spawn_blocking(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let mut db = jobgraph::db::connect(&url, 4).await.expect("connect");
            let count = Arc::new(AtomicUsize::new(0));
            let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
            {
                let count = count.clone();
                let seen = seen.clone();
                db.set_metric_callback(move |info| {
                    count.fetch_add(1, Ordering::SeqCst);
                    seen.lock().unwrap().push(info.statement.sql.clone());
                });
            }
            let services = Services::new(
                db.clone(),
                Limits::default(),
                Clock::system(),
                jobgraph::events::bus_for(&db, 1024),
            );
            // Pages of 50 with three levels of subtasks cost more than the default 10,000: the
            // count is about batching, so it runs with room for them.
            let limits = SchemaLimits {
                max_complexity: 1_000_000,
                ..SchemaLimits::default()
            };
            let schema = build_schema(services.clone(), limits);
            let request = async_graphql::Request::new(query)
                .variables(async_graphql::Variables::from_json(variables));
            let window = std::time::Duration::from_millis(250);
            let response = schema
                .execute(context::for_actor_with_window(
                    request, &services, actor, window,
                ))
                .await;
            let response = serde_json::to_value(&response).expect("JSON");
            db.close().await.ok();
            let statements = seen.lock().unwrap().clone();
            (count.load(Ordering::SeqCst), statements, response)
        })
    })
    .await
    .expect("the counting runtime")
}

/// Makes `roots` root tasks, each with two subtasks, each of those with one subtask.
async fn seed_tasks(app: &TestApp, actor: &jobgraph::auth::Actor, roots: usize) {
    for r in 0..roots {
        let root = app
            .create_task(actor, None, json!({"title": format!("root {r}")}))
            .await;
        for c in 0..2 {
            let child = app
                .create_task(
                    actor,
                    root["id"].as_str(),
                    json!({"title": format!("child {r}.{c}")}),
                )
                .await;
            app.create_task(
                actor,
                child["id"].as_str(),
                json!({"title": format!("grandchild {r}.{c}")}),
            )
            .await;
        }
    }
}

const TASK_PAGE: &str = "query($n: Int) { tasks(first: $n, filter: {rootOnly: true}) { totalCount nodes { id title parent { id } subtasks { id parent { id } subtasks { id subtasks { id } } } } } }";

async fn task_page_is_a_fixed_number_of_statements(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    seed_tasks(&app, &alice, 50).await;
    let (small, _, r1) = count_statements(&app, &alice, TASK_PAGE, json!({"n": 5})).await;
    let (large, statements, r2) = count_statements(&app, &alice, TASK_PAGE, json!({"n": 50})).await;
    for r in [&r1, &r2] {
        assert!(r.get("errors").is_none(), "{r}");
    }
    let nodes = r2["data"]["tasks"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 50);
    assert_eq!(nodes[0]["subtasks"].as_array().unwrap().len(), 2);
    assert_eq!(
        nodes[0]["subtasks"][0]["subtasks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(nodes[0]["subtasks"][0]["parent"]["id"], nodes[0]["id"]);
    // The page, its count, one batch per level of subtasks (3), one batch of parents.
    assert_eq!(
        small, large,
        "statements grew with the page size: {statements:#?}"
    );
    assert!(large <= 6, "{large} statements for a page: {statements:#?}");
    eprintln!(
        "a page of 50 tasks with three levels of subtasks and parents: {large} SQL statements"
    );
}

async fn job_page_is_a_fixed_number_of_statements(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    for i in 0..50 {
        let job = app
            .create_job(
                &alice,
                json!({"title": format!("job {i}"), "retryPolicy": {"maxAttempts": 3}}),
            )
            .await;
        let v = json!({"id": job["id"]});
        app.job_op(&alice, "startJob(id: $id)", v.clone()).await;
        app.job_op(&alice, "failJob(id: $id, error: \"e\")", v.clone())
            .await;
        app.job_op(&alice, "startJob(id: $id)", v).await;
    }
    let q = "query($n: Int) { jobs(first: $n) { totalCount nodes { id runs { attempt status } delegationChain { to } } } }";
    let (small, _, _) = count_statements(&app, &alice, q, json!({"n": 5})).await;
    let (large, statements, r) = count_statements(&app, &alice, q, json!({"n": 50})).await;
    assert!(r.get("errors").is_none(), "{r}");
    assert_eq!(
        r["data"]["jobs"]["nodes"][0]["runs"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(small, large, "{statements:#?}");
    assert!(large <= 3, "{large}: {statements:#?}");
    eprintln!("a page of 50 jobs with their runs: {large} SQL statements");
}

/// A page of 50 jobs with their tasks, dependencies (with satisfied and the predecessor),
/// dependents, progress and blocked, and 50 tasks with their jobs, edges and blocked.
async fn graph_page_is_a_fixed_number_of_statements(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let mut previous: Option<String> = None;
    for i in 0..50 {
        let job = app
            .create_job(&alice, json!({"title": format!("job {i}")}))
            .await;
        let id = job["id"].as_str().unwrap().to_string();
        for role in ["PRIMARY", "PREREQUISITE"] {
            app.create_task(
                &alice,
                None,
                json!({"title": format!("t {i} {role}"), "jobId": id, "role": role}),
            )
            .await;
        }
        if let Some(p) = &previous {
            let q = "mutation($p: UUID!, $s: UUID!) { addJobDependency(predecessorId: $p, successorId: $s) { type } }";
            app.ok(&alice, q, json!({"p": p, "s": id})).await;
        }
        previous = Some(id);
    }
    let q = "query($n: Int) { jobs(first: $n) { nodes { id blocked progress { total ratio }
        tasks { role task { id title blocked } }
        dependencies { type satisfied predecessor { id status } }
        dependents { successor { id } } } } }";
    let (small, _, _) = count_statements(&app, &alice, q, json!({"n": 5})).await;
    let (large, statements, r) = count_statements(&app, &alice, q, json!({"n": 50})).await;
    assert!(r.get("errors").is_none(), "{r}");
    let nodes = r["data"]["jobs"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 50);
    assert_eq!(nodes[0]["tasks"].as_array().unwrap().len(), 2);
    assert_eq!(nodes[0]["dependencies"].as_array().unwrap().len(), 1);
    assert_eq!(small, large, "{statements:#?}");
    assert!(large <= 10, "{large}: {statements:#?}");
    eprintln!("a page of 50 jobs with tasks, edges, progress and blocked: {large} SQL statements");
    let tq = "query($n: Int) { tasks(first: $n) { nodes { id blocked jobs { role job { id blocked } } dependencies { satisfied } dependents { successor { id } } } } }";
    let (small, _, _) = count_statements(&app, &alice, tq, json!({"n": 5})).await;
    let (large, statements, r) = count_statements(&app, &alice, tq, json!({"n": 50})).await;
    assert!(r.get("errors").is_none(), "{r}");
    assert_eq!(small, large, "{statements:#?}");
    eprintln!("a page of 50 tasks with jobs, edges and blocked: {large} SQL statements");
}
