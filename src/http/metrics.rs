//! `/metrics` (DESIGN.md §11): the families of `crate::metrics` in Prometheus text. The
//! gauges that describe state rather than happenings (the pool, the queue) are read at scrape.
//! Unauthenticated, like `/healthz`: bind it privately in production.

use super::AppState;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// The media type of Prometheus's text exposition format.
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    // The recorder is the process's: one scrape at a time sets the read-at-scrape gauges and
    // renders them, so an answer shows its own readings (several servers share a process in
    // the tests).
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _turn = ONE_AT_A_TIME.lock().await;
    let (in_use, idle) = state.services.pool_connections();
    crate::metrics::pool(in_use, idle);
    match state.services.executor.queue_stats().await {
        Ok(queue) => {
            let now = state.services.clock().now_micros();
            let age = queue
                .oldest_due_micros
                .map_or(0, |due| now.saturating_sub(due).max(0));
            crate::metrics::queue(queue.depth, Duration::from_micros(age as u64));
        }
        // The last reading stays; the scrape still answers.
        Err(err) => tracing::warn!(error = %err, "/metrics could not read the queue"),
    }
    let handle = crate::metrics::handle();
    handle.run_upkeep();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, PROMETHEUS_TEXT)],
        handle.render(),
    )
        .into_response()
}
