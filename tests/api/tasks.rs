//! Tasks (DESIGN.md §4): the transition table, subtask rules, re-parenting, assignment,
//! permissions, cross-tenant ids, lists, and a race, each with the exact events stored.

use crate::backend_tests;
use crate::harness::{Admin, Agent, Member, TestApp, Viewer, code, first_error};
use entity::status::JobTaskRole;
use serde_json::{Value, json};

backend_tests!(
    create_and_update,
    every_transition_row,
    forbidden_transitions_change_nothing,
    complete_refused_while_a_subtask_is_open,
    no_subtask_under_finished_parent_and_no_reopen_under_completed,
    cancel_cascades_to_open_subtasks,
    delete_removes_subtasks_deepest_first,
    reparenting_and_cycles,
    nesting_depth_is_bounded,
    assignment_and_pick_up,
    permissions_by_role_and_primary_job_owner,
    foreign_tenant_is_not_found,
    lists_and_nested_fields,
    concurrent_completes_one_wins,
    concurrent_moves_never_close_a_loop,
    move_checks_come_in_order,
    nul_characters_are_bad_input,
);

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

async fn types(app: &TestApp, task: &str) -> Vec<String> {
    app.task_events(task)
        .await
        .into_iter()
        .map(|(t, _)| t)
        .collect()
}

async fn create_and_update(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let t = app
        .create_task(
            &alice,
            None,
            json!({"title": " write docs ", "labels": ["a", "a", "b"], "priorityLevel": "LOW", "dueAt": "2030-01-01T00:00:00Z",
                   "estimatedCost": "2.50", "timeoutSeconds": 60, "assignedAgent": "bot", "executionContext": {"k": 1}}),
        )
        .await;
    assert_eq!(t["title"], "write docs");
    assert_eq!(t["status"], "OPEN");
    assert_eq!(t["version"], 1);
    assert_eq!(t["labels"], json!(["a", "b"]));
    assert_eq!(
        (t["priority"].clone(), t["priorityLevel"].clone()),
        (json!(25), json!("LOW"))
    );
    assert_eq!(t["dueAt"], "2030-01-01T00:00:00Z");
    assert_eq!(t["estimatedCost"], "2.5");
    assert_eq!(t["actualCost"], "0");
    assert_eq!(t["executionContext"], json!({"k": 1}));
    assert_eq!(t["delegationChain"][0]["to"], "bot");
    assert_eq!(t["delegationChain"][0]["from"], Value::Null);
    assert_eq!(t["parent"], Value::Null);
    assert_eq!(types(&app, &id(&t)).await, ["task.created"]);

    let q = "mutation($id: UUID!, $i: UpdateTaskInput!, $v: Int) { updateTask(id: $id, input: $i, expectedVersion: $v) { version title dueAt description priority } }";
    let u = app
        .ok(
            &alice,
            q,
            json!({"id": id(&t), "v": 1, "i": {"title": "docs", "dueAt": null, "priority": 90}}),
        )
        .await;
    assert_eq!(
        u["updateTask"],
        json!({"version": 2, "title": "docs", "dueAt": null, "description": null, "priority": 90})
    );
    let err = app
        .err(
            &alice,
            q,
            json!({"id": id(&t), "v": 1, "i": {"title": "x"}}),
        )
        .await;
    assert_eq!(
        err["extensions"],
        json!({"code": "CONFLICT", "expectedVersion": 1, "actualVersion": 2})
    );
    let same = app
        .ok(&alice, q, json!({"id": id(&t), "i": {"title": "docs"}}))
        .await;
    assert_eq!(same["updateTask"]["version"], 2, "no change, no bump");
    let err = app
        .err(&alice, q, json!({"id": id(&t), "i": {"title": null}}))
        .await;
    assert_eq!(err["extensions"]["field"], "input.title");
    assert_eq!(types(&app, &id(&t)).await, ["task.created", "task.updated"]);
}

/// (setup steps, operation, resulting status, events the operation adds)
const ROWS: &[(&[&str], &str, &str, &[&str])] = &[
    (
        &[],
        "startTask(id: $id)",
        "IN_PROGRESS",
        &["task.status_changed", "task.started"],
    ),
    (
        &[],
        "completeTask(id: $id)",
        "COMPLETED",
        &["task.status_changed", "task.completed"],
    ),
    (
        &["startTask(id: $id)"],
        "completeTask(id: $id)",
        "COMPLETED",
        &["task.status_changed", "task.completed"],
    ),
    (
        &[],
        "cancelTask(id: $id, reason: \"r\")",
        "CANCELLED",
        &["task.status_changed", "task.cancelled"],
    ),
    (
        &["startTask(id: $id)"],
        "cancelTask(id: $id, reason: \"r\")",
        "CANCELLED",
        &["task.status_changed", "task.cancelled"],
    ),
    (
        &["completeTask(id: $id)"],
        "reopenTask(id: $id)",
        "OPEN",
        &["task.status_changed", "task.reopened"],
    ),
    (
        &["cancelTask(id: $id, reason: \"r\")"],
        "reopenTask(id: $id)",
        "OPEN",
        &["task.status_changed", "task.reopened"],
    ),
];

