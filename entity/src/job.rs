//! A job: a unit of work that runs in attempts (see `job_run`).

use sea_orm::entity::prelude::*;

pub use crate::status::JobStatus;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "job")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: String,
    pub title: String,
    /// The title lower-cased by the server, for `search` (same folding on every backend).
    pub search_title: String,
    pub description: Option<String>,
    /// The labels in the order given (the `job_label` rows carry them for filtering).
    #[sea_orm(column_type = "JsonBinary")]
    pub labels: Json,
    pub status: JobStatus,
    pub priority: i32,
    pub version: i32,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub run_at: Option<i64>,
    pub cron: Option<String>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub result: Option<Json>,
    pub error: Option<String>,
    pub cancel_reason: Option<String>,
    /// When a GRACEFUL cancel moved the job to CANCELLING (the grace period runs from here).
    pub cancel_requested_at: Option<i64>,
    #[sea_orm(column_type = "JsonBinary")]
    pub execution_context: Json,
    pub estimated_cost: Option<i64>,
    /// Σ of the runs' costs plus costs recorded while no run was open, in nano-units.
    pub actual_cost: i64,
    pub assigned_agent: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub delegation_chain: Json,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub checkpoint_data: Option<Json>,
    pub last_completed_step: Option<i32>,
    pub timeout_seconds: Option<i32>,
    pub plan_id: Option<Uuid>,
    pub plan_step_index: Option<i32>,
    pub retry_max_attempts: i32,
    pub retry_initial_backoff_seconds: i32,
    pub retry_backoff_multiplier: f64,
    pub retry_max_backoff_seconds: i32,
    /// Attempts in the current series (0 after create, retryJob, cron).
    pub attempt: i32,
    /// The current series, 1-based.
    pub series: i32,
    pub lease_expires_at: Option<i64>,
    pub lease_seconds: Option<i32>,
    pub idempotency_key: Option<String>,
    /// Jobs sharing a key share its `concurrency_limit` row, if the key has one.
    pub concurrency_key: Option<String>,
    /// Attempts of the current series handed back by releaseJobs (not counted toward
    /// `maxAttempts`).
    pub released_attempts: i32,
    /// Per-job limit on the series' tokens (input + cached + output); null: none.
    pub limit_max_tokens: Option<i64>,
    /// Per-job limit on the series' cost, in nano-units; null: none.
    pub limit_max_cost: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
