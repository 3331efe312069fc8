//! jobgraph: a GraphQL server for the jobs and tasks of an agent platform.
//!
//! Reading order: `services` (what the server does, one area per folder), `graphql` (how the
//! API exposes it), `http` (the endpoints), `server` (how they run and stop), `config` and
//! `main.rs` (how it starts).

pub mod auth;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod loops;
pub mod metrics;
pub mod server;
pub mod services;

use std::sync::Arc;

/// Everything `serve` and the tests start from.
pub struct AppConfig {
    pub limits: services::Limits,
    pub schema_limits: graphql::SchemaLimits,
    pub http_limits: http::HttpLimits,
    pub jwt_secret: Vec<u8>,
    /// The clock the services and loops read (tests pass a manual one).
    pub clock: domain::time::Clock,
    pub ws_limits: http::ws::WsLimits,
    /// Events of room per subscriber before it is caught up from the table.
    pub subscriber_buffer: usize,
    /// The origins CORS admits (`--cors-origins`, checked); empty: CORS is off.
    pub cors_origins: Vec<String>,
}

/// The state of a running server over an open, migrated database (starting its event bus:
/// on PostgreSQL, the LISTEN connection).
pub fn app_state(db: sea_orm::DatabaseConnection, config: &AppConfig) -> http::AppState {
    // The process's metrics recorder, before anything records.
    metrics::handle();
    let bus = events::bus_for(&db, config.subscriber_buffer);
    let services = services::Services::new(db, config.limits.clone(), config.clock.clone(), bus);
    http::AppState {
        schema: graphql::build_schema(services.clone(), config.schema_limits),
        services,
        keys: Arc::new(auth::TokenKeys::new(&config.jwt_secret).with_clock(config.clock.clone())),
        limits: config.http_limits,
        ws: config.ws_limits,
        groups: Arc::default(),
        persisted: Arc::new(http::apq::PersistedQueries::new(
            config.http_limits.persisted_query_bytes,
        )),
        shutdown: tokio_util::sync::CancellationToken::new(),
        cors_origins: config
            .cors_origins
            .iter()
            .filter_map(|o| axum::http::HeaderValue::from_str(o).ok())
            .collect(),
    }
}

/// The whole HTTP application.
pub fn app(state: http::AppState) -> axum::Router {
    http::router(state)
}
