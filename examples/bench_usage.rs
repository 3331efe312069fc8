//! Benchmark of usage (DESIGN.md §6, "Usage"; not a test: it measures and prints), against the
//! real server binary over HTTP, on SQLite and (given a URL) PostgreSQL.
//!
//!     cargo build --release --bin jobgraph --example bench_usage && \
//!     target/release/examples/bench_usage [--clients 16] [--calls 4000] \
//!         [--rows 10000,1000000] [--report-calls 30] [--raw-calls 5] \
//!         [--postgres-url postgres://user@host/db]   (or JOBGRAPH_BENCH_POSTGRES_URL)
//!
//! For each backend, on a fresh database:
//! - recording: `recordJobCost` and `recordUsage` (with an amount, so it also records the cost)
//!   over HTTP, `--clients` at once, each on its own RUNNING job claimed first by an AGENT and
//!   passing `attempt`; and `recordUsage` once more on jobs with a `maxTokens` limit (each call
//!   then also sums the series' tokens). After a warm-up, two rounds in opposite orders: calls
//!   per second, latency p50/p99, and the ratio to recordJobCost.
//! - the report: `usageReport` grouped by [AGENT, DAY] and with no groupBy, over everything
//!   and from the middle of a day (so the partial day is read from the raw rows), at each of
//!   `--rows` usage rows (10,000 and 1,000,000) in a tenant of their own. The rows are seeded
//!   straight into `usage_record` with bulk INSERTs, in the shape `usage::record` writes (v7
//!   ids of the recording time, the day, amounts in nano-units), spread over 30 days, 50
//!   agents, 5 models, 3 plans and none; the rollup `usage_daily` is then rebuilt from them
//!   with one INSERT … SELECT … GROUP BY (on PostgreSQL followed by VACUUM ANALYZE, which
//!   autovacuum would do). Median and p99 of the report's latency over HTTP, beside, through
//!   sqlx, the report's own statement (rollup, plus the raw rows of the partial day) and the
//!   raw GROUP BY over `usage_record` it replaces (grouped by the model too, which `byModel`
//!   needs). The ratio is to that raw GROUP BY.

#[path = "support/measure.rs"]
mod measure;
#[path = "support/server.rs"]
mod server;

use jobgraph::auth::{Actor, Role, TokenKeys};
use measure::{graphql, percentile};
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use server::Server;
use sqlx::Row;
use std::time::{Duration, Instant};
use uuid::Uuid;

const SECRET: &str = "bench-usage-secret-0123456789abcdef";
/// The recording phase's tenant.
const TENANT: &str = "bench";
/// The report phase's tenant: only the seeded rows.
const REPORT_TENANT: &str = "bench-report";
const DAY: i64 = 86_400_000_000;
/// The seeded rows' spread.
const DAYS: i64 = 30;
const AGENTS: usize = 50;
const MODELS: [&str; 5] = [
    "claude-opus-4",
    "claude-sonnet-4",
    "gemini-2.5-pro",
    "gpt-5",
    "gpt-5-mini",
];
/// Plans besides "none".
const PLANS: usize = 3;
/// Seeded jobs (each with one run, one agent and one plan or none).
const SEED_JOBS: usize = 2000;
/// What every recording call reports.
const AMOUNT: &str = "0.0042";

struct Args {
    clients: usize,
    calls: usize,
    rows: Vec<usize>,
    report_calls: usize,
    raw_calls: usize,
    postgres_url: Option<String>,
}

fn args() -> Args {
    let mut args = Args {
        clients: 16,
        calls: 4000,
        rows: vec![10_000, 1_000_000],
        report_calls: 30,
        raw_calls: 5,
        postgres_url: std::env::var("JOBGRAPH_BENCH_POSTGRES_URL").ok(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--clients" => args.clients = value.parse().expect("--clients: a number"),
            "--calls" => args.calls = value.parse().expect("--calls: a number"),
            "--rows" => {
                args.rows = value
                    .split(',')
                    .map(|s| s.trim().parse().expect("--rows: numbers"))
                    .collect();
                args.rows.sort_unstable();
            }
            "--report-calls" => args.report_calls = value.parse().expect("--report-calls"),
            "--raw-calls" => args.raw_calls = value.parse().expect("--raw-calls"),
            "--postgres-url" => args.postgres_url = Some(value),
            other => panic!("unknown flag {other}"),
        }
    }
    assert!(
        args.clients >= 1 && args.clients <= 100,
        "--clients: 1..100"
    );
    args
}

