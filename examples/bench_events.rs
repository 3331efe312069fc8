//! Benchmark of the live streams (not a test: it measures and prints), against the real server
//! binary over websockets, on SQLite and (given a URL) PostgreSQL.
//!
//!     cargo build --release && cargo run --release --example bench_events -- \
//!         [--subscribers 1000,10000] [--replay 100000] [--write-seconds 5] \
//!         [--postgres-url postgres://user@host/db]   (or JOBGRAPH_BENCH_POSTGRES_URL)
//!
//! It starts `target/release/jobgraph serve` on a fresh database (raising its open-file limit)
//! and measures:
//! - fan-out: N subscribers connected at once (identical subscriptions, and, for the smallest
//!   N, distinct ones that cannot share an execution), one mutation, the time until each has
//!   the event: p50, p99, max; beside it, a bare axum websocket handler that forwards one
//!   broadcast message to the same number of sockets, in the same run;
//! - memory: the server's RSS per idle subscriber;
//! - replay: events per second delivered to one subscriber resuming 100,000 events back,
//!   beside the same rows read with raw SQL through sqlx;
//! - write cost: createJob mutations per second with no subscribers, and with 1,000
//!   subscribers whose filters exclude the written events.

#[path = "support/measure.rs"]
mod measure;
#[path = "support/server.rs"]
mod server;

use axum::extract::ws::{Message as AxumMessage, WebSocketUpgrade};
use futures_util::{SinkExt, StreamExt};
use jobgraph::auth::{Actor, Role, TokenKeys};
use measure::percentile;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use server::{Server, free_port};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const SECRET: &str = "bench-events-secret-0123456789abcdef";
const TENANT: &str = "bench";

struct Args {
    /// Which measurements: fanout, replay, write.
    phases: Vec<String>,
    subscribers: Vec<usize>,
    replay: usize,
    write_seconds: u64,
    postgres_url: Option<String>,
}

fn args() -> Args {
    let mut args = Args {
        phases: vec!["fanout".into(), "replay".into(), "write".into()],
        subscribers: vec![1000, 10_000],
        replay: 100_000,
        write_seconds: 5,
        postgres_url: std::env::var("JOBGRAPH_BENCH_POSTGRES_URL").ok(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--subscribers" => {
                args.subscribers = value
                    .split(',')
                    .map(|s| s.trim().parse().expect("--subscribers: numbers"))
                    .collect()
            }
            "--replay" => args.replay = value.parse().expect("--replay: a number"),
            "--phases" => args.phases = value.split(',').map(str::to_string).collect(),
            "--write-seconds" => args.write_seconds = value.parse().expect("--write-seconds"),
            "--postgres-url" => args.postgres_url = Some(value),
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

/// Raises this process's open-file limit to its hard limit (10,000 sockets need it).
fn raise_nofile() -> u64 {
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            // Root may raise the hard limit too.
            let want = lim.rlim_max.max(1_048_576);
            let raised = libc::rlimit {
                rlim_cur: want,
                rlim_max: want,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return want;
            }
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
            return lim.rlim_cur;
        }
    }
    0
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// The server under test, in its own process.
async fn start_server(database_url: &str) -> Server {
    server::start(database_url, SECRET, "bench-events", true).await
}

fn token() -> String {
    let actor = Actor::new("bencher", TENANT, vec![Role::Member]);
    TokenKeys::new(SECRET.as_bytes())
        .mint(&actor, 86_400)
        .unwrap()
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A socket to jobgraph, initialised, with one subscription started.
async fn subscriber(addr: SocketAddr, token: &str, query: &str, variables: Value) -> Socket {
    let mut request = format!("ws://{addr}/graphql")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    let init = json!({"type": "connection_init", "payload": {"token": token}});
    ws.send(Message::Text(init.to_string().into()))
        .await
        .unwrap();
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) if t.contains("connection_ack") => break,
            Some(Ok(_)) => continue,
            other => panic!("no ack: {other:?}"),
        }
    }
    let sub = json!({"type": "subscribe", "id": "1", "payload": {"query": query, "variables": variables}});
    ws.send(Message::Text(sub.to_string().into()))
        .await
        .unwrap();
    ws
}