async fn every_transition_row(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    for (setup, op, to, events) in ROWS {
        let t = app.create_task(&alice, None, json!({"title": "row"})).await;
        let v = json!({"id": id(&t)});
        for step in *setup {
            TestApp::data(app.task_op(&alice, step, v.clone()).await);
        }
        let before = app.task_events(&id(&t)).await;
        let from = before
            .iter()
            .rev()
            .find(|(t, _)| t == "task.status_changed")
            .map_or(json!("OPEN"), |(_, d)| d["toStatus"].clone());
        let out = TestApp::data(app.task_op(&alice, op, v.clone()).await)["r"].clone();
        assert_eq!(out["status"], *to, "{setup:?} then {op}");
        let after = app.task_events(&id(&t)).await;
        let added: Vec<&str> = after[before.len()..]
            .iter()
            .map(|(t, _)| t.as_str())
            .collect();
        assert_eq!(added, *events, "{op}");
        assert_eq!(
            after[before.len()].1,
            json!({"fromStatus": from, "toStatus": to})
        );
    }
    // From OPEN, completing counts as starting: startedAt = completedAt, no task.started.
    let t = app
        .create_task(&alice, None, json!({"title": "quick"}))
        .await;
    let done = TestApp::data(
        app.task_op(&alice, "completeTask(id: $id)", json!({"id": id(&t)}))
            .await,
    )["r"]
        .clone();
    assert_eq!(done["startedAt"], done["completedAt"]);
    assert!(
        !types(&app, &id(&t))
            .await
            .contains(&"task.started".to_string())
    );
    // Reopen clears completedAt and cancelReason, keeps startedAt.
    let r = TestApp::data(
        app.task_op(&alice, "reopenTask(id: $id)", json!({"id": id(&t)}))
            .await,
    )["r"]
        .clone();
    assert_eq!(r["completedAt"], Value::Null);
    assert_eq!(r["startedAt"], done["startedAt"]);
    TestApp::data(
        app.task_op(
            &alice,
            "cancelTask(id: $id, reason: \"nope\")",
            json!({"id": id(&t)}),
        )
        .await,
    );
    let r = TestApp::data(
        app.task_op(&alice, "reopenTask(id: $id)", json!({"id": id(&t)}))
            .await,
    )["r"]
        .clone();
    assert_eq!(r["cancelReason"], Value::Null);
}

async fn forbidden_transitions_change_nothing(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let cases: &[(&[&str], &str, &str, &str)] = &[
        (
            &["startTask(id: $id)"],
            "startTask(id: $id)",
            "IN_PROGRESS",
            "IN_PROGRESS",
        ),
        (
            &["completeTask(id: $id)"],
            "startTask(id: $id)",
            "COMPLETED",
            "IN_PROGRESS",
        ),
        (
            &["cancelTask(id: $id, reason: \"r\")"],
            "completeTask(id: $id)",
            "CANCELLED",
            "COMPLETED",
        ),
        (
            &["completeTask(id: $id)"],
            "cancelTask(id: $id, reason: \"r\")",
            "COMPLETED",
            "CANCELLED",
        ),
        (&[], "reopenTask(id: $id)", "OPEN", "OPEN"),
        (
            &["startTask(id: $id)"],
            "reopenTask(id: $id)",
            "IN_PROGRESS",
            "OPEN",
        ),
        (
            &["completeTask(id: $id)"],
            "assignTask(id: $id, assignee: \"bob\")",
            "COMPLETED",
            "COMPLETED",
        ),
    ];
    let read = "query($id: UUID!) { task(id: $id) { status version updatedAt assignedAgent } }";
    for (setup, op, from, to) in cases {
        let t = app.create_task(&alice, None, json!({"title": "f"})).await;
        let v = json!({"id": id(&t)});
        for step in *setup {
            TestApp::data(app.task_op(&alice, step, v.clone()).await);
        }
        let before = app.ok(&alice, read, v.clone()).await;
        let events = app.event_count().await;
        let err = first_error(&app.task_op(&alice, op, v.clone()).await);
        assert_eq!(
            err["extensions"],
            json!({"code": "INVALID_TRANSITION", "from": from, "to": to}),
            "{op}"
        );
        assert_eq!(app.ok(&alice, read, v).await, before);
        assert_eq!(app.event_count().await, events);
    }
}

