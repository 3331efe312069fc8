//! The job as the service layer hands it out, and the commands that create and change one.

use super::retry::{RetryPolicy, RetryPolicyPatch};
use crate::domain::money::Money;
use crate::domain::priority::PriorityLevel;
use crate::domain::time::{Micros, from_micros, rfc3339};
use crate::services::Patch;
pub use crate::services::delegation::Delegation;
use chrono::{DateTime, Utc};
use entity::job;
use entity::status::JobRunStatus;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

/// A job, read in the caller's tenant.
#[derive(Debug, Clone)]
pub struct Job {
    pub row: job::Model,
}

impl Job {
    pub fn id(&self) -> Uuid {
        self.row.id
    }
    pub fn labels(&self) -> Vec<String> {
        serde_json::from_value(self.row.labels.clone()).unwrap_or_default()
    }
    pub fn priority_level(&self) -> PriorityLevel {
        PriorityLevel::of(self.row.priority)
    }
    pub fn estimated_cost(&self) -> Option<Money> {
        self.row.estimated_cost.map(Money::from_nanos)
    }
    pub fn actual_cost(&self) -> Money {
        Money::from_nanos(self.row.actual_cost)
    }
    pub fn delegation_chain(&self) -> Vec<Delegation> {
        Delegation::chain_from_json(&self.row.delegation_chain)
    }
    pub fn retry_policy(&self) -> RetryPolicy {
        policy_of(&self.row)
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
}

/// updateJob's command: `Keep` leaves a field alone, `Clear` sets it to null.
#[derive(Debug, Clone, Default)]
pub struct JobPatch {
    pub shared: crate::services::update::SharedPatch,
    pub retry_policy: Patch<RetryPolicyPatch>,
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

/// The scalar fields of a job as events store them (API names; times RFC 3339; money as text).
pub fn snapshot(row: &job::Model) -> Value {
    let t = |us: Option<Micros>| us.map(rfc3339);
    let money = |n: Option<i64>| n.map(|n| Money::from_nanos(n).to_string());
    json!({
        "id": row.id,
        "tenantId": row.tenant_id,
        "title": row.title,
        "description": row.description,
        "labels": row.labels,
        "status": row.status.as_str(),
        "priority": row.priority,
        "version": row.version,
        "createdBy": row.created_by,
        "createdAt": rfc3339(row.created_at),
        "updatedAt": rfc3339(row.updated_at),
        "runAt": t(row.run_at),
        "cron": row.cron,
        "startedAt": t(row.started_at),
        "finishedAt": t(row.finished_at),
        "result": row.result,
        "error": row.error,
        "cancelReason": row.cancel_reason,
        "estimatedCost": money(row.estimated_cost),
        "actualCost": Money::from_nanos(row.actual_cost).to_string(),
        "assignedAgent": row.assigned_agent,
        "delegationChain": row.delegation_chain,
        "lastCompletedStep": row.last_completed_step,
        "timeoutSeconds": row.timeout_seconds,
        "planId": row.plan_id,
        "planStepIndex": row.plan_step_index,
        "retryPolicy": {
            "maxAttempts": row.retry_max_attempts,
            "initialBackoffSeconds": row.retry_initial_backoff_seconds,
            "backoffMultiplier": row.retry_backoff_multiplier,
            "maxBackoffSeconds": row.retry_max_backoff_seconds,
        },
        "attempt": row.attempt,
        "leaseExpiresAt": t(row.lease_expires_at),
        "idempotencyKey": row.idempotency_key,
    })
}
