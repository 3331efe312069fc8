//! Benchmark of the executor (not a test: it measures and prints), against the real server
//! binary over HTTP, on SQLite and (given a URL) PostgreSQL.
//!
//!     cargo build --release && cargo run --release --example bench_exec -- \
//!         [--jobs 2000] [--workers 32] [--postgres-url postgres://user@host/db] [--keys-only]
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
//!
//! On PostgreSQL, on the same server after those:
//! - concurrency keys: claim + complete of N jobs spread over 100 keys, each with
//!   `setConcurrencyLimit(limit: 5)`, beside N jobs without keys, for limit 1 and 10: jobs per
//!   second, claim latency p50/p99, the claims that came back empty while work was left, and
//!   the ratio keyed / keyless (both drains poll on an empty claim until every job is done);
//! - agent liveness: one agent holds 100 leases; one `heartbeatAgent` against 100
//!   `heartbeatJob` calls for the same leases, one after another and all at once: the median
//!   time of 9 rounds (after a warm-up) and the ratio.

#[path = "support/measure.rs"]
mod measure;
#[path = "support/server.rs"]
mod server;

use jobgraph::auth::{Actor, Role, TokenKeys};
use measure::{graphql, percentile};
use serde_json::{Value, json};
use server::Server;
use sqlx::{Any, Row};
use std::sync::Arc;
use std::time::Instant;
use uuid::Uuid;

const SECRET: &str = "bench-exec-secret-0123456789abcdef";
const TENANT: &str = "bench";
/// The raw twin works in a tenant of its own, so each side drains only its own jobs.
const RAW_TENANT: &str = "bench-raw";
/// The concurrency-key phase: jobs spread over this many keys, each limited to `KEY_LIMIT`.
const KEYS: usize = 100;
const KEY_LIMIT: i32 = 5;
/// The heartbeat phase: leases held by one agent, and timed rounds (after one warm-up).
const LEASES: usize = 100;
const HEARTBEAT_ROUNDS: usize = 9;

/// The concurrency key of the `i`th key.
fn key_name(i: usize) -> String {
    format!("customer-{i:03}")
}

struct Args {
    jobs: usize,
    workers: usize,
    postgres_url: Option<String>,
    /// Only the concurrency-key phase, on PostgreSQL.
    keys_only: bool,
}

