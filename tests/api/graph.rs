//! The work graph (DESIGN.md §5): links with roles and progress, dependencies with their
//! enforcement, satisfied and blocked, cycles, cascades with their events, the blocked filter,
//! and tenant isolation of every link and edge operation.

use crate::backend_tests;
use crate::harness::{Admin, Member, TestApp, code, first_error};
use serde_json::{Value, json};

backend_tests!(
    links_roles_and_progress,
    job_dependency_types_are_enforced,
    task_dependency_types_are_enforced,
    satisfied_and_blocked_follow_the_predecessor,
    cycles_are_refused_with_the_cycle,
    edge_rules_cron_replace_and_remove,
    failed_job_cancels_waiting_successors_transitively,
    cancelled_job_cancels_its_open_primary_tasks,
    deleting_an_unfinished_predecessor_cancels_successors,
    task_changes_update_linked_jobs,
    blocked_filter_selects_ready_work,
    foreign_ids_are_not_found,
    review_regressions,
    satisfied_and_blocked_for_every_job_status,
);

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

const LINK: &str = "mutation($j: UUID!, $t: UUID!, $r: JobTaskRole) { linkTask(jobId: $j, taskId: $t, role: $r) { role job { id } task { id } createdAt } }";
const UNLINK: &str = "mutation($j: UUID!, $t: UUID!) { unlinkTask(jobId: $j, taskId: $t) }";
const ADD_JOB_DEP: &str = "mutation($p: UUID!, $s: UUID!, $t: DependencyType) { addJobDependency(predecessorId: $p, successorId: $s, type: $t) { type satisfied predecessor { id } successor { id } } }";
const ADD_TASK_DEP: &str = "mutation($p: UUID!, $s: UUID!, $t: DependencyType) { addTaskDependency(predecessorId: $p, successorId: $s, type: $t) { type satisfied predecessor { id } successor { id } } }";

async fn job_read(app: &TestApp, actor: &jobgraph::auth::Actor, job: &str) -> Value {
    let q = "query($id: UUID!) { job(id: $id) { status blocked version progress { total completed cancelled open ratio }
        tasks { role task { id } } primary: tasks(role: PRIMARY) { task { id } }
        dependencies { type satisfied predecessor { id } } dependents { successor { id } } } }";
    app.ok(actor, q, json!({"id": job})).await["job"].clone()
}

