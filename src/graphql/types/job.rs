//! `Job`, `JobRun`, `Delegation`, `RetryPolicy` and the job connection.

use super::enums::JobTaskRole;
use super::enums::{JobRunStatus, JobStatus, PriorityLevel};
use super::graph::{JobDependency, JobTaskLink, Progress};
use crate::graphql::context::{actor, services};
use crate::graphql::error::to_gql;
use crate::graphql::loaders::{
    JobBlockedLoader, JobEdgesLoader, JobLinksLoader, ProgressLoader, RunsLoader,
};
use crate::graphql::scalars::{DateTime, Decimal};
use crate::services::jobs;
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Object, Result};
use uuid::Uuid;

/// A unit of work that runs in attempts: scheduled, started or claimed, retried, cancelled.
pub struct Job(pub jobs::Job);

#[Object(name = "Job")]
impl Job {
    async fn id(&self) -> Uuid {
        self.0.row.id
    }
    async fn tenant_id(&self) -> &str {
        &self.0.row.tenant_id
    }
    async fn title(&self) -> &str {
        &self.0.row.title
    }
    async fn description(&self) -> Option<&str> {
        self.0.row.description.as_deref()
    }
    /// In the order given, without duplicates.
    async fn labels(&self) -> Vec<String> {
        self.0.labels()
    }
    async fn status(&self) -> JobStatus {
        self.0.row.status.into()
    }
    /// 1..100; higher runs first.
    async fn priority(&self) -> i32 {
        self.0.row.priority
    }
    /// The highest level whose value is at most `priority` (BACKGROUND below 10).
    async fn priority_level(&self) -> PriorityLevel {
        self.0.priority_level().into()
    }
    /// Starts at 1; every write to the job bumps it. Pass it as `expectedVersion`.
    async fn version(&self) -> i32 {
        self.0.row.version
    }
    async fn created_by(&self) -> &str {
        &self.0.row.created_by
    }
    async fn created_at(&self) -> DateTime {
        DateTime::from_micros(self.0.row.created_at)
    }
    async fn updated_at(&self) -> DateTime {
        DateTime::from_micros(self.0.row.updated_at)
    }
    /// When a SCHEDULED job becomes runnable.
    async fn run_at(&self) -> Option<DateTime> {
        self.0.row.run_at.map(DateTime::from_micros)
    }
    /// A 5-field cron expression (UTC), for recurring jobs.
    async fn cron(&self) -> Option<&str> {
        self.0.row.cron.as_deref()
    }
    /// The start of the current or last attempt.
    async fn started_at(&self) -> Option<DateTime> {
        self.0.row.started_at.map(DateTime::from_micros)
    }
    async fn finished_at(&self) -> Option<DateTime> {
        self.0.row.finished_at.map(DateTime::from_micros)
    }
    /// The output completeJob recorded.
    async fn result(&self) -> Option<&serde_json::Value> {
        self.0.row.result.as_ref()
    }
    /// Why the job FAILED, TIMED_OUT or was CANCELLED by a failure.
    async fn error(&self) -> Option<&str> {
        self.0.row.error.as_deref()
    }
    async fn cancel_reason(&self) -> Option<&str> {
        self.0.row.cancel_reason.as_deref()
    }
    /// Always a JSON object.
    async fn execution_context(&self) -> &serde_json::Value {
        &self.0.row.execution_context
    }
    async fn estimated_cost(&self) -> Option<Decimal> {
        self.0.estimated_cost().map(Decimal::from)
    }
    /// The runs' costs plus costs recorded while no run was open.
    async fn actual_cost(&self) -> Decimal {
        self.0.actual_cost().into()
    }
    async fn assigned_agent(&self) -> Option<&str> {
        self.0.row.assigned_agent.as_deref()
    }
    /// Every hand-over, oldest first.
    async fn delegation_chain(&self) -> Vec<Delegation> {
        self.0
            .delegation_chain()
            .into_iter()
            .map(Delegation)
            .collect()
    }
    async fn checkpoint_data(&self) -> Option<&serde_json::Value> {
        self.0.row.checkpoint_data.as_ref()
    }
    async fn last_completed_step(&self) -> Option<i32> {
        self.0.row.last_completed_step
    }
    async fn timeout_seconds(&self) -> Option<i32> {
        self.0.row.timeout_seconds
    }
    async fn plan_id(&self) -> Option<Uuid> {
        self.0.row.plan_id
    }
    async fn plan_step_index(&self) -> Option<i32> {
        self.0.row.plan_step_index
    }
    async fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy(self.0.retry_policy())
    }
    /// Attempts in the current series; pass it as `attempt` to fence stale workers.
    async fn attempt(&self) -> i32 {
        self.0.row.attempt
    }
    async fn lease_expires_at(&self) -> Option<DateTime> {
        self.0.row.lease_expires_at.map(DateTime::from_micros)
    }
    async fn idempotency_key(&self) -> Option<&str> {
        self.0.row.idempotency_key.as_deref()
    }
    /// Tasks linked to this job, optionally only those of one role.
    async fn tasks(
        &self,
        ctx: &Context<'_>,
        role: Option<JobTaskRole>,
    ) -> Result<Vec<JobTaskLink>> {
        let loader = ctx.data::<DataLoader<JobLinksLoader>>()?;
        let links = loader.load_one(self.0.row.id).await?.unwrap_or_default();
        let role = role.map(entity::status::JobTaskRole::from);
        Ok(links
            .into_iter()
            .filter(|l| role.is_none_or(|r| l.role == r))
            .map(JobTaskLink)
            .collect())
    }
    /// Dependencies in which this job is the successor.
    async fn dependencies(&self, ctx: &Context<'_>) -> Result<Vec<JobDependency>> {
        let loader = ctx.data::<DataLoader<JobEdgesLoader>>()?;
        let edges = loader
            .load_one((self.0.row.id, true))
            .await?
            .unwrap_or_default();
        Ok(edges.into_iter().map(JobDependency).collect())
    }
    /// Dependencies in which this job is the predecessor.
    async fn dependents(&self, ctx: &Context<'_>) -> Result<Vec<JobDependency>> {
        let loader = ctx.data::<DataLoader<JobEdgesLoader>>()?;
        let edges = loader
            .load_one((self.0.row.id, false))
            .await?
            .unwrap_or_default();
        Ok(edges.into_iter().map(JobDependency).collect())
    }
    /// True while it has not started and an unsatisfied FINISH_TO_START or START_TO_START dependency, or a PREREQUISITE task that is neither COMPLETED nor CANCELLED, keeps it from starting.
    async fn blocked(&self, ctx: &Context<'_>) -> Result<bool> {
        let loader = ctx.data::<DataLoader<JobBlockedLoader>>()?;
        Ok(loader.load_one(self.0.row.id).await?.unwrap_or(false))
    }
    /// Progress of its PRIMARY tasks.
    async fn progress(&self, ctx: &Context<'_>) -> Result<Progress> {
        let loader = ctx.data::<DataLoader<ProgressLoader>>()?;
        Ok(Progress(
            loader.load_one(self.0.row.id).await?.unwrap_or_default(),
        ))
    }
    /// Attempts, oldest first.
    async fn runs(&self, ctx: &Context<'_>) -> Result<Vec<JobRun>> {
        let loader = ctx.data::<DataLoader<RunsLoader>>()?;
        let runs = loader.load_one(self.0.row.id).await?.unwrap_or_default();
        Ok(runs.into_iter().map(JobRun).collect())
    }
}