fn args() -> Args {
    let mut args = Args {
        jobs: 2000,
        workers: 32,
        postgres_url: std::env::var("JOBGRAPH_BENCH_POSTGRES_URL").ok(),
        keys_only: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--keys-only" {
            args.keys_only = true;
            continue;
        }
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

/// createJob over HTTP, `workers` at once; jobs per second. With `keys` > 0, job `i` carries
/// the concurrency key `key_name(i % keys)`.
async fn enqueue_http(server: &Server, n: usize, workers: usize, keys: usize) -> f64 {
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
                    let key = (keys > 0).then(|| key_name(i % keys));
                    graphql(
                        &client,
                        addr,
                        &token,
                        "mutation($t: String!, $k: String) { createJob(input: {title: $t, concurrencyKey: $k}) { id } }",
                        json!({"t": format!("job {i}"), "k": key}),
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
/// latencies in ms, sorted). A worker stops at its first empty claim.
async fn drain_http(server: &Server, n: usize, workers: usize, limit: i32) -> (f64, Vec<f64>) {
    let drained = drain_http_with(server, n, workers, limit, false).await;
    (drained.rate, drained.latencies)
}

/// What a drain measured.
struct Drained {
    /// Jobs per second.
    rate: f64,
    /// Every claim's latency in ms, sorted.
    latencies: Vec<f64>,
    /// Claims that came back empty while jobs were left (patient drains only).
    empty_claims: usize,
}

/// The drain of `drain_http`. `patient`: a worker stops only once all `n` jobs are done, and
/// after an empty claim (every job left is running, or its key is at its limit) claims again
/// 2 ms later, as a polling worker would, instead of leaving.
async fn drain_http_with(
    server: &Server,
    n: usize,
    workers: usize,
    limit: i32,
    patient: bool,
) -> Drained {
    let client = reqwest::Client::new();
    let finished = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let (client, addr, finished) = (client.clone(), server.addr, finished.clone());
            let token = token(&format!("worker-{w}"), Role::Agent);
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let (mut done, mut empty) = (0usize, 0usize);
                loop {
                    if patient && finished.load(std::sync::atomic::Ordering::Relaxed) >= n {
                        return (done, latencies, empty);
                    }
                    let t = Instant::now();
                    let claimed = graphql(&client, addr, &token, "mutation($n: Int) { claimJobs(limit: $n, leaseSeconds: 300) { id attempt } }", json!({"n": limit})).await;
                    latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                    let jobs = claimed["claimJobs"].as_array().cloned().unwrap_or_default();
                    if jobs.is_empty() {
                        if !patient {
                            return (done, latencies, empty);
                        }
                        if finished.load(std::sync::atomic::Ordering::Relaxed) < n {
                            empty += 1;
                            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                        }
                        continue;
                    }
                    for j in jobs {
                        graphql(&client, addr, &token, "mutation($id: UUID!, $a: Int) { completeJob(id: $id, attempt: $a) { id } }", json!({"id": j["id"], "a": j["attempt"]})).await;
                        done += 1;
                        finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let mut total = 0;
    let mut latencies = Vec::new();
    let mut empty_claims = 0;
    for t in tasks {
        let (done, l, empty) = t.await.unwrap();
        total += done;
        latencies.extend(l);
        empty_claims += empty;
    }
    assert_eq!(total, n, "every job done once");
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    Drained {
        rate: n as f64 / started.elapsed().as_secs_f64(),
        latencies,
        empty_claims,
    }
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

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    percentile(&values, 0.5)
}

/// Claim + complete of `n` jobs spread over `KEYS` concurrency keys, each limited to
/// `KEY_LIMIT`, beside `n` jobs without keys, at limit 1 and 10, on the same server. Both drains
/// are patient (a worker leaves only when every job is done), so a claim that finds every key
/// left at its limit polls again instead of ending its worker.
async fn keys_phase(server: &Server, n: usize, w: usize) {
    let client = reqwest::Client::new();
    let admin = token("admin", Role::Admin);
    for k in 0..KEYS {
        graphql(
            &client,
            server.addr,
            &admin,
            "mutation($k: String!, $l: Int) { setConcurrencyLimit(key: $k, limit: $l) { key } }",
            json!({"k": key_name(k), "l": KEY_LIMIT}),
        )
        .await;
    }
    println!(
        "\n| claim + complete, concurrency keys | limit | jobs/s | claim p50 ms | claim p99 ms | empty claims | ratio |\n|---|---|---|---|---|---|---|"
    );
    for limit in [1, 10] {
        enqueue_http(server, n, w, 0).await;
        let keyless = drain_http_with(server, n, w, limit, true).await;
        enqueue_http(server, n, w, KEYS).await;
        let keyed = drain_http_with(server, n, w, limit, true).await;
        println!(
            "| no keys | {limit} | {:.0} | {:.1} | {:.1} | {} | 1 |",
            keyless.rate,
            percentile(&keyless.latencies, 0.5),
            percentile(&keyless.latencies, 0.99),
            keyless.empty_claims
        );
        println!(
            "| {KEYS} keys, limit {KEY_LIMIT} each | {limit} | {:.0} | {:.1} | {:.1} | {} | {:.2}x no keys |",
            keyed.rate,
            percentile(&keyed.latencies, 0.5),
            percentile(&keyed.latencies, 0.99),
            keyed.empty_claims,
            keyed.rate / keyless.rate
        );
    }
}

/// One `heartbeatAgent` covering `LEASES` leases against `LEASES` `heartbeatJob` calls for the
/// same leases, one after another and all at once: the median of `HEARTBEAT_ROUNDS` rounds.
async fn heartbeat_phase(server: &Server, w: usize) {
    let client = reqwest::Client::new();
    let holder = token("lease-holder", Role::Agent);
    let addr = server.addr;
    enqueue_http(server, LEASES, w, 0).await;
    let claimed = graphql(
        &client,
        addr,
        &holder,
        "mutation($n: Int) { claimJobs(limit: $n, leaseSeconds: 300) { id attempt } }",
        json!({"n": LEASES}),
    )
    .await["claimJobs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(claimed.len(), LEASES, "one agent holds every lease");
    let one_job = |j: &Value| {
        graphql(
            &client,
            addr,
            &holder,
            "mutation($id: UUID!, $a: Int) { heartbeatJob(id: $id, attempt: $a, leaseSeconds: 300) { status } }",
            json!({"id": j["id"], "a": j["attempt"]}),
        )
    };
    let (mut agent, mut serial, mut parallel) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..=HEARTBEAT_ROUNDS {
        let t = Instant::now();
        let beat = graphql(
            &client,
            addr,
            &holder,
            "mutation { heartbeatAgent(leaseSeconds: 300) { extended cancelling } }",
            json!({}),
        )
        .await;
        let agent_ms = t.elapsed().as_secs_f64() * 1000.0;
        assert_eq!(beat["heartbeatAgent"]["extended"], LEASES, "{beat}");
        let t = Instant::now();
        for j in &claimed {
            one_job(j).await;
        }
        let serial_ms = t.elapsed().as_secs_f64() * 1000.0;
        let t = Instant::now();
        futures_util::future::join_all(claimed.iter().map(&one_job)).await;
        let parallel_ms = t.elapsed().as_secs_f64() * 1000.0;
        if round > 0 {
            agent.push(agent_ms);
            serial.push(serial_ms);
            parallel.push(parallel_ms);
        }
    }
    let agent = median(agent);
    println!(
        "\n| heartbeat {LEASES} leases, median of {HEARTBEAT_ROUNDS} | ms | ratio |\n|---|---|---|"
    );
    println!("| one heartbeatAgent | {agent:.1} | 1 |");
    for (what, ms) in [
        ("one after another", median(serial)),
        ("all at once", median(parallel)),
    ] {
        println!(
            "| {LEASES} heartbeatJob, {what} | {ms:.1} | {:.1}x heartbeatAgent |",
            ms / agent
        );
    }
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
    if args.keys_only {
        keys_phase(&server, args.jobs, args.workers).await;
        return;
    }
    let raw = Arc::new(Raw::connect(url).await);
    let (n, w) = (args.jobs, args.workers);

    let ours = enqueue_http(&server, n, w, 0).await;
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
            enqueue_http(&server, n, w, 0).await;
            enqueue_raw(&raw, n, w).await;
        }
    }
    if raw.postgres {
        keys_phase(&server, n, w).await;
        heartbeat_phase(&server, w).await;
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
    if !args.keys_only {
        run_backend("SQLite", &sqlite, &args).await;
    }
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
