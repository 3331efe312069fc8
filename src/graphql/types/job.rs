//! `Job`, `JobRun`, `Delegation`, `RetryPolicy` and the job connection.

use super::enums::JobTaskRole;
use super::enums::{JobRunStatus, JobStatus, PriorityLevel};
use super::event::{self, EventConnection};
use super::graph::{JobDependency, JobTaskLink, Progress};
use crate::graphql::context::{actor, services};
use crate::graphql::error::to_gql;
use crate::graphql::loaders::JobEventsLoader;
use crate::graphql::loaders::{
    JobBlockedLoader, JobEdgesLoader, JobLinksLoader, JobLoader, ProgressLoader, RunsLoader,
};
use crate::graphql::scalars::Uuid;
use crate::graphql::scalars::{BigInt, DateTime, Decimal};
use crate::services::events::read::page_args;
use crate::services::jobs;
use crate::services::paging::Page;
use crate::services::view::Documents;
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Object, Result};
use std::borrow::Cow;

/// The job `id` as it is now (`None` once deleted): what a view built from an event's snapshot
/// resolves its live fields from (DESIGN.md §7).
async fn live_job(ctx: &Context<'_>, id: Uuid) -> Result<Option<jobs::Job>> {
    ctx.data::<DataLoader<JobLoader>>()?.load_one(id.0).await
}

async fn live_documents(ctx: &Context<'_>, id: Uuid) -> Result<Option<Documents>> {
    Ok(live_job(ctx, id).await?.and_then(|j| j.documents))
}

/// A unit of work that runs in attempts: scheduled, started or claimed, retried, cancelled.
pub struct Job(pub jobs::Job);

