//! GraphQL over HTTP as its spec says (DESIGN.md §11): under
//! `application/graphql-response+json` a request that fails to parse, validate or coerce its
//! variables is 400 without `data`; `application/json` clients get 200 as before; a body that
//! is not a GraphQL request is 400 either way. And automatic persisted queries, by POST and GET.

use crate::backend_tests;
use crate::harness::{Member, TestApp};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

backend_tests!(
    request_errors_follow_the_media_type,
    field_errors_are_200_under_both,
    bodies_that_are_not_requests_are_400,
    accept_negotiation,
    persisted_queries_round_trip,
    a_timeout_is_timeout_under_both,
    large_answers_are_compressed_when_accepted,
    cors_answers_only_the_listed_origins,
);

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

struct Answer {
    status: u16,
    content_type: String,
    body: Value,
}

async fn send(app: &TestApp, accept: Option<&str>, body: &str) -> Answer {
    let token = app.token(&app.actor("alice", &[Member]));
    let mut request = reqwest::Client::new()
        .post(format!("http://{}/graphql", app.addr))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    answer(request).await
}

async fn get(app: &TestApp, accept: Option<&str>, params: &[(&str, String)]) -> Answer {
    let token = app.token(&app.actor("alice", &[Member]));
    let mut request = reqwest::Client::new()
        .get(format!("http://{}/graphql", app.addr))
        .bearer_auth(token)
        .query(params);
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    answer(request).await
}

async fn answer(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = response.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        content_type,
        body,
    }
}

fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}

async fn request_errors_follow_the_media_type(app: TestApp) {
    let by_id = "query($id: UUID!) { job(id: $id) { id } }";
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "a parse failure",
            json!({"query": "{ me { id "}),
            "BAD_USER_INPUT",
        ),
        (
            "an unknown field",
            json!({"query": "{ me { shoeSize } }"}),
            "BAD_USER_INPUT",
        ),
        (
            "a malformed UUID literal",
            json!({"query": "{ job(id: \"nope\") { id } }"}),
            "BAD_USER_INPUT",
        ),
        (
            "a malformed UUID variable",
            json!({"query": by_id, "variables": {"id": "nope"}}),
            "BAD_USER_INPUT",
        ),
        (
            "a missing variable",
            json!({"query": by_id}),
            "BAD_USER_INPUT",
        ),
        (
            "a null for a non-null variable",
            json!({"query": by_id, "variables": {"id": null}}),
            "BAD_USER_INPUT",
        ),
        (
            "an Int out of range",
            json!({"query": "query($n: Int) { jobs(first: $n) { totalCount } }", "variables": {"n": 1e12}}),
            "BAD_USER_INPUT",
        ),
        (
            "a bad DateTime",
            json!({"query": "{ jobs(filter: {createdAfter: \"yesterday\"}) { totalCount } }"}),
            "BAD_USER_INPUT",
        ),
        (
            "a bad Decimal",
            json!({"query": "mutation($i: CreateJobInput!) { createJob(input: $i) { id } }", "variables": {"i": {"title": "t", "estimatedCost": "a lot"}}}),
            "BAD_USER_INPUT",
        ),
        (
            "an unknown operation",
            json!({"query": "query A { me { id } }", "operationName": "B"}),
            "BAD_USER_INPUT",
        ),
        (
            "too deep",
            json!({"query": format!("{{ __schema {{ types {{ fields {{ type {}{} }} }} }} }}", " ofType {".repeat(14), " name".to_string() + &" }".repeat(14))}),
            "QUERY_TOO_COMPLEX",
        ),
    ];
    for (case, request, expected) in cases {
        let text = request.to_string();
        let new = send(&app, Some(GRAPHQL_RESPONSE), &text).await;
        assert_eq!(new.status, 400, "{case}: {}", new.body);
        assert!(
            new.content_type.starts_with(GRAPHQL_RESPONSE),
            "{case}: {}",
            new.content_type
        );
        assert!(
            new.body.get("data").is_none(),
            "{case}: no data key: {}",
            new.body
        );
        assert_eq!(code(&new.body), expected, "{case}: {}", new.body);
        for accept in [Some("application/json"), None] {
            let old = send(&app, accept, &text).await;
            assert_eq!(old.status, 200, "{case} ({accept:?}): {}", old.body);
            assert!(old.content_type.starts_with("application/json"), "{case}");
            assert!(old.body["data"].is_null(), "{case}: {}", old.body);
            assert_eq!(code(&old.body), expected, "{case}: {}", old.body);
        }
    }
    assert_eq!(app.job_count().await, 0, "a refused request wrote");
}

