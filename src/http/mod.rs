//! The HTTP edge (DESIGN.md §11), one file per endpoint family:
//! - `router`: the routes, and what wraps them all (compression, CORS, panics);
//! - `graphql`: GraphQL over HTTP on `/graphql` (auth, CSRF, limits, deadline, media types),
//!   with `apq` for automatic persisted queries;
//! - `ws`: subscriptions over websockets on `/graphql`;
//! - `health`: `/healthz` and `/readyz`;
//! - `metrics`: `/metrics`, in Prometheus text;
//! - `static_assets`: GraphiQL at `/`.
//!
//! May import: axum, async-graphql, auth, graphql, services.

pub mod apq;
mod graphql;
mod health;
mod metrics;
mod router;
mod static_assets;
pub mod ws;

pub use graphql::MediaType;
pub use router::{COMPRESS_ABOVE_BYTES, router};

use crate::auth::TokenKeys;
use crate::graphql::AppSchema;
use crate::services::Services;
use axum::http::HeaderValue;
use std::sync::Arc;
use std::time::Duration;

/// Limits of the HTTP edge.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    /// What the persisted-query cache may hold, in bytes.
    pub persisted_query_bytes: usize,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 2 * 1024 * 1024,
            request_timeout: Duration::from_millis(30_000),
            persisted_query_bytes: 16 * 1024 * 1024,
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub services: Services,
    pub keys: Arc<TokenKeys>,
    pub limits: HttpLimits,
    pub ws: ws::WsLimits,
    /// The shared executions of identical live subscriptions.
    pub groups: Arc<ws::Groups>,
    /// Automatic persisted queries, by hash.
    pub persisted: Arc<apq::PersistedQueries>,
    /// Cancelled when the server shuts down: sockets close with 1001.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// The origins CORS admits (`--cors-origins`); empty: CORS is off.
    pub cors_origins: Arc<[HeaderValue]>,
}