/// Opens `n` sockets with `open`, at most `parallel` handshakes at a time.
async fn open_many<F, Fut>(n: usize, parallel: usize, open: F) -> Vec<Socket>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Socket>,
{
    futures_util::stream::iter(0..n)
        .map(open)
        .buffer_unordered(parallel)
        .collect()
        .await
}

/// Waits on every socket for its second result (the first is the warm-up event); returns the
/// delays after `t0`, in ms, sorted.
async fn arrival_times(
    sockets: Vec<Socket>,
    warmed: Arc<tokio::sync::Barrier>,
    t0: Arc<std::sync::Mutex<Option<Instant>>>,
) -> Vec<f64> {
    let waits: Vec<_> = sockets
        .into_iter()
        .map(|mut ws| {
            let (t0, warmed) = (t0.clone(), warmed.clone());
            tokio::spawn(async move {
                let mut seen = 0;
                loop {
                    match tokio::time::timeout(Duration::from_secs(60), ws.next()).await {
                        Ok(Some(Ok(Message::Text(t)))) if t.contains("\"next\"") => {
                            seen += 1;
                            if seen == 1 {
                                warmed.wait().await;
                                continue;
                            }
                            let at = Instant::now();
                            let start = t0.lock().unwrap().expect("sent before received");
                            return Some((at - start).as_secs_f64() * 1000.0);
                        }
                        Ok(Some(Ok(_))) => continue,
                        _ => {
                            if seen == 0 {
                                warmed.wait().await;
                            }
                            return None;
                        }
                    }
                }
            })
        })
        .collect();
    let mut out = Vec::new();
    for w in waits {
        if let Ok(Some(ms)) = w.await {
            out.push(ms);
        }
    }
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out
}

/// Sends the warm-up event with `send`, waits until every socket has it, then sends the
/// measured one; returns the arrival times of the measured one.
async fn measure<F, Fut>(sockets: Vec<Socket>, send: F) -> Vec<f64>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let warmed = Arc::new(tokio::sync::Barrier::new(sockets.len() + 1));
    let t0 = Arc::new(std::sync::Mutex::new(None));
    let waiting = tokio::spawn(arrival_times(sockets, warmed.clone(), t0.clone()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    send().await;
    warmed.wait().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    *t0.lock().unwrap() = Some(Instant::now());
    send().await;
    waiting.await.unwrap()
}

async fn graphql(
    client: &reqwest::Client,
    addr: SocketAddr,
    token: &str,
    query: &str,
    variables: Value,
) -> Value {
    client
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(token)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON")
}

const CREATE: &str = "mutation($t: String!) { createJob(input: {title: $t}) { id } }";

struct FanOut {
    label: String,
    n: usize,
    received: usize,
    p50: f64,
    p99: f64,
    max: f64,
    connect_s: f64,
}

/// N jobgraph subscribers, one mutation.
async fn fan_out(server: &Server, n: usize, distinct: bool) -> (FanOut, u64) {
    let token = token();
    let before = rss_kib(server.child.id());
    let started = Instant::now();
    let addr = server.addr;
    let sockets = open_many(n, 64, |i| {
        let token = token.clone();
        async move {
            if distinct {
                // A document of its own (a comment tells them apart): these cannot share an
                // execution, so each runs its own.
                let query = format!("subscription {{ jobEvents(filter: {{kinds: [CREATED]}}) {{ id jobId job {{ title }} }} }} # subscriber {i}");
                subscriber(addr, &token, &query, json!({})).await
            } else {
                subscriber(addr, &token, "subscription { jobEvents(filter: {kinds: [CREATED]}) { id jobId job { title } } }", json!({})).await
            }
        }
    })
    .await;
    let connect_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500 + n as u64 / 10)).await;
    let idle = rss_kib(server.child.id()).saturating_sub(before);
    let client = reqwest::Client::new();
    let times = measure(sockets, || {
        let (client, token) = (client.clone(), token.clone());
        async move {
            graphql(&client, addr, &token, CREATE, json!({"t": "fan-out"})).await;
        }
    })
    .await;
    (
        FanOut {
            label: if distinct {
                "jobgraph, distinct subscriptions".into()
            } else {
                "jobgraph, identical subscriptions".into()
            },
            n,
            received: times.len(),
            p50: percentile(&times, 0.5),
            p99: percentile(&times, 0.99),
            max: times.last().copied().unwrap_or(f64::NAN),
            connect_s,
        },
        idle,
    )
}