async fn links_roles_and_progress(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let job = app.create_job(&alice, json!({"title": "j"})).await;
    let j = id(&job);
    let mut tasks = Vec::new();
    for i in 0..4 {
        tasks.push(id(&app
            .create_task(&alice, None, json!({"title": format!("t{i}")}))
            .await));
    }
    let before = app.job_events(&j).await.len();
    let l = app.ok(&alice, LINK, json!({"j": j, "t": tasks[0]})).await["linkTask"].clone();
    assert_eq!(l["role"], "PRIMARY", "the default role");
    assert_eq!(
        (l["job"]["id"].clone(), l["task"]["id"].clone()),
        (json!(j), json!(tasks[0]))
    );
    app.ok(&alice, LINK, json!({"j": j, "t": tasks[1], "r": "PRIMARY"}))
        .await;
    app.ok(
        &alice,
        LINK,
        json!({"j": j, "t": tasks[2], "r": "SUPPORTING"}),
    )
    .await;
    // An existing pair changes its role.
    let changed = app
        .ok(&alice, LINK, json!({"j": j, "t": tasks[2], "r": "PRIMARY"}))
        .await;
    assert_eq!(changed["linkTask"]["role"], "PRIMARY");
    // createTask with jobId links at once (only task.created is written).
    let t4 = app
        .create_task(
            &alice,
            None,
            json!({"title": "t4", "jobId": j, "role": "SUPPORTING"}),
        )
        .await;
    let types: Vec<String> = app
        .task_events(&id(&t4))
        .await
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(types, ["task.created"]);
    let events = app.job_events(&j).await;
    assert_eq!(events.len() - before, 4, "one job.updated per link change");
    assert!(events[before..].iter().all(|(t, _)| t == "job.updated"));

    app.task_op(&alice, "completeTask(id: $id)", json!({"id": tasks[0]}))
        .await;
    app.task_op(
        &alice,
        "cancelTask(id: $id, reason: \"r\")",
        json!({"id": tasks[1]}),
    )
    .await;
    let read = job_read(&app, &alice, &j).await;
    assert_eq!(
        read["progress"],
        json!({"total": 3, "completed": 1, "cancelled": 1, "open": 1, "ratio": 0.5})
    );
    assert_eq!(read["tasks"].as_array().unwrap().len(), 4);
    assert_eq!(read["primary"].as_array().unwrap().len(), 3);
    let roles = app.ok(&alice, "query($id: UUID!) { task(id: $id) { jobs { role job { id } } s: jobs(role: SUPPORTING) { role } } }", json!({"id": id(&t4)})).await;
    assert_eq!(
        roles["task"]["jobs"],
        json!([{"role": "SUPPORTING", "job": {"id": j}}])
    );
    assert_eq!(roles["task"]["s"].as_array().unwrap().len(), 1);
    // Unlink: true once, then false.
    assert_eq!(
        app.ok(&alice, UNLINK, json!({"j": j, "t": tasks[2]})).await["unlinkTask"],
        true
    );
    assert_eq!(
        app.ok(&alice, UNLINK, json!({"j": j, "t": tasks[2]})).await["unlinkTask"],
        false
    );
    assert_eq!(
        app.ok(&alice, UNLINK, json!({"j": j, "t": tasks[3]})).await["unlinkTask"],
        false,
        "never linked"
    );
    assert_eq!(job_read(&app, &alice, &j).await["progress"]["total"], 2);
    // No PRIMARY tasks: ratio 0.
    let empty = app.create_job(&alice, json!({"title": "empty"})).await;
    assert_eq!(
        job_read(&app, &alice, &id(&empty)).await["progress"]["ratio"],
        0.0
    );
    // A role without a job is refused.
    let err = app
        .err(
            &alice,
            "mutation { createTask(input: {title: \"x\", role: PRIMARY}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(err["extensions"]["field"], "input.role");
}

async fn start(app: &TestApp, actor: &jobgraph::auth::Actor, job: &str) -> Value {
    app.job_op(actor, "startJob(id: $id)", json!({"id": job}))
        .await
}

async fn job_dependency_types_are_enforced(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let mk = |t: &str| json!({"title": t});
    // FINISH_TO_START: the successor starts once the predecessor SUCCEEDED.
    let p = id(&app.create_job(&alice, mk("p")).await);
    let s = id(&app.create_job(&alice, mk("s")).await);
    app.ok(&alice, ADD_JOB_DEP, json!({"p": p, "s": s})).await;
    let err = first_error(&start(&app, &alice, &s).await);
    assert_eq!(
        err["extensions"],
        json!({"code": "DEPENDENCY_UNMET", "unmet": [{"predecessorId": p, "type": "FINISH_TO_START"}]})
    );
    start(&app, &alice, &p).await;
    assert_eq!(
        code(&start(&app, &alice, &s).await),
        "DEPENDENCY_UNMET",
        "started is not finished"
    );
    app.job_op(&alice, "completeJob(id: $id)", json!({"id": p}))
        .await;
    assert_eq!(
        TestApp::data(start(&app, &alice, &s).await)["r"]["status"],
        "RUNNING"
    );

    // START_TO_START: the successor starts once the predecessor has started.
    let p2 = id(&app.create_job(&alice, mk("p2")).await);
    let s2 = id(&app.create_job(&alice, mk("s2")).await);
    app.ok(
        &alice,
        ADD_JOB_DEP,
        json!({"p": p2, "s": s2, "t": "START_TO_START"}),
    )
    .await;
    assert_eq!(code(&start(&app, &alice, &s2).await), "DEPENDENCY_UNMET");
    start(&app, &alice, &p2).await;
    TestApp::data(start(&app, &alice, &s2).await);

    // FINISH_TO_FINISH: the successor may start, but finishes only after the predecessor.
    let p3 = id(&app.create_job(&alice, mk("p3")).await);
    let s3 = id(&app.create_job(&alice, mk("s3")).await);
    app.ok(
        &alice,
        ADD_JOB_DEP,
        json!({"p": p3, "s": s3, "t": "FINISH_TO_FINISH"}),
    )
    .await;
    TestApp::data(start(&app, &alice, &s3).await);
    let err = first_error(
        &app.job_op(&alice, "completeJob(id: $id)", json!({"id": s3}))
            .await,
    );
    assert_eq!(
        err["extensions"]["unmet"],
        json!([{"predecessorId": p3, "type": "FINISH_TO_FINISH"}])
    );
    start(&app, &alice, &p3).await;
    app.job_op(&alice, "completeJob(id: $id)", json!({"id": p3}))
        .await;
    TestApp::data(
        app.job_op(&alice, "completeJob(id: $id)", json!({"id": s3}))
            .await,
    );

    // PREREQUISITE tasks gate the start.
    let j = id(&app.create_job(&alice, mk("needs prep")).await);
    let prep = app
        .create_task(
            &alice,
            None,
            json!({"title": "prep", "jobId": j, "role": "PREREQUISITE"}),
        )
        .await;
    let err = first_error(&start(&app, &alice, &j).await);
    assert_eq!(
        err["extensions"]["unmet"],
        json!([{"taskId": id(&prep), "role": "PREREQUISITE"}])
    );
    app.task_op(
        &alice,
        "cancelTask(id: $id, reason: \"not needed\")",
        json!({"id": id(&prep)}),
    )
    .await;
    TestApp::data(start(&app, &alice, &j).await);
}

async fn task_dependency_types_are_enforced(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let task = |t: &str| json!({"title": t});
    let p = id(&app.create_task(&alice, None, task("p")).await);
    let s = id(&app.create_task(&alice, None, task("s")).await);
    app.ok(&alice, ADD_TASK_DEP, json!({"p": p, "s": s})).await;
    for op in ["startTask(id: $id)", "completeTask(id: $id)"] {
        let err = first_error(&app.task_op(&alice, op, json!({"id": s})).await);
        assert_eq!(
            err["extensions"]["unmet"],
            json!([{"predecessorId": p, "type": "FINISH_TO_START"}]),
            "{op}"
        );
    }
    // A CANCELLED predecessor satisfies every type.
    app.task_op(
        &alice,
        "cancelTask(id: $id, reason: \"r\")",
        json!({"id": p}),
    )
    .await;
    TestApp::data(
        app.task_op(&alice, "startTask(id: $id)", json!({"id": s}))
            .await,
    );

    let p2 = id(&app.create_task(&alice, None, task("p2")).await);
    let s2 = id(&app.create_task(&alice, None, task("s2")).await);
    app.ok(
        &alice,
        ADD_TASK_DEP,
        json!({"p": p2, "s": s2, "t": "START_TO_START"}),
    )
    .await;
    assert_eq!(
        code(
            &app.task_op(&alice, "startTask(id: $id)", json!({"id": s2}))
                .await
        ),
        "DEPENDENCY_UNMET"
    );
    app.task_op(&alice, "startTask(id: $id)", json!({"id": p2}))
        .await;
    TestApp::data(
        app.task_op(&alice, "startTask(id: $id)", json!({"id": s2}))
            .await,
    );

    let p3 = id(&app.create_task(&alice, None, task("p3")).await);
    let s3 = id(&app.create_task(&alice, None, task("s3")).await);
    app.ok(
        &alice,
        ADD_TASK_DEP,
        json!({"p": p3, "s": s3, "t": "FINISH_TO_FINISH"}),
    )
    .await;
    TestApp::data(
        app.task_op(&alice, "startTask(id: $id)", json!({"id": s3}))
            .await,
    );
    assert_eq!(
        code(
            &app.task_op(&alice, "completeTask(id: $id)", json!({"id": s3}))
                .await
        ),
        "DEPENDENCY_UNMET"
    );
    app.task_op(&alice, "completeTask(id: $id)", json!({"id": p3}))
        .await;
    TestApp::data(
        app.task_op(&alice, "completeTask(id: $id)", json!({"id": s3}))
            .await,
    );
}

async fn satisfied_and_blocked_follow_the_predecessor(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    // Jobs: for each predecessor status, (FS satisfied, SS satisfied).
    let cases: &[(&[&str], &str, bool, bool)] = &[
        (&[], "PENDING", false, false),
        (&["startJob(id: $id)"], "RUNNING", false, true),
        (
            &["startJob(id: $id)", "completeJob(id: $id)"],
            "SUCCEEDED",
            true,
            true,
        ),
        (
            &[
                "startJob(id: $id)",
                "failJob(id: $id, error: \"e\", retryable: false)",
            ],
            "FAILED",
            false,
            true,
        ),
        (
            &["cancelJob(id: $id, reason: \"r\")"],
            "CANCELLED",
            false,
            false,
        ),
    ];
    for (steps, status, fs, ss) in cases {
        let p = id(&app.create_job(&alice, json!({"title": "p"})).await);
        let s_fs = id(&app.create_job(&alice, json!({"title": "fs"})).await);
        let s_ss = id(&app.create_job(&alice, json!({"title": "ss"})).await);
        let s_ff = id(&app.create_job(&alice, json!({"title": "ff"})).await);
        app.ok(&alice, ADD_JOB_DEP, json!({"p": p, "s": s_fs}))
            .await;
        app.ok(
            &alice,
            ADD_JOB_DEP,
            json!({"p": p, "s": s_ss, "t": "START_TO_START"}),
        )
        .await;
        app.ok(
            &alice,
            ADD_JOB_DEP,
            json!({"p": p, "s": s_ff, "t": "FINISH_TO_FINISH"}),
        )
        .await;
        for step in *steps {
            TestApp::data(app.job_op(&alice, step, json!({"id": p})).await);
        }
        let fs_read = job_read(&app, &alice, &s_fs).await;
        let ss_read = job_read(&app, &alice, &s_ss).await;
        let ff_read = job_read(&app, &alice, &s_ff).await;
        if *status == "FAILED" || *status == "CANCELLED" {
            // Its waiting successors were cancelled: not started, so not blocked either way.
            assert_eq!(fs_read["status"], "CANCELLED", "{status}");
            continue;
        }
        assert_eq!(fs_read["dependencies"][0]["satisfied"], *fs, "{status} FS");
        assert_eq!(ss_read["dependencies"][0]["satisfied"], *ss, "{status} SS");
        assert_eq!(fs_read["blocked"], !fs, "{status} FS blocked");
        assert_eq!(ss_read["blocked"], !ss, "{status} SS blocked");
        assert_eq!(ff_read["blocked"], false, "FF never blocks a start");
    }
    // Once started, a record is not blocked even if an edge is added later.
    let a = id(&app.create_job(&alice, json!({"title": "a"})).await);
    let b = id(&app.create_job(&alice, json!({"title": "b"})).await);
    start(&app, &alice, &b).await;
    app.ok(&alice, ADD_JOB_DEP, json!({"p": a, "s": b})).await;
    assert_eq!(job_read(&app, &alice, &b).await["blocked"], false);
    // Tasks: SS is satisfied by a start or a cancel; FS by COMPLETED or CANCELLED.
    let tq = "query($id: UUID!) { task(id: $id) { blocked dependencies { type satisfied } } }";
    for (step, fs, ss) in [
        (None, false, false),
        (Some("startTask(id: $id)"), false, true),
        (Some("completeTask(id: $id)"), true, true),
        (Some("cancelTask(id: $id, reason: \"r\")"), true, true),
    ] {
        let p = id(&app.create_task(&alice, None, json!({"title": "p"})).await);
        let s_fs = id(&app.create_task(&alice, None, json!({"title": "fs"})).await);
        let s_ss = id(&app.create_task(&alice, None, json!({"title": "ss"})).await);
        app.ok(&alice, ADD_TASK_DEP, json!({"p": p, "s": s_fs}))
            .await;
        app.ok(
            &alice,
            ADD_TASK_DEP,
            json!({"p": p, "s": s_ss, "t": "START_TO_START"}),
        )
        .await;
        if let Some(step) = step {
            TestApp::data(app.task_op(&alice, step, json!({"id": p})).await);
        }
        let fs_read = app.ok(&alice, tq, json!({"id": s_fs})).await["task"].clone();
        let ss_read = app.ok(&alice, tq, json!({"id": s_ss})).await["task"].clone();
        assert_eq!(
            (
                fs_read["dependencies"][0]["satisfied"].clone(),
                fs_read["blocked"].clone()
            ),
            (json!(fs), json!(!fs)),
            "{step:?}"
        );
        assert_eq!(
            (
                ss_read["dependencies"][0]["satisfied"].clone(),
                ss_read["blocked"].clone()
            ),
            (json!(ss), json!(!ss)),
            "{step:?}"
        );
    }
}

async fn cycles_are_refused_with_the_cycle(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let mut chain = Vec::new();
    for i in 0..12 {
        chain.push(id(&app
            .create_job(&alice, json!({"title": format!("c{i}")}))
            .await));
    }
    for w in chain.windows(2) {
        app.ok(&alice, ADD_JOB_DEP, json!({"p": w[0], "s": w[1]}))
            .await;
    }
    let before = app.event_count().await;
    let err = app
        .err(&alice, ADD_JOB_DEP, json!({"p": chain[0], "s": chain[0]}))
        .await;
    assert_eq!(
        err["extensions"],
        json!({"code": "CYCLE_DETECTED", "cycle": [chain[0]]})
    );
    let err = app
        .err(&alice, ADD_JOB_DEP, json!({"p": chain[1], "s": chain[0]}))
        .await;
    assert_eq!(
        err["extensions"]["cycle"],
        json!([chain[0], chain[1]]),
        "from the new successor to the new predecessor"
    );
    let err = app
        .err(&alice, ADD_JOB_DEP, json!({"p": chain[11], "s": chain[0]}))
        .await;
    assert_eq!(
        err["extensions"]["cycle"],
        json!(chain),
        "the long way round"
    );
    assert_eq!(app.event_count().await, before, "nothing changed");
    // A shortcut in the same direction is no cycle.
    app.ok(&alice, ADD_JOB_DEP, json!({"p": chain[0], "s": chain[11]}))
        .await;
    // Tasks too.
    let a = id(&app.create_task(&alice, None, json!({"title": "a"})).await);
    let b = id(&app.create_task(&alice, None, json!({"title": "b"})).await);
    app.ok(&alice, ADD_TASK_DEP, json!({"p": a, "s": b})).await;
    let err = app.err(&alice, ADD_TASK_DEP, json!({"p": b, "s": a})).await;
    assert_eq!(
        err["extensions"],
        json!({"code": "CYCLE_DETECTED", "cycle": [a, b]})
    );
}

async fn edge_rules_cron_replace_and_remove(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let cron = id(&app
        .create_job(
            &alice,
            json!({"title": "nightly", "schedule": {"cron": "0 3 * * *"}}),
        )
        .await);
    let a = id(&app.create_job(&alice, json!({"title": "a"})).await);
    let b = id(&app.create_job(&alice, json!({"title": "b"})).await);
    let err = app
        .err(&alice, ADD_JOB_DEP, json!({"p": cron, "s": a}))
        .await;
    assert_eq!(
        (
            err["extensions"]["code"].clone(),
            err["extensions"]["field"].clone()
        ),
        (json!("BAD_USER_INPUT"), json!("predecessorId"))
    );
    let err = app
        .err(&alice, ADD_JOB_DEP, json!({"p": a, "s": cron}))
        .await;
    assert_eq!(err["extensions"]["field"], "successorId");
    let edge = app.ok(&alice, ADD_JOB_DEP, json!({"p": a, "s": b})).await;
    assert_eq!(edge["addJobDependency"]["type"], "FINISH_TO_START");
    let before = app.job_events(&b).await.len();
    let replaced = app
        .ok(
            &alice,
            ADD_JOB_DEP,
            json!({"p": a, "s": b, "t": "START_TO_START"}),
        )
        .await;
    assert_eq!(replaced["addJobDependency"]["type"], "START_TO_START");
    let read = job_read(&app, &alice, &b).await;
    assert_eq!(
        read["dependencies"].as_array().unwrap().len(),
        1,
        "one edge per ordered pair"
    );
    assert_eq!(
        read["version"], 1,
        "edges do not bump the successor's version"
    );
    let events = app.job_events(&b).await;
    assert_eq!(
        events[before..]
            .iter()
            .map(|(t, _)| t.as_str())
            .collect::<Vec<_>>(),
        ["job.updated"]
    );
    let rm = "mutation($p: UUID!, $s: UUID!) { removeJobDependency(predecessorId: $p, successorId: $s) }";
    assert_eq!(
        app.ok(&alice, rm, json!({"p": a, "s": b})).await["removeJobDependency"],
        true
    );
    assert_eq!(
        app.ok(&alice, rm, json!({"p": a, "s": b})).await["removeJobDependency"],
        false
    );
    let dependents = job_read(&app, &alice, &a).await;
    assert_eq!(dependents["dependents"], json!([]));
}

async fn failed_job_cancels_waiting_successors_transitively(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let root = id(&app.create_job(&alice, json!({"title": "root"})).await);
    let child = id(&app.create_job(&alice, json!({"title": "child"})).await);
    let grandchild = id(&app.create_job(&alice, json!({"title": "grandchild"})).await);
    let running_ff = id(&app.create_job(&alice, json!({"title": "running ff"})).await);
    app.ok(&alice, ADD_JOB_DEP, json!({"p": root, "s": child}))
        .await;
    app.ok(
        &alice,
        ADD_JOB_DEP,
        json!({"p": child, "s": grandchild, "t": "START_TO_START"}),
    )
    .await;
    app.ok(
        &alice,
        ADD_JOB_DEP,
        json!({"p": root, "s": running_ff, "t": "FINISH_TO_FINISH"}),
    )
    .await;
    start(&app, &alice, &running_ff).await;
    start(&app, &alice, &root).await;
    let mark = app.last_event_id().await;
    app.job_op(
        &alice,
        "failJob(id: $id, error: \"boom\", retryable: false)",
        json!({"id": root}),
    )
    .await;
    let events: Vec<(String, Option<String>)> = {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
        entity::event::Entity::find()
            .filter(entity::event::Column::TenantId.eq(app.tenant.as_str()))
            .filter(entity::event::Column::Id.gt(mark))
            .order_by_asc(entity::event::Column::Id)
            .all(&app.db)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.event_type, e.job_id.map(|j| j.to_string())))
            .collect()
    };
    let expected = [
        ("job.status_changed", &root),
        ("job.failed", &root),
        ("job.status_changed", &child),
        ("job.cancelled", &child),
        ("job.status_changed", &grandchild),
        ("job.cancelled", &grandchild),
    ];
    let expected: Vec<(String, Option<String>)> = expected
        .iter()
        .map(|(t, j)| (t.to_string(), Some((*j).clone())))
        .collect();
    assert_eq!(events, expected);
    let reason = app.job_events(&child).await.last().unwrap().1["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        reason.contains(&root) && reason.contains("failed"),
        "{reason}"
    );
    let ff = job_read(&app, &alice, &running_ff).await;
    assert_eq!(
        ff["status"], "RUNNING",
        "a RUNNING FF successor is left alone"
    );
    assert_eq!(
        code(
            &app.job_op(&alice, "completeJob(id: $id)", json!({"id": running_ff}))
                .await
        ),
        "DEPENDENCY_UNMET"
    );
}

