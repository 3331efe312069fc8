//! GraphQL over HTTP (DESIGN.md §11): `POST /graphql` and `GET /graphql` for queries.
//!
//! The bearer token is verified (401 before any GraphQL runs), the body is bounded (413), only
//! JSON POSTs are accepted and GET never runs a mutation (cross-site request forgery), each
//! request runs under a deadline (TIMEOUT). The response media type follows `Accept` (request
//! errors are 400 without `data` under `application/graphql-response+json`), and automatic
//! persisted queries are resolved (`apq`) before anything else looks at the query.

use super::{AppState, apq, ws};
use crate::graphql::context;
use crate::graphql::error::Executed;
use async_graphql::parser::types::{DocumentOperations, OperationType};
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::collections::HashMap;

/// The response media type a client asked for (GraphQL over HTTP, DESIGN.md §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// `application/json`: every GraphQL result is 200, as before the spec's watershed.
    Json,
    /// `application/graphql-response+json`: a request error (parse, validation, variable
    /// coercion) is 400 and has no `data`.
    GraphqlResponse,
}

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

impl MediaType {
    /// The type the `Accept` header prefers: the listed one of the two with the highest
    /// `q` (the first on a tie); `application/json` when it names neither, is `*/*` or is
    /// missing.
    pub fn from_accept(headers: &HeaderMap) -> Self {
        let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
            return Self::Json;
        };
        let mut best: Option<(f32, Self)> = None;
        for item in accept.split(',') {
            let mut parts = item.split(';');
            let mime = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let kind = match mime.as_str() {
                GRAPHQL_RESPONSE => Self::GraphqlResponse,
                "application/json" => Self::Json,
                _ => continue,
            };
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
                best = Some((q, kind));
            }
        }
        best.map_or(Self::Json, |(_, kind)| kind)
    }

    fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::GraphqlResponse => "application/graphql-response+json; charset=utf-8",
        }
    }

    /// The status of a response that failed before execution: 400 under the new type, 200
    /// (the errors are in the body) under `application/json`.
    fn request_error_status(self) -> StatusCode {
        match self {
            Self::Json => StatusCode::OK,
            Self::GraphqlResponse => StatusCode::BAD_REQUEST,
        }
    }
}

/// A GraphQL-shaped error response with one error (and no `data`).
pub(super) fn error_response(
    media: MediaType,
    status: StatusCode,
    code: &'static str,
    message: &str,
) -> Response {
    let body = json!({"errors": [{"message": message, "extensions": {"code": code}}]});
    let mut response = (
        status,
        [(header::CONTENT_TYPE, media.content_type())],
        body.to_string(),
    )
        .into_response();
    response.extensions_mut().insert(Outcome(code.into()));
    response
}

