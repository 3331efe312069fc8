//! Budgets and plans (DESIGN.md §6): ADMIN only, the committed formula, the start check at the
//! boundary and under concurrent starts, implicit plans with their order and totals.

use crate::backend_tests;
use crate::harness::{Admin, Agent, Member, TestApp, code};
use serde_json::{Value, json};

backend_tests!(
    set_budget_is_admin_only_and_bounded,
    committed_counts_actual_and_open_estimates,
    start_allowed_at_the_boundary_refused_one_unit_over,
    concurrent_starts_cannot_overshoot,
    plans_order_members_and_total_costs,
);

const SET: &str = "mutation($p: UUID, $l: Decimal!) { setBudget(planId: $p, limit: $l) { planId limit committed remaining } }";
const GET: &str = "query($p: UUID) { budget(planId: $p) { planId limit committed remaining } }";

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

async fn set_budget_is_admin_only_and_bounded(app: TestApp) {
    let admin = app.actor("root", &[Admin]);
    for role in [Member, Agent] {
        let err = app
            .err(&app.actor("x", &[role]), SET, json!({"l": "10"}))
            .await;
        assert_eq!(err["extensions"]["code"], "FORBIDDEN");
    }
    assert_eq!(app.ok(&admin, GET, json!({})).await["budget"], Value::Null);
    let err = app.err(&admin, SET, json!({"l": "-1"})).await;
    assert_eq!(err["extensions"]["field"], "limit");
    let b = app.ok(&admin, SET, json!({"l": "100.50"})).await["setBudget"].clone();
    assert_eq!(
        b,
        json!({"planId": null, "limit": "100.5", "committed": "0", "remaining": "100.5"})
    );
    // Setting again replaces the limit; a plan's budget is separate.
    app.ok(&admin, SET, json!({"l": "7"})).await;
    let plan = uuid::Uuid::now_v7().to_string();
    app.ok(&admin, SET, json!({"p": plan, "l": "3"})).await;
    assert_eq!(app.ok(&admin, GET, json!({})).await["budget"]["limit"], "7");
    assert_eq!(
        app.ok(&admin, GET, json!({"p": plan})).await["budget"]["limit"],
        "3"
    );
    // Another tenant sees no budget.
    let other = app.foreigner("root", &[Admin]);
    assert_eq!(app.ok(&other, GET, json!({})).await["budget"], Value::Null);
}

async fn committed_counts_actual_and_open_estimates(app: TestApp) {
    let admin = app.actor("root", &[Admin]);
    app.ok(&admin, SET, json!({"l": "100"})).await;
    let a = app
        .create_job(&admin, json!({"title": "a", "estimatedCost": "10"}))
        .await;
    let b = app
        .create_job(&admin, json!({"title": "b", "estimatedCost": "4"}))
        .await;
    app.job_op(&admin, "startJob(id: $id)", json!({"id": a["id"]}))
        .await;
    // Open run of a: 10 estimated, nothing spent yet.
    assert_eq!(
        app.ok(&admin, GET, json!({})).await["budget"]["committed"],
        "10"
    );
    app.ok(
        &admin,
        "mutation($id: UUID!) { recordJobCost(id: $id, amount: \"2.5\") { id } }",
        json!({"id": a["id"]}),
    )
    .await;
    // 2.5 actual + (10 - 2.5) still held by the open run.
    assert_eq!(
        app.ok(&admin, GET, json!({})).await["budget"]["committed"],
        "10"
    );
    app.ok(
        &admin,
        "mutation($id: UUID!) { recordJobCost(id: $id, amount: \"9\") { id } }",
        json!({"id": a["id"]}),
    )
    .await;
    // Overran its estimate: 11.5 actual, nothing more held.
    assert_eq!(
        app.ok(&admin, GET, json!({})).await["budget"]["committed"],
        "11.5"
    );
    app.job_op(&admin, "completeJob(id: $id)", json!({"id": a["id"]}))
        .await;
    app.job_op(&admin, "startJob(id: $id)", json!({"id": b["id"]}))
        .await;
    let budget = app.ok(&admin, GET, json!({})).await["budget"].clone();
    assert_eq!(budget["committed"], "15.5");
    assert_eq!(budget["remaining"], "84.5");
}