async fn complete_refused_while_a_subtask_is_open(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let parent = app
        .create_task(&alice, None, json!({"title": "parent"}))
        .await;
    let a = app
        .create_task(&alice, Some(&id(&parent)), json!({"title": "a"}))
        .await;
    let b = app
        .create_task(&alice, Some(&id(&parent)), json!({"title": "b"}))
        .await;
    TestApp::data(
        app.task_op(&alice, "startTask(id: $id)", json!({"id": id(&b)}))
            .await,
    );
    let err = first_error(
        &app.task_op(&alice, "completeTask(id: $id)", json!({"id": id(&parent)}))
            .await,
    );
    assert_eq!(err["extensions"]["code"], "DEPENDENCY_UNMET");
    let unmet = err["extensions"]["unmet"].as_array().unwrap();
    assert_eq!(unmet.len(), 2);
    assert_eq!(unmet[0]["taskId"], id(&a));
    assert_eq!(unmet[1]["status"], "IN_PROGRESS");
    TestApp::data(
        app.task_op(&alice, "completeTask(id: $id)", json!({"id": id(&a)}))
            .await,
    );
    TestApp::data(
        app.task_op(
            &alice,
            "cancelTask(id: $id, reason: \"skip\")",
            json!({"id": id(&b)}),
        )
        .await,
    );
    let done = TestApp::data(
        app.task_op(&alice, "completeTask(id: $id)", json!({"id": id(&parent)}))
            .await,
    );
    assert_eq!(done["r"]["status"], "COMPLETED");
}

async fn no_subtask_under_finished_parent_and_no_reopen_under_completed(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let parent = app.create_task(&alice, None, json!({"title": "p"})).await;
    let child = app
        .create_task(&alice, Some(&id(&parent)), json!({"title": "c"}))
        .await;
    assert_eq!(child["parent"]["id"], id(&parent));
    TestApp::data(
        app.task_op(&alice, "completeTask(id: $id)", json!({"id": id(&child)}))
            .await,
    );
    TestApp::data(
        app.task_op(&alice, "completeTask(id: $id)", json!({"id": id(&parent)}))
            .await,
    );
    let q = "mutation($p: UUID!) { createSubtask(parentId: $p, input: {title: \"late\"}) { id } }";
    let before = app.event_count().await;
    let err = app.err(&alice, q, json!({"p": id(&parent)})).await;
    assert_eq!(
        err["extensions"],
        json!({"code": "INVALID_TRANSITION", "from": "COMPLETED", "to": "OPEN"})
    );
    assert!(
        err["message"].as_str().unwrap().contains(&id(&parent)),
        "names the parent"
    );
    let reopen = first_error(
        &app.task_op(&alice, "reopenTask(id: $id)", json!({"id": id(&child)}))
            .await,
    );
    assert_eq!(reopen["extensions"]["code"], "INVALID_TRANSITION");
    assert!(reopen["message"].as_str().unwrap().contains(&id(&parent)));
    assert_eq!(app.event_count().await, before);
    // Under a CANCELLED parent: no new subtask either.
    let cancelled = app.create_task(&alice, None, json!({"title": "x"})).await;
    TestApp::data(
        app.task_op(
            &alice,
            "cancelTask(id: $id, reason: \"r\")",
            json!({"id": id(&cancelled)}),
        )
        .await,
    );
    let err = app.err(&alice, q, json!({"p": id(&cancelled)})).await;
    assert_eq!(err["extensions"]["from"], "CANCELLED");
    // Reopening the parent lets the child reopen.
    TestApp::data(
        app.task_op(&alice, "reopenTask(id: $id)", json!({"id": id(&parent)}))
            .await,
    );
    TestApp::data(
        app.task_op(&alice, "reopenTask(id: $id)", json!({"id": id(&child)}))
            .await,
    );
}

