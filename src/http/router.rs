//! The router of the whole server: the routes of every endpoint, then what wraps them all
//! (compression, CORS, a panic turned into a plain INTERNAL answer).

use super::{AppState, graphql, health, metrics, static_assets};
use axum::Router;
use axum::http::HeaderValue;
use axum::response::Response;
use axum::routing::get;
use std::time::Duration;

/// Responses smaller than this are sent as they are (DESIGN.md §11): compressing them costs
/// more than it saves.
pub const COMPRESS_ABOVE_BYTES: u16 = 1024;

/// The router of the whole server.
pub fn router(state: AppState) -> Router {
    use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
    let cors = cors_layer(&state.cors_origins);
    // gzip or br when the client accepts it and the body is over 1 KiB; never a websocket
    // upgrade (it has no body) or an event stream.
    let compression = tower_http::compression::CompressionLayer::new()
        .gzip(true)
        .br(true)
        .compress_when(
            SizeAbove::new(COMPRESS_ABOVE_BYTES)
                .and(NotForContentType::GRPC)
                .and(NotForContentType::IMAGES)
                .and(NotForContentType::SSE),
        );
    let router = Router::new()
        .route("/", get(static_assets::graphiql))
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(metrics::metrics))
        .with_state(state)
        .layer(compression)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ));
    match cors {
        Some(cors) => router.layer(cors),
        None => router,
    }
}

/// CORS for the listed origins only (GET and POST, with the headers a GraphQL client sends),
/// or none at all: without `--cors-origins` a browser on another origin cannot read answers.
fn cors_layer(origins: &[HeaderValue]) -> Option<tower_http::cors::CorsLayer> {
    use axum::http::{Method, header};
    if origins.is_empty() {
        return None;
    }
    Some(
        tower_http::cors::CorsLayer::new()
            .allow_origin(tower_http::cors::AllowOrigin::list(origins.iter().cloned()))
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
            .max_age(Duration::from_secs(600)),
    )
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    crate::metrics::request("unknown", None, "INTERNAL", None);
    graphql::error_response(
        graphql::MediaType::Json,
        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL",
        "internal error",
    )
}
