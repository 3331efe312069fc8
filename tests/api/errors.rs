//! Errors as a client sees them over HTTP (DESIGN.md §8, §9, §11): the errors async-graphql
//! raises itself carry a code, query depth is bounded while GraphiQL's introspection passes, the
//! body limit, CSRF refusals, and the plain endpoints. No message leaks SQL, driver or panic text.

use crate::backend_tests;
use crate::harness::{Member, TEST_MAX_BODY_BYTES, TestApp, Viewer};
use serde_json::{Value, json};

backend_tests!(
    library_errors_have_codes,
    depth_and_complexity_are_bounded,
    very_deep_queries_are_too_complex,
    graphiql_introspection_passes,
    body_limit_is_413,
    only_json_posts,
    get_runs_queries_never_mutations,
    plain_endpoints,
);

/// Every error of a response has a code and no message shows internals.
fn assert_clean(body: &Value) {
    for error in body["errors"].as_array().into_iter().flatten() {
        let code = error["extensions"]["code"].as_str().unwrap_or_default();
        assert!(!code.is_empty(), "an error without a code: {body}");
        let message = error["message"].as_str().unwrap_or_default();
        for leak in ["SELECT", "sqlx", "panicked"] {
            assert!(!message.contains(leak), "`{leak}` shown: {body}");
        }
    }
}

/// POSTs a request with alice's token; checks the body is clean; returns (status, body).
async fn post(app: &TestApp, body: Value) -> (u16, Value) {
    let token = app.token(&app.actor("alice", &[Member]));
    let (status, _, body) = app.post_raw(Some(&token), &body).await;
    assert_clean(&body);
    (status, body)
}

/// POSTs `{"query": query}`.
async fn post_query(app: &TestApp, query: &str) -> (u16, Value) {
    post(app, json!({"query": query})).await
}

/// Sends a raw request; checks the body is clean; returns (status, Content-Type, body text).
async fn send(request: reqwest::RequestBuilder) -> (u16, String, String) {
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    let content_type = match response.headers().get(reqwest::header::CONTENT_TYPE) {
        Some(v) => v.to_str().unwrap_or_default().to_string(),
        None => String::new(),
    };
    let text = response.text().await.unwrap_or_default();
    assert_clean(&serde_json::from_str(&text).unwrap_or(Value::Null));
    (status, content_type, text)
}

/// The one error's code of a response.
fn one_code(body: &Value) -> &str {
    let errors = body["errors"].as_array();
    let errors = errors.unwrap_or_else(|| panic!("expected an error: {body}"));
    assert_eq!(errors.len(), 1, "{body}");
    errors[0]["extensions"]["code"].as_str().unwrap_or_default()
}

/// True when a response carries no data.
fn no_data(body: &Value) -> bool {
    body.get("data").is_none_or(Value::is_null)
}

async fn library_errors_have_codes(app: TestApp) {
    let queries = [
        "{ me { id ",
        "hello",
        "",
        "{ me { id shoeSize } }",
        "{ everything }",
        "{ jobs(limit: 3) { totalCount } }",
        "{ job { id } }",
        "{ me }",
        "{ job(id: 5) { id } }",
        "{ job(id: \"nope\") { id } }",
        "{ job(id: $id) { id } }",
        "{ jobs(filter: {status: [DONE]}) { totalCount } }",
        "{ jobs(first: 9999999999) { totalCount } }",
        "query A { me { id } } query A { me { id } }",
    ];
    let mut cases: Vec<Value> = queries.iter().map(|q| json!({"query": q})).collect();
    let by_id = "query($id: UUID!) { job(id: $id) { id } }";
    let create = "mutation($i: CreateJobInput!) { createJob(input: $i) { id } }";
    let input = |i: Value| json!({"query": create, "variables": {"i": i}});
    cases.extend([
        json!({"query": by_id, "variables": {"id": "not-a-uuid"}}),
        json!({"query": by_id, "variables": {}}),
        json!({"query": "query A { me { id } }", "operationName": "B"}),
        input(json!({"title": "t", "estimatedCost": 0.1})),
        input(json!({"title": "t", "estimatedCost": "1e3"})),
        input(json!({"labels": ["a"]})),
        input(json!({"title": "t", "colour": "red"})),
        input(json!({"title": "t", "priorityLevel": "URGENT"})),
    ]);
    for request in cases {
        let (_, body) = post(&app, request.clone()).await;
        assert_eq!(one_code(&body), "BAD_USER_INPUT", "{request}: {body}");
        assert!(no_data(&body), "{request}: {body}");
    }
    assert_eq!(app.job_count().await, 0, "a refused create wrote a job");
    assert_eq!(app.event_count().await, 0);
    // The body itself not being a GraphQL request.
    for raw in [json!([1, 2]), json!("query"), json!({"query": 5})] {
        let (status, body) = post(&app, raw.clone()).await;
        assert_eq!(status, 400, "{raw}: {body}");
        assert_eq!(one_code(&body), "BAD_USER_INPUT", "{raw}: {body}");
    }
}