fn token(id: &str, tenant: &str, role: Role) -> String {
    TokenKeys::new(SECRET.as_bytes())
        .mint(&Actor::new(id, tenant, vec![role]), 86_400)
        .unwrap()
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(|a, b| a.partial_cmp(b).unwrap());
    values
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// 1234567 as "1,234,567".
fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Recording over HTTP.

/// What the recording phase measures.
#[derive(Clone, Copy, PartialEq)]
enum Call {
    Cost,
    Usage,
    /// recordUsage on a job with a maxTokens limit.
    LimitedUsage,
}

impl Call {
    fn name(self) -> &'static str {
        match self {
            Self::Cost => "recordJobCost",
            Self::Usage => "recordUsage (with amount)",
            Self::LimitedUsage => "recordUsage, job with maxTokens",
        }
    }
}

/// A RUNNING job and the attempt its claim returned.
#[derive(Clone)]
struct Lease {
    id: Value,
    attempt: Value,
}

/// `n` new jobs (with a maxTokens limit far above what the bench records, if `limited`),
/// claimed at once by `agent`.
async fn running_jobs(server: &Server, agent: &str, n: usize, limited: bool) -> Vec<Lease> {
    let client = reqwest::Client::new();
    let producer = token("producer", TENANT, Role::Member);
    for i in 0..n {
        let limits = limited.then(|| json!({"maxTokens": 1_000_000_000_000_000i64}));
        graphql(
            &client,
            server.addr,
            &producer,
            "mutation($t: String!, $l: JobLimitsInput) { createJob(input: {title: $t, limits: $l}) { id } }",
            json!({"t": format!("usage bench {i}"), "l": limits}),
        )
        .await;
    }
    let claimed = graphql(
        &client,
        server.addr,
        &token(agent, TENANT, Role::Agent),
        "mutation($n: Int) { claimJobs(limit: $n, leaseSeconds: 3600) { id attempt status } }",
        json!({"n": n}),
    )
    .await["claimJobs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(claimed.len(), n, "every job claimed");
    claimed
        .into_iter()
        .map(|j| {
            assert_eq!(j["status"], "RUNNING");
            Lease {
                id: j["id"].clone(),
                attempt: j["attempt"].clone(),
            }
        })
        .collect()
}

/// `calls` calls of `call`, one client per lease, each on its own job; (seconds, latencies).
async fn record_calls(
    server: &Server,
    agent: &str,
    leases: &[Lease],
    call: Call,
    calls: usize,
) -> (f64, Vec<f64>) {
    let client = reqwest::Client::new();
    let token = token(agent, TENANT, Role::Agent);
    let per_client = calls.div_ceil(leases.len());
    let started = Instant::now();
    let tasks: Vec<_> = leases
        .iter()
        .cloned()
        .map(|lease| {
            let (client, token, addr) = (client.clone(), token.clone(), server.addr);
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_client);
                for i in 0..per_client {
                    let (query, variables) = match call {
                        Call::Cost => (
                            "mutation($id: UUID!, $a: Int, $x: Decimal!) { recordJobCost(id: $id, amount: $x, attempt: $a) { id } }",
                            json!({"id": lease.id, "a": lease.attempt, "x": AMOUNT}),
                        ),
                        Call::Usage | Call::LimitedUsage => (
                            "mutation($id: UUID!, $a: Int, $u: UsageInput!) { recordUsage(id: $id, usage: $u, attempt: $a) { id } }",
                            json!({"id": lease.id, "a": lease.attempt, "u": {
                                "model": MODELS[i % MODELS.len()], "inputTokens": 1200,
                                "cachedInputTokens": 300, "outputTokens": 400, "toolCalls": 2,
                                "amount": AMOUNT,
                            }}),
                        ),
                    };
                    let t = Instant::now();
                    graphql(&client, addr, &token, query, variables).await;
                    latencies.push(ms(t));
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.unwrap());
    }
    (started.elapsed().as_secs_f64(), latencies)
}

async fn recording_phase(server: &Server, args: &Args) {
    let agent = "usage-agent";
    let plain = running_jobs(server, agent, args.clients, false).await;
    let limited = running_jobs(server, agent, args.clients, true).await;
    let leases = |call: Call| {
        if call == Call::LimitedUsage {
            &limited
        } else {
            &plain
        }
    };
    let all = [Call::Cost, Call::Usage, Call::LimitedUsage];
    for call in all {
        record_calls(server, agent, leases(call), call, args.clients * 10).await;
    }
    // Two rounds in opposite orders, half the calls each.
    let mut measured: Vec<(Call, f64, Vec<f64>)> =
        all.iter().map(|&c| (c, 0.0, Vec::new())).collect();
    for round in 0..2 {
        let mut order = all;
        if round == 1 {
            order.reverse();
        }
        for call in order {
            let (secs, latencies) =
                record_calls(server, agent, leases(call), call, args.calls / 2).await;
            let m = measured.iter_mut().find(|m| m.0 == call).unwrap();
            m.1 += secs;
            m.2.extend(latencies);
        }
    }
    println!(
        "| recording, {} clients over HTTP, each on its own RUNNING job | calls | calls/s | p50 ms | p99 ms | ratio |\n|---|---|---|---|---|---|",
        args.clients
    );
    let base = measured[0].2.len() as f64 / measured[0].1;
    for (call, secs, latencies) in measured {
        let rate = latencies.len() as f64 / secs;
        let latencies = sorted(latencies);
        let ratio = if call == Call::Cost {
            "1".to_string()
        } else {
            format!("{:.2}x recordJobCost", rate / base)
        };
        println!(
            "| {} | {} | {rate:.0} | {:.1} | {:.1} | {ratio} |",
            call.name(),
            latencies.len(),
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The database, straight through sqlx: seeding and the baselines.

enum Pool {
    Postgres(sqlx::PgPool),
    Sqlite(sqlx::SqlitePool),
}

#[derive(Clone)]
enum Bind {
    Text(String),
    Int(i64),
}

macro_rules! bound {
    ($query:expr, $binds:expr) => {{
        let mut q = $query;
        for b in $binds {
            q = match b {
                Bind::Text(s) => q.bind(s.clone()),
                Bind::Int(i) => q.bind(*i),
            };
        }
        q
    }};
}

/// One seeded usage report, as `usage::record` writes it.
struct Seeded {
    id: Uuid,
    job: usize,
    model: usize,
    input: i64,
    cached: i64,
    output: i64,
    tools: i64,
    amount: i64,
    at: i64,
}

/// The seeded jobs: their ids, runs, agents and plans.
struct SeedJobs {
    ids: Vec<Uuid>,
    runs: Vec<Uuid>,
    agents: Vec<String>,
    plans: Vec<Option<Uuid>>,
}

impl SeedJobs {
    fn new() -> Self {
        let plans: Vec<Uuid> = (0..PLANS).map(|_| Uuid::now_v7()).collect();
        Self {
            ids: (0..SEED_JOBS).map(|_| Uuid::now_v7()).collect(),
            runs: (0..SEED_JOBS).map(|_| Uuid::now_v7()).collect(),
            agents: (0..SEED_JOBS)
                .map(|k| format!("agent-{:02}", k % AGENTS))
                .collect(),
            // Job k's plan: none, or one of the plans, changing every AGENTS jobs so that
            // every agent works on every plan.
            plans: (0..SEED_JOBS)
                .map(|k| match (k / AGENTS) % (PLANS + 1) {
                    0 => None,
                    p => Some(plans[p - 1]),
                })
                .collect(),
        }
    }
}

/// `n` reports at random times over the `DAYS` days from `first_day`, in time order (as the
/// server writes them).
fn seed_rows(rng: &mut rand::rngs::StdRng, n: usize, first_day: i64) -> Vec<Seeded> {
    let start = first_day * DAY;
    let mut times: Vec<i64> = (0..n)
        .map(|_| start + rng.random_range(0..DAYS * DAY))
        .collect();
    times.sort_unstable();
    times
        .into_iter()
        .map(|at| Seeded {
            id: Uuid::new_v7(uuid::Timestamp::from_unix(
                uuid::NoContext,
                (at / 1_000_000) as u64,
                ((at % 1_000_000) * 1000) as u32,
            )),
            job: rng.random_range(0..SEED_JOBS),
            model: rng.random_range(0..MODELS.len()),
            input: rng.random_range(100..8000),
            cached: rng.random_range(0..4000),
            output: rng.random_range(50..2000),
            tools: rng.random_range(0..6),
            // Up to 0.05 in nano-units.
            amount: rng.random_range(0..50_000_000),
            at,
        })
        .collect()
}

const INSERT_COLUMNS: &str = "INSERT INTO usage_record (id, tenant_id, job_id, series, run_id, task_id, plan_id, agent, model, input_tokens, cached_input_tokens, output_tokens, tool_calls, amount, recorded_at, day) ";

impl Pool {
    async fn connect(url: &str) -> Self {
        if url.starts_with("postgres") {
            Self::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .connect(url)
                    .await
                    .expect("PostgreSQL"),
            )
        } else {
            use std::str::FromStr;
            let options = sqlx::sqlite::SqliteConnectOptions::from_str(url)
                .expect("SQLite URL")
                .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10));
            Self::Sqlite(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await
                    .expect("SQLite"),
            )
        }
    }

    fn postgres(&self) -> bool {
        matches!(self, Self::Postgres(_))
    }

    /// A UUID column as the text the rollup keeps (SQLite stores UUIDs as 16-byte blobs).
    fn uuid_text(&self, col: &str) -> String {
        if self.postgres() {
            format!("CAST({col} AS TEXT)")
        } else {
            let h = format!("hex({col})");
            format!(
                "lower(substr({h}, 1, 8) || '-' || substr({h}, 9, 4) || '-' || substr({h}, 13, 4) || '-' || substr({h}, 17, 4) || '-' || substr({h}, 21))"
            )
        }
    }

    /// `$n` placeholders in SQLite's spelling (each is used once, in order).
    fn sql(&self, text: &str) -> String {
        if self.postgres() {
            return text.to_string();
        }
        let mut out = String::with_capacity(text.len());
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '$' && chars.peek().is_some_and(char::is_ascii_digit) {
                while chars.peek().is_some_and(char::is_ascii_digit) {
                    chars.next();
                }
                out.push('?');
            } else {
                out.push(c);
            }
        }
        out
    }

    async fn execute(&self, text: &str, binds: &[Bind]) -> u64 {
        let text = sqlx::AssertSqlSafe(self.sql(text));
        match self {
            Self::Postgres(p) => bound!(sqlx::query(text), binds)
                .execute(p)
                .await
                .unwrap()
                .rows_affected(),
            Self::Sqlite(p) => bound!(sqlx::query(text), binds)
                .execute(p)
                .await
                .unwrap()
                .rows_affected(),
        }
    }

    /// Runs `text` and reads every row; (rows, Σ of the column `i`, the input tokens).
    async fn sum_rows(&self, text: &str, binds: &[Bind]) -> (usize, i64) {
        let text = sqlx::AssertSqlSafe(self.sql(text));
        match self {
            Self::Postgres(p) => {
                let rows = bound!(sqlx::query(text), binds).fetch_all(p).await.unwrap();
                (rows.len(), rows.iter().map(|r| r.get::<i64, _>("i")).sum())
            }
            Self::Sqlite(p) => {
                let rows = bound!(sqlx::query(text), binds).fetch_all(p).await.unwrap();
                (rows.len(), rows.iter().map(|r| r.get::<i64, _>("i")).sum())
            }
        }
    }

    async fn count(&self, text: &str, binds: &[Bind]) -> i64 {
        let text = sqlx::AssertSqlSafe(self.sql(text));
        match self {
            Self::Postgres(p) => bound!(sqlx::query(text), binds)
                .fetch_one(p)
                .await
                .unwrap()
                .get(0),
            Self::Sqlite(p) => bound!(sqlx::query(text), binds)
                .fetch_one(p)
                .await
                .unwrap()
                .get(0),
        }
    }

    /// Inserts `rows` into `usage_record` in REPORT_TENANT, in bulk statements.
    async fn insert(&self, jobs: &SeedJobs, rows: &[Seeded]) {
        match self {
            Self::Postgres(pool) => {
                let sql = format!(
                    "{INSERT_COLUMNS}SELECT id, $1, job_id, 1, run_id, NULL, plan_id, agent, model, i, c, o, t, a, r, d FROM UNNEST($2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[], $7::text[], $8::int8[], $9::int8[], $10::int8[], $11::int8[], $12::int8[], $13::int8[], $14::int4[]) AS u(id, job_id, run_id, plan_id, agent, model, i, c, o, t, a, r, d)"
                );
                for chunk in rows.chunks(50_000) {
                    sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                        .bind(REPORT_TENANT)
                        .bind(chunk.iter().map(|r| r.id).collect::<Vec<_>>())
                        .bind(chunk.iter().map(|r| jobs.ids[r.job]).collect::<Vec<_>>())
                        .bind(chunk.iter().map(|r| jobs.runs[r.job]).collect::<Vec<_>>())
                        .bind(chunk.iter().map(|r| jobs.plans[r.job]).collect::<Vec<_>>())
                        .bind(
                            chunk
                                .iter()
                                .map(|r| jobs.agents[r.job].clone())
                                .collect::<Vec<_>>(),
                        )
                        .bind(
                            chunk
                                .iter()
                                .map(|r| MODELS[r.model].to_string())
                                .collect::<Vec<_>>(),
                        )
                        .bind(chunk.iter().map(|r| r.input).collect::<Vec<_>>())
                        .bind(chunk.iter().map(|r| r.cached).collect::<Vec<_>>())
                        .bind(chunk.iter().map(|r| r.output).collect::<Vec<_>>())
                        .bind(chunk.iter().map(|r| r.tools).collect::<Vec<_>>())
                        .bind(chunk.iter().map(|r| r.amount).collect::<Vec<_>>())
                        .bind(chunk.iter().map(|r| r.at).collect::<Vec<_>>())
                        .bind(
                            chunk
                                .iter()
                                .map(|r| r.at.div_euclid(DAY) as i32)
                                .collect::<Vec<_>>(),
                        )
                        .execute(pool)
                        .await
                        .unwrap();
                }
            }
            Self::Sqlite(pool) => {
                // 15 parameters a row, under SQLite's 32,766; one transaction per 50,000 rows.
                for big in rows.chunks(50_000) {
                    let mut tx = pool.begin().await.unwrap();
                    for chunk in big.chunks(1000) {
                        let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(INSERT_COLUMNS);
                        q.push_values(chunk, |mut b, r| {
                            b.push_bind(r.id)
                                .push_bind(REPORT_TENANT)
                                .push_bind(jobs.ids[r.job])
                                .push("1")
                                .push_bind(jobs.runs[r.job])
                                .push("NULL")
                                .push_bind(jobs.plans[r.job])
                                .push_bind(jobs.agents[r.job].clone())
                                .push_bind(MODELS[r.model])
                                .push_bind(r.input)
                                .push_bind(r.cached)
                                .push_bind(r.output)
                                .push_bind(r.tools)
                                .push_bind(r.amount)
                                .push_bind(r.at)
                                .push_bind(r.at.div_euclid(DAY) as i32);
                        });
                        q.build().execute(&mut *tx).await.unwrap();
                    }
                    tx.commit().await.unwrap();
                }
            }
        }
    }

    /// Rebuilds REPORT_TENANT's rollup from its rows, as the upserts would have left it; the
    /// rollup's rows.
    async fn rebuild_rollup(&self) -> i64 {
        let tenant = [Bind::Text(REPORT_TENANT.into())];
        self.execute("DELETE FROM usage_daily WHERE tenant_id = $1", &tenant)
            .await;
        let plan = format!("COALESCE({}, '')", self.uuid_text("plan_id"));
        self.execute(
            &format!(
                "INSERT INTO usage_daily (tenant_id, day, agent, model, plan, input_tokens, cached_input_tokens, output_tokens, tool_calls, amount_units, amount_nanos)
                 SELECT tenant_id, day, COALESCE(agent, ''), model, {plan},
                    CAST(SUM(input_tokens) AS BIGINT), CAST(SUM(cached_input_tokens) AS BIGINT),
                    CAST(SUM(output_tokens) AS BIGINT), CAST(SUM(tool_calls) AS BIGINT),
                    CAST(SUM(amount / 1000000000) AS BIGINT), CAST(SUM(amount % 1000000000) AS BIGINT)
                 FROM usage_record WHERE tenant_id = $1
                 GROUP BY tenant_id, day, COALESCE(agent, ''), model, {plan}"
            ),
            &tenant,
        )
        .await;
        if let Self::Postgres(p) = self {
            for table in ["usage_record", "usage_daily"] {
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!("VACUUM ANALYZE {table}")))
                    .execute(p)
                    .await
                    .unwrap();
            }
        }
        self.count(
            "SELECT COUNT(*) FROM usage_daily WHERE tenant_id = $1",
            &tenant,
        )
        .await
    }

    async fn close(&self) {
        match self {
            Self::Postgres(p) => p.close().await,
            Self::Sqlite(p) => p.close().await,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The report.

const SUMS: &str = "CAST(SUM(input_tokens) AS BIGINT) AS i, CAST(SUM(cached_input_tokens) AS BIGINT) AS c, CAST(SUM(output_tokens) AS BIGINT) AS o, CAST(SUM(tool_calls) AS BIGINT) AS t, CAST(SUM(amount / 1000000000) AS BIGINT) AS u, CAST(SUM(amount % 1000000000) AS BIGINT) AS n";

/// One measured report: its groups and where it starts.
struct Case {
    by_agent_day: bool,
    /// Micros, in the middle of a day.
    from: Option<i64>,
}

impl Case {
    fn group_by(&self) -> Value {
        if self.by_agent_day {
            json!(["AGENT", "DAY"])
        } else {
            json!([])
        }
    }

    fn groups_text(&self) -> &'static str {
        if self.by_agent_day {
            "[AGENT, DAY]"
        } else {
            "none"
        }
    }

    /// Where the report starts, as a day of the seeded span (the date moves with the clock).
    fn start_text(&self, first_day: i64) -> String {
        self.from.map_or("-".to_string(), |f| {
            let (day, at) = (f.div_euclid(DAY), f.rem_euclid(DAY) / 60_000_000);
            format!(
                "day {} of {DAYS}, {:02}:{:02} UTC",
                day - first_day + 1,
                at / 60,
                at % 60
            )
        })
    }

    /// The report's own statement, as `usage::report::run` builds it.
    fn statement(&self, pool: &Pool) -> (String, Vec<Bind>) {
        let (agent, day) = if self.by_agent_day {
            ("agent", "day")
        } else {
            ("NULL", "NULL")
        };
        let mut sql = format!(
            "SELECT {agent} AS agent, model, NULL AS plan, {day} AS day, CAST(SUM(i) AS BIGINT) AS i, CAST(SUM(c) AS BIGINT) AS c, CAST(SUM(o) AS BIGINT) AS o, CAST(SUM(t) AS BIGINT) AS t, CAST(SUM(u) AS BIGINT) AS u, CAST(SUM(n) AS BIGINT) AS n FROM (SELECT NULLIF(agent, '') AS agent, model, NULLIF(plan, '') AS plan, day, input_tokens AS i, cached_input_tokens AS c, output_tokens AS o, tool_calls AS t, amount_units AS u, amount_nanos AS n FROM usage_daily WHERE tenant_id = $1"
        );
        let mut binds = vec![Bind::Text(REPORT_TENANT.into())];
        if let Some(f) = self.from {
            let first_whole = f.div_euclid(DAY) + 1;
            sql.push_str(&format!(
                " AND day >= $2 UNION ALL SELECT agent, model, {} AS plan, day, input_tokens, cached_input_tokens, output_tokens, tool_calls, amount / 1000000000, amount % 1000000000 FROM usage_record WHERE tenant_id = $3 AND recorded_at >= $4 AND recorded_at < $5",
                pool.uuid_text("plan_id")
            ));
            binds.extend([
                Bind::Int(first_whole),
                Bind::Text(REPORT_TENANT.into()),
                Bind::Int(f),
                Bind::Int(first_whole * DAY),
            ]);
        }
        sql.push_str(") AS s GROUP BY 1, 2, 3, 4");
        (sql, binds)
    }

    /// The raw GROUP BY over usage_record it replaces.
    fn raw(&self) -> (String, Vec<Bind>) {
        let keys = if self.by_agent_day {
            "agent, day, model"
        } else {
            "model"
        };
        let mut sql = format!("SELECT {keys}, {SUMS} FROM usage_record WHERE tenant_id = $1");
        let mut binds = vec![Bind::Text(REPORT_TENANT.into())];
        if let Some(f) = self.from {
            sql.push_str(" AND recorded_at >= $2");
            binds.push(Bind::Int(f));
        }
        sql.push_str(&format!(" GROUP BY {keys}"));
        (sql, binds)
    }
}

const REPORT_QUERY: &str = "query($f: UsageFilter, $g: [UsageGroup!]) { usageReport(filter: $f, groupBy: $g) { agent day usage { inputTokens cachedInputTokens outputTokens toolCalls amount byModel { model inputTokens cachedInputTokens outputTokens toolCalls amount } } } }";

/// `calls` usageReport calls one after another (after one warm-up): (rows, Σ inputTokens,
/// latencies sorted).
async fn time_report(server: &Server, case: &Case, calls: usize) -> (usize, i64, Vec<f64>) {
    let client = reqwest::Client::new();
    let token = token("report-reader", REPORT_TENANT, Role::Viewer);
    let filter = case.from.map(|f| {
        json!({"from": chrono::DateTime::from_timestamp_micros(f).unwrap()
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)})
    });
    let variables = json!({"f": filter, "g": case.group_by()});
    let mut latencies = Vec::with_capacity(calls);
    let mut answer = (0, 0);
    for call in 0..=calls {
        let t = Instant::now();
        let data = graphql(
            &client,
            server.addr,
            &token,
            REPORT_QUERY,
            variables.clone(),
        )
        .await;
        if call > 0 {
            latencies.push(ms(t));
        }
        let rows = data["usageReport"].as_array().cloned().unwrap_or_default();
        let input = rows
            .iter()
            .map(|r| r["usage"]["inputTokens"].as_i64().unwrap())
            .sum();
        answer = (rows.len(), input);
    }
    (answer.0, answer.1, sorted(latencies))
}