async fn cancel_cascades_to_open_subtasks(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let root = app
        .create_task(&alice, None, json!({"title": "root"}))
        .await;
    let a = app
        .create_task(&alice, Some(&id(&root)), json!({"title": "a"}))
        .await;
    let done = app
        .create_task(&alice, Some(&id(&root)), json!({"title": "done"}))
        .await;
    let a1 = app
        .create_task(&alice, Some(&id(&a)), json!({"title": "a1"}))
        .await;
    TestApp::data(
        app.task_op(&alice, "startTask(id: $id)", json!({"id": id(&a1)}))
            .await,
    );
    TestApp::data(
        app.task_op(&alice, "completeTask(id: $id)", json!({"id": id(&done)}))
            .await,
    );
    let mark = app.last_event_id().await;
    TestApp::data(
        app.task_op(
            &alice,
            "cancelTask(id: $id, reason: \"scrapped\")",
            json!({"id": id(&root)}),
        )
        .await,
    );
    let events = app.events_since(mark).await;
    let order: Vec<(String, String)> = events
        .iter()
        .map(|(t, task, _)| (t.clone(), task.unwrap().to_string()))
        .collect();
    assert_eq!(
        order,
        [
            ("task.status_changed".to_string(), id(&root)),
            ("task.cancelled".to_string(), id(&root)),
            ("task.status_changed".to_string(), id(&a)),
            ("task.cancelled".to_string(), id(&a)),
            ("task.status_changed".to_string(), id(&a1)),
            ("task.cancelled".to_string(), id(&a1)),
        ]
    );
    assert_eq!(events[1].2, json!({"reason": "scrapped"}));
    let cascade_reason = events[3].2["reason"].as_str().unwrap();
    assert!(
        cascade_reason.contains(&id(&root)) && cascade_reason.contains("scrapped"),
        "{cascade_reason}"
    );
    assert_eq!(
        events[4].2,
        json!({"fromStatus": "IN_PROGRESS", "toStatus": "CANCELLED"})
    );
    let read = "query($id: UUID!) { task(id: $id) { status cancelReason } }";
    assert_eq!(
        app.ok(&alice, read, json!({"id": id(&done)})).await["task"]["status"],
        "COMPLETED"
    );
    assert_eq!(
        app.ok(&alice, read, json!({"id": id(&a1)})).await["task"]["status"],
        "CANCELLED"
    );
}

async fn delete_removes_subtasks_deepest_first(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let root = app
        .create_task(&alice, None, json!({"title": "root"}))
        .await;
    let a = app
        .create_task(&alice, Some(&id(&root)), json!({"title": "a"}))
        .await;
    let a1 = app
        .create_task(&alice, Some(&id(&a)), json!({"title": "a1"}))
        .await;
    let b = app
        .create_task(&alice, Some(&id(&root)), json!({"title": "b"}))
        .await;
    let job = app.create_job(&alice, json!({"title": "j"})).await;
    app.link(&id(&job), &id(&a1), JobTaskRole::Supporting).await;
    let mark = app.last_event_id().await;
    let out = app
        .ok(
            &alice,
            "mutation($id: UUID!) { deleteTask(id: $id) }",
            json!({"id": id(&root)}),
        )
        .await;
    assert_eq!(out["deleteTask"], id(&root));
    let events = app.events_since(mark).await;
    let order: Vec<String> = events
        .iter()
        .map(|(t, task, _)| format!("{t} {}", task.unwrap()))
        .collect();
    assert_eq!(
        order,
        [
            format!("task.deleted {}", id(&a1)),
            format!("task.deleted {}", id(&a)),
            format!("task.deleted {}", id(&b)),
            format!("task.deleted {}", id(&root)),
        ]
    );
    let linked: Vec<Value> = {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        entity::event::Entity::find()
            .filter(entity::event::Column::TaskId.eq(uuid::Uuid::parse_str(&id(&a1)).unwrap()))
            .filter(entity::event::Column::EventType.eq("task.deleted"))
            .all(&app.db)
            .await
            .unwrap()
            .into_iter()
            .filter_map(|e| e.linked_job_ids)
            .collect()
    };
    assert_eq!(
        linked,
        [json!([id(&job)])],
        "a task event carries the jobs linked at that moment"
    );
    for t in [&root, &a, &a1, &b] {
        let gone = app
            .ok(
                &alice,
                "query($id: UUID!) { task(id: $id) { id } }",
                json!({"id": id(t)}),
            )
            .await;
        assert_eq!(gone["task"], Value::Null);
    }
    let job_tasks = app
        .ok(
            &alice,
            "query($j: UUID!) { tasks(filter: {jobId: $j}) { totalCount } }",
            json!({"j": id(&job)}),
        )
        .await;
    assert_eq!(
        job_tasks["tasks"]["totalCount"], 0,
        "links went with the task"
    );
}