/// `{ __schema { types { fields { type { ofType { … { name } } } } } } }`, `depth` fields deep.
fn nested_introspection(depth: usize) -> String {
    let mut path = vec!["__schema", "types", "fields", "type"];
    path.extend(std::iter::repeat_n("ofType", depth - 5));
    let open: String = path.iter().map(|f| format!(" {f} {{")).collect();
    format!("{{{open} name{}", " }".repeat(path.len() + 1))
}

async fn depth_and_complexity_are_bounded(app: TestApp) {
    // 16 levels is the limit (DESIGN.md §11, --max-query-depth); one more is refused.
    let (status, body) = post_query(&app, &nested_introspection(16)).await;
    assert_eq!(status, 200);
    assert!(body.get("errors").is_none(), "depth 16 is allowed: {body}");
    assert!(body["data"]["__schema"]["types"].is_array(), "{body}");
    for depth in [17, 18, 33] {
        let (_, body) = post_query(&app, &nested_introspection(depth)).await;
        assert_eq!(one_code(&body), "QUERY_TOO_COMPLEX", "{depth}: {body}");
        assert!(no_data(&body), "{body}");
    }
    // Complexity: a fragment of 100 `me { id }` (complexity 200) spread 51 times is 10,200.
    let fields: String = (0..100).map(|i| format!("f{i}: me {{ id }} ")).collect();
    let fragment = format!("fragment F on Query {{ {fields} }}");
    let spreads = |n: usize| format!("query {{ {} }} {fragment}", "...F ".repeat(n));
    let (_, body) = post_query(&app, &spreads(51)).await;
    assert_eq!(one_code(&body), "QUERY_TOO_COMPLEX", "{body}");
    // ... while 49 spreads (9,800) pass.
    let (_, body) = post_query(&app, &spreads(49)).await;
    assert!(body.get("errors").is_none(), "{body}");
}

/// Deeper still, async-graphql's own guards answer first: past 33 levels the schema's recursion
/// check ("The recursion depth of the query cannot be greater than `32`"), past 64 the parser's
/// ("recursion limit exceeded."). Both are depth failures: QUERY_TOO_COMPLEX (DESIGN.md §8).
async fn very_deep_queries_are_too_complex(app: TestApp) {
    for depth in [34, 40, 70, 200] {
        let (_, body) = post_query(&app, &nested_introspection(depth)).await;
        assert_eq!(one_code(&body), "QUERY_TOO_COMPLEX", "{depth}: {body}");
    }
}

/// The query GraphiQL sends on load: graphql-js 16 `getIntrospectionQuery` with every option on
/// (schema description, specifiedByURL, isRepeatable, deprecated input values), re-indented.
pub const INTROSPECTION_QUERY: &str = r#"
query IntrospectionQuery {
  __schema {
    description
    queryType { name } mutationType { name } subscriptionType { name }
    types { ...FullType }
    directives {
      name description isRepeatable locations
      args(includeDeprecated: true) { ...InputValue }
    }
  }
}
fragment FullType on __Type {
  kind name description specifiedByURL
  fields(includeDeprecated: true) {
    name description
    args(includeDeprecated: true) { ...InputValue }
    type { ...TypeRef }
    isDeprecated deprecationReason
  }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name description type { ...TypeRef } defaultValue isDeprecated deprecationReason
}
fragment TypeRef on __Type {
  kind name
  ofType { kind name
    ofType { kind name
      ofType { kind name
        ofType { kind name
          ofType { kind name
            ofType { kind name
              ofType { kind name } } } } } } }
}
"#;

async fn graphiql_introspection_passes(app: TestApp) {
    let name = "IntrospectionQuery";
    let request = json!({"query": INTROSPECTION_QUERY, "operationName": name});
    let (status, body) = post(&app, request).await;
    assert_eq!(status, 200);
    assert!(body.get("errors").is_none(), "{body}");
    let schema = &body["data"]["__schema"];
    assert_eq!(schema["queryType"]["name"], "Query");
    assert_eq!(schema["mutationType"]["name"], "Mutation");
    let types = schema["types"].as_array().unwrap();
    let names: Vec<&str> = types.iter().filter_map(|t| t["name"].as_str()).collect();
    for needle in [
        "Job",
        "CreateJobInput",
        "UUID",
        "DateTime",
        "Decimal",
        "JSON",
    ] {
        assert!(names.contains(&needle), "introspection lacks {needle}");
    }
    // A viewer may introspect too.
    let val = app.actor("val", &[Viewer]);
    let body = app.http(&val, INTROSPECTION_QUERY, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
}

async fn body_limit_is_413(app: TestApp) {
    let create = "mutation($i: CreateJobInput!) { createJob(input: $i) { id } }";
    let padding = "x".repeat(TEST_MAX_BODY_BYTES + 1024);
    let variables = json!({"i": {"title": "big"}, "pad": padding});
    let (status, body) = post(&app, json!({"query": create, "variables": variables})).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(one_code(&body), "PAYLOAD_TOO_LARGE", "{body}");
    assert_eq!(app.job_count().await, 0);
    // Exactly at the limit is served (a query, padded with an unused variable).
    let request = |pad: String| json!({"query": "{ me { id } }", "variables": {"pad": pad}});
    let overhead = request(String::new()).to_string().len();
    let exact = request("x".repeat(TEST_MAX_BODY_BYTES - overhead));
    assert_eq!(exact.to_string().len(), TEST_MAX_BODY_BYTES);
    let (status, body) = post(&app, exact).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["me"]["id"], "alice", "{body}");
}

