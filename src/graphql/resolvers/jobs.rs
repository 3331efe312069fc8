//! Job queries and mutations.

use crate::graphql::context::{actor, services};
use crate::graphql::error::to_gql;
use crate::graphql::scalars::Uuid;
use crate::graphql::types::enums::CancelMode;
use crate::graphql::types::job::{Job, JobCount, JobRun};
use crate::graphql::types::job_inputs::{
    CreateJobInput, JobFilter, JobOrder, JobResultInput, ScheduleInput, UpdateJobInput,
};
use crate::graphql::types::stats::JobStats;
use crate::services::paging::PageArgs;
use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Object, Result};

#[derive(Default)]
pub struct JobQuery;

/// A page of jobs as a connection whose `totalCount` counts `filter`.
fn connection(
    page: crate::services::jobs::JobPage,
    filter: Option<crate::services::jobs::JobFilter>,
) -> JobConnection {
    let count = JobCount {
        filter: filter.unwrap_or_default(),
    };
    let mut connection =
        Connection::with_additional_fields(page.has_previous_page, page.has_next_page, count);
    connection.edges = page
        .items
        .into_iter()
        .map(|(cursor, job)| Edge::new(cursor, Job(job)))
        .collect();
    connection
}

/// A page of jobs with `totalCount`.
pub type JobConnection = Connection<String, Job, JobCount>;

#[Object]
impl JobQuery {
    /// The job, or null when it does not exist in the caller's tenant.
    async fn job(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<Job>> {
        let job = services(ctx)?
            .jobs
            .get(actor(ctx)?, id.0)
            .await
            .map_err(to_gql)?;
        Ok(job.map(Job))
    }

    /// Jobs of the caller's tenant, newest first unless `orderBy` says otherwise. Page forward
    /// with `first`/`after`, back with `last`/`before`; both cursors give a window.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "crate::graphql::cost::page(first, last, child_complexity)")]
    async fn jobs(
        &self,
        ctx: &Context<'_>,
        filter: Option<JobFilter>,
        order_by: Option<JobOrder>,
        #[graphql(desc = "Page size from the start, 1..200 (default 20).")] first: Option<i32>,
        #[graphql(desc = "A cursor from this list with the same ordering.")] after: Option<String>,
        #[graphql(desc = "Page size from the end, 1..200; not with `first`.")] last: Option<i32>,
        #[graphql(desc = "A cursor from this list with the same ordering.")] before: Option<String>,
    ) -> Result<JobConnection> {
        let filter: crate::services::jobs::JobFilter = filter.unwrap_or_default().into();
        let order = order_by.map(Into::into).unwrap_or_default();
        let args = PageArgs {
            first,
            after: after.as_deref(),
            last,
            before: before.as_deref(),
        };
        let page = services(ctx)?
            .jobs
            .list(actor(ctx)?, &filter, order, args)
            .await
            .map_err(to_gql)?;
        Ok(connection(page, Some(filter)))
    }

    /// PENDING and SCHEDULED jobs in the order claims take them: priority, then
    /// COALESCE(runAt, createdAt), then id.
    #[graphql(complexity = "crate::graphql::cost::forward(first, child_complexity)")]
    async fn pending_jobs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1..200 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> Result<JobConnection> {
        let page = services(ctx)?
            .jobs
            .pending(actor(ctx)?, first, after.as_deref())
            .await
            .map_err(to_gql)?;
        let filter = crate::services::jobs::JobFilter {
            status: Some(vec![
                entity::status::JobStatus::Pending,
                entity::status::JobStatus::Scheduled,
            ]),
            ..Default::default()
        };
        Ok(connection(page, Some(filter)))
    }

    /// RUNNING and CANCELLING jobs, by startedAt (longest-running first).
    #[graphql(complexity = "crate::graphql::cost::forward(first, child_complexity)")]
    async fn running_jobs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1..200 (default 20).")] first: Option<i32>,
        after: Option<String>,
    ) -> Result<JobConnection> {
        let page = services(ctx)?
            .jobs
            .running(actor(ctx)?, first, after.as_deref())
            .await
            .map_err(to_gql)?;
        let filter = crate::services::jobs::JobFilter {
            status: Some(vec![
                entity::status::JobStatus::Running,
                entity::status::JobStatus::Cancelling,
            ]),
            ..Default::default()
        };
        Ok(connection(page, Some(filter)))
    }

    /// Counts per status and exact cost sums of the jobs a filter selects.
    async fn job_stats(&self, ctx: &Context<'_>, filter: Option<JobFilter>) -> Result<JobStats> {
        let filter: crate::services::jobs::JobFilter = filter.unwrap_or_default().into();
        let stats = services(ctx)?
            .jobs
            .stats(actor(ctx)?, &filter)
            .await
            .map_err(to_gql)?;
        Ok(JobStats(stats))
    }

