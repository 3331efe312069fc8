//! The inputs of the job operations, and their conversion into service commands.

use super::enums::{JobOrderField, JobStatus, PriorityLevel, SortDirection};
use crate::graphql::scalars::Uuid;
use crate::graphql::scalars::{BigInt, DateTime, Decimal};
use crate::services::Patch;
use crate::services::jobs;
use crate::services::update::SharedPatch;
use async_graphql::{InputObject, MaybeUndefined};

/// A retry policy given in part; missing fields keep their defaults (create) or current values (update).
#[derive(InputObject, Clone, Default)]
pub struct RetryPolicyInput {
    /// 1..100 (default 1: no retry).
    pub max_attempts: Option<i32>,
    /// 1..86400 (default 10).
    pub initial_backoff_seconds: Option<i32>,
    /// 1.0..10.0 (default 2.0).
    pub backoff_multiplier: Option<f64>,
    /// initialBackoffSeconds..604800 (default 300).
    pub max_backoff_seconds: Option<i32>,
}

impl From<RetryPolicyInput> for jobs::RetryPolicyPatch {
    fn from(p: RetryPolicyInput) -> Self {
        Self {
            max_attempts: p.max_attempts,
            initial_backoff_seconds: p.initial_backoff_seconds,
            backoff_multiplier: p.backoff_multiplier,
            max_backoff_seconds: p.max_backoff_seconds,
        }
    }
}

/// Hard stops for one job, counted within the current series. On update an absent field keeps its value and null clears it.
#[derive(InputObject, Clone, Default)]
pub struct JobLimitsInput {
    /// Tokens (input + cached + output), 1..10^15.
    pub max_tokens: MaybeUndefined<BigInt>,
    /// Above zero.
    pub max_cost: MaybeUndefined<Decimal>,
}

impl From<JobLimitsInput> for jobs::LimitsPatch {
    fn from(l: JobLimitsInput) -> Self {
        Self {
            max_tokens: patch(l.max_tokens, |t| t.0),
            max_cost: patch(l.max_cost, |c| c.0),
        }
    }
}

/// Exactly one of runAt and cron.
#[derive(InputObject, Clone, Default)]
pub struct ScheduleInput {
    /// Runnable from this time (a past time: at once).
    pub run_at: Option<DateTime>,
    /// A 5-field POSIX cron expression, in UTC.
    pub cron: Option<String>,
}

impl From<ScheduleInput> for jobs::ScheduleRequest {
    fn from(s: ScheduleInput) -> Self {
        Self {
            run_at: s.run_at.map(|t| t.0),
            cron: s.cron,
        }
    }
}

/// A new job.
#[derive(InputObject)]
pub struct CreateJobInput {
    /// 1..200 characters, trimmed.
    pub title: String,
    /// At most 10,000 characters; empty means none.
    pub description: Option<String>,
    /// At most 20, each 1..50 characters; duplicates are dropped.
    pub labels: Option<Vec<String>>,
    /// 1..100; give this or priorityLevel, not both. Default 50.
    pub priority: Option<i32>,
    pub priority_level: Option<PriorityLevel>,
    pub plan_id: Option<Uuid>,
    pub plan_step_index: Option<i32>,
    pub estimated_cost: Option<Decimal>,
    /// 1..604800.
    pub timeout_seconds: Option<i32>,
    pub retry_policy: Option<RetryPolicyInput>,
    /// A JSON object (default {}).
    pub execution_context: Option<serde_json::Value>,
    pub assigned_agent: Option<String>,
    pub schedule: Option<ScheduleInput>,
    /// Per tenant: a second create with the same key returns the first job.
    pub idempotency_key: Option<String>,
    /// 1..200 characters: a customer, a model, a repository… Jobs sharing a key share its limit.
    pub concurrency_key: Option<String>,
    pub limits: Option<JobLimitsInput>,
}

impl From<CreateJobInput> for jobs::NewJob {
    fn from(i: CreateJobInput) -> Self {
        Self {
            title: i.title,
            description: i.description,
            labels: i.labels,
            priority: i.priority,
            priority_level: i.priority_level.map(Into::into),
            plan_id: i.plan_id.map(Into::into),
            plan_step_index: i.plan_step_index,
            estimated_cost: i.estimated_cost.map(|d| d.0),
            timeout_seconds: i.timeout_seconds,
            retry_policy: i.retry_policy.map(Into::into),
            execution_context: i.execution_context,
            assigned_agent: i.assigned_agent,
            schedule: i.schedule.map(Into::into),
            idempotency_key: i.idempotency_key,
            concurrency_key: i.concurrency_key,
            limits: i.limits.map(Into::into),
        }
    }
}