async fn reparenting_and_cycles(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let q = "mutation($id: UUID!, $p: UUID) { updateTask(id: $id, input: {parentId: $p}) { id version parent { id } } }";
    let a = app.create_task(&alice, None, json!({"title": "a"})).await;
    let b = app
        .create_task(&alice, Some(&id(&a)), json!({"title": "b"}))
        .await;
    let c = app
        .create_task(&alice, Some(&id(&b)), json!({"title": "c"}))
        .await;
    let d = app
        .create_task(&alice, Some(&id(&c)), json!({"title": "d"}))
        .await;
    let events = app.event_count().await;
    // Self.
    let err = app.err(&alice, q, json!({"id": id(&a), "p": id(&a)})).await;
    assert_eq!(
        err["extensions"],
        json!({"code": "CYCLE_DETECTED", "cycle": [id(&a)]})
    );
    // Two nodes: a is b's parent.
    let err = app.err(&alice, q, json!({"id": id(&a), "p": id(&b)})).await;
    assert_eq!(err["extensions"]["cycle"], json!([id(&a), id(&b)]));
    // Deep: a → b → c → d.
    let err = app.err(&alice, q, json!({"id": id(&a), "p": id(&d)})).await;
    assert_eq!(
        err["extensions"]["cycle"],
        json!([id(&a), id(&b), id(&c), id(&d)])
    );
    assert_eq!(app.event_count().await, events, "refusals change nothing");
    // A legal move and a detach.
    let moved = app.ok(&alice, q, json!({"id": id(&d), "p": id(&a)})).await;
    assert_eq!(moved["updateTask"]["parent"]["id"], id(&a));
    let detached = app.ok(&alice, q, json!({"id": id(&c), "p": null})).await;
    assert_eq!(detached["updateTask"]["parent"], Value::Null);
    let subs = app
        .ok(
            &alice,
            "query($id: UUID!) { subtasks(parentId: $id) { id } }",
            json!({"id": id(&a)}),
        )
        .await;
    assert_eq!(subs["subtasks"], json!([{"id": id(&b)}, {"id": id(&d)}]));
    // A foreign or unknown parent is NOT_FOUND.
    let err = app
        .err(&alice, q, json!({"id": id(&c), "p": uuid::Uuid::now_v7()}))
        .await;
    assert_eq!(err["extensions"]["code"], "NOT_FOUND");
    // An open task cannot move under a finished one.
    let finished = app.create_task(&alice, None, json!({"title": "f"})).await;
    TestApp::data(
        app.task_op(
            &alice,
            "completeTask(id: $id)",
            json!({"id": id(&finished)}),
        )
        .await,
    );
    let err = app
        .err(&alice, q, json!({"id": id(&c), "p": id(&finished)}))
        .await;
    assert_eq!(err["extensions"]["code"], "INVALID_TRANSITION");
}