/// `calls` runs of a statement (after one warm-up): (rows, Σ input tokens, latencies sorted).
async fn time_sql(
    pool: &Pool,
    (sql, binds): (String, Vec<Bind>),
    calls: usize,
) -> (usize, i64, Vec<f64>) {
    let mut latencies = Vec::with_capacity(calls);
    let mut answer = (0, 0);
    for call in 0..=calls {
        let t = Instant::now();
        answer = pool.sum_rows(&sql, &binds).await;
        if call > 0 {
            latencies.push(ms(t));
        }
    }
    (answer.0, answer.1, sorted(latencies))
}

async fn report_phase(server: &Server, pool: &Pool, args: &Args) {
    let today = chrono::Utc::now().timestamp_micros().div_euclid(DAY);
    let first_day = today - DAYS;
    let jobs = SeedJobs::new();
    let mut rng = rand::rngs::StdRng::seed_from_u64(20_261_202);
    let mut seeded = 0;
    // The middle of the middle day: half a day of raw rows, the rest from the rollup.
    let mid_day = (first_day + DAYS / 2) * DAY + DAY / 2;
    let cases = [
        Case {
            by_agent_day: true,
            from: None,
        },
        Case {
            by_agent_day: false,
            from: None,
        },
        Case {
            by_agent_day: true,
            from: Some(mid_day),
        },
        Case {
            by_agent_day: false,
            from: Some(mid_day),
        },
    ];
    for &target in &args.rows {
        let inserted = target - seeded;
        let rows = seed_rows(&mut rng, inserted, first_day);
        let t = Instant::now();
        pool.insert(&jobs, &rows).await;
        let insert_s = t.elapsed().as_secs_f64();
        drop(rows);
        seeded = target;
        let t = Instant::now();
        let rollup_rows = pool.rebuild_rollup().await;
        let rollup_s = t.elapsed().as_secs_f64();
        let partial = pool
            .count(
                "SELECT COUNT(*) FROM usage_record WHERE tenant_id = $1 AND recorded_at >= $2 AND recorded_at < $3",
                &[
                    Bind::Text(REPORT_TENANT.into()),
                    Bind::Int(mid_day),
                    Bind::Int((mid_day.div_euclid(DAY) + 1) * DAY),
                ],
            )
            .await;
        println!(
            "\n{} usage rows ({} seeded in {insert_s:.1} s, {:.0} rows/s); rollup rebuilt in {rollup_s:.1} s: {} rollup rows; {} raw rows in the partial day after `from`.\n",
            thousands(target),
            thousands(inserted),
            inserted as f64 / insert_s,
            thousands(rollup_rows as usize),
            thousands(partial as usize)
        );
        println!(
            "| usageReport, {} usage rows | groupBy | from | calls | rows | p50 ms | p99 ms | ratio |\n|---|---|---|---|---|---|---|---|",
            thousands(target)
        );
        for case in &cases {
            let (rows, input, report) = time_report(server, case, args.report_calls).await;
            let (_, twin_input, twin) =
                time_sql(pool, case.statement(pool), args.report_calls).await;
            let raw_calls = if target >= 100_000 {
                args.raw_calls
            } else {
                args.report_calls
            };
            let (_, raw_input, raw) = time_sql(pool, case.raw(), raw_calls).await;
            // The sums agree (a report cut to its 1,000 largest rows can only have less).
            assert_eq!(twin_input, raw_input, "the rollup agrees with the rows");
            if rows < 1000 {
                assert_eq!(input, raw_input, "the report agrees with the rows");
            }
            let base = percentile(&raw, 0.5);
            let (g, f) = (case.groups_text(), case.start_text(first_day));
            println!(
                "| jobgraph usageReport over HTTP | {g} | {f} | {} | {rows} | {:.1} | {:.1} | {:.3}x raw |",
                report.len(),
                percentile(&report, 0.5),
                percentile(&report, 0.99),
                percentile(&report, 0.5) / base
            );
            println!(
                "| sqlx: the report's statement (rollup, + raw rows of a partial day) | {g} | {f} | {} | | {:.1} | {:.1} | {:.3}x raw |",
                twin.len(),
                percentile(&twin, 0.5),
                percentile(&twin, 0.99),
                percentile(&twin, 0.5) / base
            );
            println!(
                "| sqlx: GROUP BY over usage_record | {g} | {f} | {} | | {:.1} | {:.1} | 1 |",
                raw.len(),
                base,
                percentile(&raw, 0.99)
            );
        }
    }
}

