//! Query cost follows list sizes (DESIGN.md §9): each field costs 1 times the product of the
//! list sizes above it, so a request that could return millions of rows is refused before any
//! SQL, while the dashboard's page of 50 jobs with their tasks, GraphiQL's introspection and
//! every query in the README pass. List arguments hold at most 100 values (the subscription
//! filters' `jobIds`, `taskIds` and `kinds` are tested with the subscriptions).

use crate::backend_tests;
use crate::errors::INTROSPECTION_QUERY;
use crate::harness::{Admin, Agent, Member, TestApp, code, first_error};
use crate::statements::count_statements;
use jobgraph::graphql::cost::{DASHBOARD_QUERY, measure};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

backend_tests!(
    amplification_is_refused_before_any_sql,
    the_dashboard_query_runs,
    list_arguments_hold_at_most_100_values,
);

/// 50 aliased copies of a 200-job, three-level nested list: 200 × 10 × 10 × 10 rows each.
fn amplification() -> String {
    let copy = "jobs(first: 200) { nodes { tasks { task { jobs { job { tasks { task { id title } } } } } } } }";
    let fields: String = (0..50).map(|i| format!("a{i}: {copy} ")).collect();
    format!("{{ {fields} }}")
}

/// Each row: a query, its variables, the complexity DESIGN.md §9 gives it.
#[tokio::test]
async fn complexity_table() {
    let amplification = amplification();
    let table: Vec<(&str, &str, Value, usize)> = vec![
        // 1 + 50 × (totalCount 1 + pageInfo 3 + nodes (1 + 12 scalars + progress 6
        //   + tasks (1 + 10 × (role 1 + task 9)))) = 1 + 50 × 124
        ("dashboard", DASHBOARD_QUERY, json!({}), 6_201),
        ("a default page", "{ jobs { nodes { id } } }", json!({}), 41),
        (
            "first as a variable",
            "query($n: Int) { jobs(first: $n) { nodes { id title } } }",
            json!({"n": 5}),
            16,
        ),
        (
            "an omitted variable",
            "query($n: Int) { jobs(first: $n) { nodes { id } } }",
            json!({}),
            41,
        ),
        (
            "a variable's default",
            "query($n: Int = 3) { jobs(first: $n) { nodes { id } } }",
            json!({}),
            7,
        ),
        ("last", "{ tasks(last: 7) { nodes { id } } }", json!({}), 15),
        (
            "aliases count each",
            "{ a: jobs(first: 10) { nodes { id } } b: jobs(first: 10) { nodes { id } } }",
            json!({}),
            42,
        ),
        (
            "unpaginated lists count 10",
            "{ job(id: \"00000000-0000-0000-0000-000000000000\") { id tasks { role } runs { id } } }",
            json!({}),
            24,
        ),
        (
            "claimJobs by its limit",
            "mutation { claimJobs(limit: 10) { id title } }",
            json!({}),
            21,
        ),
        (
            "events",
            "{ events(first: 100) { nodes { ... on JobEvent { id type } } } }",
            json!({}),
            301,
        ),
        ("a scalar", "{ latestEventId }", json!({}), 1),
        ("introspection is flat", INTROSPECTION_QUERY, json!({}), 0),
        (
            "the amplification request",
            &amplification,
            json!({}),
            50 * (1 + 200 * 3_222),
        ),
    ];
    let mut failures = Vec::new();
    for (name, query, variables, expected) in table {
        let (complexity, _) = measure(query, variables)
            .await
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        eprintln!("{name}: {complexity}");
        if name == "introspection is flat" {
            // graphql-js's introspection query, every option on: each field counts 1.
            assert!(
                (150..400).contains(&complexity),
                "introspection counts {complexity}"
            );
            continue;
        }
        if complexity != expected {
            failures.push(format!("{name}: counted {complexity}, expected {expected}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Every ```graphql block of the README fits the default limit of 10,000.
#[tokio::test]
async fn readme_queries_fit_the_limit() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let blocks: Vec<&str> = readme
        .split("```graphql\n")
        .skip(1)
        .filter_map(|rest| rest.split("```").next())
        .collect();
    assert!(blocks.len() >= 3, "the README shows its queries");
    for block in blocks {
        let (complexity, depth) = measure(block, json!({}))
            .await
            .unwrap_or_else(|e| panic!("README query does not validate: {e:?}\n{block}"));
        assert!(complexity <= 10_000, "{complexity} for\n{block}");
        assert!(depth <= 16, "depth {depth} for\n{block}");
    }
}

async fn amplification_is_refused_before_any_sql(app: TestApp) {
    let viewer = app.actor("victor", &[crate::harness::Viewer]);
    let alice = app.actor("alice", &[Member]);
    for i in 0..3 {
        app.create_job(&alice, json!({"title": format!("job {i}")}))
            .await;
    }
    let query = amplification();
    // Over HTTP: refused with the code, no data, in milliseconds.
    let started = Instant::now();
    let token = app.token(&viewer);
    let (status, _, body) = app.post_raw(Some(&token), &json!({"query": query})).await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{body}");
    assert_eq!(code(&body), "QUERY_TOO_COMPLEX", "{body}");
    assert!(body["data"].is_null(), "{body}");
    assert!(
        took < Duration::from_millis(100),
        "refused in {took:?}, not milliseconds"
    );
    // And no statement reached the database.
    let (statements, seen, response) = count_statements(&app, &viewer, &query, json!({})).await;
    assert_eq!(code(&response), "QUERY_TOO_COMPLEX", "{response}");
    assert_eq!(statements, 0, "{seen:#?}");
    let message = first_error(&response)["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("complex"), "{message}");
}

async fn the_dashboard_query_runs(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    for i in 0..60 {
        let job = app
            .create_job(&alice, json!({"title": format!("job {i}")}))
            .await;
        if i % 10 == 0 {
            let task = app
                .create_task(&alice, None, json!({"title": format!("task {i}")}))
                .await;
            app.link(
                job["id"].as_str().unwrap(),
                task["id"].as_str().unwrap(),
                entity::status::JobTaskRole::Primary,
            )
            .await;
        }
    }
    let body = app.http(&alice, DASHBOARD_QUERY, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    let nodes = body["data"]["jobs"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 50);
    assert_eq!(body["data"]["jobs"]["totalCount"], 60);
    let with_tasks = nodes
        .iter()
        .filter(|n| !n["tasks"].as_array().unwrap().is_empty())
        .count();
    assert_eq!(with_tasks, 5, "{body}");
}

async fn list_arguments_hold_at_most_100_values(app: TestApp) {
    let admin = app.actor("root", &[Admin]);
    let agent = app.actor("agent-1", &[Agent]);
    let statuses = |n: usize, s: &str| -> Vec<String> { vec![s.to_string(); n] };
    let cases: Vec<(&str, &str, Value)> = vec![
        (
            "filter.status",
            "query($v: [JobStatus!]) { jobs(filter: {status: $v}) { nodes { id } } }",
            json!({"v": statuses(101, "PENDING")}),
        ),
        (
            "filter.status",
            "query($v: [TaskStatus!]) { tasks(filter: {status: $v}) { nodes { id } } }",
            json!({"v": statuses(101, "OPEN")}),
        ),
        (
            "filter.types",
            "query($v: [String!]) { events(filter: {types: $v}) { nodes { __typename } } }",
            json!({"v": statuses(101, "job.created")}),
        ),
    ];
    for (field, query, variables) in cases {
        let error = app.err(&admin, query, variables.clone()).await;
        assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
        assert_eq!(error["extensions"]["field"], field, "{error}");
        // 100 is allowed.
        let mut fewer = variables.clone();
        fewer["v"].as_array_mut().unwrap().truncate(100);
        app.ok(&admin, query, fewer).await;
    }
    let labels: Vec<String> = (0..101).map(|i| format!("l{i}")).collect();
    let error = app
        .err(
            &agent,
            "mutation($l: [String!]) { claimJobs(labels: $l) { id } }",
            json!({"l": labels}),
        )
        .await;
    assert_eq!(error["extensions"]["code"], "BAD_USER_INPUT", "{error}");
    assert_eq!(error["extensions"]["field"], "labels", "{error}");
}
