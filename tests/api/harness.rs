//! The test harness: one `TestApp` per test on a fresh database (a SQLite file, or a new
//! PostgreSQL database when `JOBGRAPH_TEST_POSTGRES_URL` is set), the real migrations, the real
//! router served on an ephemeral loopback port, and helpers to call it over HTTP or through the
//! schema.
//!
//! `backend_tests!(name, …)` turns each `async fn name(app: TestApp)` into two tests,
//! `name::sqlite` and `name::postgres`; the latter says it was skipped when no server is given.

use jobgraph::auth::{Actor, Role};
use jobgraph::domain::time::ManualClock;
use jobgraph::graphql::{SchemaLimits, context};
use jobgraph::http::HttpLimits;
use jobgraph::services::Limits;
use jobgraph::{AppConfig, app, app_state};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use uuid::Uuid;

/// The variable naming the PostgreSQL server the `postgres` tests use.
pub const POSTGRES_URL_VAR: &str = "JOBGRAPH_TEST_POSTGRES_URL";

/// JSON limit of the test server: small, so PAYLOAD_TOO_LARGE is cheap to reach.
pub const TEST_MAX_JSON_BYTES: usize = 4096;
/// Body limit of the test server.
pub const TEST_MAX_BODY_BYTES: usize = 64 * 1024;
const SECRET: &[u8] = b"jobgraph-test-secret-0123456789abcdef";

#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn sqlite() {
                    let app = $crate::harness::TestApp::sqlite().await;
                    $crate::harness::run(app, super::$name).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn postgres() {
                    let Some(app) = $crate::harness::TestApp::postgres().await else {
                        eprintln!(
                            "skipped {}::postgres: {} is not set",
                            stringify!($name),
                            $crate::harness::POSTGRES_URL_VAR
                        );
                        return;
                    };
                    $crate::harness::run(app, super::$name).await;
                }
            }
        )+
    };
}

/// Another server over a test's database.
pub struct Replica {
    pub state: jobgraph::http::AppState,
    pub addr: SocketAddr,
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.state.shutdown.cancel();
        self.state.services.bus().stop();
    }
}

/// Runs a test body, then drops its database whether it passed or not, then reports.
pub async fn run<F, Fut>(app: TestApp, body: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let outcome = tokio::spawn(body(app.clone())).await;
    app.finish().await;
    if let Err(err) = outcome {
        match err.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(err) => panic!("the test was cancelled: {err}"),
        }
    }
}

/// Which database a test runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Sqlite { path: std::path::PathBuf },
    Postgres { admin_url: String, database: String },
}

/// A running server on a fresh database, with a fresh tenant name for each test.
#[derive(Clone)]
pub struct TestApp {
    pub db: DatabaseConnection,
    /// The database URL, for tests that open their own connection.
    pub url: String,
    pub addr: SocketAddr,
    pub state: jobgraph::http::AppState,
    pub backend: Backend,
    pub tenant: String,
    /// The server's clock: tests move it instead of sleeping.
    pub clock: ManualClock,
    client: reqwest::Client,
}

fn config(clock: &ManualClock) -> AppConfig {
    AppConfig {
        clock: clock.clock(),
        limits: Limits {
            max_json_bytes: TEST_MAX_JSON_BYTES,
        },
        schema_limits: SchemaLimits::default(),
        http_limits: HttpLimits {
            max_body_bytes: TEST_MAX_BODY_BYTES,
            request_timeout: Duration::from_secs(30),
            persisted_query_bytes: 1024 * 1024,
        },
        jwt_secret: SECRET.to_vec(),
        ws_limits: jobgraph::http::ws::WsLimits {
            init_timeout: Duration::from_millis(500),
            max_message_bytes: TEST_MAX_BODY_BYTES,
            write_timeout: Duration::from_secs(2),
            max_subscriptions: 5,
        },
        subscriber_buffer: 64,
        cors_origins: Vec::new(),
    }
}

/// `url` with its database name replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{database}", &base[..path_start]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

impl TestApp {
    pub async fn sqlite() -> Self {
        let path =
            std::env::temp_dir().join(format!("jobgraph-test-{}.db", Uuid::now_v7().simple()));
        let url = format!("sqlite:{}?mode=rwc", path.display());
        Self::start(&url, Backend::Sqlite { path }).await
    }