async fn run_backend(name: &str, url: &str, args: &Args) {
    println!("\n### {name}\n");
    let db = jobgraph::db::connect(url, 4).await.expect("connect");
    jobgraph::db::migrate(&db).await.expect("migrate");
    db.close().await.ok();
    let server = server::start(url, SECRET, "bench-usage", false).await;
    let pool = Pool::connect(url).await;
    let started = Instant::now();
    recording_phase(&server, args).await;
    report_phase(&server, &pool, args).await;
    println!("\n({name}: {:.0} s)", started.elapsed().as_secs_f64());
    drop(server);
    pool.close().await;
}

#[tokio::main]
async fn main() {
    let args = args();
    println!(
        "bench_usage: {} cores, {} clients, {} recording calls of each kind, {} report calls, {} raw GROUP BY calls at 100,000 rows and more",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        args.clients,
        args.calls,
        args.report_calls,
        args.raw_calls
    );
    let dir = std::env::temp_dir().join(format!(
        "jobgraph-bench-usage-db-{}",
        Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = format!("sqlite:{}?mode=rwc", dir.join("bench.db").display());
    run_backend("SQLite", &sqlite, &args).await;
    std::fs::remove_dir_all(&dir).ok();
    if let Some(admin) = &args.postgres_url {
        use sea_orm::ConnectionTrait;
        let name = format!("jobgraph_bench_usage_{}", Uuid::now_v7().simple());
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