async fn cancelled_job_cancels_its_open_primary_tasks(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let job = id(&app.create_job(&alice, json!({"title": "j"})).await);
    let other = id(&app.create_job(&alice, json!({"title": "other"})).await);
    let only_mine = app
        .create_task(&alice, None, json!({"title": "only mine", "jobId": job}))
        .await;
    let shared = app
        .create_task(&alice, None, json!({"title": "shared", "jobId": job}))
        .await;
    app.ok(&alice, LINK, json!({"j": other, "t": id(&shared)}))
        .await;
    let started = app
        .create_task(&alice, None, json!({"title": "in progress", "jobId": job}))
        .await;
    app.task_op(&alice, "startTask(id: $id)", json!({"id": id(&started)}))
        .await;
    let supporting = app
        .create_task(
            &alice,
            None,
            json!({"title": "supporting", "jobId": job, "role": "SUPPORTING"}),
        )
        .await;
    app.job_op(
        &alice,
        "cancelJob(id: $id, reason: \"scrapped\")",
        json!({"id": job}),
    )
    .await;
    let status = |t: &Value| {
        let q = "query($id: UUID!) { task(id: $id) { status cancelReason } }";
        let app = app.clone();
        let alice = alice.clone();
        let id = id(t);
        async move { app.ok(&alice, q, json!({"id": id})).await["task"].clone() }
    };
    let cancelled = status(&only_mine).await;
    assert_eq!(cancelled["status"], "CANCELLED");
    assert!(cancelled["cancelReason"].as_str().unwrap().contains(&job));
    assert_eq!(
        status(&shared).await["status"],
        "OPEN",
        "another unfinished job drives it"
    );
    assert_eq!(
        status(&started).await["status"],
        "IN_PROGRESS",
        "only OPEN tasks"
    );
    assert_eq!(
        status(&supporting).await["status"],
        "OPEN",
        "only PRIMARY tasks"
    );
    let types: Vec<String> = app
        .task_events(&id(&only_mine))
        .await
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    assert_eq!(
        types,
        ["task.created", "task.status_changed", "task.cancelled"]
    );
}

