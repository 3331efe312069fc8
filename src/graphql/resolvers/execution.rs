//! The execution mutations: execution contexts, checkpoints, costs and usage of jobs and tasks.

use crate::graphql::context::{actor, services};
use crate::graphql::error::to_gql;
use crate::graphql::scalars::Decimal;
use crate::graphql::scalars::Uuid;
use crate::graphql::types::execution::{CheckpointInput, ContextMode};
use crate::graphql::types::job::Job;
use crate::graphql::types::task::Task;
use crate::graphql::types::usage::UsageInput;
use async_graphql::{Context, Object, Result};

#[derive(Default)]
pub struct ExecutionMutation;

#[Object]
impl ExecutionMutation {
    /// Saves the last completed step (never lower) and, optionally, data to resume from, while
    /// the job is not finished. `attempt` (from the claim) fences stale workers: a mismatch is
    /// CONFLICT.
    async fn save_checkpoint(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        checkpoint: CheckpointInput,
        attempt: Option<i32>,
    ) -> Result<Job> {
        let job = services(ctx)?
            .execution
            .save_job_checkpoint(actor(ctx)?, id.0, checkpoint.into(), attempt)
            .await
            .map_err(to_gql)?;
        Ok(Job(job))
    }

    /// Changes the job's execution context (always a JSON object), in any status: MERGE
    /// applies `patch` as an RFC 7396 merge patch, REPLACE swaps the context for it.
    async fn update_execution_context(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        patch: serde_json::Value,
        #[graphql(default_with = "Some(ContextMode::Merge)")] mode: Option<ContextMode>,
    ) -> Result<Job> {
        let mode = mode.unwrap_or(ContextMode::Merge).into();
        let job = services(ctx)?
            .execution
            .update_job_context(actor(ctx)?, id.0, &patch, mode)
            .await
            .map_err(to_gql)?;
        Ok(Job(job))
    }

    /// Adds a cost (not negative) to the open run, or to the job when no run is open, in any
    /// status. `attempt` (from the claim) fences stale workers: a mismatch is CONFLICT.
    async fn record_job_cost(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        amount: Decimal,
        attempt: Option<i32>,
    ) -> Result<Job> {
        let job = services(ctx)?
            .execution
            .record_job_cost(actor(ctx)?, id.0, amount.0, attempt)
            .await
            .map_err(to_gql)?;
        Ok(Job(job))
    }

    /// Report tokens, tool calls and their cost; lands on the open run like a cost.
    async fn record_usage(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        usage: UsageInput,
        attempt: Option<i32>,
    ) -> Result<Job> {
        let job = services(ctx)?
            .execution
            .record_usage(actor(ctx)?, id.0, &usage.into(), attempt)
            .await
            .map_err(to_gql)?;
        Ok(Job(job))
    }

    /// Changes the task's execution context (always a JSON object), in any status: MERGE
    /// applies `patch` as an RFC 7396 merge patch, REPLACE swaps the context for it.
    async fn update_task_execution_context(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        patch: serde_json::Value,
        #[graphql(default_with = "Some(ContextMode::Merge)")] mode: Option<ContextMode>,
    ) -> Result<Task> {
        let mode = mode.unwrap_or(ContextMode::Merge).into();
        let task = services(ctx)?
            .execution
            .update_task_context(actor(ctx)?, id.0, &patch, mode)
            .await
            .map_err(to_gql)?;
        Ok(Task(task))
    }

    /// Saves the last completed step (never lower) and, optionally, data to resume from, while
    /// the task is OPEN or IN_PROGRESS.
    async fn save_task_checkpoint(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        checkpoint: CheckpointInput,
    ) -> Result<Task> {
        let task = services(ctx)?
            .execution
            .save_task_checkpoint(actor(ctx)?, id.0, checkpoint.into())
            .await
            .map_err(to_gql)?;
        Ok(Task(task))
    }

    /// Adds a cost (not negative) to the task, in any status. Task costs never count toward
    /// budgets.
    async fn record_task_cost(&self, ctx: &Context<'_>, id: Uuid, amount: Decimal) -> Result<Task> {
        let task = services(ctx)?
            .execution
            .record_task_cost(actor(ctx)?, id.0, amount.0)
            .await
            .map_err(to_gql)?;
        Ok(Task(task))
    }

    /// Report tokens, tool calls and their cost on a task (its amount is a task cost).
    async fn record_task_usage(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        usage: UsageInput,
    ) -> Result<Task> {
        let task = services(ctx)?
            .execution
            .record_task_usage(actor(ctx)?, id.0, &usage.into())
            .await
            .map_err(to_gql)?;
        Ok(Task(task))
    }
}
