//! What the benchmarks that talk to the server over HTTP share: a GraphQL call that must
//! succeed, and percentiles of sorted latencies. Each benchmark uses what it needs.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::net::SocketAddr;

/// POSTs one GraphQL request as `token` and returns its `data`; any error is a bug of the
/// benchmark and stops it.
pub async fn graphql(
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

/// The `p` (0..=1) percentile of `sorted` (ascending); NaN when empty.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[(((sorted.len() - 1) as f64) * p).round() as usize]
}
