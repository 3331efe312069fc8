//! The list API (DESIGN.md §9): every filter alone and combined, every ordering both ways with
//! ties and nulls, keyset paging forward and back while rows arrive, cursor and bound checks,
//! literal search, pendingJobs / runningJobs, and stats with zeros and exact sums.

use crate::backend_tests;
use crate::harness::{Admin, Member, TestApp};
use jobgraph::auth::Actor;
use serde_json::{Value, json};
use std::cmp::Ordering as Cmp;

backend_tests!(
    job_filters_alone_and_combined,
    task_filters_alone_and_combined,
    every_job_ordering_both_ways,
    every_task_ordering_both_ways,
    paging_forward_and_back_while_rows_arrive,
    cursor_and_bound_checks,
    search_is_literal_and_case_insensitive,
    pending_and_running_jobs,
    stats_have_every_status_and_exact_sums,
    other_tenants_see_and_count_nothing,
);

fn ids(conn: &Value) -> Vec<String> {
    conn["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect()
}

fn micros(v: &Value) -> Option<i64> {
    v.as_str().map(|s| {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .timestamp_micros()
    })
}

/// Ids of `list` under `filter`, one page of 200.
async fn select(app: &TestApp, actor: &Actor, list: &str, filter: Value) -> Vec<String> {
    let kind = if list == "jobs" {
        "JobFilter"
    } else {
        "TaskFilter"
    };
    let q = format!(
        "query($f: {kind}) {{ {list}(filter: $f, first: 200) {{ totalCount nodes {{ id }} }} }}"
    );
    let out = app.ok(actor, &q, json!({"f": filter})).await[list].clone();
    let found = ids(&out);
    assert_eq!(
        out["totalCount"].as_u64().unwrap() as usize,
        found.len(),
        "totalCount matches"
    );
    let mut sorted = found.clone();
    sorted.sort();
    sorted
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

async fn job_filters_alone_and_combined(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let bob = app.actor("bob", &[Member]);
    let plan = uuid::Uuid::now_v7().to_string();
    let a = app
        .create_job(
            &alice,
            json!({"title": "alpha", "labels": ["gpu"], "priority": 10, "planId": plan}),
        )
        .await;
    let mark = a["createdAt"].clone();
    let b = app.create_job(&alice, json!({"title": "beta", "labels": ["cpu", "gpu"], "priority": 60, "assignedAgent": "agent-1"})).await;
    let c = app
        .create_job(
            &bob,
            json!({"title": "gamma", "labels": ["GPU"], "priority": 90, "planId": plan}),
        )
        .await;
    let end = c["createdAt"].clone();
    app.job_op(&bob, "startJob(id: $id)", json!({"id": c["id"]}))
        .await;
    let (a, b, c) = (
        a["id"].as_str().unwrap(),
        b["id"].as_str().unwrap(),
        c["id"].as_str().unwrap(),
    );
    let cases: Vec<(Value, Vec<String>)> = vec![
        (json!({}), sorted(&[a, b, c])),
        (json!({"status": ["PENDING"]}), sorted(&[a, b])),
        (json!({"status": ["RUNNING", "FAILED"]}), sorted(&[c])),
        (json!({"planId": plan}), sorted(&[a, c])),
        (json!({"planId": uuid::Uuid::now_v7()}), vec![]),
        (json!({"assignedAgent": "agent-1"}), sorted(&[b])),
        (json!({"createdBy": "bob"}), sorted(&[c])),
        (json!({"label": "gpu"}), sorted(&[a, b])),
        (json!({"label": "GPU"}), sorted(&[c])),
        (json!({"priorityMin": 60}), sorted(&[b, c])),
        (json!({"priorityMax": 60}), sorted(&[a, b])),
        (json!({"priorityMin": 60, "priorityMax": 60}), sorted(&[b])),
        (json!({"createdAfter": mark}), sorted(&[b, c])),
        (json!({"createdBefore": end}), sorted(&[a, b])),
        (
            json!({"createdAfter": mark, "createdBefore": end}),
            sorted(&[b]),
        ),
        (json!({"search": "ET"}), sorted(&[b])),
        (json!({"label": "gpu", "priorityMin": 50}), sorted(&[b])),
        (
            json!({"planId": plan, "status": ["PENDING"], "createdBy": "alice"}),
            sorted(&[a]),
        ),
        (json!({"label": "gpu", "createdBy": "bob"}), vec![]),
    ];
    for (filter, want) in cases {
        assert_eq!(
            select(&app, &alice, "jobs", filter.clone()).await,
            want,
            "{filter}"
        );
    }
}

async fn task_filters_alone_and_combined(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let bob = app.actor("bob", &[Member]);
    let plan = uuid::Uuid::now_v7().to_string();
    let root = app
        .create_task(
            &alice,
            None,
            json!({"title": "Root", "labels": ["x"], "priority": 20, "planId": plan}),
        )
        .await;
    let mark = root["createdAt"].clone();
    let kid = app
        .create_task(
            &alice,
            root["id"].as_str(),
            json!({"title": "kid", "assignedAgent": "agent-2", "priority": 70}),
        )
        .await;
    let other = app
        .create_task(
            &bob,
            None,
            json!({"title": "other", "labels": ["x", "y"], "priority": 95}),
        )
        .await;
    app.task_op(&bob, "startTask(id: $id)", json!({"id": other["id"]}))
        .await;
    let job = app.create_job(&alice, json!({"title": "j"})).await;
    app.link(
        job["id"].as_str().unwrap(),
        kid["id"].as_str().unwrap(),
        entity::status::JobTaskRole::Supporting,
    )
    .await;
    let (r, k, o) = (
        root["id"].as_str().unwrap(),
        kid["id"].as_str().unwrap(),
        other["id"].as_str().unwrap(),
    );
    let cases: Vec<(Value, Vec<String>)> = vec![
        (json!({}), sorted(&[r, k, o])),
        (json!({"status": ["OPEN"]}), sorted(&[r, k])),
        (json!({"status": ["IN_PROGRESS"]}), sorted(&[o])),
        (json!({"planId": plan}), sorted(&[r])),
        (json!({"assignedAgent": "agent-2"}), sorted(&[k])),
        (json!({"createdBy": "bob"}), sorted(&[o])),
        (json!({"label": "x"}), sorted(&[r, o])),
        (json!({"label": "y"}), sorted(&[o])),
        (json!({"jobId": job["id"]}), sorted(&[k])),
        (json!({"parentId": r}), sorted(&[k])),
        (json!({"rootOnly": true}), sorted(&[r, o])),
        (json!({"priorityMin": 50, "priorityMax": 90}), sorted(&[k])),
        (json!({"createdAfter": mark}), sorted(&[k, o])),
        (json!({"createdBefore": mark}), vec![]),
        (json!({"search": "OT"}), sorted(&[r, o])),
        (
            json!({"rootOnly": true, "label": "x", "status": ["OPEN"]}),
            sorted(&[r]),
        ),
    ];
    for (filter, want) in cases {
        assert_eq!(
            select(&app, &alice, "tasks", filter.clone()).await,
            want,
            "{filter}"
        );
    }
}

/// Pages through `list` in `order` with pages of 3, forward (or back from the end), and returns
/// the ids in list order.
async fn walk(
    app: &TestApp,
    actor: &Actor,
    list: &str,
    order: Value,
    backward: bool,
) -> Vec<String> {
    let kind = if list == "jobs" {
        "JobOrder"
    } else {
        "TaskOrder"
    };
    let q = format!(
        "query($o: {kind}, $first: Int, $after: String, $last: Int, $before: String) {{ {list}(orderBy: $o, first: $first, after: $after, last: $last, before: $before) {{ nodes {{ id }} pageInfo {{ hasNextPage hasPreviousPage startCursor endCursor }} }} }}"
    );
    let mut out: Vec<String> = Vec::new();
    let mut cursor = Value::Null;
    for _ in 0..100 {
        let vars = if backward {
            json!({"o": order, "last": 3, "before": cursor})
        } else {
            json!({"o": order, "first": 3, "after": cursor})
        };
        let page = app.ok(actor, &q, vars).await[list].clone();
        let mut got = ids(&page);
        if backward {
            got.extend(out);
            out = got;
            if !page["pageInfo"]["hasPreviousPage"].as_bool().unwrap() {
                return out;
            }
            cursor = page["pageInfo"]["startCursor"].clone();
        } else {
            out.extend(got);
            if !page["pageInfo"]["hasNextPage"].as_bool().unwrap() {
                return out;
            }
            cursor = page["pageInfo"]["endCursor"].clone();
        }
    }
    panic!("paging did not end");
}

/// The expected order of `rows` (id, value) by value (nulls last either way), then id.
fn expected(mut rows: Vec<(String, Option<i64>)>, desc: bool) -> Vec<String> {
    rows.sort_by(|(ia, va), (ib, vb)| {
        let by_value = match (va, vb) {
            (None, None) => Cmp::Equal,
            (None, Some(_)) => Cmp::Greater,
            (Some(_), None) => Cmp::Less,
            (Some(a), Some(b)) if desc => b.cmp(a),
            (Some(a), Some(b)) => a.cmp(b),
        };
        let by_id = if desc { ib.cmp(ia) } else { ia.cmp(ib) };
        by_value.then(by_id)
    });
    rows.into_iter().map(|(id, _)| id).collect()
}

async fn check_orderings(app: &TestApp, actor: &Actor, list: &str, fields: &[(&str, &str)]) {
    let q = format!(
        "{{ {list}(first: 200) {{ nodes {{ id createdAt updatedAt priority {} }} }} }}",
        if list == "jobs" { "runAt" } else { "dueAt" }
    );
    let rows = app.ok(actor, &q, json!({})).await[list]["nodes"]
        .as_array()
        .unwrap()
        .clone();
    for (field, key) in fields {
        let values: Vec<(String, Option<i64>)> = rows
            .iter()
            .map(|n| {
                let v = &n[*key];
                let value = if *key == "priority" {
                    v.as_i64()
                } else {
                    micros(v)
                };
                (n["id"].as_str().unwrap().to_string(), value)
            })
            .collect();
        for desc in [false, true] {
            let order = json!({"field": field, "direction": if desc { "DESC" } else { "ASC" }});
            let want = expected(values.clone(), desc);
            assert_eq!(
                walk(app, actor, list, order.clone(), false).await,
                want,
                "{list} {order} forward"
            );
            assert_eq!(
                walk(app, actor, list, order.clone(), true).await,
                want,
                "{list} {order} backward"
            );
        }
    }
}

async fn every_job_ordering_both_ways(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    // Ties on priority, and runAt null on some rows (PENDING) and set on others.
    let priorities = [50, 50, 10, 90, 50, 10, 75];
    for (i, p) in priorities.iter().enumerate() {
        let mut input = json!({"title": format!("job {i}"), "priority": p});
        if i % 3 == 0 {
            input["schedule"] = json!({"runAt": format!("2031-0{}-01T00:00:00Z", 1 + i % 2)});
        }
        let job = app.create_job(&alice, input).await;
        if i == 2 {
            app.job_op(
                &alice,
                "updateJob(id: $id, input: {title: \"touched\"})",
                json!({"id": job["id"]}),
            )
            .await;
        }
    }
    check_orderings(
        &app,
        &alice,
        "jobs",
        &[
            ("CREATED_AT", "createdAt"),
            ("UPDATED_AT", "updatedAt"),
            ("PRIORITY", "priority"),
            ("RUN_AT", "runAt"),
        ],
    )
    .await;
}

async fn every_task_ordering_both_ways(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    for (i, p) in [30, 30, 30, 80, 5, 80, 60].iter().enumerate() {
        let mut input = json!({"title": format!("task {i}"), "priority": p});
        if i % 2 == 0 {
            input["dueAt"] = json!(format!("2030-0{}-01T00:00:00Z", 1 + i % 3));
        }
        app.create_task(&alice, None, input).await;
    }
    check_orderings(
        &app,
        &alice,
        "tasks",
        &[
            ("CREATED_AT", "createdAt"),
            ("UPDATED_AT", "updatedAt"),
            ("PRIORITY", "priority"),
            ("DUE_AT", "dueAt"),
        ],
    )
    .await;
}

async fn paging_forward_and_back_while_rows_arrive(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let mut originals = Vec::new();
    for i in 0..10 {
        originals.push(
            app.create_job(
                &alice,
                json!({"title": format!("o{i}"), "priority": 40 + (i % 3)}),
            )
            .await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let q = "query($o: JobOrder, $first: Int, $after: String, $last: Int, $before: String) { jobs(orderBy: $o, first: $first, after: $after, last: $last, before: $before) { nodes { id } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";
    for order in [
        json!({"field": "CREATED_AT", "direction": "DESC"}),
        json!({"field": "PRIORITY", "direction": "ASC"}),
    ] {
        for backward in [false, true] {
            let mut seen: Vec<String> = Vec::new();
            let mut cursor = Value::Null;
            let mut pages = 0;
            loop {
                let vars = if backward {
                    json!({"o": order, "last": 3, "before": cursor})
                } else {
                    json!({"o": order, "first": 3, "after": cursor})
                };
                let page = app.ok(&alice, q, vars).await["jobs"].clone();
                pages += 1;
                seen.extend(ids(&page));
                // Rows arrive between pages.
                app.create_job(&alice, json!({"title": "late", "priority": 41}))
                    .await;
                let (more, next) = if backward {
                    (
                        page["pageInfo"]["hasPreviousPage"].as_bool().unwrap(),
                        page["pageInfo"]["startCursor"].clone(),
                    )
                } else {
                    (
                        page["pageInfo"]["hasNextPage"].as_bool().unwrap(),
                        page["pageInfo"]["endCursor"].clone(),
                    )
                };
                if !more {
                    break;
                }
                cursor = next;
            }
            assert!(pages >= 4, "{pages} pages");
            let mut unique = seen.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(
                unique.len(),
                seen.len(),
                "{order} backward={backward}: a row repeated"
            );
            for o in &originals {
                assert!(seen.contains(o), "{order} backward={backward}: skipped {o}");
            }
        }
    }
    // A window between two cursors.
    let all = app
        .ok(
            &alice,
            "{ jobs(first: 200) { edges { cursor node { id } } } }",
            json!({}),
        )
        .await["jobs"]["edges"]
        .as_array()
        .unwrap()
        .clone();
    let window = app
        .ok(&alice, "query($a: String, $b: String) { jobs(after: $a, before: $b, first: 50) { nodes { id } pageInfo { hasNextPage hasPreviousPage } } }", json!({"a": all[2]["cursor"], "b": all[7]["cursor"]}))
        .await["jobs"]
        .clone();
    let want: Vec<String> = all[3..7]
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids(&window), want);
    let tail = app
        .ok(&alice, "query($a: String, $b: String) { jobs(after: $a, before: $b, last: 2) { nodes { id } } }", json!({"a": all[2]["cursor"], "b": all[7]["cursor"]}))
        .await["jobs"]
        .clone();
    assert_eq!(ids(&tail), want[2..].to_vec());
}

async fn cursor_and_bound_checks(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    for i in 0..3 {
        app.create_job(&alice, json!({"title": format!("j{i}")}))
            .await;
        app.create_task(&alice, None, json!({"title": format!("t{i}")}))
            .await;
    }
    let page = app.ok(&alice, "{ jobs(first: 1) { pageInfo { endCursor } } tasks(first: 1) { pageInfo { endCursor } } }", json!({})).await;
    let job_cursor = page["jobs"]["pageInfo"]["endCursor"].clone();
    let task_cursor = page["tasks"]["pageInfo"]["endCursor"].clone();
    let cases = [
        (
            "query($c: String) { jobs(orderBy: {field: PRIORITY, direction: DESC}, after: $c) { totalCount } }",
            job_cursor.clone(),
            "after",
        ),
        (
            "query($c: String) { jobs(orderBy: {field: CREATED_AT, direction: ASC}, before: $c, last: 1) { totalCount } }",
            job_cursor.clone(),
            "before",
        ),
        (
            "query($c: String) { jobs(after: $c) { totalCount } }",
            task_cursor.clone(),
            "after",
        ),
        (
            "query($c: String) { tasks(after: $c) { totalCount } }",
            job_cursor.clone(),
            "after",
        ),
        (
            "query($c: String) { jobs(after: $c) { totalCount } }",
            json!("bm90IGEgY3Vyc29y"),
            "after",
        ),
        (
            "query($c: String) { pendingJobs(after: $c) { totalCount } }",
            job_cursor.clone(),
            "after",
        ),
        (
            "query($c: String) { jobs(first: 0) { totalCount } }",
            Value::Null,
            "first",
        ),
        (
            "query($c: String) { jobs(first: 201) { totalCount } }",
            Value::Null,
            "first",
        ),
        (
            "query($c: String) { tasks(last: 0) { totalCount } }",
            Value::Null,
            "last",
        ),
        (
            "query($c: String) { tasks(last: 201) { totalCount } }",
            Value::Null,
            "last",
        ),
        (
            "query($c: String) { jobs(first: 1, last: 1) { totalCount } }",
            Value::Null,
            "last",
        ),
        (
            "query($c: String) { jobs(filter: {priorityMin: 5, priorityMax: 4}) { totalCount } }",
            Value::Null,
            "filter.priorityMin",
        ),
        (
            "query($c: String) { tasks(filter: {status: []}) { totalCount } }",
            Value::Null,
            "filter.status",
        ),
        (
            "query($c: String) { jobs(filter: {search: \"\"}) { totalCount } }",
            Value::Null,
            "filter.search",
        ),
    ];
    for (q, c, field) in cases {
        // Queries that take no cursor must not declare the variable (an unused one is an error).
        let q = if c.is_null() {
            q.trim_start_matches("query($c: String) ")
        } else {
            q
        };
        let err = app.err(&alice, q, json!({"c": c})).await;
        assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT", "{q}");
        assert_eq!(err["extensions"]["field"], field, "{q}");
    }
    let ok = app
        .ok(
            &alice,
            "{ jobs(first: 200) { totalCount } b: tasks(last: 200) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(ok["jobs"]["totalCount"], 3);
}

async fn search_is_literal_and_case_insensitive(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let titles = [
        "50% off",
        "5000 items",
        "snake_case name",
        "snakeXcase",
        "MiXeD Case",
        "École d'été",
        "back\\slash",
    ];
    let mut by_title = std::collections::HashMap::new();
    for t in titles {
        by_title.insert(
            t,
            app.create_job(&alice, json!({"title": t})).await["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
        app.create_task(&alice, None, json!({"title": t})).await;
    }
    let cases: &[(&str, &[&str])] = &[
        ("%", &["50% off"]),
        ("0%", &["50% off"]),
        ("_", &["snake_case name"]),
        ("e_c", &["snake_case name"]),
        ("mixed case", &["MiXeD Case"]),
        ("MIXED", &["MiXeD Case"]),
        ("école", &["École d'été"]),
        ("ÉTÉ", &["École d'été"]),
        ("\\", &["back\\slash"]),
        ("50", &["50% off", "5000 items"]),
        ("nothing like it", &[]),
    ];
    for (term, want) in cases {
        let mut want_ids: Vec<String> = want.iter().map(|t| by_title[t].clone()).collect();
        want_ids.sort();
        assert_eq!(
            select(&app, &alice, "jobs", json!({"search": term})).await,
            want_ids,
            "jobs search {term:?}"
        );
        let tasks = select(&app, &alice, "tasks", json!({"search": term})).await;
        assert_eq!(tasks.len(), want.len(), "tasks search {term:?}");
    }
}

async fn pending_and_running_jobs(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let make = |title: &str, priority: i32, run_at: Option<&str>| {
        let mut input = json!({"title": title, "priority": priority});
        if let Some(at) = run_at {
            input["schedule"] = json!({"runAt": at});
        }
        input
    };
    // Claim order: priority DESC, COALESCE(runAt, createdAt) ASC, id ASC.
    let low = app.create_job(&alice, make("low", 10, None)).await;
    let high_late = app
        .create_job(&alice, make("high late", 90, Some("2099-01-01T00:00:00Z")))
        .await;
    let high_early = app
        .create_job(&alice, make("high early", 90, Some("2000-01-01T00:00:00Z")))
        .await;
    let mid = app.create_job(&alice, make("mid", 50, None)).await;
    let run1 = app.create_job(&alice, make("run1", 50, None)).await;
    let run2 = app.create_job(&alice, make("run2", 50, None)).await;
    app.job_op(&alice, "startJob(id: $id)", json!({"id": run1["id"]}))
        .await;
    app.job_op(&alice, "startJob(id: $id)", json!({"id": run2["id"]}))
        .await;
    app.job_op(
        &alice,
        "cancelJob(id: $id, reason: \"r\")",
        json!({"id": run2["id"]}),
    )
    .await;
    let done = app.create_job(&alice, make("done", 99, None)).await;
    app.job_op(
        &alice,
        "cancelJob(id: $id, reason: \"r\")",
        json!({"id": done["id"]}),
    )
    .await;

    let q = "query($a: String) { pendingJobs(first: 2, after: $a) { totalCount nodes { id } pageInfo { hasNextPage endCursor } } }";
    let p1 = app.ok(&alice, q, json!({})).await["pendingJobs"].clone();
    let p2 = app
        .ok(&alice, q, json!({"a": p1["pageInfo"]["endCursor"]}))
        .await["pendingJobs"]
        .clone();
    assert_eq!(p1["totalCount"], 4);
    let mut got = ids(&p1);
    got.extend(ids(&p2));
    let want: Vec<String> = [&high_early, &high_late, &mid, &low]
        .iter()
        .map(|j| j["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, want);
    assert_eq!(p2["pageInfo"]["hasNextPage"], false);
    let running = app
        .ok(
            &alice,
            "{ runningJobs { totalCount nodes { id status } } }",
            json!({}),
        )
        .await["runningJobs"]
        .clone();
    assert_eq!(running["totalCount"], 2);
    assert_eq!(
        running["nodes"],
        json!([{"id": run1["id"], "status": "RUNNING"}, {"id": run2["id"], "status": "CANCELLING"}])
    );
}

async fn stats_have_every_status_and_exact_sums(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let q = "query($f: JobFilter) { jobStats(filter: $f) { total byStatus { status count } estimatedCost actualCost } }";
    let empty = app.ok(&alice, q, json!({})).await["jobStats"].clone();
    assert_eq!(empty["total"], 0);
    assert_eq!(empty["estimatedCost"], "0");
    let statuses: Vec<&str> = empty["byStatus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "PENDING",
            "SCHEDULED",
            "RUNNING",
            "CANCELLING",
            "SUCCEEDED",
            "FAILED",
            "CANCELLED",
            "TIMED_OUT"
        ]
    );
    assert!(
        empty["byStatus"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["count"] == 0)
    );
    // Amounts whose float sum would drift, and large ones near the bound.
    for (est, cost) in [
        ("0.1", "0.2"),
        ("0.2", "0.1"),
        ("999999999.999999999", "999999999.999999999"),
        ("999999999.999999999", "0.000000001"),
    ] {
        let job = app
            .create_job(
                &alice,
                json!({"title": "c", "estimatedCost": est, "labels": ["costed"]}),
            )
            .await;
        app.job_op(&alice, "startJob(id: $id)", json!({"id": job["id"]}))
            .await;
        app.job_op(
            &alice,
            &format!("completeJob(id: $id, result: {{actualCost: \"{cost}\"}})"),
            json!({"id": job["id"]}),
        )
        .await;
    }
    app.create_job(&alice, json!({"title": "no estimate"}))
        .await;
    let s = app.ok(&alice, q, json!({})).await["jobStats"].clone();
    assert_eq!(s["total"], 5);
    assert_eq!(s["estimatedCost"], "2000000000.299999998");
    assert_eq!(s["actualCost"], "1000000000.3");
    let counts: Vec<i64> = s["byStatus"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["count"].as_i64().unwrap())
        .collect();
    assert_eq!(counts, [1, 0, 0, 0, 4, 0, 0, 0]);
    let filtered = app
        .ok(&alice, q, json!({"f": {"label": "costed", "search": "c"}}))
        .await["jobStats"]
        .clone();
    assert_eq!(filtered["total"], 4);

    let tq = "{ taskStats { total byStatus { status count } estimatedCost actualCost } }";
    app.create_task(&alice, None, json!({"title": "t", "estimatedCost": "0.1"}))
        .await;
    let t2 = app
        .create_task(&alice, None, json!({"title": "t", "estimatedCost": "0.2"}))
        .await;
    app.task_op(&alice, "completeTask(id: $id)", json!({"id": t2["id"]}))
        .await;
    let ts = app.ok(&alice, tq, json!({})).await["taskStats"].clone();
    assert_eq!(ts["total"], 2);
    assert_eq!(ts["estimatedCost"], "0.3");
    assert_eq!(ts["actualCost"], "0");
    assert_eq!(
        ts["byStatus"],
        json!([{"status": "OPEN", "count": 1}, {"status": "IN_PROGRESS", "count": 0}, {"status": "COMPLETED", "count": 1}, {"status": "CANCELLED", "count": 0}])
    );
}

async fn other_tenants_see_and_count_nothing(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let plan = uuid::Uuid::now_v7().to_string();
    let job = app
        .create_job(
            &alice,
            json!({"title": "secret", "labels": ["l"], "planId": plan, "estimatedCost": "5"}),
        )
        .await;
    let task = app
        .create_task(
            &alice,
            None,
            json!({"title": "secret task", "labels": ["l"]}),
        )
        .await;
    app.job_op(&alice, "startJob(id: $id)", json!({"id": job["id"]}))
        .await;
    let mallory = app.foreigner("mallory", &[Admin]);
    let q = "query($p: UUID, $t: UUID) {
        jobs(filter: {search: \"secret\"}) { totalCount nodes { id } }
        byLabel: jobs(filter: {label: \"l\"}) { totalCount }
        byPlan: jobs(filter: {planId: $p}) { totalCount }
        tasks(filter: {search: \"secret\"}) { totalCount nodes { id } }
        kids: tasks(filter: {parentId: $t}) { totalCount }
        pendingJobs { totalCount } runningJobs { totalCount nodes { id } }
        jobStats { total estimatedCost } taskStats { total } }";
    let out = app
        .ok(&mallory, q, json!({"p": plan, "t": task["id"]}))
        .await;
    for key in [
        "jobs",
        "byLabel",
        "byPlan",
        "tasks",
        "kids",
        "pendingJobs",
        "runningJobs",
    ] {
        assert_eq!(out[key]["totalCount"], 0, "{key}");
    }
    assert_eq!(out["runningJobs"]["nodes"], json!([]));
    assert_eq!(out["jobStats"], json!({"total": 0, "estimatedCost": "0"}));
    assert_eq!(out["taskStats"]["total"], 0);
    let mine = app.ok(&alice, q, json!({"p": plan, "t": task["id"]})).await;
    assert_eq!(mine["runningJobs"]["totalCount"], 1);
    assert_eq!(mine["jobStats"]["estimatedCost"], "5");
}