async fn field_errors_are_200_under_both(app: TestApp) {
    let missing = uuid::Uuid::now_v7();
    let request = json!({
        "query": "query($id: UUID!) { me { id } jobHistory(id: $id) { id } }",
        "variables": {"id": missing},
    })
    .to_string();
    for accept in [GRAPHQL_RESPONSE, "application/json"] {
        let a = send(&app, Some(accept), &request).await;
        assert_eq!(a.status, 200, "{accept}: {}", a.body);
        assert_eq!(code(&a.body), "NOT_FOUND", "{}", a.body);
        assert_eq!(a.body["data"]["me"]["id"], "alice", "{}", a.body);
    }
    // A good request is 200 under the new type, with its content type.
    let a = send(
        &app,
        Some(GRAPHQL_RESPONSE),
        r#"{"query": "{ me { id } }"}"#,
    )
    .await;
    assert_eq!(
        (a.status, a.body["data"]["me"]["id"].as_str()),
        (200, Some("alice"))
    );
    assert!(
        a.content_type.starts_with(GRAPHQL_RESPONSE),
        "{}",
        a.content_type
    );
}

async fn bodies_that_are_not_requests_are_400(app: TestApp) {
    let bodies = [
        "[]",
        "[{\"query\": \"{ me { id } }\"}]",
        "\"{ me { id } }\"",
        "5",
        "{}",
        "{\"notTheQuery\": \"{ me { id } }\"}",
        "{\"query\": 5}",
        "{\"query\": [\"{ me { id } }\"]}",
        "{\"query\": \"{ me { id } }\", \"variables\": \"{}\"}",
        "{\"query\": \"{ me { id } }\", \"variables\": [1]}",
        "{\"query\": \"{ me { id } }\", \"operationName\": 7}",
        "{\"query\": \"{ me { id } }\", \"extensions\": \"x\"}",
        "{\"query\": ",
    ];
    for body in bodies {
        for accept in [Some(GRAPHQL_RESPONSE), Some("application/json"), None] {
            let a = send(&app, accept, body).await;
            assert_eq!(a.status, 400, "{body} ({accept:?}): {}", a.body);
            assert_eq!(code(&a.body), "BAD_USER_INPUT", "{body}: {}", a.body);
            assert!(a.body.get("data").is_none(), "{body}: {}", a.body);
        }
    }
    // Null for the optional parameters is allowed.
    let a = send(
        &app,
        Some(GRAPHQL_RESPONSE),
        r#"{"query": "{ me { id } }", "variables": null, "operationName": null, "extensions": null}"#,
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    // GET: variables that are not a JSON object.
    let a = get(
        &app,
        None,
        &[
            ("query", "{ me { id } }".into()),
            ("variables", "[1]".into()),
        ],
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.body);
}

async fn accept_negotiation(app: TestApp) {
    let body = r#"{"query": "{ me { id "}"#;
    let cases = [
        ("*/*", 200),
        ("application/*", 200),
        ("text/html", 200),
        (
            "application/graphql-response+json, application/json;q=0.9",
            400,
        ),
        (
            "application/json;q=0.5, application/graphql-response+json",
            400,
        ),
        (
            "application/json, application/graphql-response+json;q=0.5",
            200,
        ),
        ("application/graphql-response+json;q=0", 200),
        ("APPLICATION/GRAPHQL-RESPONSE+JSON; charset=utf-8", 400),
    ];
    for (accept, status) in cases {
        let a = send(&app, Some(accept), body).await;
        assert_eq!(a.status, status, "{accept}: {}", a.body);
    }
}

fn sha256(text: &str) -> String {
    format!("{:x}", Sha256::digest(text.as_bytes()))
}

async fn persisted_queries_round_trip(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    app.create_job(&alice, json!({"title": "persisted"})).await;
    let query = "query Titles { jobs { nodes { title } } }";
    let ext = |hash: &str| json!({"persistedQuery": {"version": 1, "sha256Hash": hash}});
    let hash = sha256(query);
    // 1. The hash alone: not found, under both media types.
    let hash_only = json!({"extensions": ext(&hash)}).to_string();
    let miss = send(&app, None, &hash_only).await;
    assert_eq!(miss.status, 200, "{}", miss.body);
    assert_eq!(
        code(&miss.body),
        "PERSISTED_QUERY_NOT_FOUND",
        "{}",
        miss.body
    );
    assert_eq!(miss.body["errors"][0]["message"], "PersistedQueryNotFound");
    let miss = send(&app, Some(GRAPHQL_RESPONSE), &hash_only).await;
    assert_eq!(miss.status, 400, "{}", miss.body);
    assert_eq!(code(&miss.body), "PERSISTED_QUERY_NOT_FOUND");
    assert!(miss.body.get("data").is_none());
    // By GET too.
    let miss = get(&app, None, &[("extensions", ext(&hash).to_string())]).await;
    assert_eq!(
        code(&miss.body),
        "PERSISTED_QUERY_NOT_FOUND",
        "{}",
        miss.body
    );
    // 2. A wrong hash with the query is refused and registers nothing.
    let wrong = json!({"query": query, "extensions": ext(&sha256("{ other }"))}).to_string();
    let a = send(&app, None, &wrong).await;
    assert_eq!(
        (a.status, code(&a.body)),
        (400, "BAD_USER_INPUT"),
        "{}",
        a.body
    );
    // 3. The query with its hash runs and registers.
    let full = json!({"query": query, "extensions": ext(&hash)}).to_string();
    let a = send(&app, None, &full).await;
    assert_eq!(
        a.body["data"]["jobs"]["nodes"][0]["title"], "persisted",
        "{}",
        a.body
    );
    // 4. Now the hash alone runs, by POST and by GET, with variables.
    let a = send(&app, None, &hash_only).await;
    assert_eq!(
        a.body["data"]["jobs"]["nodes"][0]["title"], "persisted",
        "{}",
        a.body
    );
    let a = get(
        &app,
        Some(GRAPHQL_RESPONSE),
        &[("extensions", ext(&hash).to_string())],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.body["data"]["jobs"]["nodes"][0]["title"], "persisted",
        "{}",
        a.body
    );
    let by_var = "query($n: Int) { jobs(first: $n) { nodes { title } } }";
    let reg = json!({"query": by_var, "variables": {"n": 1}, "extensions": ext(&sha256(by_var))});
    send(&app, None, &reg.to_string()).await;
    let a = get(
        &app,
        None,
        &[
            ("extensions", ext(&sha256(by_var)).to_string()),
            ("variables", json!({"n": 1}).to_string()),
        ],
    )
    .await;
    assert_eq!(
        a.body["data"]["jobs"]["nodes"].as_array().map(Vec::len),
        Some(1),
        "{}",
        a.body
    );
    // 5. A registered mutation does not run by GET: the hash is resolved before the check.
    let mutation = "mutation { createJob(input: {title: \"by GET\"}) { id } }";
    let m = json!({"query": mutation, "extensions": ext(&sha256(mutation))});
    send(&app, None, &m.to_string()).await;
    assert_eq!(app.job_count().await, 2);
    let a = get(
        &app,
        None,
        &[("extensions", ext(&sha256(mutation)).to_string())],
    )
    .await;
    assert_eq!(a.status, 405, "{}", a.body);
    assert_eq!(app.job_count().await, 2, "GET ran a persisted mutation");
    // 6. A malformed extension names itself.
    let bad = json!({"extensions": {"persistedQuery": {"version": 2, "sha256Hash": hash}}});
    let a = send(&app, None, &bad.to_string()).await;
    assert_eq!(a.status, 400);
    let message = a.body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("extensions.persistedQuery"), "{message}");
}