async fn only_json_posts(app: TestApp) {
    let token = app.token(&app.actor("alice", &[Member]));
    let query = "mutation { createJob(input: {title: \"csrf\"}) { id } }";
    let body = json!({"query": query}).to_string();
    let url = format!("http://{}/graphql", app.addr);
    let client = reqwest::Client::new();
    let content_types = [
        Some("text/plain"),
        Some("text/plain;charset=UTF-8"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        None,
    ];
    for content_type in content_types {
        let mut request = client.post(&url).bearer_auth(&token).body(body.clone());
        if let Some(content_type) = content_type {
            request = request.header(reqwest::header::CONTENT_TYPE, content_type);
        }
        let (status, _, reply) = send(request).await;
        assert_eq!(status, 415, "{content_type:?}: {reply}");
    }
    assert_eq!(app.job_count().await, 0, "a non-JSON POST created a job");
    // The same body as JSON is served.
    let json_type = "application/json; charset=utf-8";
    let request = client.post(&url).bearer_auth(&token).body(body);
    let request = request.header(reqwest::header::CONTENT_TYPE, json_type);
    assert_eq!(send(request).await.0, 200);
    assert_eq!(app.job_count().await, 1);
}

/// GET /graphql with `params` as the query string and a token; returns (status, body).
async fn get(app: &TestApp, params: &[(&str, &str)]) -> (u16, Value) {
    let base = format!("http://{}/graphql", app.addr);
    let mut url = reqwest::Url::parse(&base).unwrap();
    for (k, v) in params {
        url.query_pairs_mut().append_pair(k, v);
    }
    let token = app.token(&app.actor("alice", &[Member]));
    let (status, _, text) = send(reqwest::Client::new().get(url).bearer_auth(token)).await;
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn get_runs_queries_never_mutations(app: TestApp) {
    let mutation = "mutation { createJob(input: {title: \"via GET\"}) { id } }";
    let named = "mutation M { createJob(input: {title: \"x\"}) { id } }";
    let two = "query A { me { id } } mutation B { createJob(input: {title: \"y\"}) { id } }";
    let refusals: [&[(&str, &str)]; 4] = [
        &[("query", mutation)],
        &[("query", named), ("operationName", "M")],
        &[("query", two), ("operationName", "B")],
        &[("query", two)],
    ];
    for params in refusals {
        let (status, body) = get(&app, params).await;
        assert_ne!(status, 200, "{params:?}: {body}");
        assert_eq!(one_code(&body), "BAD_USER_INPUT", "{params:?}: {body}");
    }
    assert_eq!(app.job_count().await, 0, "a GET ran a mutation");
    assert_eq!(app.event_count().await, 0);

    let (status, body) = get(&app, &[("query", "{ me { id } }")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["me"]["id"], "alice", "{body}");
    let (status, body) = get(&app, &[("query", two), ("operationName", "A")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["me"]["id"], "alice", "{body}");
    let count = "query($f: Int) { jobs(first: $f) { totalCount } }";
    let (status, body) = get(&app, &[("query", count), ("variables", "{\"f\": 5}")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["jobs"]["totalCount"], 0, "{body}");
    // A GET that does not parse is answered with a coded error; one without a query is a 400.
    let (_, body) = get(&app, &[("query", "mutation {")]).await;
    assert_eq!(one_code(&body), "BAD_USER_INPUT", "{body}");
    let (status, body) = get(&app, &[]).await;
    assert_eq!((status, one_code(&body)), (400, "BAD_USER_INPUT"), "{body}");
    // Without a token, GET is refused like POST.
    let url = format!(
        "http://{}/graphql?query=%7B%20me%20%7B%20id%20%7D%20%7D",
        app.addr
    );
    let (status, _, body) = send(reqwest::Client::new().get(url)).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(app.job_count().await, 0);
}

async fn plain_endpoints(app: TestApp) {
    let client = reqwest::Client::new();
    let (status, content_type, html) = send(client.get(format!("http://{}/", app.addr))).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(html.to_lowercase().contains("graphiql"), "{html}");
    for path in ["/healthz", "/readyz"] {
        let (status, _, _) = send(client.get(format!("http://{}{path}", app.addr))).await;
        assert_eq!(status, 200, "{path}");
    }
}
