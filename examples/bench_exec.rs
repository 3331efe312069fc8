//! Benchmark of the executor (not a test: it measures and prints), against the real server
//! binary over HTTP, on SQLite and (given a URL) PostgreSQL.
//!
//!     cargo build --release && cargo run --release --example bench_exec -- \
//!         [--jobs 2000] [--workers 32] [--postgres-url postgres://user@host/db]
//!         (or JOBGRAPH_BENCH_POSTGRES_URL)
//!
//! For each backend, on a fresh database:
//! - enqueue: `createJob` over HTTP with 32 concurrent clients, beside raw INSERTs of the same
//!   rows and `job.created` events through sqlx with 32 tasks;
//! - claim + complete: N jobs, 32 workers over HTTP each looping `claimJobs(limit)` then
//!   `completeJob(attempt)` until nothing is left, for limit 1 and limit 10: jobs per second
//!   and claim latency p50/p99; beside it a raw baseline written directly with sqlx doing the
//!   same transactions (the SKIP LOCKED claim of the same rows, the run insert, the status
//!   update, the event inserts under the same per-tenant lock, the NOTIFY; then the
//!   completion), and on PostgreSQL once more without the lock and the NOTIFY. The ratios show
//!   what the code costs (jobgraph against the raw twin) and what the design costs (the raw twin
//!   with and without the per-tenant event-order lock).

#[path = "support/server.rs"]
mod server;

use jobgraph::auth::{Actor, Role, TokenKeys};
use serde_json::{Value, json};
use server::Server;
use sqlx::{Any, Row};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use uuid::Uuid;

const SECRET: &str = "bench-exec-secret-0123456789abcdef";
const TENANT: &str = "bench";
/// The raw twin works in a tenant of its own, so each side drains only its own jobs.
const RAW_TENANT: &str = "bench-raw";

struct Args {
    jobs: usize,
    workers: usize,
    postgres_url: Option<String>,
}

fn args() -> Args {
    let mut args = Args {
        jobs: 2000,
        workers: 32,
        postgres_url: std::env::var("JOBGRAPH_BENCH_POSTGRES_URL").ok(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--jobs" => args.jobs = value.parse().expect("--jobs: a number"),
            "--workers" => args.workers = value.parse().expect("--workers: a number"),
            "--postgres-url" => args.postgres_url = Some(value),
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

async fn start_server(database_url: &str) -> Server {
    server::start(database_url, SECRET, "bench-exec", false).await
}

fn token(id: &str, role: Role) -> String {
    TokenKeys::new(SECRET.as_bytes())
        .mint(&Actor::new(id, TENANT, vec![role]), 86_400)
        .unwrap()
}

async fn graphql(
    client: &reqwest::Client,
    addr: SocketAddr,
    token: &str,
    query: &str,
    variables: Value,
) -> Value {
    let body: Value = client
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(token)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    assert!(body.get("errors").is_none(), "{body}");
    body["data"].clone()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}

/// createJob over HTTP, `workers` at once; jobs per second.
async fn enqueue_http(server: &Server, n: usize, workers: usize) -> f64 {
    let token = token("producer", Role::Member);
    let client = reqwest::Client::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (client, token, next, addr) =
                (client.clone(), token.clone(), next.clone(), server.addr);
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    graphql(
                        &client,
                        addr,
                        &token,
                        "mutation($t: String!) { createJob(input: {title: $t}) { id } }",
                        json!({"t": format!("job {i}")}),
                    )
                    .await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// 32 HTTP workers claiming `limit` at a time and completing with `attempt`; (jobs/s, claim
/// latencies in ms, sorted).
async fn drain_http(server: &Server, n: usize, workers: usize, limit: i32) -> (f64, Vec<f64>) {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let (client, addr) = (client.clone(), server.addr);
            let token = token(&format!("worker-{w}"), Role::Agent);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut done = 0usize;
                loop {
                    let t = Instant::now();
                    let claimed = graphql(&client, addr, &token, "mutation($n: Int) { claimJobs(limit: $n, leaseSeconds: 300) { id attempt } }", json!({"n": limit})).await;
                    latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                    let jobs = claimed["claimJobs"].as_array().cloned().unwrap_or_default();
                    if jobs.is_empty() {
                        return (done, latencies);
                    }
                    for j in jobs {
                        graphql(&client, addr, &token, "mutation($id: UUID!, $a: Int) { completeJob(id: $id, attempt: $a) { id } }", json!({"id": j["id"], "a": j["attempt"]})).await;
                        done += 1;
                    }
                }
            })
        })
        .collect();
    let mut total = 0;
    let mut latencies = Vec::new();
    for t in tasks {
        let (done, l) = t.await.unwrap();
        total += done;
        latencies.extend(l);
    }
    assert_eq!(total, n, "every job done once");
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (n as f64 / started.elapsed().as_secs_f64(), latencies)
}

