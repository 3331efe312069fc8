//! The worker's mutations: claimJobs and heartbeatJob (failJob and completeJob sit with the
//! other lifecycle mutations).

use crate::graphql::context::{actor, services};
use crate::graphql::error::to_gql;
use crate::graphql::scalars::Uuid;
use crate::graphql::types::execution::CheckpointInput;
use crate::graphql::types::job::Job;
use crate::services::executor::ClaimRequest;
use async_graphql::{Context, Object, Result};

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
}