/// Changes to a job: an absent field is unchanged, an explicit null clears it (title, labels,
/// priority and retryPolicy cannot be null).
#[derive(InputObject, Default)]
pub struct UpdateJobInput {
    pub title: MaybeUndefined<String>,
    pub description: MaybeUndefined<String>,
    pub labels: MaybeUndefined<Vec<String>>,
    pub priority: MaybeUndefined<i32>,
    pub priority_level: MaybeUndefined<PriorityLevel>,
    pub plan_id: MaybeUndefined<Uuid>,
    pub plan_step_index: MaybeUndefined<i32>,
    pub estimated_cost: MaybeUndefined<Decimal>,
    pub timeout_seconds: MaybeUndefined<i32>,
    pub retry_policy: MaybeUndefined<RetryPolicyInput>,
    /// Cannot change while the job is RUNNING or CANCELLING; null removes the key.
    pub concurrency_key: MaybeUndefined<String>,
    /// Null or absent: the limits stay as they are.
    pub limits: Option<JobLimitsInput>,
}

/// `MaybeUndefined` (GraphQL) as `Patch` (services).
pub fn patch<T, U>(v: MaybeUndefined<T>, f: impl FnOnce(T) -> U) -> Patch<U> {
    match v {
        MaybeUndefined::Undefined => Patch::Keep,
        MaybeUndefined::Null => Patch::Clear,
        MaybeUndefined::Value(t) => Patch::Set(f(t)),
    }
}

impl From<UpdateJobInput> for jobs::JobPatch {
    fn from(i: UpdateJobInput) -> Self {
        Self {
            shared: SharedPatch {
                title: patch(i.title, |t| t),
                description: patch(i.description, |d| d),
                labels: patch(i.labels, |l| l),
                priority: patch(i.priority, |p| p),
                priority_level: patch(i.priority_level, Into::into),
                plan_id: patch(i.plan_id, |p| p.0),
                plan_step_index: patch(i.plan_step_index, |p| p),
                estimated_cost: patch(i.estimated_cost, |d| d.0),
                timeout_seconds: patch(i.timeout_seconds, |t| t),
            },
            retry_policy: patch(i.retry_policy, Into::into),
            concurrency_key: patch(i.concurrency_key, |k| k),
            limits: i.limits.map(Into::into),
        }
    }
}

/// What completeJob records.
#[derive(InputObject, Default)]
pub struct JobResultInput {
    /// Any JSON value, at most the server's JSON limit.
    pub output: Option<serde_json::Value>,
    /// The closing run's cost.
    pub actual_cost: Option<Decimal>,
}

impl From<JobResultInput> for jobs::JobResult {
    fn from(r: JobResultInput) -> Self {
        Self {
            output: r.output,
            actual_cost: r.actual_cost.map(|d| d.0),
        }
    }
}

/// Which jobs a list holds; every given field must match.
#[derive(InputObject, Default)]
pub struct JobFilter {
    /// Any of these statuses (not an empty list).
    pub status: Option<Vec<JobStatus>>,
    pub plan_id: Option<Uuid>,
    pub assigned_agent: Option<String>,
    pub created_by: Option<String>,
    /// Carries this label (exact, case-sensitive).
    pub label: Option<String>,
    pub priority_min: Option<i32>,
    pub priority_max: Option<i32>,
    /// Created strictly after.
    pub created_after: Option<DateTime>,
    /// Created strictly before.
    pub created_before: Option<DateTime>,
    /// Case-insensitive substring of the title (taken literally: `%` and `_` are plain characters).
    pub search: Option<String>,
    /// false: ready work (nothing keeps it from starting); true: blocked work.
    pub blocked: Option<bool>,
    /// Carries this concurrency key.
    pub concurrency_key: Option<String>,
}

impl From<JobFilter> for jobs::JobFilter {
    fn from(f: JobFilter) -> Self {
        Self {
            status: f.status.map(|s| s.into_iter().map(Into::into).collect()),
            plan_id: f.plan_id.map(Into::into),
            assigned_agent: f.assigned_agent,
            created_by: f.created_by,
            label: f.label,
            priority_min: f.priority_min,
            priority_max: f.priority_max,
            created_after: f.created_after.map(|t| t.0),
            created_before: f.created_before.map(|t| t.0),
            search: f.search,
            blocked: f.blocked,
            concurrency_key: f.concurrency_key,
        }
    }
}

/// An ordering of a job list.
#[derive(InputObject, Clone, Copy)]
pub struct JobOrder {
    pub field: JobOrderField,
    pub direction: SortDirection,
}

impl From<JobOrder> for jobs::JobOrder {
    fn from(o: JobOrder) -> Self {
        Self {
            field: o.field.into(),
            direction: o.direction.into(),
        }
    }
}
