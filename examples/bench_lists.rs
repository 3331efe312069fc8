//! Benchmark of the list API at 10,000 and 1,000,000 jobs (not a test: it measures and prints).
//!
//! For each backend and size it makes a fresh database, runs the migrations, seeds one tenant
//! with that many jobs straight into the tables (plus a second tenant with a tenth as many, so
//! that tenant scoping does real work), then times, through the GraphQL schema and services:
//! page 1, a deep page (after a cursor near the end), a filtered page, and `totalCount`.
//!
//!     cargo run --release --example bench_lists -- [--sizes 10000,1000000] [--repeat 30]
//!         [--postgres-url postgres://user@host/db]   (or JOBGRAPH_BENCH_POSTGRES_URL)
//!
//! Without a PostgreSQL URL only SQLite is measured. The PostgreSQL user must be allowed to
//! create databases; each run creates and drops its own.

use jobgraph::auth::{Actor, Role};
use jobgraph::domain::time::Clock;
use jobgraph::graphql::{SchemaLimits, build_schema, context};
use jobgraph::services::paging::{Ordering, Position, SortDirection};
use jobgraph::services::{Limits, Services};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use uuid::Uuid;

const TENANT: &str = "bench";
const BATCH: usize = 500;

struct Args {
    sizes: Vec<usize>,
    repeat: usize,
    postgres_url: Option<String>,
}

fn args() -> Args {
    let mut args = Args {
        sizes: vec![10_000, 1_000_000],
        repeat: 30,
        postgres_url: std::env::var("JOBGRAPH_BENCH_POSTGRES_URL").ok(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--sizes" => {
                args.sizes = value
                    .split(',')
                    .map(|s| s.trim().parse().expect("--sizes: numbers"))
                    .collect()
            }
            "--repeat" => args.repeat = value.parse().expect("--repeat: a number"),
            "--postgres-url" => args.postgres_url = Some(value),
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().next().map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<u64>()
                    .unwrap_or(0)
            })
        })
        .map_or("? GiB".to_string(), |kb| {
            format!("{:.0} GiB", kb as f64 / 1_048_576.0)
        });
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "{cpu}, {cores} cores, {mem} RAM, {} {}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// A small deterministic generator (xorshift), so every run seeds the same data.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const STATUSES: [(&str, u64); 5] = [
    ("SUCCEEDED", 70),
    ("PENDING", 10),
    ("RUNNING", 10),
    ("FAILED", 5),
    ("SCHEDULED", 5),
];

fn status(rng: &mut Rng) -> &'static str {
    let mut roll = rng.next() % 100;
    for (s, weight) in STATUSES {
        if roll < weight {
            return s;
        }
        roll -= weight;
    }
    "SUCCEEDED"
}

