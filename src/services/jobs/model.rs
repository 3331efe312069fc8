//! The job as the service layer hands it out, and the commands that create and change one.

use super::retry::{RetryPolicy, RetryPolicyPatch};
use crate::domain::money::Money;
use crate::domain::priority::PriorityLevel;
use crate::domain::time::{Micros, from_micros, serde_rfc3339, serde_rfc3339_opt};
use crate::services::Patch;
pub use crate::services::delegation::Delegation;
use crate::services::view::{self, Documents, by_name};
use chrono::{DateTime, Utc};
use entity::job;
use entity::status::JobRunStatus;
use entity::status::JobStatus;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// A job as readers see it: its typed fields, from a live row or from an event's snapshot
/// (DESIGN.md §1). Serialised, its scalar fields are the snapshot events store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub id: Uuid,
    pub tenant_id: String,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(with = "by_name")]
    pub status: JobStatus,
    pub priority: i32,
    pub version: i32,
    pub created_by: String,
    #[serde(with = "serde_rfc3339")]
    pub created_at: Micros,
    #[serde(with = "serde_rfc3339")]
    pub updated_at: Micros,
    #[serde(default, with = "serde_rfc3339_opt")]
    pub run_at: Option<Micros>,
    #[serde(default)]
    pub cron: Option<String>,
    #[serde(default, with = "serde_rfc3339_opt")]
    pub started_at: Option<Micros>,
    #[serde(default, with = "serde_rfc3339_opt")]
    pub finished_at: Option<Micros>,
    #[serde(default)]
    pub result: Option<Value>,
    /// Set in a snapshot whose `result` was too large to store: read the job's current one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub result_elided: bool,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub cancel_reason: Option<String>,
    #[serde(default)]
    pub estimated_cost: Option<Money>,
    pub actual_cost: Money,
    #[serde(default)]
    pub assigned_agent: Option<String>,
    #[serde(default)]
    pub delegation_chain: Vec<Delegation>,
    #[serde(default)]
    pub last_completed_step: Option<i32>,
    #[serde(default)]
    pub timeout_seconds: Option<i32>,
    #[serde(default)]
    pub plan_id: Option<Uuid>,
    #[serde(default)]
    pub plan_step_index: Option<i32>,
    pub retry_policy: RetryPolicy,
    pub attempt: i32,
    #[serde(default, with = "serde_rfc3339_opt")]
    pub lease_expires_at: Option<Micros>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
    #[serde(default)]
    pub concurrency_key: Option<String>,
    #[serde(default)]
    pub limits: JobLimits,
    /// The live row's JSON documents; `None` in a view built from a snapshot.
    #[serde(skip)]
    pub documents: Option<Documents>,
}

impl Job {
    /// The scalar fields of `row`, with `result` and `documents` as given.
    fn scalars(row: &job::Model, result: Option<Value>, documents: Option<Documents>) -> Self {
        Self {
            id: row.id,
            tenant_id: row.tenant_id.clone(),
            title: row.title.clone(),
            description: row.description.clone(),
            labels: Vec::<String>::deserialize(&row.labels).unwrap_or_default(),
            status: row.status,
            priority: row.priority,
            version: row.version,
            created_by: row.created_by.clone(),
            created_at: row.created_at,
            updated_at: row.updated_at,
            run_at: row.run_at,
            cron: row.cron.clone(),
            started_at: row.started_at,
            finished_at: row.finished_at,
            result_elided: result.is_none() && row.result.is_some(),
            result,
            error: row.error.clone(),
            cancel_reason: row.cancel_reason.clone(),
            estimated_cost: row.estimated_cost.map(Money::from_nanos),
            actual_cost: Money::from_nanos(row.actual_cost),
            assigned_agent: row.assigned_agent.clone(),
            delegation_chain: Delegation::chain_from_json(&row.delegation_chain),
            last_completed_step: row.last_completed_step,
            timeout_seconds: row.timeout_seconds,
            plan_id: row.plan_id,
            plan_step_index: row.plan_step_index,
            retry_policy: policy_of(row),
            attempt: row.attempt,
            lease_expires_at: row.lease_expires_at,
            idempotency_key: row.idempotency_key.clone(),
            concurrency_key: row.concurrency_key.clone(),
            limits: JobLimits {
                max_tokens: row.limit_max_tokens,
                max_cost: row.limit_max_cost.map(Money::from_nanos),
            },
            documents,
        }
    }

    /// The snapshot an event stores of `row` (DESIGN.md §7: small event rows).
    pub fn snapshot(row: &job::Model) -> Value {
        let mut view = Self::scalars(row, view::storable(&row.result).cloned(), None);
        view.delegation_chain = view::snapshot_chain(&view.delegation_chain);
        serde_json::to_value(&view).unwrap_or(Value::Null)
    }