/// A request stopped by the deadline: TIMEOUT and no data, 200 under `application/json`, 504
/// under the new type (a body without `data` needs an error status there). The replica's
/// deadline is a microsecond, which no query that reads the database can meet.
async fn a_timeout_is_timeout_under_both(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    app.create_job(&alice, json!({"title": "slow"})).await;
    let replica = app
        .replica_with(|c| c.http_limits.request_timeout = std::time::Duration::from_micros(1))
        .await;
    for (accept, status) in [("application/json", 200), (GRAPHQL_RESPONSE, 504)] {
        let a = answer(
            reqwest::Client::new()
                .post(format!("http://{}/graphql", replica.addr))
                .bearer_auth(app.token(&alice))
                .header("accept", accept)
                .json(&json!({"query": "{ jobs { nodes { id title tasks { role } } } }"})),
        )
        .await;
        assert_eq!(a.status, status, "{accept}: {}", a.body);
        assert_eq!(code(&a.body), "TIMEOUT", "{}", a.body);
        assert!(a.body.get("data").is_none(), "{}", a.body);
        let message = a.body["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains("ms"), "{message}");
    }
}

/// An answer over 1 KiB comes gzip- or br-encoded when the client accepts it, and decodes to
/// the plain answer; a small answer, or a client that accepts neither, gets it as it is.
async fn large_answers_are_compressed_when_accepted(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    for i in 0..20 {
        app.create_job(
            &alice,
            json!({"title": format!("a job with a longish title {i}")}),
        )
        .await;
    }
    let token = app.token(&alice);
    let post = |query: &str, encoding: Option<&str>| {
        let mut request = reqwest::Client::new()
            .post(format!("http://{}/graphql", app.addr))
            .bearer_auth(&token)
            .json(&json!({"query": query}));
        if let Some(e) = encoding {
            request = request.header("accept-encoding", e);
        }
        request.send()
    };
    let list = "{ jobs(first: 20) { nodes { id title status priority createdAt } } }";
    let plain = post(list, None).await.unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.unwrap();
    assert!(
        plain.len() > 1024,
        "the list is over 1 KiB: {}",
        plain.len()
    );

    let gzip = post(list, Some("gzip")).await.unwrap();
    assert_eq!(gzip.headers()["content-encoding"], "gzip");
    let packed = gzip.bytes().await.unwrap();
    assert!(
        packed.len() < plain.len(),
        "{} < {}",
        packed.len(),
        plain.len()
    );
    let mut unpacked = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&packed[..]),
        &mut unpacked,
    )
    .unwrap();
    let a: Value = serde_json::from_slice(&unpacked).unwrap();
    let b: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!(a, b);

    let br = post(list, Some("br;q=1.0, gzip;q=0.5")).await.unwrap();
    assert_eq!(br.headers()["content-encoding"], "br");

    let small = post("{ me { id } }", Some("gzip")).await.unwrap();
    assert!(
        small.headers().get("content-encoding").is_none(),
        "under 1 KiB: sent as it is"
    );
}