    /// None when `JOBGRAPH_TEST_POSTGRES_URL` is not set.
    pub async fn postgres() -> Option<Self> {
        let admin_url = std::env::var(POSTGRES_URL_VAR)
            .ok()
            .filter(|u| !u.is_empty())?;
        let database = format!("jobgraph_test_{}", Uuid::now_v7().simple());
        let admin = sea_orm::Database::connect(&admin_url)
            .await
            .unwrap_or_else(|e| {
                panic!("{POSTGRES_URL_VAR} is set but the server is unreachable: {e}")
            });
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{database}\""))
            .await
            .expect("create the test database");
        admin.close().await.ok();
        let url = with_database(&admin_url, &database);
        Some(
            Self::start(
                &url,
                Backend::Postgres {
                    admin_url,
                    database,
                },
            )
            .await,
        )
    }

    async fn start(url: &str, backend: Backend) -> Self {
        let db = jobgraph::db::connect(url, 16)
            .await
            .expect("connect to the test database");
        jobgraph::db::migrate(&db)
            .await
            .expect("run the migrations");
        let clock = ManualClock::new();
        let state = app_state(db.clone(), &config(&clock));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind an ephemeral port");
        let addr = listener.local_addr().expect("local address");
        let router = app(state.clone());
        tokio::spawn(async move {
            axum::serve(listener, router).await.expect("test server");
        });
        Self {
            db,
            url: url.to_string(),
            addr,
            state,
            backend,
            tenant: format!("tenant-{}", Uuid::now_v7().simple()),
            clock,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("client"),
        }
    }

    /// A second server over the same database (another replica), on its own port.
    pub async fn replica(&self) -> Replica {
        self.replica_with(|_| {}).await
    }

    /// A replica whose configuration `tweak` changed (a short request timeout, say).
    /// Its database timeouts sit below its request timeout, as the server's do.
    pub async fn replica_with(&self, tweak: impl FnOnce(&mut AppConfig)) -> Replica {
        let mut config = config(&self.clock);
        tweak(&mut config);
        let timeouts = jobgraph::db::Timeouts::below(config.http_limits.request_timeout);
        let db = jobgraph::db::connect_with(&self.url, 8, timeouts)
            .await
            .expect("connect the replica");
        let state = app_state(db, &config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind an ephemeral port");
        let addr = listener.local_addr().expect("local address");
        let router = app(state.clone());
        tokio::spawn(async move {
            axum::serve(listener, router).await.expect("replica server");
        });
        Replica { state, addr }
    }

    /// Drops the test's database.
    pub async fn finish(self) {
        self.state.shutdown.cancel();
        self.state.services.bus().stop();
        self.db.clone().close().await.ok();
        match &self.backend {
            Backend::Sqlite { path } => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Backend::Postgres {
                admin_url,
                database,
            } => {
                if let Ok(admin) = sea_orm::Database::connect(admin_url).await {
                    let _ = admin
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{database}\" WITH (FORCE)"
                        ))
                        .await;
                    admin.close().await.ok();
                }
            }
        }
    }

    /// An actor of this test's tenant.
    pub fn actor(&self, id: &str, roles: &[Role]) -> Actor {
        Actor::new(id, self.tenant.clone(), roles.to_vec())
    }

    /// An actor of another tenant.
    pub fn foreigner(&self, id: &str, roles: &[Role]) -> Actor {
        Actor::new(id, format!("{}-other", self.tenant), roles.to_vec())
    }

    /// A token for `actor`, valid for an hour.
    pub fn token(&self, actor: &Actor) -> String {
        self.state.keys.mint(actor, 3600).expect("mint a token")
    }

    /// POSTs a request with a bearer token; returns (HTTP status, body).
    pub async fn post_raw(
        &self,
        token: Option<&str>,
        body: &Value,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut request = self
            .client
            .post(format!("http://{}/graphql", self.addr))
            .json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("send");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    /// Runs a GraphQL request over HTTP as `actor`; returns the whole response body.
    pub async fn http(&self, actor: &Actor, query: &str, variables: Value) -> Value {
        let token = self.token(actor);
        let (status, _, body) = self
            .post_raw(
                Some(&token),
                &json!({"query": query, "variables": variables}),
            )
            .await;
        assert_eq!(status, 200, "HTTP {status}: {body}");
        body
    }

    /// Runs a GraphQL request through the schema (no socket) as `actor`.
    pub async fn exec(&self, actor: &Actor, query: &str, variables: Value) -> Value {
        let request = async_graphql::Request::new(query)
            .variables(async_graphql::Variables::from_json(variables));
        let request = context::for_actor(request, &self.state.services, actor.clone());
        let response = self.state.schema.execute(request).await;
        serde_json::to_value(&response).expect("response as JSON")
    }

    /// A response's data, failing the test on any error.
    pub fn data(response: Value) -> Value {
        if let Some(errors) = response.get("errors") {
            panic!("unexpected errors: {errors}");
        }
        response["data"].clone()
    }

    /// `exec`, expecting success.
    pub async fn ok(&self, actor: &Actor, query: &str, variables: Value) -> Value {
        Self::data(self.exec(actor, query, variables).await)
    }

    /// `exec`, expecting exactly one error; returns it.
    pub async fn err(&self, actor: &Actor, query: &str, variables: Value) -> Value {
        let response = self.exec(actor, query, variables).await;
        first_error(&response)
    }

    /// Creates a job as `actor` through the schema; returns it (JOB_FIELDS).
    pub async fn create_job(&self, actor: &Actor, input: Value) -> Value {
        let data = self
            .ok(
                actor,
                &format!(
                    "mutation($i: CreateJobInput!) {{ createJob(input: $i) {{ {JOB_FIELDS} }} }}"
                ),
                json!({"i": input}),
            )
            .await;
        data["createJob"].clone()
    }

    /// Runs a one-job mutation `name(args)` and returns the job (or the response with errors).
    pub async fn job_op(&self, actor: &Actor, call: &str, variables: Value) -> Value {
        let query = format!("mutation($id: UUID!) {{ r: {call} {{ {JOB_FIELDS} }} }}");
        self.exec(actor, &query, variables).await
    }

    /// Creates a task (under `parent`, if given) as `actor`; returns it (TASK_FIELDS).
    pub async fn create_task(&self, actor: &Actor, parent: Option<&str>, input: Value) -> Value {
        let response = match parent {
            None => {
                let q = format!(
                    "mutation($i: CreateTaskInput!) {{ r: createTask(input: $i) {{ {TASK_FIELDS} }} }}"
                );
                self.exec(actor, &q, json!({"i": input})).await
            }
            Some(p) => {
                let q = format!(
                    "mutation($p: UUID!, $i: CreateTaskInput!) {{ r: createSubtask(parentId: $p, input: $i) {{ {TASK_FIELDS} }} }}"
                );
                self.exec(actor, &q, json!({"p": p, "i": input})).await
            }
        };
        Self::data(response)["r"].clone()
    }

    /// Runs a one-task mutation `name(args)` and returns the response.
    pub async fn task_op(&self, actor: &Actor, call: &str, variables: Value) -> Value {
        let query = format!("mutation($id: UUID!) {{ r: {call} {{ {TASK_FIELDS} }} }}");
        self.exec(actor, &query, variables).await
    }

    /// The stored events of a task, oldest first: (type, details).
    pub async fn task_events(&self, task_id: &str) -> Vec<(String, Value)> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
        let id = Uuid::parse_str(task_id).expect("a task id");
        entity::event::Entity::find()
            .filter(entity::event::Column::TaskId.eq(id))
            .order_by_asc(entity::event::Column::Id)
            .all(&self.db)
            .await
            .expect("read events")
            .into_iter()
            .map(|e| (e.event_type, e.details))
            .collect()
    }

    /// The tenant's events from id `after` on: (type, task id, details).
    pub async fn events_since(&self, after: i64) -> Vec<(String, Option<Uuid>, Value)> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
        entity::event::Entity::find()
            .filter(entity::event::Column::TenantId.eq(self.tenant.as_str()))
            .filter(entity::event::Column::Id.gt(after))
            .order_by_asc(entity::event::Column::Id)
            .all(&self.db)
            .await
            .expect("read events")
            .into_iter()
            .map(|e| (e.event_type, e.task_id, e.details))
            .collect()
    }

    /// The id of the tenant's newest event (0 when none).
    pub async fn last_event_id(&self) -> i64 {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
        entity::event::Entity::find()
            .filter(entity::event::Column::TenantId.eq(self.tenant.as_str()))
            .order_by_desc(entity::event::Column::Id)
            .one(&self.db)
            .await
            .expect("read events")
            .map_or(0, |e| e.id)
    }

    /// Links a task to a job straight in the table (linkTask arrives with the work graph).
    pub async fn link(&self, job_id: &str, task_id: &str, role: entity::status::JobTaskRole) {
        use sea_orm::{ActiveModelTrait, Set};
        entity::job_task::ActiveModel {
            job_id: Set(Uuid::parse_str(job_id).unwrap()),
            task_id: Set(Uuid::parse_str(task_id).unwrap()),
            tenant_id: Set(self.tenant.clone()),
            role: Set(role),
            created_at: Set(chrono::Utc::now().timestamp_micros()),
        }
        .insert(&self.db)
        .await
        .expect("link");
    }

    /// The stored events of a job, oldest first: (type, details).
    pub async fn job_events(&self, job_id: &str) -> Vec<(String, Value)> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
        let id = Uuid::parse_str(job_id).expect("a job id");
        entity::event::Entity::find()
            .filter(entity::event::Column::JobId.eq(id))
            .order_by_asc(entity::event::Column::Id)
            .all(&self.db)
            .await
            .expect("read events")
            .into_iter()
            .map(|e| (e.event_type, e.details))
            .collect()
    }

    /// Only the types of a job's events.
    pub async fn job_event_types(&self, job_id: &str) -> Vec<String> {
        self.job_events(job_id)
            .await
            .into_iter()
            .map(|(t, _)| t)
            .collect()
    }

    /// Every event of the tenant, counted.
    pub async fn event_count(&self) -> u64 {
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        entity::event::Entity::find()
            .filter(entity::event::Column::TenantId.eq(self.tenant.as_str()))
            .count(&self.db)
            .await
            .expect("count events")
    }

    /// Every job row of the tenant, counted.
    pub async fn job_count(&self) -> u64 {
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        entity::job::Entity::find()
            .filter(entity::job::Column::TenantId.eq(self.tenant.as_str()))
            .count(&self.db)
            .await
            .expect("count jobs")
    }

    /// Puts a job straight into `status` (for states only background loops reach).
    pub async fn force_status(&self, job_id: &str, status: &str) {
        let id = Uuid::parse_str(job_id).expect("a job id");
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
        entity::job::Entity::update_many()
            .col_expr(entity::job::Column::Status, Expr::value(status))
            .filter(entity::job::Column::Id.eq(id))
            .exec(&self.db)
            .await
            .expect("force a status");
    }
}