/// The raw twin: the same rows and statements, written with sqlx directly.
struct Raw {
    pool: sqlx::Pool<Any>,
    postgres: bool,
}

impl Raw {
    async fn connect(url: &str) -> Self {
        sqlx::any::install_default_drivers();
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(16)
            .connect(url)
            .await
            .expect("raw connect");
        if !url.starts_with("postgres") {
            sqlx::query("PRAGMA busy_timeout = 5000")
                .execute(&pool)
                .await
                .ok();
        }
        Self {
            pool,
            postgres: url.starts_with("postgres"),
        }
    }

    /// `$n` placeholders in SQLite's spelling.
    fn sql(&self, text: &str) -> String {
        if self.postgres {
            text.to_string()
        } else {
            text.replace('$', "?")
        }
    }

    fn id(&self, id: Uuid) -> Vec<u8> {
        id.as_bytes().to_vec()
    }

    async fn begin(&self) -> sqlx::Transaction<'static, Any> {
        if self.postgres {
            self.pool.begin().await.unwrap()
        } else {
            self.pool.begin_with("BEGIN IMMEDIATE").await.unwrap()
        }
    }

    /// The per-tenant event-order lock and the NOTIFY, as jobgraph takes them.
    async fn ordered(&self, tx: &mut sqlx::Transaction<'static, Any>, with_lock: bool) {
        if self.postgres && with_lock {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(jobgraph::services::tx::lock_key(&format!(
                    "jobgraph.events:{RAW_TENANT}"
                )))
                .execute(&mut **tx)
                .await
                .unwrap();
        }
    }

    async fn notify(&self, tx: &mut sqlx::Transaction<'static, Any>, with_lock: bool) {
        if self.postgres && with_lock {
            sqlx::query("SELECT pg_notify('jobgraph_events', $1)")
                .bind(format!("0:{RAW_TENANT}"))
                .execute(&mut **tx)
                .await
                .unwrap();
        }
    }

    async fn event(
        &self,
        tx: &mut sqlx::Transaction<'static, Any>,
        kind: &str,
        job: Uuid,
        snapshot: &str,
        now: i64,
    ) {
        let cast = if self.postgres { "::jsonb" } else { "" };
        let uuid = if self.postgres { "::uuid" } else { "" };
        let q = self.sql(&format!(
            "INSERT INTO event (tenant_id, event_type, actor_id, job_id, details, snapshot, occurred_at) VALUES ($1, $2, 'raw', $3{uuid}, '{{}}'{cast}, $4{cast}, $5)"
        ));
        let query = sqlx::query(sqlx::AssertSqlSafe(q))
            .bind(RAW_TENANT)
            .bind(kind.to_string());
        let query = if self.postgres {
            query.bind(job.to_string())
        } else {
            query.bind(self.id(job))
        };
        query
            .bind(snapshot.to_string())
            .bind(now)
            .execute(&mut **tx)
            .await
            .unwrap();
    }

    fn snapshot(id: Uuid, title: &str, status: &str) -> String {
        json!({
            "id": id, "tenantId": RAW_TENANT, "title": title, "labels": [], "status": status, "priority": 50,
            "version": 1, "createdBy": "raw", "createdAt": "2026-12-01T00:00:00.000000Z",
            "updatedAt": "2026-12-01T00:00:00.000000Z", "actualCost": "0", "delegationChain": [],
            "attempt": 0, "retryPolicy": {"maxAttempts": 1, "initialBackoffSeconds": 10, "backoffMultiplier": 2.0, "maxBackoffSeconds": 300},
        })
        .to_string()
    }

    /// One enqueue: the job row and its `job.created` event, in one transaction.
    async fn enqueue(&self, i: usize) {
        let id = Uuid::now_v7();
        let now = chrono::Utc::now().timestamp_micros();
        let title = format!("raw {i}");
        let mut tx = self.begin().await;
        let (j, u) = if self.postgres {
            ("::jsonb", "::uuid")
        } else {
            ("", "")
        };
        let q = self.sql(&format!(
            "INSERT INTO job (id, tenant_id, title, search_title, labels, status, priority, version, created_by, created_at, updated_at,
                execution_context, actual_cost, delegation_chain, retry_max_attempts, retry_initial_backoff_seconds,
                retry_backoff_multiplier, retry_max_backoff_seconds, attempt, series)
             VALUES ($1{u}, $2, $3, $4, '[]'{j}, 'PENDING', 50, 1, 'raw', $5, $6, '{{}}'{j}, 0, '[]'{j}, 1, 10, 2.0, 300, 0, 1)"
        ));
        let query = sqlx::query(sqlx::AssertSqlSafe(q));
        let query = if self.postgres {
            query.bind(id.to_string())
        } else {
            query.bind(self.id(id))
        };
        query
            .bind(RAW_TENANT)
            .bind(title.clone())
            .bind(title.to_lowercase())
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await
            .unwrap();
        self.ordered(&mut tx, true).await;
        self.event(
            &mut tx,
            "job.created",
            id,
            &Self::snapshot(id, &title, "PENDING"),
            now,
        )
        .await;
        self.notify(&mut tx, true).await;
        tx.commit().await.unwrap();
    }

    /// One claim of up to `limit` jobs: locked SKIP LOCKED in claim order, each moved to
    /// RUNNING with a run and two events. Returns the claimed ids.
    async fn claim(&self, limit: i64, worker: &str, with_lock: bool) -> Vec<Uuid> {
        let now = chrono::Utc::now().timestamp_micros();
        let mut tx = self.begin().await;
        let (lock, id) = if self.postgres {
            (" FOR UPDATE SKIP LOCKED", "CAST(id AS TEXT)")
        } else {
            ("", "id")
        };
        let q = self.sql(&format!(
            "SELECT {id}, title FROM job WHERE tenant_id = $1 AND status IN ('PENDING', 'SCHEDULED')
               AND (run_at IS NULL OR run_at <= $2)
             ORDER BY priority DESC, COALESCE(run_at, created_at), id LIMIT $3{lock}"
        ));
        let rows = sqlx::query(sqlx::AssertSqlSafe(q))
            .bind(RAW_TENANT)
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await
            .unwrap();
        let mut ids = Vec::new();
        let u = if self.postgres { "::uuid" } else { "" };
        for row in rows {
            let id = if self.postgres {
                Uuid::parse_str(&row.get::<String, _>(0)).unwrap()
            } else {
                Uuid::from_slice(&row.get::<Vec<u8>, _>(0)).unwrap()
            };
            let title: String = row.get(1);
            let bind = |q: sqlx::query::Query<'static, Any, sqlx::any::AnyArguments>| {
                if self.postgres {
                    q.bind(id.to_string())
                } else {
                    q.bind(self.id(id))
                }
            };
            let upd = self.sql(&format!(
                "UPDATE job SET status = 'RUNNING', attempt = attempt + 1, started_at = $1, assigned_agent = $2,
                   lease_expires_at = $3, lease_seconds = 300, version = version + 1, updated_at = $4 WHERE id = $5{u}"
            ));
            let q = sqlx::query(sqlx::AssertSqlSafe(upd))
                .bind(now)
                .bind(worker.to_string())
                .bind(now + 300_000_000)
                .bind(now);
            bind(q).execute(&mut *tx).await.unwrap();
            let run = self.sql(&format!(
                "INSERT INTO job_run (id, job_id, tenant_id, series, attempt, status, agent, started_at, cost)
                 VALUES ($1{u}, $2{u}, $3, 1, 1, 'RUNNING', $4, $5, 0)"
            ));
            let run_id = Uuid::now_v7();
            let q = sqlx::query(sqlx::AssertSqlSafe(run));
            let q = if self.postgres {
                q.bind(run_id.to_string())
            } else {
                q.bind(self.id(run_id))
            };
            bind(q)
                .bind(RAW_TENANT)
                .bind(worker.to_string())
                .bind(now)
                .execute(&mut *tx)
                .await
                .unwrap();
            ids.push((id, title));
        }
        if !ids.is_empty() {
            self.ordered(&mut tx, with_lock).await;
            for (id, title) in &ids {
                let snap = Self::snapshot(*id, title, "RUNNING");
                self.event(&mut tx, "job.status_changed", *id, &snap, now)
                    .await;
                self.event(&mut tx, "job.started", *id, &snap, now).await;
            }
            self.notify(&mut tx, with_lock).await;
        }
        tx.commit().await.unwrap();
        ids.into_iter().map(|(id, _)| id).collect()
    }

    /// One completion: the job locked, its open run read, both closed, two events.
    async fn complete(&self, id: Uuid, with_lock: bool) {
        let now = chrono::Utc::now().timestamp_micros();
        let mut tx = self.begin().await;
        let (u, lock) = if self.postgres {
            ("::uuid", " FOR UPDATE")
        } else {
            ("", "")
        };
        let bind = |q: sqlx::query::Query<'static, Any, sqlx::any::AnyArguments>| {
            if self.postgres {
                q.bind(id.to_string())
            } else {
                q.bind(self.id(id))
            }
        };
        let q = self.sql(&format!(
            "SELECT title, version FROM job WHERE id = $1{u}{lock}"
        ));
        let row = bind(sqlx::query(sqlx::AssertSqlSafe(q)))
            .fetch_one(&mut *tx)
            .await
            .unwrap();
        let title: String = row.get(0);
        let run_id = if self.postgres {
            "CAST(id AS TEXT)"
        } else {
            "id"
        };
        let q = self.sql(&format!(
            "SELECT {run_id}, cost FROM job_run WHERE job_id = $1{u} AND status = 'RUNNING'"
        ));
        bind(sqlx::query(sqlx::AssertSqlSafe(q)))
            .fetch_optional(&mut *tx)
            .await
            .unwrap();
        let q = self.sql(&format!(
            "UPDATE job SET status = 'SUCCEEDED', finished_at = $1, lease_expires_at = NULL, version = version + 1, updated_at = $2 WHERE id = $3{u}"
        ));
        bind(sqlx::query(sqlx::AssertSqlSafe(q)).bind(now).bind(now))
            .execute(&mut *tx)
            .await
            .unwrap();
        let q = self.sql(&format!(
            "UPDATE job_run SET status = 'SUCCEEDED', finished_at = $1 WHERE job_id = $2{u} AND status = 'RUNNING'"
        ));
        bind(sqlx::query(sqlx::AssertSqlSafe(q)).bind(now))
            .execute(&mut *tx)
            .await
            .unwrap();
        self.ordered(&mut tx, with_lock).await;
        let snap = Self::snapshot(id, &title, "SUCCEEDED");
        self.event(&mut tx, "job.status_changed", id, &snap, now)
            .await;
        self.event(&mut tx, "job.succeeded", id, &snap, now).await;
        self.notify(&mut tx, with_lock).await;
        tx.commit().await.unwrap();
    }
}

