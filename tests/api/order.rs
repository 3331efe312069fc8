//! Response keys follow the selection order (GraphQL spec §7.2.2), whatever order the fields
//! completed in: fields that wait on a DataLoader (`job`, `task`, `blocked`, `progress`) come
//! where they were selected, over HTTP and in subscriptions. The bodies are read as text and
//! parsed with async-graphql's order-keeping `Value` (serde_json's map sorts its keys).

use crate::backend_tests;
use crate::harness::{Member, TestApp};
use crate::ws_client::{TRANSPORT, Ws};
use async_graphql::Value as Ordered;
use futures_util::StreamExt;
use serde_json::json;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

backend_tests!(
    keys_follow_the_selection,
    subscription_keys_follow_the_selection
);

/// The keys of an object, in the order they came.
fn keys(value: &Ordered) -> Vec<String> {
    match value {
        Ordered::Object(map) => map.keys().map(|k| k.to_string()).collect(),
        other => panic!("not an object: {other}"),
    }
}

fn field<'v>(value: &'v Ordered, path: &[&str]) -> &'v Ordered {
    path.iter().fold(value, |v, key| match v {
        Ordered::Object(map) => map.get(*key).unwrap_or_else(|| panic!("no `{key}` in {v}")),
        Ordered::List(items) => {
            let i: usize = key.parse().expect("an index");
            &items[i]
        }
        other => panic!("`{key}` of {other}"),
    })
}

async fn keys_follow_the_selection(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    for i in 0..3 {
        let job = app
            .create_job(&alice, json!({"title": format!("job {i}")}))
            .await;
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
    let query = "query {
        jobs(first: 3) {
            nodes {
                blocked
                tasks { role job { id title } task { title blocked id } createdAt }
                progress { ratio total }
                ... on Job { t: title }
                id
            }
            totalCount
            pageInfo { endCursor hasNextPage }
        }
        me { roles id }
    }";
    // Many times: completion order varies from run to run, selection order must not.
    for _ in 0..20 {
        let token = app.token(&alice);
        let text = reqwest::Client::new()
            .post(format!("http://{}/graphql", app.addr))
            .bearer_auth(token)
            .json(&json!({"query": query}))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let body: Ordered = serde_json::from_str(&text).unwrap();
        let data = field(&body, &["data"]);
        assert_eq!(keys(data), ["jobs", "me"], "{text}");
        assert_eq!(keys(field(data, &["me"])), ["roles", "id"], "{text}");
        let jobs = field(data, &["jobs"]);
        assert_eq!(keys(jobs), ["nodes", "totalCount", "pageInfo"], "{text}");
        assert_eq!(
            keys(field(jobs, &["pageInfo"])),
            ["endCursor", "hasNextPage"]
        );
        for n in 0..3 {
            let node = field(jobs, &["nodes", &n.to_string()]);
            assert_eq!(
                keys(node),
                ["blocked", "tasks", "progress", "t", "id"],
                "{text}"
            );
            assert_eq!(keys(field(node, &["progress"])), ["ratio", "total"]);
            let link = field(node, &["tasks", "0"]);
            assert_eq!(keys(link), ["role", "job", "task", "createdAt"], "{text}");
            assert_eq!(keys(field(link, &["job"])), ["id", "title"]);
            assert_eq!(keys(field(link, &["task"])), ["title", "blocked", "id"]);
        }
    }
}

async fn subscription_keys_follow_the_selection(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let mut ws = Ws::ready(app.addr, TRANSPORT, &app.token(&alice)).await;
    ws.subscribe(
        "1",
        "subscription { jobEvents { job { blocked title progress { total } id } kind id } }",
        json!({}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    for i in 0..5 {
        app.create_job(&alice, json!({"title": format!("job {i}")}))
            .await;
    }
    let mut seen = 0;
    while seen < 5 {
        let next = tokio::time::timeout(Duration::from_secs(10), ws.socket.next())
            .await
            .expect("an event in time")
            .expect("the socket is open")
            .expect("a frame");
        let Message::Text(text) = next else { continue };
        let frame: Ordered = serde_json::from_str(text.as_str()).unwrap();
        if field(&frame, &["type"]) != &Ordered::from("next") {
            continue;
        }
        let event = field(&frame, &["payload", "data", "jobEvents"]);
        assert_eq!(keys(event), ["job", "kind", "id"], "{text}");
        assert_eq!(
            keys(field(event, &["job"])),
            ["blocked", "title", "progress", "id"],
            "{text}"
        );
        seen += 1;
    }
}
