//! Benchmark of the work graph (not a test: it measures and prints).
//!
//! For each backend, on a fresh database: the time to add an edge to a 10,000-task chain and to
//! a wide graph (one task with 10,000 successors) — where the cycle check has to walk the whole
//! reachable set, where it finds the cycle and spells it out, and where it has nothing to walk —
//! and the latency of the `blocked: false` filter over 100,000 tasks, half of them blocked.
//!
//!     cargo run --release --example bench_graph -- [--repeat 20]
//!         [--postgres-url postgres://user@host/db]   (or JOBGRAPH_BENCH_POSTGRES_URL)

use jobgraph::auth::{Actor, Role};
use jobgraph::domain::time::Clock;
use jobgraph::graphql::{SchemaLimits, build_schema, context};
use jobgraph::services::{Limits, Services};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait};
use serde_json::{Value, json};
use std::time::Instant;
use uuid::Uuid;

const TENANT: &str = "bench";
const BATCH: usize = 500;

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{cpu}, {cores} cores, {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

fn task_row(id: Uuid, n: usize, created: i64, agent: Option<String>) -> entity::task::ActiveModel {
    let title = format!("task {n}");
    entity::task::ActiveModel {
        id: sea_orm::Set(id),
        tenant_id: sea_orm::Set(TENANT.into()),
        parent_id: sea_orm::Set(None),
        search_title: sea_orm::Set(title.clone()),
        title: sea_orm::Set(title),
        description: sea_orm::Set(None),
        labels: sea_orm::Set(json!([])),
        status: sea_orm::Set(entity::status::TaskStatus::Open),
        priority: sea_orm::Set(1 + (n % 100) as i32),
        version: sea_orm::Set(1),
        created_by: sea_orm::Set("seeder".into()),
        created_at: sea_orm::Set(created),
        updated_at: sea_orm::Set(created),
        due_at: sea_orm::Set(None),
        started_at: sea_orm::Set(None),
        completed_at: sea_orm::Set(None),
        cancel_reason: sea_orm::Set(None),
        assigned_agent: sea_orm::Set(agent),
        delegation_chain: sea_orm::Set(json!([])),
        execution_context: sea_orm::Set(json!({})),
        estimated_cost: sea_orm::Set(None),
        actual_cost: sea_orm::Set(0),
        checkpoint_data: sea_orm::Set(None),
        last_completed_step: sea_orm::Set(None),
        timeout_seconds: sea_orm::Set(None),
        plan_id: sea_orm::Set(None),
        plan_step_index: sea_orm::Set(None),
    }
}

fn edge(p: Uuid, s: Uuid, created: i64) -> entity::task_dependency::ActiveModel {
    entity::task_dependency::ActiveModel {
        predecessor_id: sea_orm::Set(p),
        successor_id: sea_orm::Set(s),
        tenant_id: sea_orm::Set(TENANT.into()),
        dependency_type: sea_orm::Set(entity::status::DependencyType::FinishToStart),
        created_at: sea_orm::Set(created),
    }
}

/// Inserts tasks and edges straight into the tables, 500 rows a statement.
async fn seed(
    db: &DatabaseConnection,
    tasks: Vec<entity::task::ActiveModel>,
    edges: Vec<entity::task_dependency::ActiveModel>,
) {
    let tx = sea_orm::TransactionTrait::begin(db).await.expect("begin");
    let mut tasks = tasks.into_iter().peekable();
    while tasks.peek().is_some() {
        let chunk: Vec<_> = tasks.by_ref().take(BATCH).collect();
        entity::task::Entity::insert_many(chunk)
            .exec(&tx)
            .await
            .expect("tasks");
    }
    let mut edges = edges.into_iter().peekable();
    while edges.peek().is_some() {
        let chunk: Vec<_> = edges.by_ref().take(BATCH).collect();
        entity::task_dependency::Entity::insert_many(chunk)
            .exec(&tx)
            .await
            .expect("edges");
    }
    tx.commit().await.expect("commit");
    db.execute_unprepared("ANALYZE").await.expect("analyze");
}

/// Makes the i-th request of a timed case.
type Request = Box<dyn Fn(usize) -> (String, Value)>;

struct Bench {
    services: Services,
    schema: jobgraph::graphql::AppSchema,
    actor: Actor,
}

impl Bench {
    async fn run(&self, query: &str, variables: Value) -> async_graphql::Response {
        let request = async_graphql::Request::new(query)
            .variables(async_graphql::Variables::from_json(variables));
        self.schema
            .execute(context::for_actor(
                request,
                &self.services,
                self.actor.clone(),
            ))
            .await
    }

    /// Median and p95 (ms) of `repeat` runs of `make()`'s request; `expect` is the error code
    /// each run must answer (None: success).
    async fn time(
        &self,
        repeat: usize,
        expect: Option<&str>,
        make: impl Fn(usize) -> (String, Value),
    ) -> (f64, f64) {
        let mut samples = Vec::with_capacity(repeat);
        for i in 0..=repeat {
            let (q, v) = make(i);
            let t = Instant::now();
            let r = self.run(&q, v).await;
            let elapsed = t.elapsed().as_secs_f64() * 1000.0;
            let code = r
                .errors
                .first()
                .and_then(|e| e.extensions.as_ref())
                .and_then(|x| x.get("code"))
                .map(|c| c.to_string());
            match expect {
                None => assert!(r.errors.is_empty(), "{:?}", r.errors),
                Some(want) => assert_eq!(
                    code.as_deref(),
                    Some(format!("\"{want}\"").as_str()),
                    "{:?}",
                    r.errors
                ),
            }
            if i > 0 {
                samples.push(elapsed); // run 0 warms the caches
            }
        }
        samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let p = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
        (p(0.5), p(0.95))
    }
}

async fn measure(backend: &str, url: &str, repeat: usize) {
    let db = jobgraph::db::connect(url, 8).await.expect("connect");
    jobgraph::db::migrate(&db).await.expect("migrate");
    let services = Services::new(
        db.clone(),
        Limits::default(),
        Clock::system(),
        jobgraph::events::bus_for(&db, 1024),
    );
    let schema = build_schema(services.clone(), SchemaLimits::default());
    let bench = Bench {
        services,
        schema,
        actor: Actor::new("root", TENANT, vec![Role::Admin]),
    };
    let now = chrono::Utc::now().timestamp_micros();

    // A chain of 10,000 tasks and a hub with 10,000 successors, plus spare tasks to link.
    let chain: Vec<Uuid> = (0..10_000).map(|_| Uuid::now_v7()).collect();
    let hub = Uuid::now_v7();
    let spokes: Vec<Uuid> = (0..10_000).map(|_| Uuid::now_v7()).collect();
    let spare: Vec<Uuid> = (0..(4 * repeat + 8)).map(|_| Uuid::now_v7()).collect();
    let tasks: Vec<_> = chain
        .iter()
        .chain(std::iter::once(&hub))
        .chain(spokes.iter())
        .chain(spare.iter())
        .enumerate()
        .map(|(n, id)| task_row(*id, n, now + n as i64, None))
        .collect();
    let mut edges: Vec<_> = chain.windows(2).map(|w| edge(w[0], w[1], now)).collect();
    edges.extend(spokes.iter().map(|s| edge(hub, *s, now)));
    let t = Instant::now();
    seed(&db, tasks, edges).await;
    println!(
        "\n{backend}: seeded a 10,000-task chain and a 10,000-successor hub in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    println!("| edge added | median ms | p95 ms |");
    println!("|---|---|---|");
    let add = "mutation($p: UUID!, $s: UUID!) { addTaskDependency(predecessorId: $p, successorId: $s) { type } }";
    let mut spare_iter = spare.clone().into_iter();
    let mut next = || spare_iter.next().expect("spare task");
    let heads: Vec<Uuid> = (0..=repeat).map(|_| next()).collect();
    let cases: Vec<(&str, Option<&str>, Request)> = vec![
        (
            "new → chain head (walks all 10,000 below)",
            None,
            Box::new({
                let heads = heads.clone();
                let first = chain[0];
                move |i| (add.to_string(), json!({"p": heads[i], "s": first}))
            }),
        ),
        (
            "chain tail → chain head (cycle of 10,000, spelled out)",
            Some("CYCLE_DETECTED"),
            Box::new({
                let (first, last) = (chain[0], chain[chain.len() - 1]);
                move |_| (add.to_string(), json!({"p": last, "s": first}))
            }),
        ),
        (
            "chain tail → new (nothing below to walk)",
            None,
            Box::new({
                let tails: Vec<Uuid> = (0..=repeat).map(|_| next()).collect();
                let last = chain[chain.len() - 1];
                move |i| (add.to_string(), json!({"p": last, "s": tails[i]}))
            }),
        ),
        (
            "new → hub (walks 10,000 successors)",
            None,
            Box::new({
                let news: Vec<Uuid> = (0..=repeat).map(|_| next()).collect();
                move |i| (add.to_string(), json!({"p": news[i], "s": hub}))
            }),
        ),
        (
            "spoke → hub (2-node cycle in a wide graph)",
            Some("CYCLE_DETECTED"),
            Box::new({
                let spoke = spokes[5_000];
                move |_| (add.to_string(), json!({"p": spoke, "s": hub}))
            }),
        ),
    ];
    for (name, expect, make) in cases {
        let (median, p95) = bench.time(repeat, expect, make).await;
        println!("| {name} | {median:.2} | {p95:.2} |");
    }

    // 100,000 tasks: 50,000 blocked behind open predecessors, 1 in 100 assigned to agent-7.
    let base: Vec<Uuid> = (0..100_000).map(|_| Uuid::now_v7()).collect();
    let tasks: Vec<_> = base
        .iter()
        .enumerate()
        .map(|(i, id)| {
            task_row(
                *id,
                100_000 + i,
                now + 20_000 + i as i64,
                (i % 100 == 0).then(|| "agent-7".to_string()),
            )
        })
        .collect();
    let edges: Vec<_> = base
        .chunks(2)
        .map(|pair| edge(pair[0], pair[1], now))
        .collect();
    let t = Instant::now();
    seed(&db, tasks, edges).await;
    println!(
        "\n{backend}: seeded 100,000 more tasks (half blocked) in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    println!("| query | median ms | p95 ms |");
    println!("|---|---|---|");
    let reads: [(&str, &str); 3] = [
        (
            "tasks(blocked: false, first: 50)",
            "{ tasks(first: 50, filter: {blocked: false}) { nodes { id } } }",
        ),
        (
            "tasks(blocked: true, first: 50)",
            "{ tasks(first: 50, filter: {blocked: true}) { nodes { id } } }",
        ),
        (
            "my next unblocked task (agent, OPEN, priority)",
            "{ tasks(first: 1, orderBy: {field: PRIORITY, direction: DESC}, filter: {assignedAgent: \"agent-7\", status: [OPEN], blocked: false}) { nodes { id } } }",
        ),
    ];
    for (name, q) in reads {
        let (median, p95) = bench
            .time(repeat, None, |_| (q.to_string(), json!({})))
            .await;
        println!("| {name} | {median:.2} | {p95:.2} |");
    }
    db.close().await.ok();
}

#[tokio::main]
async fn main() {
    let mut repeat = 20;
    let mut postgres_url = std::env::var("JOBGRAPH_BENCH_POSTGRES_URL").ok();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--repeat" => repeat = value.parse().expect("--repeat: a number"),
            "--postgres-url" => postgres_url = Some(value),
            other => panic!("unknown flag {other}"),
        }
    }
    println!("jobgraph graph benchmark — {}", machine());
    println!(
        "repeats per case: {repeat} (after one warm-up run); through the GraphQL schema, no HTTP"
    );
    let path = std::env::temp_dir().join(format!("jobgraph-bench-{}.db", Uuid::now_v7().simple()));
    measure(
        "SQLite",
        &format!("sqlite:{}?mode=rwc", path.display()),
        repeat,
    )
    .await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    if let Some(admin_url) = postgres_url {
        let database = format!("jobgraph_bench_{}", Uuid::now_v7().simple());
        let admin = sea_orm::Database::connect(&admin_url)
            .await
            .expect("connect to PostgreSQL");
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{database}\""))
            .await
            .expect("create database");
        let url = match admin_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{database}"),
            None => panic!("--postgres-url needs a database path"),
        };
        measure("PostgreSQL", &url, repeat).await;
        admin
            .execute_unprepared(&format!("DROP DATABASE \"{database}\" WITH (FORCE)"))
            .await
            .ok();
    } else {
        println!(
            "\n(PostgreSQL not measured: pass --postgres-url or set JOBGRAPH_BENCH_POSTGRES_URL)"
        );
    }
}