async fn enqueue_raw(raw: &Arc<Raw>, n: usize, workers: usize) -> f64 {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|_| {
            let (raw, next) = (raw.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    raw.enqueue(i).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

async fn drain_raw(
    raw: &Arc<Raw>,
    n: usize,
    workers: usize,
    limit: i64,
    with_lock: bool,
) -> (f64, Vec<f64>) {
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let raw = raw.clone();
            tokio::spawn(async move {
                let worker = format!("raw-{w}");
                let mut latencies = Vec::new();
                let mut done = 0;
                loop {
                    let t = Instant::now();
                    let ids = raw.claim(limit, &worker, with_lock).await;
                    latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                    if ids.is_empty() {
                        return (done, latencies);
                    }
                    for id in ids {
                        raw.complete(id, with_lock).await;
                        done += 1;
                    }
                }
            })
        })
        .collect();
    let mut total = 0;
    let mut latencies = Vec::new();
    for t in tasks {
        let (d, l) = t.await.unwrap();
        total += d;
        latencies.extend(l);
    }
    assert_eq!(total, n);
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (n as f64 / started.elapsed().as_secs_f64(), latencies)
}

async fn run_backend(name: &str, url: &str, args: &Args) {
    println!(
        "\n### {name}: {} jobs, {} workers\n",
        args.jobs, args.workers
    );
    let db = jobgraph::db::connect(url, 4).await.expect("connect");
    jobgraph::db::migrate(&db).await.expect("migrate");
    db.close().await.ok();
    let server = start_server(url).await;
    let raw = Arc::new(Raw::connect(url).await);
    let (n, w) = (args.jobs, args.workers);

    let ours = enqueue_http(&server, n, w).await;
    let theirs = enqueue_raw(&raw, n, w).await;
    println!("| enqueue | jobs/s | ratio |\n|---|---|---|");
    println!(
        "| jobgraph createJob over HTTP | {ours:.0} | {:.2}x raw |",
        ours / theirs
    );
    println!("| raw INSERT job + event (sqlx) | {theirs:.0} | 1 |");
    // The raw jobs are drained by the raw workers, jobgraph's by jobgraph's, below.
    println!(
        "\n| claim + complete | limit | jobs/s | claim p50 ms | claim p99 ms | ratio |\n|---|---|---|---|---|---|"
    );
    for limit in [1, 10] {
        // `n` jobgraph jobs and `n` raw jobs are waiting: drain each with its own kind.
        let (raw_rate, raw_lat) = drain_raw(&raw, n, w, limit, true).await;
        let (rate, lat) = drain_http(&server, n, w, limit as i32).await;
        println!(
            "| jobgraph over HTTP | {limit} | {rate:.0} | {:.1} | {:.1} | {:.2}x raw |",
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            rate / raw_rate
        );
        println!(
            "| raw sqlx, same transactions | {limit} | {raw_rate:.0} | {:.1} | {:.1} | 1 |",
            percentile(&raw_lat, 0.5),
            percentile(&raw_lat, 0.99)
        );
        if raw.postgres {
            enqueue_raw(&raw, n, w).await;
            let (free, free_lat) = drain_raw(&raw, n, w, limit, false).await;
            println!(
                "| raw sqlx, no event lock or NOTIFY | {limit} | {free:.0} | {:.1} | {:.1} | {:.2}x raw with them |",
                percentile(&free_lat, 0.5),
                percentile(&free_lat, 0.99),
                free / raw_rate
            );
        }
        if limit == 1 {
            // Refill both queues for the next round.
            enqueue_http(&server, n, w).await;
            enqueue_raw(&raw, n, w).await;
        }
    }
    drop(server);
    raw.pool.close().await;
}

#[tokio::main]
async fn main() {
    let args = args();
    println!(
        "bench_exec: {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let dir = std::env::temp_dir().join(format!(
        "jobgraph-bench-exec-db-{}",
        Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = format!("sqlite:{}?mode=rwc", dir.join("bench.db").display());
    run_backend("SQLite", &sqlite, &args).await;
    std::fs::remove_dir_all(&dir).ok();
    if let Some(admin) = &args.postgres_url {
        use sea_orm::ConnectionTrait;
        let name = format!("jobgraph_bench_exec_{}", Uuid::now_v7().simple());
        let admin_db = sea_orm::Database::connect(admin).await.expect("PostgreSQL");
        admin_db
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create");
        let url = match admin.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("--postgres-url must name a database"),
        };
        run_backend("PostgreSQL", &url, &args).await;
        admin_db
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await
            .ok();
    }
}
