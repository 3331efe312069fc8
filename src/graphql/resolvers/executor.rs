//! The worker's side: claimJobs, heartbeatJob, heartbeatAgent and releaseJobs (failJob and
//! completeJob sit with the other lifecycle mutations), and the concurrency limits claims and
//! starts respect.

use crate::graphql::context::{actor, services};
use crate::graphql::error::to_gql;
use crate::graphql::scalars::Uuid;
use crate::graphql::types::concurrency::{AgentHeartbeat, ConcurrencyLimit};
use crate::graphql::types::execution::CheckpointInput;
use crate::graphql::types::job::Job;
use crate::services::executor::ClaimRequest;
use async_graphql::{Context, Object, Result};

#[derive(Default)]
pub struct ExecutorQuery;

#[Object]
impl ExecutorQuery {
    /// The tenant's concurrency limits, each with how many of its jobs run now.
    #[graphql(complexity = "crate::graphql::cost::list(child_complexity)")]
    async fn concurrency_limits(&self, ctx: &Context<'_>) -> Result<Vec<ConcurrencyLimit>> {
        let limits = services(ctx)?
            .concurrency
            .list(actor(ctx)?)
            .await
            .map_err(to_gql)?;
        Ok(limits.into_iter().map(ConcurrencyLimit).collect())
    }
}

#[derive(Default)]
pub struct ExecutorMutation;

#[Object]
impl ExecutorMutation {
    /// Atomically take up to `limit` runnable jobs (carrying all `labels`, if given) for an agent (default: the caller; naming another is ADMIN only).
    #[graphql(complexity = "crate::graphql::cost::sized(limit, 1, 100, child_complexity)")]
    async fn claim_jobs(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(1)", desc = "1..100.")] limit: Option<i32>,
        #[graphql(
            default_with = "Some(60)",
            desc = "1..3600: how long the claim holds without a heartbeat."
        )]
        lease_seconds: Option<i32>,
        agent: Option<String>,
        #[graphql(desc = "Only jobs carrying every one of these labels (at most 100).")]
        labels: Option<Vec<String>>,
    ) -> Result<Vec<Job>> {
        let request = ClaimRequest {
            limit,
            lease_seconds,
            agent,
            labels,
        };
        let jobs = services(ctx)?
            .executor
            .claim(actor(ctx)?, request)
            .await
            .map_err(to_gql)?;
        Ok(jobs.into_iter().map(Job).collect())
    }

    /// Extends the lease of a RUNNING or CANCELLING job (null leaseSeconds: the claim's lease length), optionally saving a checkpoint. A CANCELLING job answers normally: that is how a worker learns to stop. `attempt` fences stale workers.
    async fn heartbeat_job(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        #[graphql(desc = "1..3600.")] lease_seconds: Option<i32>,
        checkpoint: Option<CheckpointInput>,
        attempt: Option<i32>,
    ) -> Result<Job> {
        let job = services(ctx)?
            .executor
            .heartbeat(
                actor(ctx)?,
                id.0,
                lease_seconds,
                checkpoint.map(Into::into),
                attempt,
            )
            .await
            .map_err(to_gql)?;
        Ok(Job(job))
    }

    /// Extend every lease the calling agent holds, in one statement.
    async fn heartbeat_agent(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "1..3600 (default 60).")] lease_seconds: Option<i32>,
    ) -> Result<AgentHeartbeat> {
        let beat = services(ctx)?
            .executor
            .heartbeat_agent(actor(ctx)?, lease_seconds)
            .await
            .map_err(to_gql)?;
        Ok(AgentHeartbeat(beat))
    }

    /// Hand back every job the calling agent holds (a worker shutting down): each is runnable again at once, checkpoint kept, the attempt not counted.
    #[graphql(complexity = "crate::graphql::cost::list(child_complexity)")]
    async fn release_jobs(&self, ctx: &Context<'_>, reason: String) -> Result<Vec<Job>> {
        let jobs = services(ctx)?
            .executor
            .release(actor(ctx)?, &reason)
            .await
            .map_err(to_gql)?;
        Ok(jobs.into_iter().map(Job).collect())
    }

    /// ADMIN. Null limit removes the key's limit.
    async fn set_concurrency_limit(
        &self,
        ctx: &Context<'_>,
        key: String,
        #[graphql(desc = "1..10,000; null removes the limit.")] limit: Option<i32>,
    ) -> Result<Option<ConcurrencyLimit>> {
        let limit = services(ctx)?
            .concurrency
            .set(actor(ctx)?, &key, limit)
            .await
            .map_err(to_gql)?;
        Ok(limit.map(ConcurrencyLimit))
    }
}