async fn start_allowed_at_the_boundary_refused_one_unit_over(app: TestApp) {
    let admin = app.actor("root", &[Admin]);
    let plan = uuid::Uuid::now_v7().to_string();
    app.ok(&admin, SET, json!({"l": "10"})).await;
    app.ok(&admin, SET, json!({"p": plan, "l": "5"})).await;
    let first = app
        .create_job(&admin, json!({"title": "first", "estimatedCost": "4"}))
        .await;
    app.job_op(&admin, "startJob(id: $id)", json!({"id": first["id"]}))
        .await;
    // 4 committed + 6 = 10: equal is allowed.
    let exact = app
        .create_job(&admin, json!({"title": "exact", "estimatedCost": "6"}))
        .await;
    let over = app
        .create_job(
            &admin,
            json!({"title": "over", "estimatedCost": "0.000000001"}),
        )
        .await;
    assert_eq!(
        TestApp::data(
            app.job_op(&admin, "startJob(id: $id)", json!({"id": exact["id"]}))
                .await
        )["r"]["status"],
        "RUNNING"
    );
    // One nano-unit more is refused, and nothing changes.
    let events = app.event_count().await;
    assert_eq!(
        code(
            &app.job_op(&admin, "startJob(id: $id)", json!({"id": over["id"]}))
                .await
        ),
        "BUDGET_EXCEEDED"
    );
    assert_eq!(app.event_count().await, events);
    // A plan's budget is checked as well as the tenant's.
    app.ok(&admin, SET, json!({"l": "1000"})).await;
    let in_plan = app
        .create_job(
            &admin,
            json!({"title": "in plan", "planId": plan, "estimatedCost": "5.000000001"}),
        )
        .await;
    assert_eq!(
        code(
            &app.job_op(&admin, "startJob(id: $id)", json!({"id": in_plan["id"]}))
                .await
        ),
        "BUDGET_EXCEEDED"
    );
    app.job_op(
        &admin,
        "updateJob(id: $id, input: {estimatedCost: \"5\"})",
        json!({"id": in_plan["id"]}),
    )
    .await;
    assert_eq!(
        TestApp::data(
            app.job_op(&admin, "startJob(id: $id)", json!({"id": in_plan["id"]}))
                .await
        )["r"]["status"],
        "RUNNING"
    );
}

async fn concurrent_starts_cannot_overshoot(app: TestApp) {
    let admin = app.actor("root", &[Admin]);
    for round in 0..10 {
        let plan = uuid::Uuid::now_v7().to_string();
        app.ok(&admin, SET, json!({"p": plan, "l": "10"})).await;
        let a = app
            .create_job(
                &admin,
                json!({"title": format!("a{round}"), "planId": plan, "estimatedCost": "6"}),
            )
            .await;
        let b = app
            .create_job(
                &admin,
                json!({"title": format!("b{round}"), "planId": plan, "estimatedCost": "6"}),
            )
            .await;
        let q = "mutation($id: UUID!) { startJob(id: $id) { status } }";
        let (ra, rb) = tokio::join!(
            app.http(&admin, q, json!({"id": a["id"]})),
            app.http(&admin, q, json!({"id": b["id"]}))
        );
        let wins = [&ra, &rb]
            .iter()
            .filter(|r| r.get("errors").is_none())
            .count();
        assert_eq!(wins, 1, "round {round}: {ra} / {rb}");
        let loser = if ra.get("errors").is_some() { &ra } else { &rb };
        assert_eq!(code(loser), "BUDGET_EXCEEDED");
        let budget = app.ok(&admin, GET, json!({"p": plan})).await["budget"].clone();
        assert_eq!(budget["committed"], "6");
    }
}

async fn plans_order_members_and_total_costs(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let plan = uuid::Uuid::now_v7().to_string();
    let j2 = app
        .create_job(
            &alice,
            json!({"title": "step 2", "planId": plan, "planStepIndex": 2, "estimatedCost": "0.2"}),
        )
        .await;
    let j0 = app
        .create_job(
            &alice,
            json!({"title": "step 0", "planId": plan, "planStepIndex": 0, "estimatedCost": "0.1"}),
        )
        .await;
    let jn = app
        .create_job(&alice, json!({"title": "no step", "planId": plan}))
        .await;
    let t1 = app
        .create_task(
            &alice,
            None,
            json!({"title": "t1", "planId": plan, "planStepIndex": 1, "estimatedCost": "1"}),
        )
        .await;
    let t0 = app
        .create_task(
            &alice,
            None,
            json!({"title": "t0", "planId": plan, "planStepIndex": 0}),
        )
        .await;
    app.task_op(&alice, "completeTask(id: $id)", json!({"id": t0["id"]}))
        .await;
    app.ok(
        &alice,
        "mutation($id: UUID!) { recordTaskCost(id: $id, amount: \"0.3\") { id } }",
        json!({"id": t1["id"]}),
    )
    .await;
    app.job_op(&alice, "startJob(id: $id)", json!({"id": j0["id"]}))
        .await;
    app.job_op(
        &alice,
        "completeJob(id: $id, result: {actualCost: \"0.1\"})",
        json!({"id": j0["id"]}),
    )
    .await;
    let q = "query($id: UUID!) { plan(id: $id) { id jobs { id } tasks { id } progress { total completed open ratio } estimatedCost actualCost budget { limit } } }";
    let p = app.ok(&alice, q, json!({"id": plan})).await["plan"].clone();
    assert_eq!(
        p["jobs"],
        json!([{"id": id(&j0)}, {"id": id(&j2)}, {"id": id(&jn)}]),
        "by step, unnumbered last"
    );
    assert_eq!(p["tasks"], json!([{"id": id(&t0)}, {"id": id(&t1)}]));
    assert_eq!(
        p["progress"],
        json!({"total": 2, "completed": 1, "open": 1, "ratio": 0.5})
    );
    assert_eq!(p["estimatedCost"], "1.3");
    assert_eq!(p["actualCost"], "0.4");
    assert_eq!(p["budget"], Value::Null);
    // An unknown (or foreign) id is an empty plan, never an error.
    let other = app.foreigner("x", &[Member]);
    let empty = app.ok(&other, q, json!({"id": plan})).await["plan"].clone();
    assert_eq!(empty["jobs"], json!([]));
    assert_eq!(empty["estimatedCost"], "0");
}