/// The baseline's server, run as `bench_events --bare-server PORT` in a process of its own
/// (as jobgraph's is): a bare axum websocket handler that answers the init like a server
/// would, then forwards each message POSTed to `/send` to every socket.
async fn bare_server(port: u16) {
    let (tx, _) = broadcast::channel::<Arc<str>>(16);
    let ws_tx = tx.clone();
    let app = axum::Router::new()
        .route(
            "/graphql",
            axum::routing::get(move |ws: WebSocketUpgrade| {
                let mut rx = ws_tx.subscribe();
                async move {
                    ws.protocols(["graphql-transport-ws"]).on_upgrade(move |mut socket| async move {
                        while let Some(Ok(m)) = socket.recv().await {
                            if let AxumMessage::Text(t) = &m {
                                if t.contains("connection_init") {
                                    let _ = socket.send(AxumMessage::Text(r#"{"type":"connection_ack"}"#.into())).await;
                                }
                                if t.contains("subscribe") {
                                    break;
                                }
                            }
                        }
                        while let Ok(msg) = rx.recv().await {
                            if socket.send(AxumMessage::Text(msg.to_string().into())).await.is_err() {
                                break;
                            }
                        }
                    })
                }
            }),
        )
        .route(
            "/send",
            axum::routing::post(move || {
                let tx = tx.clone();
                async move {
                    let _ = tx.send(Arc::from(r#"{"type":"next","id":"1","payload":{"data":{"jobEvents":{"id":"1","jobId":"x","job":{"title":"fan-out"}}}}}"#));
                    "sent"
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    axum::serve(listener, app).await.unwrap();
}

/// The baseline: N sockets to the bare server, one broadcast message.
async fn bare_fan_out(n: usize) -> FanOut {
    let port = free_port();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 1048576 2>/dev/null || ulimit -n $(ulimit -Hn); exec \"$0\" \"$@\"")
        .arg(std::env::current_exe().unwrap())
        .args(["--bare-server", &port.to_string()])
        .spawn()
        .expect("start the bare server");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let started = Instant::now();
    let sockets = open_many(n, 64, |_| async move {
        subscriber(addr, "t", "s", json!({})).await
    })
    .await;
    let connect_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500 + n as u64 / 10)).await;
    let times = measure(sockets, || {
        let client = client.clone();
        async move {
            client
                .post(format!("http://{addr}/send"))
                .send()
                .await
                .unwrap();
        }
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    FanOut {
        label: "bare axum broadcast (baseline)".into(),
        n,
        received: times.len(),
        p50: percentile(&times, 0.5),
        p99: percentile(&times, 0.99),
        max: times.last().copied().unwrap_or(f64::NAN),
        connect_s,
    }
}

/// Seeds `n` job.created events straight into the table, in batches.
async fn seed_events(db: &sea_orm::DatabaseConnection, n: usize) {
    let backend = db.get_database_backend();
    let now = chrono::Utc::now().timestamp_micros();
    let batch = 500;
    let mut done = 0;
    while done < n {
        let take = batch.min(n - done);
        let mut sql = String::from(
            "INSERT INTO event (tenant_id, event_type, actor_id, job_id, details, snapshot, occurred_at) VALUES ",
        );
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(take * 4);
        for i in 0..take {
            let id = uuid::Uuid::now_v7();
            let snapshot = json!({
                "id": id, "tenantId": TENANT, "title": format!("seeded {}", done + i), "labels": [],
                "status": "PENDING", "priority": 50, "version": 1, "createdBy": "bencher",
                "createdAt": "2026-12-01T00:00:00.000000Z", "updatedAt": "2026-12-01T00:00:00.000000Z",
                "actualCost": "0", "delegationChain": [], "attempt": 0,
                "retryPolicy": {"maxAttempts": 1, "initialBackoffSeconds": 10, "backoffMultiplier": 2.0, "maxBackoffSeconds": 300},
            });
            if i > 0 {
                sql.push_str(", ");
            }
            let n = values.len();
            match backend {
                sea_orm::DbBackend::Postgres => sql.push_str(&format!(
                    "('{TENANT}', 'job.created', 'bencher', ${}, '{{}}'::jsonb, ${}::jsonb, ${})",
                    n + 1,
                    n + 2,
                    n + 3
                )),
                _ => sql.push_str(&format!(
                    "('{TENANT}', 'job.created', 'bencher', ?, '{{}}', ?, ?)"
                )),
            }
            values.push(id.into());
            values.push(snapshot.to_string().into());
            values.push(now.into());
        }
        db.execute_raw(sea_orm::Statement::from_sql_and_values(
            backend, sql, values,
        ))
        .await
        .expect("seed events");
        done += take;
    }
}

/// One subscriber replaying `n` events from the start of the tenant.
async fn replay(server: &Server, n: usize, after: i64) -> f64 {
    let token = token();
    let started = Instant::now();
    let mut ws = subscriber(
        server.addr,
        &token,
        "subscription($a: String) { jobEvents(after: $a) { id type job { id title status } } }",
        json!({"a": after.to_string()}),
    )
    .await;
    let mut got = 0;
    while got < n {
        match tokio::time::timeout(Duration::from_secs(60), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) if t.contains("\"next\"") => got += 1,
            Ok(Some(Ok(_))) => {}
            other => panic!("replay stopped after {got}: {other:?}"),
        }
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// The same rows as raw SQL through sqlx: the floor of what a replay can cost.
async fn raw_read(url: &str, after: i64) -> (usize, f64) {
    let started = Instant::now();
    let n = if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        let rows: Vec<(i64, String, serde_json::Value)> = sqlx::query_as(
            "SELECT id, event_type, snapshot FROM event WHERE tenant_id = $1 AND id > $2 ORDER BY id",
        )
        .bind(TENANT)
        .bind(after)
        .fetch_all(&pool)
        .await
        .unwrap();
        rows.len()
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT id, event_type, snapshot FROM event WHERE tenant_id = ? AND id > ? ORDER BY id",
        )
        .bind(TENANT)
        .bind(after)
        .fetch_all(&pool)
        .await
        .unwrap();
        rows.iter()
            .filter(|r| serde_json::from_str::<Value>(&r.2).is_ok())
            .count()
    };
    (n, n as f64 / started.elapsed().as_secs_f64())
}

/// createJob mutations per second for `seconds`, 8 writers.
async fn write_rate(server: &Server, seconds: u64) -> f64 {
    let token = token();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let client = client.clone();
            let token = token.clone();
            let addr = server.addr;
            tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < deadline {
                    let r = graphql(
                        &client,
                        addr,
                        &token,
                        CREATE,
                        json!({"t": format!("w{w} {n}")}),
                    )
                    .await;
                    assert!(r.get("errors").is_none(), "{r}");
                    n += 1;
                }
                n
            })
        })
        .collect();
    let started = Instant::now();
    let mut total = 0;
    for w in workers {
        total += w.await.unwrap();
    }
    total as f64 / started.elapsed().as_secs_f64()
}

async fn run_backend(name: &str, url: &str, args: &Args) {
    println!("\n### {name}\n");
    let db = jobgraph::db::connect(url, 4).await.expect("connect");
    jobgraph::db::migrate(&db).await.expect("migrate");
    let server = start_server(url).await;

    let phase = |p: &str| args.phases.iter().any(|x| x == p);
    if phase("fanout") {
        fan_outs(&server, args).await;
    }
    if phase("replay") {
        replays(&server, &db, url, args).await;
    }
    if phase("write") {
        write_cost(&server, args).await;
    }
    drop(server);
    db.close().await.ok();
}

async fn fan_outs(server: &Server, args: &Args) {
    println!("| fan-out | subscribers | received | connect s | p50 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|---|");
    let mut idle_per_sub = Vec::new();
    for (i, &n) in args.subscribers.iter().enumerate() {
        let (ours, idle) = fan_out(server, n, false).await;
        idle_per_sub.push((n, idle));
        let bare = bare_fan_out(n).await;
        let mut rows = vec![ours, bare];
        if i == 0 {
            rows.push(fan_out(server, n, true).await.0);
        }
        for r in rows {
            println!(
                "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
                r.label, r.n, r.received, r.connect_s, r.p50, r.p99, r.max
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    println!();
    for (n, kib) in idle_per_sub {
        println!(
            "- server RSS per idle subscriber at {n}: {:.1} KiB",
            kib as f64 / n as f64
        );
    }
}

async fn replays(server: &Server, db: &sea_orm::DatabaseConnection, url: &str, args: &Args) {
    let start_after: i64 = {
        let token = token();
        let r = graphql(
            &reqwest::Client::new(),
            server.addr,
            &token,
            "{ latestEventId }",
            json!({}),
        )
        .await;
        r["data"]["latestEventId"]
            .as_str()
            .unwrap_or("0")
            .parse()
            .unwrap()
    };
    let seed_started = Instant::now();
    seed_events(db, args.replay).await;
    let seeded = seed_started.elapsed().as_secs_f64();
    let ours = replay(server, args.replay, start_after).await;
    let (rows, raw) = raw_read(url, start_after).await;
    println!(
        "- replay of {} events (seeded in {seeded:.1} s): {ours:.0} events/s delivered to one subscriber; raw SQL reads {rows} rows at {raw:.0}/s ({:.2}x)",
        args.replay,
        ours / raw
    );
}

/// createJob rates with no subscribers, with 1,000 whose filters exclude the writes, and with
/// none again (the ratio takes the mean of the two runs without, so drift cancels out).
async fn write_cost(server: &Server, args: &Args) {
    let alone = write_rate(server, args.write_seconds).await;
    let token = token();
    let addr = server.addr;
    let quiet = open_many(1000, 64, |_| {
        let token = token.clone();
        async move {
            subscriber(
                addr,
                &token,
                "subscription { jobEvents(filter: {kinds: [DELETED]}) { id } }",
                json!({}),
            )
            .await
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let watched = write_rate(server, args.write_seconds).await;
    drop(quiet);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let alone_again = write_rate(server, args.write_seconds).await;
    let base = (alone + alone_again) / 2.0;
    println!(
        "- createJob/s with no subscribers: {alone:.0} and {alone_again:.0}; with 1,000 subscribers whose filters exclude them: {watched:.0} ({:.2}x)",
        watched / base
    );
}

#[tokio::main]
async fn main() {
    if let [flag, port] = &std::env::args().skip(1).collect::<Vec<_>>()[..]
        && flag == "--bare-server"
    {
        bare_server(port.parse().expect("a port")).await;
        return;
    }
    let args = args();
    let nofile = raise_nofile();
    println!(
        "bench_events: {} cores, open-file limit {nofile}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let dir = std::env::temp_dir().join(format!(
        "jobgraph-bench-events-db-{}",
        uuid::Uuid::now_v7().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let sqlite = format!("sqlite:{}?mode=rwc", dir.join("bench.db").display());
    run_backend("SQLite", &sqlite, &args).await;
    std::fs::remove_dir_all(&dir).ok();
    if let Some(admin) = &args.postgres_url {
        let name = format!("jobgraph_bench_events_{}", uuid::Uuid::now_v7().simple());
        let admin_db = sea_orm::Database::connect(admin).await.expect("PostgreSQL");
        admin_db
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create the database");
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