async fn deleting_an_unfinished_predecessor_cancels_successors(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let p = id(&app.create_job(&alice, json!({"title": "p"})).await);
    let s = id(&app.create_job(&alice, json!({"title": "s"})).await);
    app.ok(&alice, ADD_JOB_DEP, json!({"p": p, "s": s})).await;
    app.ok(
        &alice,
        "mutation($id: UUID!) { deleteJob(id: $id) }",
        json!({"id": p}),
    )
    .await;
    let read = job_read(&app, &alice, &s).await;
    assert_eq!(read["status"], "CANCELLED");
    assert_eq!(
        read["dependencies"],
        json!([]),
        "the edge went with the predecessor"
    );
    // A finished predecessor's deletion only removes the edge.
    let p2 = id(&app.create_job(&alice, json!({"title": "p2"})).await);
    let s2 = id(&app.create_job(&alice, json!({"title": "s2"})).await);
    app.ok(&alice, ADD_JOB_DEP, json!({"p": p2, "s": s2})).await;
    start(&app, &alice, &p2).await;
    app.job_op(&alice, "completeJob(id: $id)", json!({"id": p2}))
        .await;
    app.ok(
        &alice,
        "mutation($id: UUID!) { deleteJob(id: $id) }",
        json!({"id": p2}),
    )
    .await;
    assert_eq!(job_read(&app, &alice, &s2).await["status"], "PENDING");
}