async fn nesting_depth_is_bounded(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let root = app
        .create_task(&alice, None, json!({"title": "level 1"}))
        .await;
    let mut last = id(&root);
    for level in 2..=32 {
        last = id(&app
            .create_task(
                &alice,
                Some(&last),
                json!({"title": format!("level {level}")}),
            )
            .await);
    }
    let q =
        "mutation($p: UUID!) { createSubtask(parentId: $p, input: {title: \"level 33\"}) { id } }";
    let err = app.err(&alice, q, json!({"p": last})).await;
    assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT");
    // Moving a two-level subtree under level 31 would reach depth 33.
    let top = app.create_task(&alice, None, json!({"title": "top"})).await;
    app.create_task(&alice, Some(&id(&top)), json!({"title": "below"}))
        .await;
    let level31 = app
        .ok(
            &alice,
            "query($id: UUID!) { task(id: $id) { parent { id } } }",
            json!({"id": last}),
        )
        .await["task"]["parent"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mv = "mutation($id: UUID!, $p: UUID) { updateTask(id: $id, input: {parentId: $p}) { id } }";
    let err = app
        .err(&alice, mv, json!({"id": id(&top), "p": level31}))
        .await;
    assert_eq!(err["extensions"]["field"], "input.parentId");
}

async fn assignment_and_pick_up(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let bob = app.actor("bob", &[Agent]);
    let carol = app.actor("carol", &[Member]);
    let viewer = app.actor("val", &[Viewer]);
    let t = app.create_task(&alice, None, json!({"title": "t"})).await;
    let v = json!({"id": id(&t)});
    // A VIEWER cannot pick it up; an unrelated AGENT can, for itself only.
    assert_eq!(
        code(
            &app.task_op(&viewer, "assignTask(id: $id, assignee: \"val\")", v.clone())
                .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(
        code(
            &app.task_op(&bob, "assignTask(id: $id, assignee: \"carol\")", v.clone())
                .await
        ),
        "FORBIDDEN"
    );
    let picked = TestApp::data(
        app.task_op(
            &bob,
            "assignTask(id: $id, assignee: \"bob\", reason: \"mine\")",
            v.clone(),
        )
        .await,
    )["r"]
        .clone();
    assert_eq!(picked["assignedAgent"], "bob");
    assert_eq!(
        picked["delegationChain"],
        json!([{"from": null, "to": "bob", "by": "bob", "reason": "mine", "at": picked["updatedAt"]}])
    );
    // Now assigned: another member cannot take it; the assignee can work it.
    assert_eq!(
        code(
            &app.task_op(
                &carol,
                "assignTask(id: $id, assignee: \"carol\")",
                v.clone()
            )
            .await
        ),
        "FORBIDDEN"
    );
    let started =
        TestApp::data(app.task_op(&bob, "startTask(id: $id)", v.clone()).await)["r"].clone();
    assert_eq!(
        started["assignedAgent"], "bob",
        "startTask never changes the assignee"
    );
    // The creator hands it on; to the current assignee is refused.
    let err = first_error(
        &app.task_op(&alice, "assignTask(id: $id, assignee: \"bob\")", v.clone())
            .await,
    );
    assert_eq!(err["extensions"]["field"], "assignee");
    TestApp::data(
        app.task_op(
            &alice,
            "assignTask(id: $id, assignee: \"carol\")",
            v.clone(),
        )
        .await,
    );
    let events = app.task_events(&id(&t)).await;
    let assigned: Vec<&Value> = events
        .iter()
        .filter(|(t, _)| t == "task.assigned")
        .map(|(_, d)| d)
        .collect();
    assert_eq!(assigned[0], &json!({"toAssignee": "bob", "reason": "mine"}));
    assert_eq!(
        assigned[1],
        &json!({"fromAssignee": "bob", "toAssignee": "carol"})
    );
}

async fn permissions_by_role_and_primary_job_owner(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let stranger = app.actor("sam", &[Member]);
    let agent = app.actor("ann", &[Agent]);
    let admin = app.actor("root", &[Admin]);
    let viewer = app.actor("val", &[Viewer]);
    let q = "mutation { createTask(input: {title: \"x\"}) { id } }";
    assert_eq!(code(&app.exec(&viewer, q, json!({})).await), "FORBIDDEN");
    let t = app
        .create_task(&alice, None, json!({"title": "mine"}))
        .await;
    let v = json!({"id": id(&t)});
    let before = app.event_count().await;
    for op in [
        "startTask(id: $id)",
        "completeTask(id: $id)",
        "cancelTask(id: $id, reason: \"r\")",
        "updateTask(id: $id, input: {title: \"y\"})",
    ] {
        assert_eq!(
            code(&app.task_op(&stranger, op, v.clone()).await),
            "FORBIDDEN",
            "{op}"
        );
    }
    let sub = "mutation($p: UUID!) { createSubtask(parentId: $p, input: {title: \"s\"}) { id } }";
    assert_eq!(
        code(&app.exec(&stranger, sub, json!({"p": id(&t)})).await),
        "FORBIDDEN"
    );
    let del = "mutation($id: UUID!) { deleteTask(id: $id) }";
    assert_eq!(
        code(&app.exec(&stranger, del, v.clone()).await),
        "FORBIDDEN"
    );
    assert_eq!(app.event_count().await, before);
    // The owner of a job that links the task as PRIMARY owns it too; SUPPORTING does not.
    let job = app.create_job(&agent, json!({"title": "j"})).await;
    app.link(&id(&job), &id(&t), JobTaskRole::Supporting).await;
    assert_eq!(
        code(&app.task_op(&agent, "startTask(id: $id)", v.clone()).await),
        "FORBIDDEN"
    );
    let t2 = app
        .create_task(&alice, None, json!({"title": "linked"}))
        .await;
    app.link(&id(&job), &id(&t2), JobTaskRole::Primary).await;
    let ok = TestApp::data(
        app.task_op(&agent, "startTask(id: $id)", json!({"id": id(&t2)}))
            .await,
    );
    assert_eq!(ok["r"]["status"], "IN_PROGRESS");
    // AGENT never deletes; the creating MEMBER and ADMIN do.
    let own = app
        .create_task(&agent, None, json!({"title": "agent's"}))
        .await;
    assert_eq!(
        code(&app.exec(&agent, del, json!({"id": id(&own)})).await),
        "FORBIDDEN"
    );
    TestApp::data(app.exec(&admin, del, json!({"id": id(&own)})).await);
    TestApp::data(app.exec(&alice, del, v).await);
}

async fn foreign_tenant_is_not_found(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let other = app.foreigner("mallory", &[Admin]);
    let t = app
        .create_task(&alice, None, json!({"title": "private"}))
        .await;
    let v = json!({"id": id(&t)});
    let before = app.event_count().await;
    let ops = [
        "startTask(id: $id)",
        "completeTask(id: $id)",
        "cancelTask(id: $id, reason: \"r\")",
        "reopenTask(id: $id)",
        "assignTask(id: $id, assignee: \"mallory\")",
        "updateTask(id: $id, input: {title: \"mine now\"})",
    ];
    for op in ops {
        let err = first_error(&app.task_op(&other, op, v.clone()).await);
        assert_eq!(
            err["extensions"],
            json!({"code": "NOT_FOUND", "id": id(&t)}),
            "{op}"
        );
    }
    for q in [
        "mutation($id: UUID!) { deleteTask(id: $id) }",
        "mutation($id: UUID!) { createSubtask(parentId: $id, input: {title: \"s\"}) { id } }",
        "query($id: UUID!) { subtasks(parentId: $id) { id } }",
    ] {
        assert_eq!(
            code(&app.exec(&other, q, v.clone()).await),
            "NOT_FOUND",
            "{q}"
        );
    }
    // A foreign parent for re-parenting is NOT_FOUND too.
    let theirs = app
        .create_task(&other, None, json!({"title": "theirs"}))
        .await;
    let mv = "mutation($id: UUID!, $p: UUID) { updateTask(id: $id, input: {parentId: $p}) { id } }";
    assert_eq!(
        code(
            &app.exec(&other, mv, json!({"id": id(&theirs), "p": id(&t)}))
                .await
        ),
        "NOT_FOUND"
    );
    let read = app
        .ok(
            &other,
            "query($id: UUID!) { task(id: $id) { id } tasks { totalCount } }",
            v,
        )
        .await;
    assert_eq!(read["task"], Value::Null);
    assert_eq!(read["tasks"]["totalCount"], 1, "only its own task");
    assert_eq!(app.event_count().await, before);
}

async fn lists_and_nested_fields(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let root = app
        .create_task(&alice, None, json!({"title": "root"}))
        .await;
    let mut kids = Vec::new();
    for i in 0..3 {
        kids.push(id(&app
            .create_task(
                &alice,
                Some(&id(&root)),
                json!({"title": format!("kid {i}")}),
            )
            .await));
    }
    TestApp::data(
        app.task_op(&alice, "startTask(id: $id)", json!({"id": kids[1]}))
            .await,
    );
    let q = "query($f: TaskFilter, $after: String) { tasks(filter: $f, first: 2, after: $after) { totalCount nodes { id parent { id } subtasks { id } } pageInfo { hasNextPage endCursor } } }";
    let page1 = app.ok(&alice, q, json!({})).await["tasks"].clone();
    assert_eq!(page1["totalCount"], 4);
    assert_eq!(page1["nodes"][0]["id"], kids[2], "newest first");
    assert_eq!(page1["nodes"][0]["parent"]["id"], id(&root));
    let page2 = app
        .ok(&alice, q, json!({"after": page1["pageInfo"]["endCursor"]}))
        .await["tasks"]
        .clone();
    assert_eq!(page2["nodes"][1]["id"], id(&root));
    assert_eq!(
        page2["nodes"][1]["subtasks"],
        json!(kids.iter().map(|k| json!({"id": k})).collect::<Vec<_>>())
    );
    assert_eq!(page2["pageInfo"]["hasNextPage"], false);
    let f = app
        .ok(
            &alice,
            q,
            json!({"f": {"parentId": id(&root), "status": ["IN_PROGRESS"]}}),
        )
        .await;
    assert_eq!(
        f["tasks"]["nodes"],
        json!([{"id": kids[1], "parent": {"id": id(&root)}, "subtasks": []}])
    );
    let roots = app.ok(&alice, q, json!({"f": {"rootOnly": true}})).await;
    assert_eq!(roots["tasks"]["totalCount"], 1);
    let bad = app.err(&alice, q, json!({"f": {"status": []}})).await;
    assert_eq!(bad["extensions"]["field"], "filter.status");
    let ordered = app
        .ok(
            &alice,
            "{ tasks(orderBy: {field: CREATED_AT, direction: ASC}, first: 1) { nodes { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(ordered["tasks"]["nodes"][0]["id"], id(&root));
    let cursor_from_other_order = app.err(&alice, "query($a: String) { tasks(orderBy: {field: PRIORITY, direction: ASC}, after: $a) { totalCount } }", json!({"a": page1["pageInfo"]["endCursor"]})).await;
    assert_eq!(cursor_from_other_order["extensions"]["field"], "after");
}

async fn concurrent_completes_one_wins(app: TestApp) {
    let bob = app.actor("bob", &[Agent]);
    let q = "mutation($id: UUID!) { completeTask(id: $id) { status } }";
    for round in 0..20 {
        let t = app
            .create_task(&bob, None, json!({"title": format!("race {round}")}))
            .await;
        let v = json!({"id": id(&t)});
        let (a, b) = tokio::join!(app.http(&bob, q, v.clone()), app.http(&bob, q, v.clone()));
        let wins = [&a, &b]
            .iter()
            .filter(|r| r.get("errors").is_none())
            .count();
        assert_eq!(wins, 1, "round {round}: {a} / {b}");
        let loser = if a.get("errors").is_some() { &a } else { &b };
        assert!(
            matches!(code(loser).as_str(), "INVALID_TRANSITION" | "CONFLICT"),
            "{loser}"
        );
        let completed = types(&app, &id(&t))
            .await
            .iter()
            .filter(|t| *t == "task.completed")
            .count();
        assert_eq!(completed, 1);
    }
}

/// Two moves that would close a loop between them, at once: X under D (D below E) and E under
/// Y (Y below X). Whatever the interleaving, the tree must stay a tree.
async fn concurrent_moves_never_close_a_loop(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let mv = "mutation($id: UUID!, $p: UUID) { updateTask(id: $id, input: {parentId: $p}) { id } }";
    for round in 0..10 {
        let e = app
            .create_task(&alice, None, json!({"title": format!("E{round}")}))
            .await;
        let d = app
            .create_task(&alice, Some(&id(&e)), json!({"title": "D"}))
            .await;
        let x = app.create_task(&alice, None, json!({"title": "X"})).await;
        let y = app
            .create_task(&alice, Some(&id(&x)), json!({"title": "Y"}))
            .await;
        let (r1, r2) = tokio::join!(
            app.http(&alice, mv, json!({"id": id(&x), "p": id(&d)})),
            app.http(&alice, mv, json!({"id": id(&e), "p": id(&y)})),
        );
        let failures: Vec<String> = [&r1, &r2]
            .iter()
            .filter(|r| r.get("errors").is_some())
            .map(|r| code(r))
            .collect();
        assert_eq!(
            failures,
            ["CYCLE_DETECTED"],
            "round {round}: exactly the second move is refused: {r1} / {r2}"
        );
        // Walk up from every node: each walk must end at a root within four steps.
        for start in [&e, &d, &x, &y] {
            let mut current = id(start);
            let mut steps = 0;
            loop {
                let q = "query($id: UUID!) { task(id: $id) { parent { id } } }";
                let parent =
                    app.ok(&alice, q, json!({"id": current})).await["task"]["parent"]["id"].clone();
                let Some(p) = parent.as_str() else { break };
                current = p.to_string();
                steps += 1;
                assert!(steps <= 4, "round {round}: a loop through {current}");
            }
        }
    }
}

async fn move_checks_come_in_order(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let sam = app.actor("sam", &[Member]);
    let t = app.create_task(&alice, None, json!({"title": "t"})).await;
    let theirs = app
        .create_task(&sam, None, json!({"title": "theirs"}))
        .await;
    let q = "mutation($id: UUID!, $p: UUID, $v: Int) { updateTask(id: $id, input: {parentId: $p}, expectedVersion: $v) { id } }";
    // NOT_FOUND (a foreign or unknown parent) comes before CONFLICT (a stale version).
    let err = app
        .err(
            &alice,
            q,
            json!({"id": id(&t), "p": uuid::Uuid::now_v7(), "v": 9}),
        )
        .await;
    assert_eq!(err["extensions"]["code"], "NOT_FOUND");
    // Moving under a task you may not add subtasks to is FORBIDDEN, before CONFLICT.
    let err = app
        .err(&alice, q, json!({"id": id(&t), "p": id(&theirs), "v": 9}))
        .await;
    assert_eq!(err["extensions"]["code"], "FORBIDDEN");
    // INVALID_TRANSITION (a finished parent) comes before CYCLE_DETECTED.
    let child = app
        .create_task(&alice, Some(&id(&t)), json!({"title": "c"}))
        .await;
    app.task_op(&alice, "completeTask(id: $id)", json!({"id": id(&child)}))
        .await;
    let err = app
        .err(&alice, q, json!({"id": id(&t), "p": id(&child)}))
        .await;
    assert_eq!(err["extensions"]["code"], "INVALID_TRANSITION");
    // A finished task may move under a finished one; the cycle is still refused.
    app.task_op(&alice, "completeTask(id: $id)", json!({"id": id(&t)}))
        .await;
    let err = app
        .err(&alice, q, json!({"id": id(&t), "p": id(&child)}))
        .await;
    assert_eq!(err["extensions"]["code"], "CYCLE_DETECTED");
}

async fn nul_characters_are_bad_input(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let before = app.event_count().await;
    let cases = [
        (
            "mutation { createTask(input: {title: \"a\\u0000b\"}) { id } }",
            "input.title",
        ),
        (
            "mutation { createJob(input: {title: \"ok\", labels: [\"x\\u0000\"]}) { id } }",
            "input.labels[0]",
        ),
        (
            "mutation { createJob(input: {title: \"ok\", executionContext: {k: \"\\u0000\"}}) { id } }",
            "input.executionContext",
        ),
        (
            "{ jobs(filter: {search: \"\\u0000\"}) { totalCount } }",
            "filter.search",
        ),
        (
            "{ tasks(filter: {createdBy: \"\\u0000\"}) { totalCount } }",
            "filter.createdBy",
        ),
    ];
    for (q, field) in cases {
        let err = app.err(&alice, q, json!({})).await;
        assert_eq!(err["extensions"]["code"], "BAD_USER_INPUT", "{q}");
        assert_eq!(err["extensions"]["field"], field, "{q}");
    }
    assert_eq!(app.event_count().await, before);
}