/// Inserts `n` jobs for `tenant` in multi-row statements, 500 rows at a time.
async fn seed(db: &DatabaseConnection, tenant: &str, n: usize, seed: u64) -> Duration {
    let started = Instant::now();
    let mut rng = Rng(seed);
    let base_us = chrono::Utc::now().timestamp_micros() - (n as i64) * 1_000_000;
    let mut done = 0;
    while done < n {
        let count = BATCH.min(n - done);
        let mut jobs = Vec::with_capacity(count);
        let mut labels = Vec::new();
        for i in 0..count {
            let k = done + i;
            let id = Uuid::now_v7();
            let created = base_us + (k as i64) * 1_000_000 + (rng.next() % 1000) as i64;
            let st = status(&mut rng);
            let priority = 1 + (rng.next() % 100) as i32;
            let title = format!("job {k} of {tenant}");
            let started_at =
                matches!(st, "RUNNING" | "SUCCEEDED" | "FAILED").then_some(created + 5_000_000);
            let label = if k % 10 == 0 {
                vec!["gpu".to_string()]
            } else {
                vec![]
            };
            for l in &label {
                labels.push(entity::job_label::ActiveModel {
                    job_id: sea_orm::Set(id),
                    label: sea_orm::Set(l.clone()),
                    tenant_id: sea_orm::Set(tenant.to_string()),
                });
            }
            jobs.push(entity::job::ActiveModel {
                id: sea_orm::Set(id),
                tenant_id: sea_orm::Set(tenant.to_string()),
                search_title: sea_orm::Set(title.to_lowercase()),
                title: sea_orm::Set(title),
                description: sea_orm::Set(None),
                labels: sea_orm::Set(json!(label)),
                status: sea_orm::Set(entity::status::JobStatus::parse(st).expect("a status")),
                priority: sea_orm::Set(priority),
                version: sea_orm::Set(1),
                created_by: sea_orm::Set("seeder".into()),
                created_at: sea_orm::Set(created),
                updated_at: sea_orm::Set(created),
                run_at: sea_orm::Set((st == "SCHEDULED").then_some(created + 3_600_000_000)),
                cron: sea_orm::Set(None),
                started_at: sea_orm::Set(started_at),
                finished_at: sea_orm::Set(None),
                result: sea_orm::Set(None),
                error: sea_orm::Set(None),
                cancel_reason: sea_orm::Set(None),
                cancel_requested_at: sea_orm::Set(None),
                execution_context: sea_orm::Set(json!({})),
                estimated_cost: sea_orm::Set(Some((rng.next() % 10_000) as i64 * 1_000_000)),
                actual_cost: sea_orm::Set(0),
                assigned_agent: sea_orm::Set(None),
                delegation_chain: sea_orm::Set(json!([])),
                checkpoint_data: sea_orm::Set(None),
                last_completed_step: sea_orm::Set(None),
                timeout_seconds: sea_orm::Set(None),
                plan_id: sea_orm::Set(None),
                plan_step_index: sea_orm::Set(None),
                retry_max_attempts: sea_orm::Set(1),
                retry_initial_backoff_seconds: sea_orm::Set(10),
                retry_backoff_multiplier: sea_orm::Set(2.0),
                retry_max_backoff_seconds: sea_orm::Set(300),
                attempt: sea_orm::Set(0),
                series: sea_orm::Set(1),
                lease_expires_at: sea_orm::Set(None),
                lease_seconds: sea_orm::Set(None),
                idempotency_key: sea_orm::Set(None),
                concurrency_key: sea_orm::Set(None),
                released_attempts: sea_orm::Set(0),
                limit_max_tokens: sea_orm::Set(None),
                limit_max_cost: sea_orm::Set(None),
            });
        }
        let tx = sea_orm::TransactionTrait::begin(db).await.expect("begin");
        entity::job::Entity::insert_many(jobs)
            .exec(&tx)
            .await
            .expect("insert jobs");
        if !labels.is_empty() {
            entity::job_label::Entity::insert_many(labels)
                .exec(&tx)
                .await
                .expect("insert labels");
        }
        tx.commit().await.expect("commit");
        done += count;
    }
    // Fresh statistics, as autovacuum / a periodic ANALYZE would give a live database.
    db.execute_unprepared("ANALYZE").await.expect("analyze");
    started.elapsed()
}

struct Bench {
    services: Services,
    schema: jobgraph::graphql::AppSchema,
    actor: Actor,
}

impl Bench {
    async fn run(&self, query: &str, variables: Value) -> Value {
        let request = async_graphql::Request::new(query)
            .variables(async_graphql::Variables::from_json(variables));
        let response = self
            .schema
            .execute(context::for_actor(
                request,
                &self.services,
                self.actor.clone(),
            ))
            .await;
        assert!(response.errors.is_empty(), "{:?}", response.errors);
        response.data.into_json().expect("JSON")
    }