/// One attempt of a job.
pub struct JobRun(pub jobs::JobRun);

#[Object(name = "JobRun")]
impl JobRun {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    /// Numbers the series of attempts (a new series starts at creation, retryJob and each cron occurrence).
    async fn series(&self) -> i32 {
        self.0.series
    }
    /// The attempt's number within its series.
    async fn attempt(&self) -> i32 {
        self.0.attempt
    }
    async fn status(&self) -> JobRunStatus {
        self.0.status.into()
    }
    /// Who started or claimed the attempt.
    async fn agent(&self) -> Option<&str> {
        self.0.agent.as_deref()
    }
    async fn started_at(&self) -> DateTime {
        self.0.started_at.into()
    }
    async fn finished_at(&self) -> Option<DateTime> {
        self.0.finished_at.map(Into::into)
    }
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
    async fn result(&self) -> Option<&serde_json::Value> {
        self.0.result.as_ref()
    }
    async fn cost(&self) -> Decimal {
        self.0.cost.into()
    }
}

/// One hand-over of a job or task.
pub struct Delegation(pub jobs::Delegation);

#[Object(name = "Delegation")]
impl Delegation {
    /// The assignee before; null for the first assignment.
    async fn from(&self) -> Option<&str> {
        self.0.from.as_deref()
    }
    async fn to(&self) -> &str {
        &self.0.to
    }
    /// Who made the hand-over.
    async fn by(&self) -> &str {
        &self.0.by
    }
    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }
    async fn at(&self) -> DateTime {
        self.0.at.into()
    }
}

/// How a job retries after a failed attempt.
pub struct RetryPolicy(pub jobs::RetryPolicy);

#[Object(name = "RetryPolicy")]
impl RetryPolicy {
    /// Attempts per series, 1..100.
    async fn max_attempts(&self) -> i32 {
        self.0.max_attempts
    }
    async fn initial_backoff_seconds(&self) -> i32 {
        self.0.initial_backoff_seconds
    }
    async fn backoff_multiplier(&self) -> f64 {
        self.0.backoff_multiplier
    }
    async fn max_backoff_seconds(&self) -> i32 {
        self.0.max_backoff_seconds
    }
}

/// The `totalCount` of a job list, counted only when selected.
pub struct JobCount {
    pub filter: jobs::JobFilter,
}

#[Object]
impl JobCount {
    /// How many jobs match the filter (all pages).
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i32> {
        let n = services(ctx)?
            .jobs
            .count(actor(ctx)?, &self.filter)
            .await
            .map_err(to_gql)?;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
}