async fn task_changes_update_linked_jobs(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let job = id(&app.create_job(&alice, json!({"title": "j"})).await);
    let gated = id(&app.create_job(&alice, json!({"title": "gated"})).await);
    let primary = app
        .create_task(&alice, None, json!({"title": "work", "jobId": job}))
        .await;
    let prep = app
        .create_task(
            &alice,
            None,
            json!({"title": "prep", "jobId": gated, "role": "PREREQUISITE"}),
        )
        .await;
    let supporting = app
        .create_task(
            &alice,
            None,
            json!({"title": "ctx", "jobId": job, "role": "SUPPORTING"}),
        )
        .await;
    let count = |j: String| {
        let app = app.clone();
        async move {
            app.job_events(&j)
                .await
                .iter()
                .filter(|(t, _)| t == "job.updated")
                .count()
        }
    };
    let (j0, g0) = (count(job.clone()).await, count(gated.clone()).await);
    // Starting a PRIMARY task keeps it open: progress unchanged, no event.
    app.task_op(&alice, "startTask(id: $id)", json!({"id": id(&primary)}))
        .await;
    assert_eq!(count(job.clone()).await, j0);
    // Completing it changes progress: one job.updated, after the task's own events.
    let mark = app.last_event_id().await;
    app.task_op(&alice, "completeTask(id: $id)", json!({"id": id(&primary)}))
        .await;
    let tail: Vec<String> = app
        .events_since(mark)
        .await
        .into_iter()
        .map(|(t, _, _)| t)
        .collect();
    assert_eq!(
        tail,
        ["task.status_changed", "task.completed", "job.updated"]
    );
    // A SUPPORTING task changes nothing of the job.
    app.task_op(
        &alice,
        "completeTask(id: $id)",
        json!({"id": id(&supporting)}),
    )
    .await;
    assert_eq!(count(job.clone()).await, j0 + 1);
    // Completing the PREREQUISITE unblocks the gated job: job.updated; reopening blocks it again.
    assert_eq!(job_read(&app, &alice, &gated).await["blocked"], true);
    app.task_op(&alice, "completeTask(id: $id)", json!({"id": id(&prep)}))
        .await;
    assert_eq!(job_read(&app, &alice, &gated).await["blocked"], false);
    assert_eq!(count(gated.clone()).await, g0 + 1);
    app.task_op(&alice, "reopenTask(id: $id)", json!({"id": id(&prep)}))
        .await;
    assert_eq!(count(gated.clone()).await, g0 + 2);
    // Deleting a PRIMARY task changes progress too.
    app.ok(
        &alice,
        "mutation($id: UUID!) { deleteTask(id: $id) }",
        json!({"id": id(&primary)}),
    )
    .await;
    assert_eq!(count(job.clone()).await, j0 + 2);
}

