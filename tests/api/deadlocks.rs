//! Writers that lock the same rows run concurrently, many times over (DESIGN.md §11): each
//! answers with its own outcome (success or a rule's code), never INTERNAL, and none is rolled
//! back to break a deadlock (the answer CONFLICT without a version).

use crate::backend_tests;
use crate::harness::{Member, TestApp};
use jobgraph::auth::Actor;
use serde_json::{Value, json};

backend_tests!(
    completing_a_job_against_adding_its_edge,
    a_task_edge_against_its_ancestors_subtree,
    edges_that_would_close_a_cycle,
);

const ROUNDS: usize = 50;

const ADD_JOB_EDGE: &str = "mutation($p: UUID!, $s: UUID!) { addJobDependency(predecessorId: $p, successorId: $s) { type } }";
const ADD_TASK_EDGE: &str = "mutation($p: UUID!, $s: UUID!) { addTaskDependency(predecessorId: $p, successorId: $s) { type } }";
const COMPLETE_JOB: &str = "mutation($id: UUID!) { completeJob(id: $id) { id } }";
const START_JOB: &str = "mutation($id: UUID!) { startJob(id: $id) { id } }";
const CANCEL_TASK: &str = "mutation($id: UUID!) { cancelTask(id: $id, reason: \"race\") { id } }";
const MOVE_TASK: &str =
    "mutation($id: UUID!, $to: UUID) { updateTask(id: $id, input: {parentId: $to}) { id } }";

/// The outcome of one racing call: success, or one of the codes `allowed` (a rule that may
/// refuse it depending on who went first). Fails on anything else: INTERNAL, a CONFLICT the
/// database forced by rolling the change back, a malformed request. True on success.
fn sound(what: &str, response: &Value, allowed: &[&str]) -> bool {
    let Some(errors) = response.get("errors").and_then(Value::as_array) else {
        return true;
    };
    for e in errors {
        let code = e["extensions"]["code"].as_str().unwrap_or("");
        assert!(allowed.contains(&code), "{what}: {response}");
    }
    false
}

async fn job(app: &TestApp, actor: &Actor, title: &str) -> String {
    app.create_job(actor, json!({"title": title})).await["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Completing either end of a pair against adding the edge between them.
async fn completing_a_job_against_adding_its_edge(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let (mut added, mut completed) = (0, 0);
    for round in 0..ROUNDS {
        let a = job(&app, &alice, &format!("a{round}")).await;
        let b = job(&app, &alice, &format!("b{round}")).await;
        for id in [&a, &b] {
            TestApp::data(app.exec(&alice, START_JOB, json!({"id": id})).await);
        }
        // The predecessor one round, the successor the next.
        let done = if round % 2 == 0 { &a } else { &b };
        let (edge, complete) = tokio::join!(
            app.exec(&alice, ADD_JOB_EDGE, json!({"p": a, "s": b})),
            app.exec(&alice, COMPLETE_JOB, json!({"id": done})),
        );
        // An edge into a finished or running successor may be refused by its rules.
        added += usize::from(sound("addJobDependency", &edge, &["INVALID_TRANSITION"]));
        completed += usize::from(sound("completeJob", &complete, &["DEPENDENCY_UNMET"]));
    }
    assert!(
        added > 0 && completed > 0,
        "added {added}, completed {completed}"
    );
}

/// A task edge from a descendant to its ancestor against cancelling the ancestor's subtree,
/// and against moving it.
async fn a_task_edge_against_its_ancestors_subtree(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let elsewhere = app
        .create_task(&alice, None, json!({"title": "elsewhere"}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (mut added, mut others) = (0, 0);
    for round in 0..ROUNDS {
        let top = app
            .create_task(&alice, None, json!({"title": format!("top{round}")}))
            .await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let child = app
            .create_task(&alice, Some(&top), json!({"title": "child"}))
            .await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let leaf = app
            .create_task(&alice, Some(&child), json!({"title": "leaf"}))
            .await["id"]
            .as_str()
            .unwrap()
            .to_string();
        let (edge, other) = if round % 2 == 0 {
            tokio::join!(
                app.exec(&alice, ADD_TASK_EDGE, json!({"p": leaf, "s": top})),
                app.exec(&alice, CANCEL_TASK, json!({"id": top})),
            )
        } else {
            tokio::join!(
                app.exec(&alice, ADD_TASK_EDGE, json!({"p": leaf, "s": top})),
                app.exec(&alice, MOVE_TASK, json!({"id": top, "to": elsewhere})),
            )
        };
        let cycle = ["CYCLE_DETECTED", "INVALID_TRANSITION"];
        added += usize::from(sound("addTaskDependency", &edge, &cycle));
        others += usize::from(sound(
            "cancelTask or the move",
            &other,
            &["DEPENDENCY_UNMET"],
        ));
    }
    assert!(others > 0, "added {added}, cancelled or moved {others}");
}

/// Both directions of a pair at once (one closes a cycle), beside completing one end.
async fn edges_that_would_close_a_cycle(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let mut completed = 0;
    for round in 0..ROUNDS {
        let a = job(&app, &alice, &format!("a{round}")).await;
        let b = job(&app, &alice, &format!("b{round}")).await;
        let c = job(&app, &alice, &format!("c{round}")).await;
        TestApp::data(app.exec(&alice, START_JOB, json!({"id": c})).await);
        TestApp::data(
            app.exec(&alice, ADD_JOB_EDGE, json!({"p": b, "s": c}))
                .await,
        );
        let (forward, backward, complete) = tokio::join!(
            app.exec(&alice, ADD_JOB_EDGE, json!({"p": a, "s": b})),
            app.exec(&alice, ADD_JOB_EDGE, json!({"p": c, "s": a})),
            app.exec(&alice, COMPLETE_JOB, json!({"id": c})),
        );
        let refused = ["CYCLE_DETECTED", "INVALID_TRANSITION"];
        let both = sound("a → b", &forward, &refused) && sound("c → a", &backward, &refused);
        assert!(
            !both,
            "a → b → c → a would be a cycle: {forward} {backward}"
        );
        completed += usize::from(sound("completeJob", &complete, &["DEPENDENCY_UNMET"]));
    }
    assert!(completed > 0);
}
