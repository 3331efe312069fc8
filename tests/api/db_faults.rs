//! Database faults (DESIGN.md §11): a lock wait past the database's timeout answers TIMEOUT
//! with nothing changed and no internals, and replicas starting together on an empty
//! PostgreSQL database migrate once and all come up.

use crate::backend_tests;
use crate::harness::{Backend, Member, TestApp};
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::json;
use std::time::{Duration, Instant};

backend_tests!(
    a_lock_wait_past_the_timeout_answers_timeout,
    replicas_starting_together_migrate_once,
);

const RENAME: &str =
    "mutation($id: ID!, $t: String!) { updateJob(id: $id, input: {title: $t}) { title } }";

/// Another transaction holds the job's row (PostgreSQL) or the write lock (SQLite) for longer
/// than the replica's lock timeout (half its 2 s request timeout): the rename answers TIMEOUT
/// before the request's own deadline, says nothing of SQL, and changed nothing.
async fn a_lock_wait_past_the_timeout_answers_timeout(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let job = app.create_job(&alice, json!({"title": "before"})).await;
    let id = job["id"].as_str().unwrap().to_string();
    let replica = app
        .replica_with(|c| c.http_limits.request_timeout = Duration::from_secs(2))
        .await;
    let holder = match app.backend {
        Backend::Postgres { .. } => {
            let tx = app.db.begin().await.unwrap();
            tx.execute_unprepared(&format!("SELECT id FROM job WHERE id = '{id}' FOR UPDATE"))
                .await
                .unwrap();
            tx
        }
        Backend::Sqlite { .. } => {
            let tx = app
                .db
                .begin_with_options(sea_orm::TransactionOptions {
                    isolation_level: None,
                    access_mode: None,
                    sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
                })
                .await
                .unwrap();
            // The write lock is held from BEGIN IMMEDIATE on.
            tx
        }
    };
    let started = Instant::now();
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("http://{}/graphql", replica.addr))
        .bearer_auth(app.token(&alice))
        .json(&json!({"query": RENAME, "variables": {"id": id, "t": "after"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let waited = started.elapsed();
    holder.rollback().await.unwrap();
    let error = &answer["errors"][0];
    assert_eq!(error["extensions"]["code"], "TIMEOUT", "{answer}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("the database did not finish"),
        "the database's timeout, not the request's: {message}"
    );
    for internal in [
        "SQL",
        "sqlx",
        "canceling",
        "lock_timeout",
        "database is locked",
    ] {
        assert!(!message.contains(internal), "no internals: {message}");
    }
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_millis(1900),
        "ended by the 1 s lock timeout, before the 2 s request timeout: {waited:?}"
    );
    // Nothing changed: the job keeps its title, and renaming it now works.
    let read = app
        .ok(
            &alice,
            "query($id: ID!) { job(id: $id) { title } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(read["job"]["title"], "before");
    app.ok(&alice, RENAME, json!({"id": id, "t": "after"}))
        .await;
}

/// Three replicas migrate an empty PostgreSQL database at once: all succeed, and each
/// migration is recorded once. (SQLite is one process's file: nothing to race.)
async fn replicas_starting_together_migrate_once(app: TestApp) {
    let Backend::Postgres { admin_url, .. } = &app.backend else {
        return;
    };
    let admin = sea_orm::Database::connect(admin_url.as_str())
        .await
        .unwrap();
    let name = format!("jobgraph_migrate_{}", uuid::Uuid::now_v7().simple());
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .unwrap();
    let url = format!("{}/{name}", app.url.rsplit_once('/').unwrap().0);
    let mut replicas = Vec::new();
    for _ in 0..3 {
        let url = url.clone();
        replicas.push(tokio::spawn(async move {
            let db = jobgraph::db::connect(&url, 2).await.unwrap();
            let outcome = jobgraph::db::migrate(&db).await;
            db.close().await.ok();
            outcome
        }));
    }
    for replica in replicas {
        replica.await.unwrap().expect("every replica comes up");
    }
    let db = jobgraph::db::connect(&url, 2).await.unwrap();
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT version, COUNT(*) AS n FROM seaql_migrations GROUP BY version",
        ))
        .await
        .unwrap();
    assert!(
        rows.len() > 5,
        "the migrations ran: {} recorded",
        rows.len()
    );
    for row in &rows {
        assert_eq!(
            row.try_get::<i64>("", "n").unwrap(),
            1,
            "each migration once"
        );
    }
    db.close().await.ok();
    admin
        .execute_unprepared(&format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
        .await
        .ok();
}
