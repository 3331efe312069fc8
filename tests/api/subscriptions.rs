//! Live streams over real websockets (DESIGN.md §2, §7): the protocol and its close codes in
//! both subprotocols, tenant isolation, token expiry on the clock, resume with no gap while
//! writers run, shared executions, shutdown, and two replicas on one PostgreSQL.

use crate::backend_tests;
use crate::harness::{Admin, Member, TestApp, Viewer};
use crate::ws_client::{Got, LEGACY, TRANSPORT, Ws};
use serde_json::{Value, json};
use std::time::Duration;

backend_tests!(
    transport_ws_close_codes_and_messages,
    legacy_graphql_ws_protocol,
    live_events_stay_in_their_tenant,
    a_socket_closes_when_its_token_expires,
    resume_after_a_cursor_while_writers_run,
    identical_live_subscriptions_share_one_execution,
    shutdown_closes_sockets_with_1001,
    filters_and_errors_of_subscriptions,
    two_replicas_hear_each_other,
    a_stalled_subscriber_costs_bounded_memory,
);

const JOB_EVENTS: &str = "subscription($f: JobEventFilter, $a: String) { jobEvents(filter: $f, after: $a) { id type kind jobId job { title } } }";

async fn create_job(app: &TestApp, actor: &jobgraph::auth::Actor, title: &str) -> String {
    app.create_job(actor, json!({"title": title})).await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn transport_ws_close_codes_and_messages(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let token = app.token(&alice);
    let init = |payload: Value| json!({"type": "connection_init", "payload": payload});

    // Bad or missing tokens: 4403 with the reason.
    for payload in [
        json!({}),
        json!({"Authorization": "Bearer nonsense"}),
        json!({"token": "x.y.z"}),
    ] {
        let mut ws = Ws::connect(app.addr, TRANSPORT).await;
        ws.send(init(payload)).await;
        let reason = ws.closed_with(4403).await;
        assert!(reason.starts_with("UNAUTHENTICATED: "), "{reason}");
    }
    // Both payload shapes work, the key in any case, with or without `Bearer`.
    for payload in [
        json!({"Authorization": format!("Bearer {token}")}),
        json!({"authorization": format!("bearer {token}")}),
        json!({"token": token}),
        json!({"token": format!("Bearer {token}")}),
    ] {
        let mut ws = Ws::connect(app.addr, TRANSPORT).await;
        ws.send(init(payload.clone())).await;
        assert_eq!(
            ws.recv().await,
            Got::Json(json!({"type": "connection_ack"})),
            "{payload}"
        );
    }
    // Ping before and after init; pong carries the payload back.
    let mut ws = Ws::connect(app.addr, TRANSPORT).await;
    ws.send(json!({"type": "ping", "payload": {"n": 1}})).await;
    assert_eq!(
        ws.recv().await,
        Got::Json(json!({"type": "pong", "payload": {"n": 1}}))
    );
    // Subscribe before the ack: 4401.
    ws.subscribe("1", JOB_EVENTS, json!({})).await;
    ws.closed_with(4401).await;
    // No init in time: 4408.
    let mut ws = Ws::connect(app.addr, TRANSPORT).await;
    ws.closed_with(4408).await;
    // A second init: 4429.
    let mut ws = Ws::ready(app.addr, TRANSPORT, &token).await;
    ws.send(init(json!({"token": token}))).await;
    ws.closed_with(4429).await;
    // Unknown or malformed messages: 4400.
    for bad in [
        r#"{"type":"hello"}"#,
        "not json",
        r#"{"type":"subscribe","id":"1"}"#,
    ] {
        let mut ws = Ws::ready(app.addr, TRANSPORT, &token).await;
        ws.send_text(bad).await;
        ws.closed_with(4400).await;
    }
    // A duplicate id: 4409.
    let mut ws = Ws::ready(app.addr, TRANSPORT, &token).await;
    ws.subscribe("a", JOB_EVENTS, json!({})).await;
    ws.subscribe("a", JOB_EVENTS, json!({})).await;
    ws.closed_with(4409).await;
    // A message over the size limit: 1009.
    let mut ws = Ws::ready(app.addr, TRANSPORT, &token).await;
    let huge = "x".repeat(crate::harness::TEST_MAX_BODY_BYTES + 10);
    ws.subscribe("big", &format!("{{ me {{ id }} }} # {huge}"), json!({}))
        .await;
    ws.closed_with(1009).await;

    // Parse and validation failures are `error` messages; the socket stays open.
    let mut ws = Ws::ready(app.addr, TRANSPORT, &token).await;
    ws.subscribe("p", "subscription { jobEvents {", json!({}))
        .await;
    match ws.recv().await {
        Got::Json(v) => {
            assert_eq!(v["type"], "error");
            assert_eq!(v["id"], "p");
            assert_eq!(
                v["payload"][0]["extensions"]["code"], "BAD_USER_INPUT",
                "{v}"
            );
        }
        other => panic!("{other:?}"),
    }
    ws.subscribe("v", "subscription { jobEvents { nope } }", json!({}))
        .await;
    match ws.recv().await {
        Got::Json(v) => assert_eq!(
            (v["type"].clone(), v["id"].clone()),
            (json!("error"), json!("v"))
        ),
        other => panic!("{other:?}"),
    }
    // A query runs too: one `next`, then `complete`.
    ws.subscribe("q", "{ me { id tenantId } }", json!({})).await;
    assert_eq!(ws.next_of("q").await["data"]["me"]["id"], "alice");
    assert_eq!(
        ws.recv().await,
        Got::Json(json!({"type": "complete", "id": "q"}))
    );
    // The socket still answers, and the same ids may be used again.
    ws.subscribe("q", "{ me { id } }", json!({})).await;
    assert_eq!(ws.next_of("q").await["data"]["me"]["id"], "alice");

    // At most 5 operations per socket in the test server (100 by default).
    let mut ws = Ws::ready(app.addr, TRANSPORT, &token).await;
    for i in 0..5 {
        ws.subscribe(
            &format!("s{i}"),
            JOB_EVENTS,
            json!({"f": {"kinds": ["CREATED"]}}),
        )
        .await;
    }
    ws.subscribe("s5", JOB_EVENTS, json!({})).await;
    match ws.recv().await {
        Got::Json(v) => {
            assert_eq!(
                (v["type"].clone(), v["id"].clone()),
                (json!("error"), json!("s5"))
            );
            assert_eq!(v["payload"][0]["extensions"]["code"], "BAD_USER_INPUT");
        }
        other => panic!("{other:?}"),
    }
    // `complete` from the client stops one: its events stop, the others go on, and a new
    // operation fits again.
    ws.send(json!({"type": "complete", "id": "s0"})).await;
    ws.subscribe("s6", JOB_EVENTS, json!({"f": {"kinds": ["CREATED"]}}))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let id = create_job(&app, &alice, "seen by s1..s6").await;
    let mut got = Vec::new();
    for _ in 0..5 {
        match ws.recv().await {
            Got::Json(v) if v["type"] == "next" => {
                assert_eq!(v["payload"]["data"]["jobEvents"]["jobId"], json!(id));
                got.push(v["id"].as_str().unwrap().to_string());
            }
            other => panic!("{other:?}"),
        }
    }
    got.sort();
    assert_eq!(got, ["s1", "s2", "s3", "s4", "s6"]);
    assert_eq!(
        ws.recv_within(Duration::from_millis(300)).await,
        Got::Silence,
        "s0 is stopped"
    );
}

async fn legacy_graphql_ws_protocol(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let token = app.token(&alice);
    // A refused token: connection_error, then 4403.
    let mut ws = Ws::connect(app.addr, LEGACY).await;
    ws.send(json!({"type": "connection_init", "payload": {"token": "bad"}}))
        .await;
    match ws.recv().await {
        Got::Json(v) => {
            assert_eq!(v["type"], "connection_error");
            assert!(
                v["payload"]["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("UNAUTHENTICATED")
            );
        }
        other => panic!("{other:?}"),
    }
    ws.closed_with(4403).await;
    // start / data / stop.
    let mut ws = Ws::ready(app.addr, LEGACY, &token).await;
    ws.subscribe("1", JOB_EVENTS, json!({})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let id = create_job(&app, &alice, "legacy").await;
    let payload = ws.next_of("1").await;
    assert_eq!(payload["data"]["jobEvents"]["jobId"], json!(id));
    assert_eq!(payload["data"]["jobEvents"]["type"], "job.created");
    ws.send(json!({"type": "stop", "id": "1"})).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    create_job(&app, &alice, "after stop").await;
    assert_eq!(
        ws.recv_within(Duration::from_millis(300)).await,
        Got::Silence
    );
    // An error is one object in the legacy protocol.
    ws.subscribe("2", "subscription { jobEvents { nope } }", json!({}))
        .await;
    match ws.recv().await {
        Got::Json(v) => {
            assert_eq!(v["type"], "error");
            assert!(v["payload"]["message"].is_string(), "{v}");
        }
        other => panic!("{other:?}"),
    }
    ws.send(json!({"type": "connection_terminate"})).await;
    assert!(matches!(ws.recv().await, Got::Close(1000, _) | Got::Ended));
}

async fn live_events_stay_in_their_tenant(app: TestApp) {
    let alice = app.actor("alice", &[Viewer]);
    let writer = app.actor("walt", &[Member]);
    let mallory = app.foreigner("mallory", &[Admin]);
    let mut ws = Ws::ready(app.addr, TRANSPORT, &app.token(&alice)).await;
    ws.subscribe("j", JOB_EVENTS, json!({})).await;
    ws.subscribe(
        "t",
        "subscription { taskEvents { type taskId task { title } } }",
        json!({}),
    )
    .await;
    ws.subscribe("e", "subscription { events(filter: {types: [\"job.*\"]}) { __typename ... on JobEvent { type jobId } } }", json!({})).await;
    let mut other = Ws::ready(app.addr, TRANSPORT, &app.token(&mallory)).await;
    other.subscribe("j", JOB_EVENTS, json!({})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Another tenant's writes never reach alice.
    create_job(&app, &mallory, "secret").await;
    let mine = create_job(&app, &writer, "mine").await;
    let task = app
        .create_task(&writer, None, json!({"title": "a task"}))
        .await;
    for id in ["j", "e"] {
        let payload = ws.next_of(id).await;
        let data = payload["data"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()
            .clone();
        assert_eq!(data["jobId"], json!(mine), "{id}: {payload}");
    }
    let payload = ws.next_of("t").await;
    assert_eq!(payload["data"]["taskEvents"]["taskId"], task["id"]);
    assert_eq!(payload["data"]["taskEvents"]["task"]["title"], "a task");
    let first = other.next_of("j").await;
    assert_eq!(first["data"]["jobEvents"]["job"]["title"], "secret");
    assert_eq!(
        other.recv_within(Duration::from_millis(300)).await,
        Got::Silence
    );
    assert_eq!(
        ws.recv_within(Duration::from_millis(300)).await,
        Got::Silence
    );
}

async fn a_socket_closes_when_its_token_expires(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let token = app.state.keys.mint(&alice, 60).unwrap();
    let mut ws = Ws::ready(app.addr, TRANSPORT, &token).await;
    ws.subscribe("1", JOB_EVENTS, json!({})).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        ws.recv_within(Duration::from_millis(200)).await,
        Got::Silence
    );
    // Sixty seconds pass on the server's clock (no test waits a minute).
    app.clock.advance(Duration::from_secs(61));
    let reason = ws.closed_with(4403).await;
    assert!(reason.contains("expired"), "{reason}");
    // And an expired token is refused at init.
    let mut ws = Ws::connect(app.addr, TRANSPORT).await;
    ws.send(json!({"type": "connection_init", "payload": {"token": token}}))
        .await;
    let reason = ws.closed_with(4403).await;
    assert!(reason.contains("expired"), "{reason}");
}

/// With 6 writers creating 240 jobs, a subscriber resuming from a cursor taken mid-way gets
/// exactly the table's events after it, in order: no gap, no repeat across the switch.
async fn resume_after_a_cursor_while_writers_run(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    for i in 0..20 {
        create_job(&app, &alice, &format!("before {i}")).await;
    }
    let cursor: i64 = app.ok(&alice, "{ latestEventId }", json!({})).await["latestEventId"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let app = app.clone();
            let alice = alice.clone();
            tokio::spawn(async move {
                for i in 0..40 {
                    app.create_job(&alice, json!({"title": format!("w{w} {i}")}))
                        .await;
                }
            })
        })
        .collect();
    // Subscribe while they write: the replay and the live side overlap.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut ws = Ws::ready(app.addr, TRANSPORT, &app.token(&alice)).await;
    ws.subscribe(
        "r",
        "subscription($a: String) { jobEvents(after: $a) { id } }",
        json!({"a": cursor.to_string()}),
    )
    .await;
    let mut got: Vec<i64> = Vec::new();
    while got.len() < 240 {
        let payload = ws.next_of("r").await;
        got.push(
            payload["data"]["jobEvents"]["id"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap(),
        );
    }
    for w in writers {
        w.await.unwrap();
    }
    assert_eq!(
        ws.recv_within(Duration::from_millis(500)).await,
        Got::Silence,
        "nothing more, nothing twice"
    );
    let table: Vec<i64> = {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
        entity::event::Entity::find()
            .filter(entity::event::Column::TenantId.eq(app.tenant.as_str()))
            .filter(entity::event::Column::Id.gt(cursor))
            .order_by_asc(entity::event::Column::Id)
            .all(&app.db)
            .await
            .unwrap()
            .iter()
            .map(|e| e.id)
            .collect()
    };
    assert_eq!(table.len(), 240);
    assert_eq!(got, table);
}

async fn identical_live_subscriptions_share_one_execution(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let token = app.token(&alice);
    let query = "subscription { jobEvents(filter: {kinds: [CREATED]}) { id job { title } } }";
    let mut sockets = Vec::new();
    for _ in 0..4 {
        let mut ws = Ws::ready(app.addr, TRANSPORT, &token).await;
        ws.subscribe("same", query, json!({})).await;
        sockets.push(ws);
    }
    // A different document, and the same one for another actor, run on their own.
    let mut other = Ws::ready(app.addr, TRANSPORT, &token).await;
    other
        .subscribe("x", "subscription { jobEvents { id } }", json!({}))
        .await;
    let mut bob = Ws::ready(
        app.addr,
        TRANSPORT,
        &app.token(&app.actor("bob", &[Member])),
    )
    .await;
    bob.subscribe("same", query, json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.state.groups.len(), 3);
    let id = create_job(&app, &alice, "shared").await;
    for ws in &mut sockets {
        let payload = ws.next_of("same").await;
        assert_eq!(payload["data"]["jobEvents"]["job"]["title"], "shared");
    }
    assert_eq!(
        bob.next_of("same").await["data"]["jobEvents"]["job"]["title"],
        "shared"
    );
    assert!(other.next_of("x").await["data"]["jobEvents"]["id"].is_string());
    // Members leave one by one; the execution goes with the last.
    for ws in &mut sockets[..3] {
        ws.send(json!({"type": "complete", "id": "same"})).await;
    }
    let _ = id;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.state.groups.len(), 3);
    drop(sockets);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.state.groups.len(), 2);
    // A subscription with a cursor is never shared.
    let mut r = Ws::ready(app.addr, TRANSPORT, &token).await;
    r.subscribe(
        "r",
        "subscription { jobEvents(after: \"0\") { id } }",
        json!({}),
    )
    .await;
    assert!(r.next_of("r").await["data"]["jobEvents"]["id"].is_string());
    assert_eq!(app.state.groups.len(), 2);
}

async fn shutdown_closes_sockets_with_1001(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let mut ws = Ws::ready(app.addr, TRANSPORT, &app.token(&alice)).await;
    ws.subscribe("1", JOB_EVENTS, json!({})).await;
    let mut legacy = Ws::ready(app.addr, LEGACY, &app.token(&alice)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    app.state.shutdown.cancel();
    ws.closed_with(1001).await;
    legacy.closed_with(1001).await;
}

async fn filters_and_errors_of_subscriptions(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    // A token that outlives the two hours this test moves the clock by.
    let token = app.state.keys.mint(&alice, 86_400).unwrap();
    let mut ws = Ws::ready(app.addr, TRANSPORT, &token).await;
    // Bad arguments end the operation with an `error` naming the field.
    for (id, vars, field) in [
        ("a", json!({"a": "x"}), "after"),
        ("b", json!({"f": {"kinds": []}}), "filter.kinds"),
        (
            "c",
            json!({"f": {"jobIds": vec![uuid::Uuid::nil(); 101]}}),
            "filter.jobIds",
        ),
    ] {
        ws.subscribe(id, JOB_EVENTS, vars).await;
        match ws.recv().await {
            Got::Json(v) => {
                assert_eq!(
                    (v["type"].clone(), v["id"].clone()),
                    (json!("error"), json!(id))
                );
                assert_eq!(
                    v["payload"][0]["extensions"]["code"], "BAD_USER_INPUT",
                    "{v}"
                );
                assert_eq!(v["payload"][0]["extensions"]["field"], field, "{v}");
            }
            other => panic!("{other:?}"),
        }
    }
    // Filters: kinds, job ids, the linked job and assignee of task events.
    let job = create_job(&app, &alice, "watched").await;
    let other = create_job(&app, &alice, "not watched").await;
    ws.subscribe(
        "k",
        JOB_EVENTS,
        json!({"f": {"kinds": ["STARTED"], "jobIds": [job]}}),
    )
    .await;
    ws.subscribe(
        "t",
        "subscription($j: UUID) { taskEvents(filter: {jobId: $j, assignedAgent: \"ann\"}) { type taskId } }",
        json!({"j": job}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.job_op(&alice, "startJob(id: $id)", json!({"id": other}))
        .await;
    app.job_op(&alice, "startJob(id: $id)", json!({"id": job}))
        .await;
    app.create_task(
        &alice,
        None,
        json!({"title": "unlinked", "assignedAgent": "ann"}),
    )
    .await;
    app.create_task(
        &alice,
        None,
        json!({"title": "linked, not ann's", "jobId": job}),
    )
    .await;
    let linked = app
        .create_task(
            &alice,
            None,
            json!({"title": "linked", "jobId": job, "assignedAgent": "ann"}),
        )
        .await;
    let started = ws.next_of("k").await;
    assert_eq!(started["data"]["jobEvents"]["kind"], "STARTED");
    assert_eq!(started["data"]["jobEvents"]["jobId"], json!(job));
    let t = ws.next_of("t").await;
    assert_eq!(t["data"]["taskEvents"]["taskId"], linked["id"]);
    assert_eq!(
        ws.recv_within(Duration::from_millis(300)).await,
        Got::Silence
    );
    // A cursor below the pruning watermark: EVENTS_PRUNED, as an `error`.
    app.clock.advance(Duration::from_secs(7200));
    create_job(&app, &alice, "young").await;
    jobgraph::loops::prune::tick(&app.state.services, Duration::from_secs(3600))
        .await
        .unwrap();
    ws.subscribe("p", JOB_EVENTS, json!({"a": "1"})).await;
    loop {
        match ws.recv().await {
            Got::Json(v) if v["id"] == "p" => {
                assert_eq!(v["type"], "error", "{v}");
                assert_eq!(v["payload"][0]["extensions"]["code"], "EVENTS_PRUNED");
                break;
            }
            Got::Json(_) => continue,
            other => panic!("{other:?}"),
        }
    }
}

/// Two servers on one PostgreSQL: a write on A reaches B's subscribers, B resumes from a
/// cursor learned on A, and when the LISTEN connections are killed nothing is missed.
async fn two_replicas_hear_each_other(app: TestApp) {
    if !matches!(app.backend, crate::harness::Backend::Postgres { .. }) {
        return; // one process is all SQLite has
    }
    let alice = app.actor("alice", &[Member]);
    let token = app.token(&alice);
    let b = app.replica().await;
    let mut on_b = Ws::ready(b.addr, TRANSPORT, &token).await;
    on_b.subscribe(
        "live",
        "subscription { jobEvents(filter: {kinds: [CREATED]}) { id jobId } }",
        json!({}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let first = create_job(&app, &alice, "written on A").await;
    let got = on_b.next_of("live").await;
    assert_eq!(got["data"]["jobEvents"]["jobId"], json!(first));
    // A cursor learned on A, resumed on B.
    let cursor = app.ok(&alice, "{ latestEventId }", json!({})).await["latestEventId"].clone();
    for i in 0..5 {
        create_job(&app, &alice, &format!("after the cursor {i}")).await;
    }
    let mut resume = Ws::ready(b.addr, TRANSPORT, &token).await;
    resume
        .subscribe(
            "r",
            "subscription($a: String) { jobEvents(after: $a) { id job { title } } }",
            json!({"a": cursor}),
        )
        .await;
    for i in 0..5 {
        let p = resume.next_of("r").await;
        assert_eq!(
            p["data"]["jobEvents"]["job"]["title"],
            format!("after the cursor {i}")
        );
    }
    for _ in 0..5 {
        on_b.next_of("live").await;
    }
    // Kill every LISTEN connection of this database; writes go on meanwhile.
    use sea_orm::ConnectionTrait;
    let killed = app
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{}' AND datname = current_database()",
                jobgraph::events::postgres::LISTENER_NAME
            ),
        ))
        .await
        .unwrap();
    assert_eq!(killed.len(), 2, "A's and B's listeners");
    let mut written = Vec::new();
    for i in 0..10 {
        written.push(create_job(&app, &alice, &format!("during the outage {i}")).await);
    }
    let mut seen = Vec::new();
    for _ in 0..10 {
        seen.push(
            on_b.next_of("live").await["data"]["jobEvents"]["jobId"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    assert_eq!(seen, written, "nothing missed across the reconnect");
    for _ in 0..10 {
        resume.next_of("r").await;
    }
    // B writes, A hears.
    let mut on_a = Ws::ready(app.addr, TRANSPORT, &token).await;
    on_a.subscribe(
        "a",
        "subscription { jobEvents(filter: {kinds: [CREATED]}) { jobId } }",
        json!({}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let b_alice = b
        .state
        .services
        .jobs
        .create(
            &alice,
            jobgraph::services::jobs::NewJob {
                title: "written on B".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        on_a.next_of("a").await["data"]["jobEvents"]["jobId"],
        json!(b_alice.id.to_string())
    );
}

/// The server's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// A subscriber that stops reading while 1,500 events of about 8 KB are written: the server
/// (the real binary, in its own process, so its memory is its own) stays within 50 MiB of where
/// it started, and a healthy subscriber beside it gets all 1,500.
async fn a_stalled_subscriber_costs_bounded_memory(app: TestApp) {
    let secret = "slow-subscriber-test-secret-0123456789";
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let data_dir =
        std::env::temp_dir().join(format!("jobgraph-slow-{}", uuid::Uuid::now_v7().simple()));
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_jobgraph"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--subscriber-write-timeout-ms",
            "2000",
        ])
        .env("JOBGRAPH_DATABASE_URL", &app.url)
        .env("JOBGRAPH_JWT_SECRET", secret)
        .env("JOBGRAPH_DATA_DIR", &data_dir)
        .env("RUST_LOG", "warn")
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the server");
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..200 {
        if client
            .get(format!("http://{addr}/healthz"))
            .send()
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "the server did not start");
    let alice = app.actor("alice", &[Member]);
    let token = jobgraph::auth::TokenKeys::new(secret.as_bytes())
        .mint(&alice, 3600)
        .unwrap();
    let query = "subscription { jobEvents { id job { title description } } }";
    // The stalled one: subscribes, then never reads again.
    let mut stalled = Ws::ready(addr, TRANSPORT, &token).await;
    stalled
        .subscribe(
            "s",
            "subscription { jobEvents(filter: {kinds: [CREATED]}) { id job { description } } }",
            json!({}),
        )
        .await;
    let mut healthy = Ws::ready(addr, TRANSPORT, &token).await;
    healthy.subscribe("h", query, json!({})).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = server.id();
    let baseline = rss_kib(pid);
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(baseline));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kib(pid), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let reader = tokio::spawn(async move {
        let mut n = 0;
        while n < 1500 {
            healthy.next_of("h").await;
            n += 1;
        }
        n
    });
    let description = "x".repeat(8000);
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let client = client.clone();
            let token = token.clone();
            let description = description.clone();
            tokio::spawn(async move {
                for i in 0..375 {
                    let body = json!({
                        "query": "mutation($i: CreateJobInput!) { createJob(input: $i) { id } }",
                        "variables": {"i": {"title": format!("w{w} {i}"), "description": description}},
                    });
                    let r = client
                        .post(format!("http://{addr}/graphql"))
                        .bearer_auth(&token)
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200);
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    let delivered = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("the healthy subscriber got everything in time")
        .unwrap();
    sampler.abort();
    let grown_mib = peak
        .load(std::sync::atomic::Ordering::Relaxed)
        .saturating_sub(baseline)
        / 1024;
    eprintln!(
        "1,500 events of 8 KB with a stalled subscriber: the server grew {grown_mib} MiB at most"
    );
    let _ = server.kill();
    let _ = server.wait();
    std::fs::remove_dir_all(&data_dir).ok();
    drop(stalled);
    assert_eq!(delivered, 1500);
    assert!(grown_mib < 50, "the server grew {grown_mib} MiB");
}
