//! Who may call, and on what (DESIGN.md §2), through the real HTTP endpoint: 401s for every kind
//! of bad credential, the role table, tenant isolation, and the order in which checks answer.
//! Every refusal is also checked to have changed nothing.

use crate::backend_tests;
use crate::harness::{Admin, Agent, Member, TEST_MAX_JSON_BYTES, TestApp, Viewer, first_error};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jobgraph::auth::{Actor, TokenKeys};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};

/// The secret the test server verifies tokens with: mirrors the private `SECRET` of
/// tests/api/harness.rs, so raw tokens built here are signed exactly as the harness's are.
const SECRET: &[u8] = b"jobgraph-test-secret-0123456789abcdef";

backend_tests!(
    bad_credentials_are_401,
    introspection_needs_a_token,
    viewer_cannot_create,
    strangers_are_forbidden,
    delete_is_for_the_creating_member_or_admin,
    assignee_may_run_its_job,
    pick_up_is_only_for_oneself,
    admin_may_do_everything,
    other_tenants_see_nothing,
    checks_answer_in_order,
);

const CREATE: &str = "mutation { createJob(input: {title: \"should not exist\"}) { id } }";
const UPDATE: &str = "updateJob(id: $id, input: {title: \"new title\"})";
const SCHEDULE: &str = "scheduleJob(id: $id, schedule: {runAt: \"2031-01-01T00:00:00Z\"})";
const START: &str = "startJob(id: $id)";
const COMPLETE: &str = "completeJob(id: $id)";
const FAIL: &str = "failJob(id: $id, error: \"e\")";
const FAIL_FOR_GOOD: &str = "failJob(id: $id, error: \"e\", retryable: false)";
const CANCEL: &str = "cancelJob(id: $id, reason: \"r\")";
const CANCEL_HARD: &str = "cancelJob(id: $id, reason: \"r\", mode: HARD)";
const RETRY: &str = "retryJob(id: $id)";
const DELETE: &str = "deleteJob(id: $id)";
const FORBIDDEN: &str = "FORBIDDEN";
const NOT_FOUND: &str = "NOT_FOUND";

/// delegateJob to `who`.
fn to(who: &str) -> String {
    format!("delegateJob(id: $id, to: \"{who}\")")
}

/// A token with exactly these claims, signed with `alg` and the test server's secret.
fn raw_token(alg: Algorithm, claims: Value) -> String {
    let key = EncodingKey::from_secret(SECRET);
    encode(&Header::new(alg), &claims, &key).unwrap()
}