/// The fields tests read of a task.
pub const TASK_FIELDS: &str = "id status version title description labels priority priorityLevel \
    dueAt startedAt completedAt cancelReason assignedAgent createdBy createdAt updatedAt \
    estimatedCost actualCost executionContext timeoutSeconds planId planStepIndex \
    delegationChain { from to by reason at } parent { id } subtasks { id }";

/// The fields tests read of a job.
pub const JOB_FIELDS: &str = "id status version attempt priority priorityLevel title description labels \
    runAt cron startedAt finishedAt result error cancelReason assignedAgent actualCost estimatedCost \
    executionContext timeoutSeconds planId planStepIndex idempotencyKey concurrencyKey createdBy createdAt updatedAt \
    leaseExpiresAt retryPolicy { maxAttempts initialBackoffSeconds backoffMultiplier maxBackoffSeconds } \
    delegationChain { from to by reason at } runs { series attempt status agent error result cost startedAt finishedAt }";

/// The one error of a response.
pub fn first_error(response: &Value) -> Value {
    let errors = response["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("expected an error, got {response}"));
    assert_eq!(errors.len(), 1, "expected one error: {response}");
    errors[0].clone()
}

/// The `extensions.code` of a response's one error.
pub fn code(response: &Value) -> String {
    first_error(response)["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

pub use Role::{Admin, Agent, Member, Viewer};