    /// The view an event's snapshot describes (no documents: they resolve live).
    pub fn from_snapshot(snapshot: &Value) -> Result<Self, serde_json::Error> {
        Self::deserialize(snapshot)
    }

    pub fn priority_level(&self) -> PriorityLevel {
        PriorityLevel::of(self.priority)
    }
}

impl From<job::Model> for Job {
    fn from(mut row: job::Model) -> Self {
        let result = row.result.take();
        let documents = Documents {
            execution_context: std::mem::take(&mut row.execution_context),
            checkpoint_data: row.checkpoint_data.take(),
        };
        Self::scalars(&row, result, Some(documents))
    }
}

/// The retry policy stored on a row.
pub fn policy_of(row: &job::Model) -> RetryPolicy {
    RetryPolicy {
        max_attempts: row.retry_max_attempts,
        initial_backoff_seconds: row.retry_initial_backoff_seconds,
        backoff_multiplier: row.retry_backoff_multiplier,
        max_backoff_seconds: row.retry_max_backoff_seconds,
    }
}

/// One attempt of a job.
#[derive(Debug, Clone)]
pub struct JobRun {
    pub id: Uuid,
    pub job_id: Uuid,
    pub series: i32,
    pub attempt: i32,
    pub status: JobRunStatus,
    pub agent: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
    pub result: Option<Value>,
    pub cost: Money,
}

impl From<entity::job_run::Model> for JobRun {
    fn from(r: entity::job_run::Model) -> Self {
        Self {
            id: r.id,
            job_id: r.job_id,
            series: r.series,
            attempt: r.attempt,
            status: r.status,
            agent: r.agent,
            started_at: from_micros(r.started_at),
            finished_at: r.finished_at.map(from_micros),
            error: r.error,
            result: r.result,
            cost: Money::from_nanos(r.cost),
        }
    }
}

/// When a job should run: exactly one of the two (checked by the service).
#[derive(Debug, Clone, Default)]
pub struct ScheduleRequest {
    pub run_at: Option<DateTime<Utc>>,
    pub cron: Option<String>,
}

/// createJob's command.
#[derive(Debug, Clone, Default)]
pub struct NewJob {
    pub title: String,
    pub description: Option<String>,
    pub labels: Option<Vec<String>>,
    pub priority: Option<i32>,
    pub priority_level: Option<PriorityLevel>,
    pub plan_id: Option<Uuid>,
    pub plan_step_index: Option<i32>,
    pub estimated_cost: Option<Decimal>,
    pub timeout_seconds: Option<i32>,
    pub retry_policy: Option<RetryPolicyPatch>,
    pub execution_context: Option<Value>,
    pub assigned_agent: Option<String>,
    pub schedule: Option<ScheduleRequest>,
    pub idempotency_key: Option<String>,
    pub concurrency_key: Option<String>,
    pub limits: Option<LimitsPatch>,
}

/// A job's hard stops (DESIGN.md §6, "Per-job limits"), counted within the current series.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobLimits {
    #[serde(default)]
    pub max_tokens: Option<i64>,
    #[serde(default)]
    pub max_cost: Option<Money>,
}

/// Limits as given: on update an absent field keeps its value, null clears it.
#[derive(Debug, Clone, Default)]
pub struct LimitsPatch {
    pub max_tokens: Patch<i64>,
    pub max_cost: Patch<Decimal>,
}

impl LimitsPatch {
    /// Applies the patch to a row's limit columns, validating what it sets.
    pub(crate) fn apply(&self, row: &mut job::Model) -> crate::error::ServiceResult<()> {
        use crate::services::validate;
        match self.max_tokens {
            Patch::Keep => {}
            Patch::Clear => row.limit_max_tokens = None,
            Patch::Set(t) => {
                row.limit_max_tokens = Some(validate::token_limit("input.limits.maxTokens", t)?)
            }
        }
        match self.max_cost {
            Patch::Keep => {}
            Patch::Clear => row.limit_max_cost = None,
            Patch::Set(c) => {
                row.limit_max_cost =
                    Some(validate::positive_money("input.limits.maxCost", c)?.nanos())
            }
        }
        Ok(())
    }
}

/// updateJob's command: `Keep` leaves a field alone, `Clear` sets it to null.
#[derive(Debug, Clone, Default)]
pub struct JobPatch {
    pub shared: crate::services::update::SharedPatch,
    pub retry_policy: Patch<RetryPolicyPatch>,
    /// Cannot change while the job is RUNNING or CANCELLING.
    pub concurrency_key: Patch<String>,
    pub limits: Option<LimitsPatch>,
}

/// completeJob's result.
#[derive(Debug, Clone, Default)]
pub struct JobResult {
    pub output: Option<Value>,
    pub actual_cost: Option<Decimal>,
}

/// cancelJob's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelMode {
    Graceful,
    Hard,
}
