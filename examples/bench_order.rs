//! What putting response keys in selection order costs (not a test: it measures and prints).
//!
//!     cargo run --release --example bench_order -- [--repeat 300]
//!
//! On a fresh SQLite database it makes 50 jobs with 5 linked tasks each, then times, in one
//! run on the same data:
//! - the nested dashboard query (50 jobs with their tasks) executed through the schema, which
//!   includes the `SelectionOrder` extension;
//! - the ordering alone on that query's result: building the order from the parsed document
//!   and applying it to a copy of the result with every object's keys reversed (the worst
//!   case: every object out of order and rebuilt).
//!
//! It prints both medians and the ordering's share of the query's time, which is what the
//! extension costs the query's throughput at most.

use async_graphql::Value;
use jobgraph::auth::{Actor, Role};
use jobgraph::domain::time::Clock;
use jobgraph::graphql::cost::DASHBOARD_QUERY as DASHBOARD;
use jobgraph::graphql::order::Order;
use jobgraph::graphql::{SchemaLimits, build_schema, context};
use jobgraph::services::{Limits, Services};
use serde_json::json;
use std::time::Instant;

fn reversed(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = async_graphql::indexmap::IndexMap::new();
            for (k, v) in map.iter().rev() {
                out.insert(k.clone(), reversed(v));
            }
            Value::Object(out)
        }
        Value::List(items) => Value::List(items.iter().map(reversed).collect()),
        other => other.clone(),
    }
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
    samples[samples.len() / 2]
}

#[tokio::main]
async fn main() {
    let repeat: usize = std::env::args()
        .skip_while(|a| a != "--repeat")
        .nth(1)
        .map_or(300, |v| v.parse().expect("--repeat N"));
    let path =
        std::env::temp_dir().join(format!("jobgraph-bench-order-{}.db", uuid::Uuid::now_v7()));
    let url = format!("sqlite:{}?mode=rwc", path.display());
    let db = jobgraph::db::connect(&url, 8).await.expect("connect");
    jobgraph::db::migrate(&db).await.expect("migrate");
    let services = Services::new(
        db.clone(),
        Limits::default(),
        Clock::system(),
        jobgraph::events::bus_for(&db, 1024),
    );
    let schema = build_schema(services.clone(), SchemaLimits::default());
    let actor = Actor::new("bench", "bench", vec![Role::Member]);
    let run = |query: &str, variables: serde_json::Value| {
        let request = async_graphql::Request::new(query)
            .variables(async_graphql::Variables::from_json(variables));
        let request = context::for_actor(request, &services, actor.clone());
        let schema = schema.clone();
        async move {
            let response = schema.execute(request).await;
            assert!(response.errors.is_empty(), "{:?}", response.errors);
            response.data
        }
    };
    for j in 0..50 {
        let job = run(
            "mutation($t: String!) { createJob(input: {title: $t, labels: [\"bench\"]}) { id } }",
            json!({"t": format!("job {j}")}),
        )
        .await
        .into_json()
        .unwrap();
        for t in 0..5 {
            run(
                "mutation($t: String!, $j: UUID!) { createTask(input: {title: $t, jobId: $j}) { id } }",
                json!({"t": format!("task {j}.{t}"), "j": job["createJob"]["id"]}),
            )
            .await;
        }
    }
    // The query, through the schema (warm once).
    let data = run(DASHBOARD, json!({})).await;
    let mut query_ms = Vec::with_capacity(repeat);
    for _ in 0..repeat {
        let t = Instant::now();
        run(DASHBOARD, json!({})).await;
        query_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    // The ordering alone, worst case, on copies made before the clock starts.
    let doc = async_graphql::parser::parse_query(DASHBOARD).unwrap();
    let shuffled = reversed(&data);
    let mut copies: Vec<Value> = (0..repeat).map(|_| shuffled.clone()).collect();
    let mut order_ms = Vec::with_capacity(repeat);
    for copy in &mut copies {
        let t = Instant::now();
        let order = Order::of(&doc, None).expect("one operation");
        order.apply(copy);
        order_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    // With the extension in the schema the executed response is in selection order, so the
    // ordered copy must equal it.
    let in_order =
        serde_json::to_string(&copies[0]).unwrap() == serde_json::to_string(&data).unwrap();
    let (q, o) = (median(query_ms), median(order_ms));
    println!("dashboard query (50 jobs x 5 tasks), {repeat} runs, SQLite");
    println!(
        "  query through the schema: median {q:.3} ms ({:.0} queries/s)",
        1000.0 / q
    );
    println!("  ordering, every object reversed: median {o:.4} ms");
    println!("  ordering's share of the query: {:.2} %", 100.0 * o / q);
    println!("  the executed response was in selection order: {in_order}");
    db.close().await.ok();
    std::fs::remove_file(&path).ok();
}