async fn blocked_filter_selects_ready_work(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let p = id(&app.create_job(&alice, json!({"title": "p"})).await);
    let waiting = id(&app.create_job(&alice, json!({"title": "waiting"})).await);
    let free = id(&app.create_job(&alice, json!({"title": "free"})).await);
    app.ok(&alice, ADD_JOB_DEP, json!({"p": p, "s": waiting}))
        .await;
    let q = "query($b: Boolean) { jobs(filter: {blocked: $b}) { totalCount nodes { id } } }";
    let blocked = app.ok(&alice, q, json!({"b": true})).await["jobs"].clone();
    assert_eq!(blocked["nodes"], json!([{"id": waiting}]));
    let ready = app.ok(&alice, q, json!({"b": false})).await["jobs"]["totalCount"].clone();
    assert_eq!(ready, 2, "p and free");
    let _ = free;
    let tp = id(&app.create_task(&alice, None, json!({"title": "tp"})).await);
    let ts = id(&app
        .create_task(&alice, None, json!({"title": "ts", "assignedAgent": "me"}))
        .await);
    app.ok(&alice, ADD_TASK_DEP, json!({"p": tp, "s": ts}))
        .await;
    let tq =
        "query($b: Boolean) { tasks(filter: {blocked: $b, assignedAgent: \"me\"}) { totalCount } }";
    assert_eq!(
        app.ok(&alice, tq, json!({"b": true})).await["tasks"]["totalCount"],
        1
    );
    assert_eq!(
        app.ok(&alice, tq, json!({"b": false})).await["tasks"]["totalCount"],
        0
    );
    app.task_op(&alice, "completeTask(id: $id)", json!({"id": tp}))
        .await;
    assert_eq!(
        app.ok(&alice, tq, json!({"b": false})).await["tasks"]["totalCount"],
        1,
        "my next unblocked task"
    );
}