    /// Median and 95th percentile of `repeat` runs, in milliseconds.
    async fn time(&self, repeat: usize, query: &str, variables: Value) -> (f64, f64) {
        self.run(query, variables.clone()).await; // warm the caches once
        let mut samples: Vec<f64> = Vec::with_capacity(repeat);
        for _ in 0..repeat {
            let t = Instant::now();
            self.run(query, variables.clone()).await;
            samples.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let p = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
        (p(0.5), p(0.95))
    }
}

async fn measure(backend: &str, url: &str, size: usize, repeat: usize) {
    let db = jobgraph::db::connect(url, 8).await.expect("connect");
    jobgraph::db::migrate(&db).await.expect("migrate");
    let seeded = seed(&db, TENANT, size, 0x9e37_79b9_7f4a_7c15).await;
    seed(&db, "noise", size / 10, 42).await;
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
        actor: Actor::new("reader", TENANT, vec![Role::Viewer]),
    };

    // A cursor near the end of the default ordering (CREATED_AT DESC): the 100th-oldest row.
    let oldest = bench.run("{ jobs(orderBy: {field: CREATED_AT, direction: ASC}, first: 100) { nodes { id createdAt } } }", json!({})).await;
    let row = &oldest["jobs"]["nodes"][99];
    let created = chrono::DateTime::parse_from_rfc3339(row["createdAt"].as_str().unwrap())
        .unwrap()
        .timestamp_micros();
    let ordering = Ordering {
        list: "job",
        field: "created_at",
        column: entity::job::Column::CreatedAt,
        id_column: entity::job::Column::Id,
        nullable: false,
        direction: SortDirection::Desc,
    };
    let deep = ordering.cursor(&Position {
        value: Some(created),
        id: Uuid::parse_str(row["id"].as_str().unwrap()).unwrap(),
    });

    let page = "query($a: String, $f: JobFilter) { jobs(first: 50, after: $a, filter: $f) { nodes { id title status priority createdAt } pageInfo { hasNextPage endCursor } } }";
    let cases: [(&str, &str, Value); 5] = [
        ("page 1 (50, newest first)", page, json!({})),
        (
            "deep page (after the 100th-oldest)",
            page,
            json!({"a": deep}),
        ),
        (
            "filtered page (status RUNNING)",
            page,
            json!({"f": {"status": ["RUNNING"]}}),
        ),
        (
            "filtered page (label gpu)",
            page,
            json!({"f": {"label": "gpu"}}),
        ),
        (
            "totalCount (all jobs)",
            "{ jobs(first: 1) { totalCount } }",
            json!({}),
        ),
    ];
    println!(
        "\n{backend}, {size} jobs (+{} in another tenant), seeded in {:.1} s",
        size / 10,
        seeded.as_secs_f64()
    );
    println!("| query | median ms | p95 ms |");
    println!("|---|---|---|");
    for (name, query, vars) in cases {
        let (median, p95) = bench.time(repeat, query, vars).await;
        println!("| {name} | {median:.2} | {p95:.2} |");
    }
    db.close().await.ok();
}

#[tokio::main]
async fn main() {
    let args = args();
    println!("jobgraph list benchmark — {}", machine());
    println!(
        "repeats per query: {} (after one warm-up run); through the GraphQL schema, no HTTP",
        args.repeat
    );
    for &size in &args.sizes {
        let path =
            std::env::temp_dir().join(format!("jobgraph-bench-{}.db", Uuid::now_v7().simple()));
        measure(
            "SQLite",
            &format!("sqlite:{}?mode=rwc", path.display()),
            size,
            args.repeat,
        )
        .await;
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        if let Some(admin_url) = &args.postgres_url {
            let database = format!("jobgraph_bench_{}", Uuid::now_v7().simple());
            let admin = sea_orm::Database::connect(admin_url)
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
            measure("PostgreSQL", &url, size, args.repeat).await;
            admin
                .execute_unprepared(&format!("DROP DATABASE \"{database}\" WITH (FORCE)"))
                .await
                .ok();
        }
    }
    if args.postgres_url.is_none() {
        println!(
            "\n(PostgreSQL not measured: pass --postgres-url or set JOBGRAPH_BENCH_POSTGRES_URL)"
        );
    }
}