/// How a request ended, for metrics and traces: `OK`, or the code of its first error. Put on
/// every response this module answers.
#[derive(Debug, Clone)]
struct Outcome(std::borrow::Cow<'static, str>);

impl Outcome {
    fn of(response: &async_graphql::Response) -> Self {
        let Some(first) = response.errors.first() else {
            return Self("OK".into());
        };
        let code = first
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .and_then(|v| match v {
                async_graphql::Value::String(s) => Some(s.clone()),
                async_graphql::Value::Enum(e) => Some(e.to_string()),
                _ => None,
            });
        Self(code.map_or("UNKNOWN".into(), Into::into))
    }
}

/// Runs `handle` (one GraphQL request over HTTP) in a span naming its operation, then counts
/// it by type, operation name and outcome, with its duration.
async fn observed(
    method: &'static str,
    handle: impl std::future::Future<Output = Response>,
    executed: Executed,
) -> Response {
    use tracing::Instrument;
    let span = tracing::info_span!(
        "graphql",
        otel.name = tracing::field::Empty,
        http.method = method,
        graphql.operation.type = tracing::field::Empty,
        graphql.operation.name = tracing::field::Empty,
        code = tracing::field::Empty,
    );
    let started = std::time::Instant::now();
    let response = handle.instrument(span.clone()).await;
    let took = started.elapsed();
    let code = response
        .extensions()
        .get::<Outcome>()
        .map_or("UNKNOWN", |o| o.0.as_ref());
    let operation = executed.operation();
    let kind = operation.map_or("unknown", |o| o.kind_label());
    let name = operation.and_then(|o| o.name.as_deref());
    span.record(
        "otel.name",
        format!("{kind} {}", name.unwrap_or("anonymous")),
    );
    span.record("graphql.operation.type", kind);
    if let Some(name) = name {
        span.record("graphql.operation.name", name);
    }
    span.record("code", code);
    crate::metrics::request(kind, name, code, Some(took));
    response
}

/// A body or parameters that are not a GraphQL request: 400 whatever the media type.
fn bad_request(media: MediaType, message: &str) -> Response {
    error_response(media, StatusCode::BAD_REQUEST, "BAD_USER_INPUT", message)
}

/// The actor of a request, or the 401 response (DESIGN.md §2).
fn authenticate(
    state: &AppState,
    media: MediaType,
    headers: &HeaderMap,
) -> Result<crate::auth::Actor, Box<Response>> {
    let header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    state.keys.verify_header(header).map_err(|err| {
        let mut response = error_response(
            media,
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

/// A GraphQL request as it arrived, its parameters checked for type (GraphQL over HTTP §5).
struct RawRequest {
    query: Option<String>,
    operation_name: Option<String>,
    variables: Option<serde_json::Map<String, serde_json::Value>>,
    extensions: serde_json::Map<String, serde_json::Value>,
}

impl RawRequest {
    /// A POST body: a JSON object with `query` (a string), `operationName` (a string or null),
    /// `variables` and `extensions` (objects or null). Batches are not supported.
    fn from_body(bytes: &[u8]) -> Result<Self, String> {
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("the body is not JSON: {e}"))?;
        let serde_json::Value::Object(mut body) = value else {
            return Err(
                "the body must be one JSON object `{\"query\": …, \"variables\": …}` (batches are not supported)"
                    .into(),
            );
        };
        let text = |body: &mut serde_json::Map<String, serde_json::Value>, key: &str| match body
            .remove(key)
        {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(format!("`{key}` must be a string")),
        };
        let object = |body: &mut serde_json::Map<String, serde_json::Value>, key: &str| match body
            .remove(key)
        {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::Object(o)) => Ok(Some(o)),
            Some(_) => Err(format!("`{key}` must be an object or null")),
        };
        Ok(Self {
            query: text(&mut body, "query")?,
            operation_name: text(&mut body, "operationName")?,
            variables: object(&mut body, "variables")?,
            extensions: object(&mut body, "extensions")?.unwrap_or_default(),
        })
    }

    /// GET parameters: `variables` and `extensions` are JSON text.
    fn from_params(params: &HashMap<String, String>) -> Result<Self, String> {
        let object = |key: &str| match params.get(key) {
            None => Ok(None),
            Some(text) => match serde_json::from_str(text) {
                Ok(serde_json::Value::Null) => Ok(None),
                Ok(serde_json::Value::Object(o)) => Ok(Some(o)),
                _ => Err(format!("`{key}` must be a JSON object")),
            },
        };
        Ok(Self {
            query: params.get("query").cloned(),
            operation_name: params.get("operationName").cloned(),
            variables: object("variables")?,
            extensions: object("extensions")?.unwrap_or_default(),
        })
    }
}

/// Turns a raw request into the request the schema runs: the query resolved through the
/// persisted-query cache, mutations refused on GET.
fn prepare(
    state: &AppState,
    media: MediaType,
    raw: RawRequest,
    method_get: bool,
) -> Result<async_graphql::Request, Box<Response>> {
    let persisted = apq::PersistedQuery::from_extensions(&raw.extensions);
    let query = persisted.and_then(|p| state.persisted.resolve(raw.query, p));
    let query = match query {
        Ok(Some(query)) => query,
        Ok(None) => {
            return Err(Box::new(bad_request(
                media,
                "`query` is missing: send `{\"query\": \"{ … }\"}`",
            )));
        }
        Err(apq::ApqError::NotFound) => {
            return Err(Box::new(error_response(
                media,
                media.request_error_status(),
                "PERSISTED_QUERY_NOT_FOUND",
                "PersistedQueryNotFound",
            )));
        }
        Err(apq::ApqError::Invalid(message)) => {
            return Err(Box::new(bad_request(media, &message)));
        }
    };
    if method_get && runs_mutation(&query, raw.operation_name.as_deref()) {
        return Err(Box::new(error_response(
            media,
            StatusCode::METHOD_NOT_ALLOWED,
            "BAD_USER_INPUT",
            "mutations must be sent by POST with a JSON body",
        )));
    }
    let mut request = async_graphql::Request::new(query.to_string());
    if let Some(name) = raw.operation_name {
        request = request.operation_name(name);
    }
    if let Some(variables) = raw.variables {
        request = request.variables(async_graphql::Variables::from_json(
            serde_json::Value::Object(variables),
        ));
    }
    Ok(request)
}

/// Runs a request for `actor` under the deadline and answers it in `media`.
async fn execute(
    state: &AppState,
    media: MediaType,
    actor: crate::auth::Actor,
    request: async_graphql::Request,
    executed: &Executed,
) -> Response {
    let request = context::for_actor(request, &state.services, actor).data(executed.clone());
    let response =
        match tokio::time::timeout(state.limits.request_timeout, state.schema.execute(request))
            .await
        {
            Ok(response) => response,
            Err(_) => {
                let ms = state.limits.request_timeout.as_millis();
                // A body without `data` needs an error status under the new media type.
                let status = match media {
                    MediaType::Json => StatusCode::OK,
                    MediaType::GraphqlResponse => StatusCode::GATEWAY_TIMEOUT,
                };
                return error_response(
                    media,
                    status,
                    "TIMEOUT",
                    &format!(
                        "the request took longer than {ms} ms and was stopped; narrow it and retry"
                    ),
                );
            }
        };
    let outcome = Outcome::of(&response);
    let request_error = !executed.started() && response.is_err();
    let (status, body) = if request_error && media == MediaType::GraphqlResponse {
        let body = json!({"errors": response.errors});
        (StatusCode::BAD_REQUEST, serde_json::to_vec(&body))
    } else {
        (StatusCode::OK, serde_json::to_vec(&response))
    };
    match body {
        Ok(body) => {
            let mut response =
                (status, [(header::CONTENT_TYPE, media.content_type())], body).into_response();
            response.extensions_mut().insert(outcome);
            response
        }
        Err(err) => {
            tracing::error!(%err, "response did not serialise");
            error_response(
                media,
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "internal error",
            )
        }
    }
}

pub(super) async fn post(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let executed = Executed::default();
    let handle = post_request(state, headers, body, &executed);
    observed("POST", handle, executed.clone()).await
}

async fn post_request(
    state: AppState,
    headers: HeaderMap,
    body: Body,
    executed: &Executed,
) -> Response {
    let media = MediaType::from_accept(&headers);
    let actor = match authenticate(&state, media, &headers) {
        Ok(actor) => actor,
        Err(response) => return *response,
    };
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json" || mime == GRAPHQL_RESPONSE
        });
    if !is_json {
        return error_response(
            media,
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
                media,
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                &format!("the request body is larger than {max} bytes"),
            );
        }
    };
    let raw = match RawRequest::from_body(&bytes) {
        Ok(raw) => raw,
        Err(message) => return bad_request(media, &message),
    };
    match prepare(&state, media, raw, false) {
        Ok(request) => execute(&state, media, actor, request, executed).await,
        Err(response) => *response,
    }
}

pub(super) async fn get(
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
    let executed = Executed::default();
    observed(
        "GET",
        get_request(state, headers, params, &executed),
        executed.clone(),
    )
    .await
}

async fn get_request(
    state: AppState,
    headers: HeaderMap,
    params: HashMap<String, String>,
    executed: &Executed,
) -> Response {
    let media = MediaType::from_accept(&headers);
    let actor = match authenticate(&state, media, &headers) {
        Ok(actor) => actor,
        Err(response) => return *response,
    };
    let raw = match RawRequest::from_params(&params) {
        Ok(raw) => raw,
        Err(message) => return bad_request(media, &message),
    };
    match prepare(&state, media, raw, true) {
        Ok(request) => execute(&state, media, actor, request, executed).await,
        Err(response) => *response,
    }
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