async fn foreign_ids_are_not_found(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let mallory = app.foreigner("mallory", &[Admin]);
    let job = id(&app.create_job(&alice, json!({"title": "j"})).await);
    let task = id(&app.create_task(&alice, None, json!({"title": "t"})).await);
    let their_job = id(&app.create_job(&mallory, json!({"title": "mj"})).await);
    let their_task = id(&app
        .create_task(&mallory, None, json!({"title": "mt"}))
        .await);
    let before = app.event_count().await;
    let cases = [
        (LINK, json!({"j": job, "t": their_task}), &job),
        (LINK, json!({"j": their_job, "t": task}), &task),
        (UNLINK, json!({"j": job, "t": their_task}), &job),
        (ADD_JOB_DEP, json!({"p": job, "s": their_job}), &job),
        (ADD_TASK_DEP, json!({"p": their_task, "s": task}), &task),
        (
            "mutation($p: UUID!, $s: UUID!) { removeJobDependency(predecessorId: $p, successorId: $s) }",
            json!({"p": their_job, "s": job}),
            &job,
        ),
        (
            "mutation($p: UUID!, $s: UUID!) { removeTaskDependency(predecessorId: $p, successorId: $s) }",
            json!({"p": task, "s": their_task}),
            &task,
        ),
        (
            "mutation($p: UUID!) { createTask(input: {title: \"x\", jobId: $p}) { id } }",
            json!({"p": job}),
            &job,
        ),
    ];
    for (q, vars, foreign) in cases {
        let err = app.err(&mallory, q, vars).await;
        assert_eq!(err["extensions"]["code"], "NOT_FOUND", "{q}");
        assert_eq!(err["extensions"]["id"], foreign.as_str(), "{q}");
    }
    assert_eq!(app.event_count().await, before);
}

/// Cases a review found: a cascade that cancels PRIMARY tasks updates the jobs linked to them;
/// deleting an already-finished predecessor cancels nothing; a job with edges cannot become a
/// cron job; cascade reasons name the root cause without repeating the chain.
async fn review_regressions(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let job = id(&app.create_job(&alice, json!({"title": "j"})).await);
    let gated = id(&app.create_job(&alice, json!({"title": "gated"})).await);
    let task = app
        .create_task(&alice, None, json!({"title": "work", "jobId": job}))
        .await;
    app.ok(
        &alice,
        LINK,
        json!({"j": gated, "t": id(&task), "r": "PREREQUISITE"}),
    )
    .await;
    assert_eq!(job_read(&app, &alice, &gated).await["blocked"], true);
    let mark = app.last_event_id().await;
    app.job_op(
        &alice,
        "cancelJob(id: $id, reason: \"stop\")",
        json!({"id": job}),
    )
    .await;
    let tail: Vec<String> = app
        .events_since(mark)
        .await
        .into_iter()
        .map(|(t, _, _)| t)
        .collect();
    assert_eq!(
        tail,
        [
            "job.status_changed",
            "job.cancelled",
            "task.status_changed",
            "task.cancelled",
            "job.updated",
            "job.updated"
        ],
        "the reactions, then the job.updated of both linked jobs"
    );
    assert_eq!(job_read(&app, &alice, &gated).await["blocked"], false);

    let p = id(&app.create_job(&alice, json!({"title": "p"})).await);
    start(&app, &alice, &p).await;
    app.job_op(
        &alice,
        "failJob(id: $id, error: \"e\", retryable: false)",
        json!({"id": p}),
    )
    .await;
    let late = id(&app.create_job(&alice, json!({"title": "late"})).await);
    app.ok(&alice, ADD_JOB_DEP, json!({"p": p, "s": late}))
        .await;
    app.ok(
        &alice,
        "mutation($id: UUID!) { deleteJob(id: $id) }",
        json!({"id": p}),
    )
    .await;
    assert_eq!(
        job_read(&app, &alice, &late).await["status"],
        "PENDING",
        "a finished predecessor's deletion unblocks"
    );

    let a = id(&app.create_job(&alice, json!({"title": "a"})).await);
    let b = id(&app.create_job(&alice, json!({"title": "b"})).await);
    app.ok(&alice, ADD_JOB_DEP, json!({"p": a, "s": b})).await;
    let err = first_error(
        &app.job_op(
            &alice,
            "scheduleJob(id: $id, schedule: {cron: \"0 * * * *\"})",
            json!({"id": b}),
        )
        .await,
    );
    assert_eq!(err["extensions"]["field"], "schedule.cron");

    let mut chain = Vec::new();
    for i in 0..6 {
        chain.push(id(&app
            .create_job(&alice, json!({"title": format!("c{i}")}))
            .await));
    }
    for w in chain.windows(2) {
        app.ok(&alice, ADD_JOB_DEP, json!({"p": w[0], "s": w[1]}))
            .await;
    }
    app.job_op(
        &alice,
        "cancelJob(id: $id, reason: \"r\")",
        json!({"id": chain[0]}),
    )
    .await;
    let q = "query($id: UUID!) { job(id: $id) { status cancelReason } }";
    let last = app.ok(&alice, q, json!({"id": chain[5]})).await["job"].clone();
    assert_eq!(last["status"], "CANCELLED");
    let reason = last["cancelReason"].as_str().unwrap();
    assert!(
        reason.contains(&chain[4]) && reason.contains(&chain[0]),
        "{reason}"
    );
    assert!(!reason.contains(&chain[2]), "no chain of causes: {reason}");
}

