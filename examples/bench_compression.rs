//! What compressing responses costs the nested dashboard query (not a test: it measures and
//! prints).
//!
//!     cargo run --release --example bench_compression -- [--repeat 300]
//!
//! On a fresh SQLite database it makes 50 jobs with 5 linked tasks each, serves the whole
//! application (the router `serve` runs) on a local port, and sends the nested dashboard query
//! over HTTP `repeat` times each way, interleaved, in one run on the same data: without
//! `Accept-Encoding` (the baseline: the body as it is), with `gzip`, and with `br`. It prints
//! the median and p99 time to the last byte, the bytes on the wire, and each against the
//! baseline.

#[path = "support/measure.rs"]
mod measure;

use jobgraph::auth::{Actor, Role, TokenKeys};
use jobgraph::graphql::cost::DASHBOARD_QUERY as DASHBOARD;
use measure::percentile;
use serde_json::json;
use std::time::{Duration, Instant};

const SECRET: &str = "bench-compression-secret-0123456789abcdef";

#[tokio::main]
async fn main() {
    let repeat: usize = std::env::args()
        .skip_while(|a| a != "--repeat")
        .nth(1)
        .map_or(300, |v| v.parse().expect("--repeat N"));
    let path = std::env::temp_dir().join(format!(
        "jobgraph-bench-compression-{}.db",
        uuid::Uuid::now_v7()
    ));
    let url = format!("sqlite:{}?mode=rwc", path.display());
    let db = jobgraph::db::connect(&url, 8).await.expect("connect");
    jobgraph::db::migrate(&db).await.expect("migrate");
    let config = jobgraph::AppConfig {
        limits: jobgraph::services::Limits::default(),
        schema_limits: jobgraph::graphql::SchemaLimits::default(),
        http_limits: jobgraph::http::HttpLimits::default(),
        jwt_secret: SECRET.as_bytes().to_vec(),
        clock: jobgraph::domain::time::Clock::system(),
        ws_limits: jobgraph::http::ws::WsLimits::default(),
        subscriber_buffer: 1024,
        cors_origins: Vec::new(),
    };
    let state = jobgraph::app_state(db.clone(), &config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = jobgraph::app(state);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let token = TokenKeys::new(SECRET.as_bytes())
        .mint(&Actor::new("bench", "bench", vec![Role::Member]), 86_400)
        .unwrap();
    // No automatic decompression: the bytes counted are the bytes sent.
    let client = reqwest::Client::new();
    let post = |query: &str, variables: serde_json::Value, encoding: Option<&str>| {
        let mut request = client
            .post(format!("http://{addr}/graphql"))
            .bearer_auth(&token)
            .json(&json!({"query": query, "variables": variables}));
        if let Some(e) = encoding {
            request = request.header("accept-encoding", e);
        }
        request.send()
    };
    for j in 0..50 {
        let job: serde_json::Value = post(
            "mutation($t: String!) { createJob(input: {title: $t, labels: [\"bench\"]}) { id } }",
            json!({"t": format!("job {j}")}),
            None,
        )
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        for t in 0..5 {
            post(
                "mutation($t: String!, $j: UUID!) { createTask(input: {title: $t, jobId: $j}) { id } }",
                json!({"t": format!("task {j}.{t}"), "j": job["data"]["createJob"]["id"]}),
                None,
            )
            .await
            .unwrap();
        }
    }

    let ways: [(&str, Option<&str>); 3] = [
        ("identity (baseline)", None),
        ("gzip", Some("gzip")),
        ("br", Some("br")),
    ];
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(repeat); ways.len()];
    let mut bytes = vec![0usize; ways.len()];
    // Warm up each way once, then interleave them so that noise falls on all alike.
    for (_, e) in ways {
        post(DASHBOARD, json!({}), e)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    }
    for _ in 0..repeat {
        for (i, (_, e)) in ways.iter().enumerate() {
            let t = Instant::now();
            let response = post(DASHBOARD, json!({}), *e).await.unwrap();
            let got = response.headers().get("content-encoding").cloned();
            let body = response.bytes().await.unwrap();
            times[i].push(t.elapsed().as_secs_f64() * 1000.0);
            assert_eq!(
                got.as_ref().map(|v| v.to_str().unwrap()),
                *e,
                "encoded as asked"
            );
            bytes[i] = body.len();
        }
    }
    println!("dashboard query (50 jobs x 5 tasks) over HTTP, {repeat} runs each, SQLite");
    println!("| encoding | p50 ms | p99 ms | bytes | time vs identity | bytes vs identity |");
    println!("|---|---|---|---|---|---|");
    let mut base = (0.0, 0usize);
    for (i, (name, _)) in ways.iter().enumerate() {
        let mut t = times[i].clone();
        t.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let (p50, p99) = (percentile(&t, 0.5), percentile(&t, 0.99));
        if i == 0 {
            base = (p50, bytes[i]);
        }
        println!(
            "| {name} | {p50:.2} | {p99:.2} | {} | {:.2}x | {:.2}x |",
            bytes[i],
            p50 / base.0,
            bytes[i] as f64 / base.1 as f64
        );
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    db.close().await.ok();
    for suffix in ["", "-wal", "-shm"] {
        std::fs::remove_file(format!("{}{suffix}", path.display())).ok();
    }
}
