//! The HTTP edge (DESIGN.md §11): `POST /graphql` (and GET for queries), subscriptions over
//! websockets on `/graphql` (`ws`), GraphiQL at `/`, `/healthz`, `/readyz`.
//!
//! What happens here and nowhere else: the bearer token is verified (401 before any GraphQL
//! runs), the body is bounded (413), only JSON POSTs are accepted and GET never runs a mutation
//! (cross-site request forgery), each request runs under a deadline (TIMEOUT), and a panic
//! becomes a plain INTERNAL error.
//!
//! May import: axum, async-graphql, auth, graphql, services.

pub mod ws;

use crate::auth::TokenKeys;
use crate::graphql::{AppSchema, context};
use crate::services::Services;
use async_graphql::http::GraphiQLSource;
use async_graphql::parser::types::{DocumentOperations, OperationType};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Limits of the HTTP edge.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 2 * 1024 * 1024,
            request_timeout: Duration::from_millis(30_000),
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
    /// Cancelled when the server shuts down: sockets close with 1001.
    pub shutdown: tokio_util::sync::CancellationToken,
}

/// The router of the whole server.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(graphiql))
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(state)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ))
}

/// A GraphQL-shaped error response with one error.
fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"errors": [{"message": message, "extensions": {"code": code}}]});
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    error_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        "INTERNAL",
        "internal error",
    )
}

async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .title("jobgraph")
            .finish(),
    )
}

async fn readyz(State(state): State<AppState>) -> Response {
    if state.services.ping().await {
        (StatusCode::OK, "ready").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response()
    }
}

/// The actor of a request, or the 401 response (DESIGN.md §2).
fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<crate::auth::Actor, Box<Response>> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    state.keys.verify_header(header).map_err(|err| {
        let mut response = error_response(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            &err.to_string(),
        );
        let challenge = if header.is_some() {
            "Bearer error=\"invalid_token\""
        } else {
            "Bearer"
        };
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static(challenge),
        );
        Box::new(response)
    })
}

/// Runs a request for `actor` under the deadline and answers it as JSON.
async fn execute(
    state: &AppState,
    actor: crate::auth::Actor,
    request: async_graphql::Request,
) -> Response {
    let request = context::for_actor(request, &state.services, actor);
    let response =
        match tokio::time::timeout(state.limits.request_timeout, state.schema.execute(request))
            .await
        {
            Ok(response) => response,
            Err(_) => {
                let ms = state.limits.request_timeout.as_millis();
                return error_response(
                    StatusCode::OK,
                    "TIMEOUT",
                    &format!(
                        "the request took longer than {ms} ms and was stopped; narrow it and retry"
                    ),
                );
            }
        };
    match serde_json::to_vec(&response) {
        Ok(body) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response(),
        Err(err) => {
            tracing::error!(%err, "response did not serialise");
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "internal error",
            )
        }
    }
}

async fn graphql_post(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let actor = match authenticate(&state, &headers) {
        Ok(actor) => actor,
        Err(response) => return *response,
    };
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json" || mime == "application/graphql-response+json"
        });
    if !is_json {
        return error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "BAD_USER_INPUT",
            "send GraphQL requests as `Content-Type: application/json`",
        );
    }
    let max = state.limits.max_body_bytes;
    let bytes: Bytes = match axum::body::to_bytes(body, max).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                &format!("the request body is larger than {max} bytes"),
            );
        }
    };
    let request: async_graphql::Request = match serde_json::from_slice(&bytes) {
        Ok(request) => request,
        Err(err) => {
            return error_response(
                StatusCode::BAD_REQUEST,
                "BAD_USER_INPUT",
                &format!(
                    "the body is not a GraphQL request (`{{\"query\": …, \"variables\": …}}`): {err}"
                ),
            );
        }
    };
    execute(&state, actor, request).await
}

async fn graphql_get(
    State(state): State<AppState>,
    upgrade: Result<
        axum::extract::WebSocketUpgrade,
        axum::extract::ws::rejection::WebSocketUpgradeRejection,
    >,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    // A websocket upgrade authenticates in its `connection_init`, not in a header.
    if let Ok(upgrade) = upgrade {
        return ws::upgrade(state, upgrade);
    }
    let actor = match authenticate(&state, &headers) {
        Ok(actor) => actor,
        Err(response) => return *response,
    };
    let Some(query) = params.get("query") else {
        return error_response(
            StatusCode::BAD_REQUEST,
            "BAD_USER_INPUT",
            "the `query` parameter is missing",
        );
    };
    let operation_name = params.get("operationName").cloned();
    if runs_mutation(query, operation_name.as_deref()) {
        return error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "BAD_USER_INPUT",
            "mutations must be sent by POST with a JSON body",
        );
    }
    let mut request = async_graphql::Request::new(query.clone());
    if let Some(name) = operation_name {
        request = request.operation_name(name);
    }
    if let Some(variables) = params.get("variables") {
        match serde_json::from_str(variables) {
            Ok(v) => request = request.variables(async_graphql::Variables::from_json(v)),
            Err(_) => {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    "BAD_USER_INPUT",
                    "`variables` is not JSON",
                );
            }
        }
    }
    execute(&state, actor, request).await
}

/// True when the operation a GET would run is a mutation or subscription (or cannot be told).
fn runs_mutation(query: &str, operation_name: Option<&str>) -> bool {
    let Ok(doc) = async_graphql::parser::parse_query(query) else {
        return false; // the parse error is reported by the schema with its code
    };
    let is_write = |t: OperationType| t != OperationType::Query;
    match &doc.operations {
        DocumentOperations::Single(op) => is_write(op.node.ty),
        DocumentOperations::Multiple(ops) => match operation_name {
            Some(name) => ops
                .iter()
                .any(|(n, op)| n.as_str() == name && is_write(op.node.ty)),
            None => ops.values().any(|op| is_write(op.node.ty)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::runs_mutation;

    #[test]
    fn get_never_runs_mutations() {
        assert!(!runs_mutation("{ me { id } }", None));
        assert!(runs_mutation("mutation { deleteJob(id: \"x\") }", None));
        let two = "query A { me { id } } mutation B { deleteJob(id: \"x\") }";
        assert!(!runs_mutation(two, Some("A")));
        assert!(runs_mutation(two, Some("B")));
        assert!(runs_mutation(two, None));
    }
}