/// Every predecessor status × every edge type, and successors waiting (PENDING, SCHEDULED) or
/// started (RUNNING): `satisfied` per DESIGN.md §5, and `blocked` only while not started.
/// Edges are added after the predecessor reached its status, so no cascade interferes.
async fn satisfied_and_blocked_for_every_job_status(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let recipes: &[(&str, &[&str])] = &[
        ("PENDING", &[]),
        (
            "SCHEDULED",
            &["scheduleJob(id: $id, schedule: {runAt: \"2099-01-01T00:00:00Z\"})"],
        ),
        ("RUNNING", &["startJob(id: $id)"]),
        (
            "CANCELLING",
            &["startJob(id: $id)", "cancelJob(id: $id, reason: \"r\")"],
        ),
        ("SUCCEEDED", &["startJob(id: $id)", "completeJob(id: $id)"]),
        (
            "FAILED",
            &[
                "startJob(id: $id)",
                "failJob(id: $id, error: \"e\", retryable: false)",
            ],
        ),
        ("CANCELLED", &["cancelJob(id: $id, reason: \"r\")"]),
        (
            "TIMED_OUT",
            &[
                "startJob(id: $id)",
                "failJob(id: $id, error: \"e\", retryable: false)",
            ],
        ),
    ];
    let q = "query($id: UUID!) { job(id: $id) { blocked dependencies { type satisfied } } }";
    for (status, steps) in recipes {
        let p = id(&app
            .create_job(&alice, json!({"title": format!("p {status}")}))
            .await);
        for step in *steps {
            TestApp::data(app.job_op(&alice, step, json!({"id": p})).await);
        }
        if *status == "TIMED_OUT" {
            app.force_status(&p, "TIMED_OUT").await;
        }
        let started = !matches!(*status, "PENDING" | "SCHEDULED" | "CANCELLED");
        let finished_ok = *status == "SUCCEEDED";
        for (edge, satisfied) in [
            ("FINISH_TO_START", finished_ok),
            ("START_TO_START", started),
            ("FINISH_TO_FINISH", finished_ok),
        ] {
            for successor in ["PENDING", "SCHEDULED", "RUNNING"] {
                let s = id(&app
                    .create_job(
                        &alice,
                        json!({"title": format!("s {status} {edge} {successor}")}),
                    )
                    .await);
                match successor {
                    "SCHEDULED" => {
                        app.job_op(
                            &alice,
                            "scheduleJob(id: $id, schedule: {runAt: \"2099-01-01T00:00:00Z\"})",
                            json!({"id": s}),
                        )
                        .await;
                    }
                    "RUNNING" => {
                        app.job_op(&alice, "startJob(id: $id)", json!({"id": s}))
                            .await;
                    }
                    _ => {}
                }
                app.ok(&alice, ADD_JOB_DEP, json!({"p": p, "s": s, "t": edge}))
                    .await;
                let read = app.ok(&alice, q, json!({"id": s})).await["job"].clone();
                assert_eq!(
                    read["dependencies"][0]["satisfied"], satisfied,
                    "{status} {edge}"
                );
                let blocked = successor != "RUNNING" && edge != "FINISH_TO_FINISH" && !satisfied;
                assert_eq!(
                    read["blocked"], blocked,
                    "predecessor {status}, {edge}, successor {successor}"
                );
            }
        }
    }
}
