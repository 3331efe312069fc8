//! Mutations of the work graph: links between jobs and tasks, and dependencies.

use crate::graphql::context::{actor, services};
use crate::graphql::error::to_gql;
use crate::graphql::scalars::Uuid;
use crate::graphql::types::enums::{DependencyType, JobTaskRole};
use crate::graphql::types::graph::{JobDependency, JobTaskLink, TaskDependency};
use crate::services::dependencies::Kind;
use async_graphql::{Context, Object, Result};

#[derive(Default)]
pub struct GraphMutation;

#[Object]
impl GraphMutation {
    /// Links a task to a job with a role; an existing link changes its role.
    async fn link_task(
        &self,
        ctx: &Context<'_>,
        job_id: Uuid,
        task_id: Uuid,
        #[graphql(default_with = "Some(JobTaskRole::Primary)")] role: Option<JobTaskRole>,
    ) -> Result<JobTaskLink> {
        let role = role.unwrap_or(JobTaskRole::Primary).into();
        let link = services(ctx)?
            .links
            .link(actor(ctx)?, job_id.0, task_id.0, role)
            .await
            .map_err(to_gql)?;
        Ok(JobTaskLink(link))
    }

    /// Removes a link; false when there was none.
    async fn unlink_task(&self, ctx: &Context<'_>, job_id: Uuid, task_id: Uuid) -> Result<bool> {
        services(ctx)?
            .links
            .unlink(actor(ctx)?, job_id.0, task_id.0)
            .await
            .map_err(to_gql)
    }

    /// Makes `successorId` wait on `predecessorId`; an existing pair changes its type.
    async fn add_job_dependency(
        &self,
        ctx: &Context<'_>,
        predecessor_id: Uuid,
        successor_id: Uuid,
        #[graphql(name = "type", default_with = "Some(DependencyType::FinishToStart)")]
        dependency_type: Option<DependencyType>,
    ) -> Result<JobDependency> {
        let t = dependency_type
            .unwrap_or(DependencyType::FinishToStart)
            .into();
        let edge = services(ctx)?
            .dependencies
            .add(actor(ctx)?, Kind::Job, predecessor_id.0, successor_id.0, t)
            .await
            .map_err(to_gql)?;
        Ok(JobDependency(edge))
    }

    /// Removes an edge; false when there was none.
    async fn remove_job_dependency(
        &self,
        ctx: &Context<'_>,
        predecessor_id: Uuid,
        successor_id: Uuid,
    ) -> Result<bool> {
        services(ctx)?
            .dependencies
            .remove(actor(ctx)?, Kind::Job, predecessor_id.0, successor_id.0)
            .await
            .map_err(to_gql)
    }

    /// Makes `successorId` wait on `predecessorId`; an existing pair changes its type.
    async fn add_task_dependency(
        &self,
        ctx: &Context<'_>,
        predecessor_id: Uuid,
        successor_id: Uuid,
        #[graphql(name = "type", default_with = "Some(DependencyType::FinishToStart)")]
        dependency_type: Option<DependencyType>,
    ) -> Result<TaskDependency> {
        let t = dependency_type
            .unwrap_or(DependencyType::FinishToStart)
            .into();
        let edge = services(ctx)?
            .dependencies
            .add(actor(ctx)?, Kind::Task, predecessor_id.0, successor_id.0, t)
            .await
            .map_err(to_gql)?;
        Ok(TaskDependency(edge))
    }

    /// Removes an edge; false when there was none.
    async fn remove_task_dependency(
        &self,
        ctx: &Context<'_>,
        predecessor_id: Uuid,
        successor_id: Uuid,
    ) -> Result<bool> {
        services(ctx)?
            .dependencies
            .remove(actor(ctx)?, Kind::Task, predecessor_id.0, successor_id.0)
            .await
            .map_err(to_gql)
    }
}