/// POSTs `body` with `authorization` as the raw header value (or none).
/// Returns (status, WWW-Authenticate, body).
async fn post_as(app: &TestApp, auth: Option<&str>, body: &Value) -> (u16, String, Value) {
    let url = format!("http://{}/graphql", app.addr);
    let mut request = reqwest::Client::new().post(url).json(body);
    if let Some(value) = auth {
        request = request.header(reqwest::header::AUTHORIZATION, value);
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    let challenge = match response.headers().get(reqwest::header::WWW_AUTHENTICATE) {
        Some(v) => v.to_str().unwrap_or_default().to_string(),
        None => String::new(),
    };
    let body = response.json().await.unwrap_or(Value::Null);
    (status, challenge, body)
}

/// Asserts a 401 with a Bearer challenge and UNAUTHENTICATED, for `auth`.
async fn assert_401(app: &TestApp, case: &str, auth: Option<&str>, body: &Value) {
    let (status, challenge, body) = post_as(app, auth, body).await;
    assert_eq!(status, 401, "{case}: {body}");
    assert!(challenge.starts_with("Bearer"), "{case}: {challenge}");
    let code = &body["errors"][0]["extensions"]["code"];
    assert_eq!(code, "UNAUTHENTICATED", "{case}: {body}");
    let data = body.get("data").unwrap_or(&Value::Null);
    assert!(data.is_null(), "{case}: {body}");
}

/// The job's version and its event types, read as an ADMIN of the tenant.
async fn snapshot(app: &TestApp, id: &str) -> (Value, Vec<String>) {
    let root = app.actor("snapshot-admin", &[Admin]);
    let q = "query($id: UUID!) { job(id: $id) { version } }";
    let job = app.ok(&root, q, json!({"id": id})).await;
    (job["job"]["version"].clone(), app.job_event_types(id).await)
}

/// Creates a job as `who` (assigned to `assignee`, labelled `secret`); returns its id.
async fn new_job(app: &TestApp, who: &Actor, title: &str, assignee: Option<&str>) -> String {
    let input = json!({"title": title, "assignedAgent": assignee, "labels": ["secret"]});
    let job = app.create_job(who, input).await;
    job["id"].as_str().unwrap().to_string()
}

/// A first error's `extensions`.
fn ext(body: &Value) -> Value {
    first_error(body)["extensions"].clone()
}

/// Runs `op` (a mutation field using `$id`) over HTTP as `who` on job `id`. `want` "ok": it must
/// succeed (returns the job). Otherwise `want` is the refusal's code (returns the extensions), and
/// the job's version and events must be as they were.
async fn act(app: &TestApp, who: &Actor, op: &str, id: &str, want: &str) -> Value {
    let fields = "{ status version assignedAgent }";
    let selection = if op.starts_with("deleteJob") {
        ""
    } else {
        fields
    };
    let query = format!("mutation($id: UUID!) {{ r: {op} {selection} }}");
    let before = snapshot(app, id).await;
    let body = app.http(who, &query, json!({"id": id})).await;
    let who = &who.id;
    if want == "ok" {
        assert!(body.get("errors").is_none(), "{who} may {op}: {body}");
        return body["data"]["r"].clone();
    }
    let extensions = ext(&body);
    assert_eq!(extensions["code"], want, "{who} {op}: {body}");
    assert_eq!(body["data"], Value::Null, "{body}");
    let after = snapshot(app, id).await;
    assert_eq!(after, before, "{who} {op} changed the job");
    extensions
}

async fn bad_credentials_are_401(app: TestApp) {
    let exp = chrono::Utc::now().timestamp() + 3600;
    let alice = app.actor("alice", &[Admin]);
    let other_keys = TokenKeys::new(b"another-secret-another-secret");
    let other_secret = other_keys.mint(&alice, 3600).unwrap();
    let expired = app.state.keys.mint(&alice, -5).unwrap();
    let tenant = app.tenant.as_str();
    let claims = |roles: Value| json!({"sub": "alice", "tenant": tenant, "roles": roles});
    let hs256 = |c: Value| raw_token(Algorithm::HS256, c);
    let with_exp = |mut c: Value| {
        c["exp"] = json!(exp);
        c
    };
    let admin = || with_exp(claims(json!(["ADMIN"])));
    // The control: good claims built by hand are accepted, whatever the scheme's case.
    let good = hs256(admin());
    let me = json!({"query": "{ me { id roles } }"});
    for scheme in ["Bearer", "bearer"] {
        let auth = format!("{scheme} {good}");
        let (status, _, body) = post_as(&app, Some(&auth), &me).await;
        assert_eq!(status, 200, "{body}");
        let expected = json!({"id": "alice", "roles": ["ADMIN"]});
        assert_eq!(body["data"]["me"], expected);
    }
    let b64 = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let alg_none = b64(json!({"alg": "none", "typ": "JWT"}));
    let unsigned = format!("{alg_none}.{}.", b64(admin()));
    let no_tenant = json!({"sub": "alice", "roles": ["ADMIN"], "exp": exp});
    let empty_sub = json!({"sub": "", "tenant": tenant, "roles": ["ADMIN"], "exp": exp});
    let bearer = [
        ("garbage", "not.a.jwt".to_string()),
        ("another secret", other_secret),
        ("expired", expired),
        ("empty roles", hs256(with_exp(claims(json!([]))))),
        ("unknown role", hs256(with_exp(claims(json!(["ROOT"]))))),
        ("lower-case role", hs256(with_exp(claims(json!(["admin"]))))),
        ("no exp", hs256(claims(json!(["ADMIN"])))),
        ("no tenant", hs256(no_tenant)),
        ("empty sub", hs256(empty_sub)),
        (
            "a NUL in sub",
            hs256(json!({"sub": "al\u{0}ice", "tenant": tenant, "roles": ["ADMIN"], "exp": exp})),
        ),
        (
            "a NUL in tenant",
            hs256(
                json!({"sub": "alice", "tenant": format!("{tenant}\u{0}"), "roles": ["ADMIN"], "exp": exp}),
            ),
        ),
        (
            "a 201-character sub",
            hs256(
                json!({"sub": "a".repeat(201), "tenant": tenant, "roles": ["ADMIN"], "exp": exp}),
            ),
        ),
        (
            "a blank tenant",
            hs256(json!({"sub": "alice", "tenant": "  ", "roles": ["ADMIN"], "exp": exp})),
        ),
        ("HS512", raw_token(Algorithm::HS512, admin())),
        ("alg none", unsigned),
    ];
    let mut cases: Vec<(&str, Option<String>)> = vec![
        ("no Authorization header", None),
        ("Basic scheme", Some("Basic xyz".into())),
        ("Bearer and nothing", Some("Bearer ".into())),
        ("a token without a scheme", Some(good)),
    ];
    for (case, token) in bearer {
        cases.push((case, Some(format!("Bearer {token}"))));
    }
    let body = json!({"query": CREATE});
    for (case, auth) in &cases {
        assert_401(&app, case, auth.as_deref(), &body).await;
    }
    assert_eq!(app.job_count().await, 0, "a refused request created a job");
    assert_eq!(app.event_count().await, 0);
}

async fn introspection_needs_a_token(app: TestApp) {
    let query = "{ __schema { queryType { name } } }";
    assert_401(&app, "introspection", None, &json!({"query": query})).await;
    let val = app.actor("val", &[Viewer]);
    let ok = app.http(&val, query, json!({})).await;
    assert_eq!(ok["data"]["__schema"]["queryType"]["name"], "Query", "{ok}");
}

async fn viewer_cannot_create(app: TestApp) {
    let val = app.actor("val", &[Viewer]);
    let body = app.http(&val, CREATE, json!({})).await;
    assert_eq!(ext(&body)["code"], FORBIDDEN, "{body}");
    assert_eq!((app.job_count().await, app.event_count().await), (0, 0));
    // Every writing role may create.
    for (i, role) in [Member, Agent, Admin].into_iter().enumerate() {
        let writer = app.actor(&format!("w{i}"), &[role]);
        let body = app.http(&writer, CREATE, json!({})).await;
        assert!(body.get("errors").is_none(), "{role:?}: {body}");
    }
    assert_eq!(app.job_count().await, 3);
}

async fn strangers_are_forbidden(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let pending = &new_job(&app, &alice, "pending", Some("bot")).await;
    let running = &new_job(&app, &alice, "running", Some("bot")).await;
    let failed = &new_job(&app, &alice, "failed", Some("bot")).await;
    let unassigned = &new_job(&app, &alice, "up for grabs", None).await;
    act(&app, &alice, START, running, "ok").await;
    act(&app, &alice, START, failed, "ok").await;
    act(&app, &alice, FAIL_FOR_GOOD, failed, "ok").await;
    // Each call would be legal for alice in the job's state: only the caller is wrong.
    let someone_else = to("someone-else");
    let table = [
        (UPDATE, pending),
        (SCHEDULE, pending),
        (START, pending),
        (COMPLETE, running),
        (FAIL, running),
        (CANCEL, pending),
        (CANCEL_HARD, running),
        (RETRY, failed),
        (&someone_else, pending),
        (&someone_else, unassigned),
        (DELETE, pending),
        (DELETE, failed),
    ];
    let strangers = [
        app.actor("mallory", &[Member]),
        app.actor("rogue", &[Agent]),
        app.actor("val", &[Viewer]),
        app.actor("val2", &[Viewer, Member]),
    ];
    for stranger in &strangers {
        for (op, id) in table {
            act(&app, stranger, op, id, FORBIDDEN).await;
        }
        // Taking an already assigned job for oneself is no pick-up either.
        act(&app, stranger, &to(&stranger.id), pending, FORBIDDEN).await;
    }
    // A viewer may not pick up even an unassigned job.
    act(&app, &strangers[2], &to("val"), unassigned, FORBIDDEN).await;
    // Reading stays open to every role.
    for stranger in &strangers {
        let q = "query($id: UUID!) { job(id: $id) { id } }";
        let body = app.http(stranger, q, json!({"id": pending})).await;
        assert_eq!(body["data"]["job"]["id"], pending.as_str(), "{body}");
    }
}

async fn delete_is_for_the_creating_member_or_admin(app: TestApp) {
    // An agent may not delete even its own job, though it may act on it otherwise.
    let bot = app.actor("bot", &[Agent]);
    let own = &new_job(&app, &bot, "the agent's own", None).await;
    act(&app, &bot, DELETE, own, FORBIDDEN).await;
    act(&app, &bot, UPDATE, own, "ok").await;

    // The member assigned to a job (not its creator) may not delete it; the creator may.
    let alice = app.actor("alice", &[Member]);
    let mia = app.actor("mia", &[Member]);
    let assigned = &new_job(&app, &alice, "for mia", Some("mia")).await;
    act(&app, &mia, DELETE, assigned, FORBIDDEN).await;
    let deleted = act(&app, &alice, DELETE, assigned, "ok").await;
    assert_eq!(deleted, assigned.as_str());
    let types = app.job_event_types(assigned).await;
    assert_eq!(types.last().unwrap(), "job.deleted");
    assert_eq!(app.job_count().await, 1);
}

async fn assignee_may_run_its_job(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let bot = app.actor("bot", &[Agent]);
    let id = &new_job(&app, &alice, "for bot", Some("bot")).await;
    assert_eq!(act(&app, &bot, START, id, "ok").await["status"], "RUNNING");
    let done = act(&app, &bot, "completeJob(id: $id, attempt: 1)", id, "ok").await;
    assert_eq!(done["status"], "SUCCEEDED");
    let q = "query($id: UUID!) { jobHistory(id: $id) { agent status } }";
    let history = app.ok(&alice, q, json!({"id": id})).await;
    let expected = json!([{"agent": "bot", "status": "SUCCEEDED"}]);
    assert_eq!(history["jobHistory"], expected);
    // The assignee may also fail, retry and hand on its next job; then it is a stranger.
    let next = &new_job(&app, &alice, "next", Some("bot")).await;
    for op in [START, FAIL_FOR_GOOD, RETRY] {
        act(&app, &bot, op, next, "ok").await;
    }
    let handed = act(&app, &bot, &to("bot-2"), next, "ok").await;
    assert_eq!(handed["assignedAgent"], "bot-2");
    act(&app, &bot, START, next, FORBIDDEN).await;
}

async fn pick_up_is_only_for_oneself(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let mut ids = Vec::new();
    for title in ["a", "b", "c"] {
        ids.push(new_job(&app, &alice, title, None).await);
    }
    let mia = app.actor("mia", &[Member]);
    let bot = app.actor("bot", &[Agent]);
    // Not for a third party, by a member or an agent.
    act(&app, &mia, &to("carol"), &ids[0], FORBIDDEN).await;
    act(&app, &bot, &to("carol"), &ids[0], FORBIDDEN).await;
    // For oneself: allowed, and the picker now owns it.
    let picked = act(&app, &mia, &to("mia"), &ids[0], "ok").await;
    assert_eq!(picked["assignedAgent"], "mia");
    let picked = act(&app, &bot, &to("bot"), &ids[1], "ok").await;
    assert_eq!(picked["assignedAgent"], "bot");
    let types = app.job_event_types(&ids[1]).await;
    assert_eq!(types, ["job.created", "job.delegated"]);
    act(&app, &bot, START, &ids[1], "ok").await;
    // An assigned job cannot be picked up by someone else.
    act(&app, &bot, &to("bot"), &ids[0], FORBIDDEN).await;
    act(&app, &mia, &to("mia"), &ids[1], FORBIDDEN).await;
    // The third job is untouched.
    let untouched = (json!(1), vec!["job.created".to_string()]);
    assert_eq!(snapshot(&app, &ids[2]).await, untouched);
}

async fn admin_may_do_everything(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let root = app.actor("root", &[Admin]);
    let id = &new_job(&app, &alice, "alice's", Some("bot")).await;
    let bot_2 = to("bot-2");
    let steps = [
        (UPDATE, "PENDING"),
        (&bot_2, "PENDING"),
        (SCHEDULE, "SCHEDULED"),
        (START, "RUNNING"),
        (FAIL_FOR_GOOD, "FAILED"),
        (RETRY, "SCHEDULED"),
        (START, "RUNNING"),
        (CANCEL, "CANCELLING"),
        (COMPLETE, "SUCCEEDED"),
    ];
    for (i, (op, status)) in steps.into_iter().enumerate() {
        let out = act(&app, &root, op, id, "ok").await;
        assert_eq!(out["status"], status, "{op}");
        assert_eq!(out["version"], i + 2, "{op}");
    }
    let other = &new_job(&app, &alice, "other", None).await;
    act(&app, &root, CANCEL_HARD, other, "ok").await;
    for target in [id, other] {
        let deleted = act(&app, &root, DELETE, target, "ok").await;
        assert_eq!(deleted, target.as_str());
    }
    assert_eq!(app.job_count().await, 0);
}

async fn other_tenants_see_nothing(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let id = &new_job(&app, &alice, "private", None).await;
    act(&app, &alice, START, id, "ok").await;
    let before = snapshot(&app, id).await;
    let counts = (app.job_count().await, app.event_count().await);

    let x = app.foreigner("x", &[Admin]);
    let q = "query($id: UUID!) { job(id: $id) { id } }";
    let body = app.http(&x, q, json!({"id": id})).await;
    assert_eq!(body, json!({"data": {"job": null}}));
    let to_x = to("x");
    let ops = [
        UPDATE, DELETE, SCHEDULE, START, COMPLETE, FAIL, CANCEL, RETRY, &to_x,
    ];
    for op in ops {
        let error = act(&app, &x, op, id, NOT_FOUND).await;
        assert_eq!(error["id"], id.as_str(), "{op}");
    }
    let q = "query($id: UUID!) { jobHistory(id: $id) { attempt } }";
    let body = app.http(&x, q, json!({"id": id})).await;
    assert_eq!(ext(&body), json!({"code": NOT_FOUND, "id": id}));

    let list = "query($f: JobFilter) { jobs(filter: $f) { totalCount nodes { id } } }";
    let filters = [
        json!(null),
        json!({"createdBy": "alice"}),
        json!({"label": "secret"}),
        json!({"status": ["RUNNING"]}),
    ];
    let empty = json!({"data": {"jobs": {"totalCount": 0, "nodes": []}}});
    for filter in filters {
        let body = app.http(&x, list, json!({"f": filter})).await;
        assert_eq!(body, empty, "{filter}");
    }
    assert_eq!(snapshot(&app, id).await, before);
    assert_eq!((app.job_count().await, app.event_count().await), counts);
    let mine = app.http(&alice, list, json!({"f": null})).await;
    assert_eq!(mine["data"]["jobs"]["totalCount"], 1);
}

async fn checks_answer_in_order(app: TestApp) {
    let alice = app.actor("alice", &[Member]);
    let mallory = app.actor("mallory", &[Member]);
    let val = app.actor("val", &[Viewer]);
    let id = &new_job(&app, &alice, "ordered", None).await;
    let running = &new_job(&app, &alice, "running", None).await;
    act(&app, &alice, START, running, "ok").await;

    // NOT_FOUND beats FORBIDDEN: a viewer acting on a missing id, or a foreign viewer on ours.
    let missing = uuid::Uuid::now_v7().to_string();
    let q = "mutation($id: UUID!) { updateJob(id: $id, input: {title: \"x\"}) { id } }";
    let body = app.http(&val, q, json!({"id": missing})).await;
    assert_eq!(ext(&body), json!({"code": NOT_FOUND, "id": missing}));
    let foreign_viewer = app.foreigner("val", &[Viewer]);
    act(&app, &foreign_viewer, DELETE, id, NOT_FOUND).await;

    // FORBIDDEN beats BAD_USER_INPUT, CONFLICT and INVALID_TRANSITION.
    let q = "mutation { createJob(input: {title: \" \", priority: 0}) { id } }";
    let body = app.http(&val, q, json!({})).await;
    assert_eq!(ext(&body)["code"], FORBIDDEN, "{body}");
    let empty_title = "updateJob(id: $id, input: {title: \"\"})";
    let stale = "updateJob(id: $id, input: {title: \"t\"}, expectedVersion: 9)";
    let wrong_attempt = "completeJob(id: $id, attempt: 4)";
    for (op, job) in [
        (empty_title, id),
        (stale, id),
        (wrong_attempt, id),
        (DELETE, running),
    ] {
        act(&app, &mallory, op, job, FORBIDDEN).await;
    }

    // BAD_USER_INPUT and PAYLOAD_TOO_LARGE beat CONFLICT and INVALID_TRANSITION.
    let bad = "BAD_USER_INPUT";
    let big = "x".repeat(TEST_MAX_JSON_BYTES);
    let too_big = format!("completeJob(id: $id, result: {{output: \"{big}\"}}, attempt: 9)");
    let blank_stale = "updateJob(id: $id, input: {title: \"  \"}, expectedVersion: 9)";
    let refusals = [
        (blank_stale, id, bad, "input.title"),
        (
            "failJob(id: $id, error: \"\", attempt: 4)",
            id,
            bad,
            "error",
        ),
        (
            "cancelJob(id: $id, reason: \" \", mode: HARD)",
            id,
            bad,
            "reason",
        ),
        (
            "scheduleJob(id: $id, schedule: {})",
            running,
            bad,
            "schedule",
        ),
        (&too_big, id, "PAYLOAD_TOO_LARGE", "result.output"),
    ];
    for (op, job, code, field) in refusals {
        let error = act(&app, &alice, op, job, code).await;
        assert_eq!(error["field"], field, "{op}");
    }

    // CONFLICT beats INVALID_TRANSITION: completing a PENDING job with a wrong attempt.
    let op = "completeJob(id: $id, attempt: 3)";
    let error = act(&app, &alice, op, id, "CONFLICT").await;
    let expected = json!({"code": "CONFLICT", "expectedAttempt": 3, "actualAttempt": 0});
    assert_eq!(error, expected);
    // ... and without one, the state answers.
    let error = act(&app, &alice, RETRY, id, "INVALID_TRANSITION").await;
    assert_eq!(error["from"], "PENDING");
    act(&app, &alice, DELETE, running, "INVALID_TRANSITION").await;
}