#[Object(name = "Job")]
impl Job {
    async fn id(&self) -> Uuid {
        Uuid::from(self.0.id)
    }
    async fn tenant_id(&self) -> &str {
        &self.0.tenant_id
    }
    async fn title(&self) -> &str {
        &self.0.title
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// In the order given, without duplicates.
    async fn labels(&self) -> &[String] {
        &self.0.labels
    }
    async fn status(&self) -> JobStatus {
        self.0.status.into()
    }
    /// 1..100; higher runs first.
    async fn priority(&self) -> i32 {
        self.0.priority
    }
    /// The highest level whose value is at most `priority` (BACKGROUND below 10).
    async fn priority_level(&self) -> PriorityLevel {
        self.0.priority_level().into()
    }
    /// Starts at 1; every write to the job bumps it. Pass it as `expectedVersion`.
    async fn version(&self) -> i32 {
        self.0.version
    }
    async fn created_by(&self) -> &str {
        &self.0.created_by
    }
    async fn created_at(&self) -> DateTime {
        DateTime::from_micros(self.0.created_at)
    }
    async fn updated_at(&self) -> DateTime {
        DateTime::from_micros(self.0.updated_at)
    }
    /// When a SCHEDULED job becomes runnable.
    async fn run_at(&self) -> Option<DateTime> {
        self.0.run_at.map(DateTime::from_micros)
    }
    /// A 5-field cron expression (UTC), for recurring jobs.
    async fn cron(&self) -> Option<&str> {
        self.0.cron.as_deref()
    }
    /// The start of the current or last attempt.
    async fn started_at(&self) -> Option<DateTime> {
        self.0.started_at.map(DateTime::from_micros)
    }
    async fn finished_at(&self) -> Option<DateTime> {
        self.0.finished_at.map(DateTime::from_micros)
    }
    /// The output completeJob recorded.
    async fn result(&self, ctx: &Context<'_>) -> Result<Option<Cow<'_, serde_json::Value>>> {
        if !self.0.result_elided {
            return Ok(self.0.result.as_ref().map(Cow::Borrowed));
        }
        // A snapshot left out a result too large to store: the job's current one stands in.
        Ok(live_job(ctx, Uuid::from(self.0.id))
            .await?
            .and_then(|j| j.result.map(Cow::Owned)))
    }
    /// Why the job FAILED, TIMED_OUT or was CANCELLED by a failure.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
    async fn cancel_reason(&self) -> Option<&str> {
        self.0.cancel_reason.as_deref()
    }
    /// Always a JSON object.
    async fn execution_context(&self, ctx: &Context<'_>) -> Result<Cow<'_, serde_json::Value>> {
        Ok(match &self.0.documents {
            Some(d) => Cow::Borrowed(&d.execution_context),
            None => Cow::Owned(
                live_documents(ctx, Uuid::from(self.0.id))
                    .await?
                    .map_or_else(|| serde_json::json!({}), |d| d.execution_context),
            ),
        })
    }
    async fn estimated_cost(&self) -> Option<Decimal> {
        self.0.estimated_cost.map(Decimal::from)
    }
    /// The runs' costs plus costs recorded while no run was open.
    async fn actual_cost(&self) -> Decimal {
        self.0.actual_cost.into()
    }
    async fn assigned_agent(&self) -> Option<&str> {
        self.0.assigned_agent.as_deref()
    }
    /// Every hand-over, oldest first.
    #[graphql(complexity = "crate::graphql::cost::list(child_complexity)")]
    async fn delegation_chain(&self) -> Vec<Delegation> {
        self.0
            .delegation_chain
            .iter()
            .cloned()
            .map(Delegation)
            .collect()
    }
    async fn checkpoint_data(
        &self,
        ctx: &Context<'_>,
    ) -> Result<Option<Cow<'_, serde_json::Value>>> {
        Ok(match &self.0.documents {
            Some(d) => d.checkpoint_data.as_ref().map(Cow::Borrowed),
            None => live_documents(ctx, Uuid::from(self.0.id))
                .await?
                .and_then(|d| d.checkpoint_data.map(Cow::Owned)),
        })
    }
    async fn last_completed_step(&self) -> Option<i32> {
        self.0.last_completed_step
    }
    async fn timeout_seconds(&self) -> Option<i32> {
        self.0.timeout_seconds
    }
    async fn plan_id(&self) -> Option<Uuid> {
        self.0.plan_id.map(Uuid::from)
    }
    async fn plan_step_index(&self) -> Option<i32> {
        self.0.plan_step_index
    }
    async fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy(self.0.retry_policy)
    }
    /// Attempts in the current series; pass it as `attempt` to fence stale workers.
    async fn attempt(&self) -> i32 {
        self.0.attempt
    }
    async fn lease_expires_at(&self) -> Option<DateTime> {
        self.0.lease_expires_at.map(DateTime::from_micros)
    }
    /// Tokens, tool calls and money reported for this job, over all its runs.
    async fn usage(&self, ctx: &Context<'_>) -> Result<super::usage::Usage> {
        super::usage::of(ctx, crate::services::usage::Owner::Job, self.0.id).await
    }
    async fn limits(&self) -> JobLimits {
        JobLimits(self.0.limits.clone())
    }
    /// Jobs sharing a key share its concurrency limit, and claims take turns between keys.
    async fn concurrency_key(&self) -> Option<&str> {
        self.0.concurrency_key.as_deref()
    }
    async fn idempotency_key(&self) -> Option<&str> {
        self.0.idempotency_key.as_deref()
    }
    /// Tasks linked to this job, optionally only those of one role.
    #[graphql(complexity = "crate::graphql::cost::list(child_complexity)")]
    async fn tasks(
        &self,
        ctx: &Context<'_>,
        role: Option<JobTaskRole>,
    ) -> Result<Vec<JobTaskLink>> {
        let loader = ctx.data::<DataLoader<JobLinksLoader>>()?;
        let links = loader.load_one(self.0.id).await?.unwrap_or_default();
        let role = role.map(entity::status::JobTaskRole::from);
        Ok(links
            .into_iter()
            .filter(|l| role.is_none_or(|r| l.role == r))
            .map(JobTaskLink)
            .collect())
    }
    /// Dependencies in which this job is the successor.
    #[graphql(complexity = "crate::graphql::cost::list(child_complexity)")]
    async fn dependencies(&self, ctx: &Context<'_>) -> Result<Vec<JobDependency>> {
        let loader = ctx.data::<DataLoader<JobEdgesLoader>>()?;
        let edges = loader
            .load_one((self.0.id, true))
            .await?
            .unwrap_or_default();
        Ok(edges.into_iter().map(JobDependency).collect())
    }
    /// Dependencies in which this job is the predecessor.
    #[graphql(complexity = "crate::graphql::cost::list(child_complexity)")]
    async fn dependents(&self, ctx: &Context<'_>) -> Result<Vec<JobDependency>> {
        let loader = ctx.data::<DataLoader<JobEdgesLoader>>()?;
        let edges = loader
            .load_one((self.0.id, false))
            .await?
            .unwrap_or_default();
        Ok(edges.into_iter().map(JobDependency).collect())
    }
    /// True while it has not started and an unsatisfied FINISH_TO_START or START_TO_START dependency, or a PREREQUISITE task that is neither COMPLETED nor CANCELLED, keeps it from starting.
    async fn blocked(&self, ctx: &Context<'_>) -> Result<bool> {
        let loader = ctx.data::<DataLoader<JobBlockedLoader>>()?;
        Ok(loader.load_one(self.0.id).await?.unwrap_or(false))
    }
    /// Progress of its PRIMARY tasks.
    async fn progress(&self, ctx: &Context<'_>) -> Result<Progress> {
        let loader = ctx.data::<DataLoader<ProgressLoader>>()?;
        Ok(Progress(
            loader.load_one(self.0.id).await?.unwrap_or_default(),
        ))
    }
    /// This job's stored events, oldest first.
    #[graphql(complexity = "crate::graphql::cost::forward(first, child_complexity)")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1..200 (default 20).")] first: Option<i32>,
        #[graphql(desc = "An event id: only events after it (strictly).")] after: Option<String>,
    ) -> Result<EventConnection> {
        let args = page_args(first, after.as_deref()).map_err(to_gql)?;
        let loader = ctx.data::<DataLoader<JobEventsLoader>>()?;
        let page = loader.load_one((self.0.id, args)).await?.unwrap_or(Page {
            items: Vec::new(),
            has_next_page: false,
            has_previous_page: args.after.is_some(),
        });
        Ok(event::connection(page))
    }
    /// Attempts, oldest first.
    #[graphql(complexity = "crate::graphql::cost::list(child_complexity)")]
    async fn runs(&self, ctx: &Context<'_>) -> Result<Vec<JobRun>> {
        let loader = ctx.data::<DataLoader<RunsLoader>>()?;
        let runs = loader.load_one(self.0.id).await?.unwrap_or_default();
        Ok(runs.into_iter().map(JobRun).collect())
    }
}

/// One attempt of a job.
pub struct JobRun(pub jobs::JobRun);

#[Object(name = "JobRun")]
impl JobRun {
    async fn id(&self) -> Uuid {
        Uuid::from(self.0.id)
    }
    /// What was reported during this attempt.
    async fn usage(&self, ctx: &Context<'_>) -> Result<super::usage::Usage> {
        super::usage::of(ctx, crate::services::usage::Owner::Run, self.0.id).await
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
        DateTime::from_micros(self.0.at)
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

/// Hard stops for one job: crossing one moves a RUNNING job to CANCELLING with the reason.
pub struct JobLimits(pub jobs::JobLimits);

#[Object(name = "JobLimits")]
impl JobLimits {
    async fn max_tokens(&self) -> Option<BigInt> {
        self.0.max_tokens.map(BigInt)
    }
    async fn max_cost(&self) -> Option<Decimal> {
        self.0.max_cost.map(Into::into)
    }
}
