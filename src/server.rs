//! The running server (DESIGN.md §11): opens the database, builds the application, serves it,
//! runs the background loops, and stops them all on one shutdown signal.
//!
//! At SIGTERM or SIGINT, in order:
//! 1. draining: `/readyz` answers 503, websockets close with 1001 and new upgrades are refused,
//!    while plain requests are still served for `--drain-delay-ms` (so a load balancer that
//!    polls `/readyz` stops sending traffic before the port closes);
//! 2. the listener closes; requests in flight finish, within their request timeout (plus a
//!    second's slack, after which they are dropped and the stop is logged as forced);
//! 3. the loops stop at their next tick (a tick under way finishes);
//! 4. the event bus stops (the PostgreSQL LISTEN connection) and the pool closes; exit 0.
//!
//! May import: everything below it (config, db, http, loops, services).

use crate::config::Settings;
use crate::db::{self, Backend};
use crate::http::{self, AppState};
use crate::{AppConfig, graphql, services};
use sea_orm::DatabaseConnection;
use std::future::Future;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long the loops get to finish their tick once the server stopped serving.
const LOOPS_GRACE: Duration = Duration::from_secs(10);

/// Opens the database the settings name and brings its schema up to date.
pub async fn open_database(settings: &Settings) -> Result<DatabaseConnection, String> {
    let url = settings.database_url()?;
    if Backend::of_url(&url) == Some(Backend::Sqlite) {
        std::fs::create_dir_all(&settings.data_dir)
            .map_err(|e| format!("--data-dir {}: {e}", settings.data_dir.display()))?;
    }
    let timeouts = db::Timeouts::below(Duration::from_millis(settings.request_timeout_ms));
    let db = db::connect_with(&url, settings.db_max_connections, timeouts)
        .await
        .map_err(|e| format!("--database-url {}: {e}", db::redact(&url)))?;
    db::migrate(&db)
        .await
        .map_err(|e| format!("migrations failed: {e}"))?;
    Ok(db)
}

/// What the settings make of the application.
pub fn app_config(settings: &Settings, jwt_secret: Vec<u8>) -> AppConfig {
    AppConfig {
        limits: services::Limits {
            max_json_bytes: settings.max_json_bytes as usize,
        },
        schema_limits: graphql::SchemaLimits {
            max_depth: settings.max_query_depth as usize,
            max_complexity: settings.max_query_complexity as usize,
        },
        http_limits: http::HttpLimits {
            max_body_bytes: settings.max_body_bytes as usize,
            request_timeout: Duration::from_millis(settings.request_timeout_ms),
            persisted_query_bytes: settings.persisted_query_cache_bytes as usize,
        },
        jwt_secret,
        clock: crate::domain::time::Clock::system(),
        ws_limits: http::ws::WsLimits {
            max_subscriptions: settings.max_subscriptions_per_socket as usize,
            write_timeout: Duration::from_millis(settings.subscriber_write_timeout_ms),
            init_timeout: Duration::from_secs(10),
            max_message_bytes: settings.max_body_bytes as usize,
        },
        subscriber_buffer: settings.subscriber_buffer as usize,
        cors_origins: settings.cors_origins.clone(),
    }
}

/// `jobgraph serve`: runs until SIGTERM or SIGINT, then stops as the module says.
pub async fn serve(settings: &Settings) -> Result<(), String> {
    let url = settings.database_url()?;
    let backend = Backend::of_url(&url).unwrap_or(Backend::Sqlite);
    let jwt_secret = settings.jwt_secret(backend)?;
    let db = open_database(settings).await?;
    let state = crate::app_state(db.clone(), &app_config(settings, jwt_secret));
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| format!("--listen {}: {e}", settings.listen))?;
    tracing::info!(address = %settings.listen, database = %db::redact(&url), "jobgraph is listening");
    let stop = Stop {
        drain_delay: Duration::from_millis(settings.drain_delay_ms),
        in_flight_grace: Duration::from_millis(settings.request_timeout_ms)
            + Duration::from_secs(1),
    };
    run(listener, state, settings.loop_settings(), stop, signal()).await?;
    db.close().await.ok();
    tracing::info!("stopped");
    Ok(())
}

/// How the server stops.
#[derive(Debug, Clone, Copy)]
pub struct Stop {
    /// Between the signal and closing the listener: `/readyz` answers 503, requests are served.
    pub drain_delay: Duration,
    /// How long requests in flight may take once the listener closed.
    pub in_flight_grace: Duration,
}

/// Serves `state` on `listener` with its loops until `signal` resolves, then stops in the
/// module's order. The one place the shutdown token (`state.shutdown`) is cancelled.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    loops: crate::loops::LoopSettings,
    stop: Stop,
    signal: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let stop_loops = CancellationToken::new();
    let loop_handles = crate::loops::spawn(state.services.clone(), loops, &stop_loops);
    let draining = state.shutdown.clone();
    let closed = CancellationToken::new();
    let closing = closed.clone();
    let app = crate::app(state.clone());
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        signal.await;
        tracing::info!(
            drain_delay_ms = stop.drain_delay.as_millis() as u64,
            "shutting down: draining"
        );
        draining.cancel();
        tokio::time::sleep(stop.drain_delay).await;
        tracing::info!("the listener is closed; finishing the requests in flight");
        closing.cancel();
    });
    let forced = async {
        closed.cancelled().await;
        tokio::time::sleep(stop.in_flight_grace).await;
    };
    tokio::select! {
        served = server => served.map_err(|e| format!("server error: {e}"))?,
        () = forced => tracing::warn!(
            grace_ms = stop.in_flight_grace.as_millis() as u64,
            "requests still in flight after the grace period were dropped"
        ),
    }
    stop_loops.cancel();
    let aborts: Vec<_> = loop_handles.iter().map(|h| h.abort_handle()).collect();
    let loops_done = futures_util::future::join_all(loop_handles);
    if tokio::time::timeout(LOOPS_GRACE, loops_done).await.is_err() {
        tracing::warn!("a background loop did not stop in time; stopping it mid-tick");
        aborts.iter().for_each(tokio::task::AbortHandle::abort);
    }
    state.services.bus().stop();
    Ok(())
}

/// SIGINT or SIGTERM.
pub async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