    /// Every attempt of the job, oldest first.
    #[graphql(complexity = "crate::graphql::cost::list(child_complexity)")]
    async fn job_history(&self, ctx: &Context<'_>, id: Uuid) -> Result<Vec<JobRun>> {
        let runs = services(ctx)?
            .jobs
            .history(actor(ctx)?, id.0)
            .await
            .map_err(to_gql)?;
        Ok(runs.into_iter().map(JobRun).collect())
    }
}

#[derive(Default)]
pub struct JobMutation;

#[Object]
impl JobMutation {
    /// A new job: PENDING, or SCHEDULED with a schedule.
    async fn create_job(&self, ctx: &Context<'_>, input: CreateJobInput) -> Result<Job> {
        let job = services(ctx)?
            .jobs
            .create(actor(ctx)?, input.into())
            .await
            .map_err(to_gql)?;
        Ok(Job(job))
    }

    /// Changes the given fields. With `expectedVersion`, a job at another version is CONFLICT.
    async fn update_job(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: UpdateJobInput,
        expected_version: Option<i32>,
    ) -> Result<Job> {
        let job = services(ctx)?
            .jobs
            .update(actor(ctx)?, id.0, input.into(), expected_version)
            .await
            .map_err(to_gql)?;
        Ok(Job(job))
    }

    /// Returns the id of the deleted job.
    async fn delete_job(&self, ctx: &Context<'_>, id: Uuid) -> Result<Uuid> {
        services(ctx)?
            .jobs
            .delete(actor(ctx)?, id.0)
            .await
            .map(Uuid::from)
            .map_err(to_gql)
    }

    /// (Re)schedules a PENDING or SCHEDULED job.
    async fn schedule_job(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        schedule: ScheduleInput,
    ) -> Result<Job> {
        let job = services(ctx)?
            .jobs
            .schedule(actor(ctx)?, id.0, schedule.into())
            .await
            .map_err(to_gql)?;
        Ok(Job(job))
    }

    /// Runs a PENDING or SCHEDULED job now, whatever its runAt.
    async fn start_job(&self, ctx: &Context<'_>, id: Uuid) -> Result<Job> {
        let job = services(ctx)?
            .jobs
            .start(actor(ctx)?, id.0)
            .await
            .map_err(to_gql)?;
        Ok(Job(job))
    }

    /// `attempt` (from the claim) fences stale workers: a mismatch is CONFLICT.
    async fn complete_job(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        result: Option<JobResultInput>,
        attempt: Option<i32>,
    ) -> Result<Job> {
        let result = result.unwrap_or_default().into();
        let job = services(ctx)?
            .jobs
            .complete(actor(ctx)?, id.0, result, attempt)
            .await
            .map_err(to_gql)?;
        Ok(Job(job))
    }

    /// Ends the attempt as failed; retries while attempts are left unless `retryable` is false.
    async fn fail_job(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        error: String,
        #[graphql(default_with = "Some(true)")] retryable: Option<bool>,
        attempt: Option<i32>,
    ) -> Result<Job> {
        let retryable = retryable.unwrap_or(true);
        let job = services(ctx)?
            .executor
            .fail(actor(ctx)?, id.0, &error, retryable, attempt)
            .await
            .map_err(to_gql)?;
        Ok(Job(job))
    }

    /// GRACEFUL asks a running job to stop; HARD (or a job not yet started) cancels it now.
    async fn cancel_job(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        reason: String,
        #[graphql(default_with = "Some(CancelMode::Graceful)")] mode: Option<CancelMode>,
    ) -> Result<Job> {
        let mode = mode.unwrap_or(CancelMode::Graceful).into();
        let job = services(ctx)?
            .jobs
            .cancel(actor(ctx)?, id.0, &reason, mode)
            .await
            .map_err(to_gql)?;
        Ok(Job(job))
    }

    /// A FAILED, CANCELLED or TIMED_OUT job starts a new series of attempts, SCHEDULED now.
    async fn retry_job(&self, ctx: &Context<'_>, id: Uuid) -> Result<Job> {
        let job = services(ctx)?
            .jobs
            .retry(actor(ctx)?, id.0)
            .await
            .map_err(to_gql)?;
        Ok(Job(job))
    }

    /// Hands the job to another actor (or, on an unassigned job, to yourself).
    async fn delegate_job(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        to: String,
        reason: Option<String>,
    ) -> Result<Job> {
        let job = services(ctx)?
            .jobs
            .delegate(actor(ctx)?, id.0, &to, reason.as_deref())
            .await
            .map_err(to_gql)?;
        Ok(Job(job))
    }
}