/// No CORS headers by default; with `--cors-origins`, a listed origin's preflight and request
/// are admitted and any other origin's are not.
async fn cors_answers_only_the_listed_origins(app: TestApp) {
    let listed = "https://app.example.com";
    let preflight = |addr: std::net::SocketAddr, origin: &'static str| {
        reqwest::Client::new()
            .request(reqwest::Method::OPTIONS, format!("http://{addr}/graphql"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let allowed = |r: &reqwest::Response| {
        r.headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_string())
    };
    let off = preflight(app.addr, listed).await.unwrap();
    assert_eq!(allowed(&off), None, "CORS is off by default");

    let replica = app
        .replica_with(|c| c.cors_origins = vec![listed.to_string()])
        .await;
    let ok = preflight(replica.addr, listed).await.unwrap();
    assert!(ok.status().is_success(), "{}", ok.status());
    assert_eq!(allowed(&ok).as_deref(), Some(listed));
    let methods = ok.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let other = preflight(replica.addr, "https://elsewhere.example")
        .await
        .unwrap();
    assert_eq!(allowed(&other), None);

    let alice = app.actor("alice", &[Member]);
    let answered = reqwest::Client::new()
        .post(format!("http://{}/graphql", replica.addr))
        .bearer_auth(app.token(&alice))
        .header("origin", listed)
        .json(&json!({"query": "{ me { id } }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(allowed(&answered).as_deref(), Some(listed));
}
