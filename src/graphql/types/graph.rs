//! The work graph's types: `JobTaskLink`, `JobDependency`, `TaskDependency`, `Progress`.

use super::enums::{DependencyType, JobTaskRole};
use super::job::Job;
use super::task::Task;
use crate::error::ServiceError;
use crate::graphql::error::to_gql;
use crate::graphql::loaders::{JobLoader, TaskLoader};
use crate::graphql::scalars::DateTime;
use crate::graphql::scalars::Uuid;
use crate::services::dependencies::{Edge, rules};
use crate::services::links::{Link, Progress as ProgressCounts};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Error, Object, Result};

async fn job(ctx: &Context<'_>, id: Uuid) -> Result<Job> {
    let loader = ctx.data::<DataLoader<JobLoader>>()?;
    loader
        .load_one(id.0)
        .await?
        .map(Job)
        .ok_or_else(|| gone("job", id))
}

async fn task(ctx: &Context<'_>, id: Uuid) -> Result<Task> {
    let loader = ctx.data::<DataLoader<TaskLoader>>()?;
    loader
        .load_one(id.0)
        .await?
        .map(Task)
        .ok_or_else(|| gone("task", id))
}

/// The far end of an edge was deleted between reading the edge and loading the record (a
/// concurrent delete): NOT_FOUND with its id, like any record that is not there.
fn gone(what: &'static str, id: Uuid) -> Error {
    to_gql(ServiceError::not_found(what, id))
}

/// The JobTask join: a task's part in a job.
pub struct JobTaskLink(pub Link);

#[Object(name = "JobTaskLink")]
impl JobTaskLink {
    async fn job(&self, ctx: &Context<'_>) -> Result<Job> {
        job(ctx, Uuid::from(self.0.job_id)).await
    }
    async fn task(&self, ctx: &Context<'_>) -> Result<Task> {
        task(ctx, Uuid::from(self.0.task_id)).await
    }
    async fn role(&self) -> JobTaskRole {
        self.0.role.into()
    }
    async fn created_at(&self) -> DateTime {
        DateTime::from_micros(self.0.created_at)
    }
}

/// An edge between two jobs.
pub struct JobDependency(pub Edge);

#[Object(name = "JobDependency")]
impl JobDependency {
    async fn predecessor(&self, ctx: &Context<'_>) -> Result<Job> {
        job(ctx, Uuid::from(self.0.predecessor_id)).await
    }
    async fn successor(&self, ctx: &Context<'_>) -> Result<Job> {
        job(ctx, Uuid::from(self.0.successor_id)).await
    }
    #[graphql(name = "type")]
    async fn dependency_type(&self) -> DependencyType {
        self.0.dependency_type.into()
    }
    /// FINISH_TO_START and FINISH_TO_FINISH: the predecessor SUCCEEDED; START_TO_START: it has
    /// ever started.
    async fn satisfied(&self, ctx: &Context<'_>) -> Result<bool> {
        let p = job(ctx, Uuid::from(self.0.predecessor_id)).await?;
        Ok(rules::job_edge_satisfied(
            self.0.dependency_type,
            p.0.status,
            p.0.started_at,
        ))
    }
}

/// An edge between two tasks.
pub struct TaskDependency(pub Edge);

#[Object(name = "TaskDependency")]
impl TaskDependency {
    async fn predecessor(&self, ctx: &Context<'_>) -> Result<Task> {
        task(ctx, Uuid::from(self.0.predecessor_id)).await
    }
    async fn successor(&self, ctx: &Context<'_>) -> Result<Task> {
        task(ctx, Uuid::from(self.0.successor_id)).await
    }
    #[graphql(name = "type")]
    async fn dependency_type(&self) -> DependencyType {
        self.0.dependency_type.into()
    }
    /// FINISH_TO_START and FINISH_TO_FINISH: the predecessor is COMPLETED or CANCELLED;
    /// START_TO_START: it has ever started, or is CANCELLED.
    async fn satisfied(&self, ctx: &Context<'_>) -> Result<bool> {
        let p = task(ctx, Uuid::from(self.0.predecessor_id)).await?;
        Ok(rules::task_edge_satisfied(
            self.0.dependency_type,
            p.0.status,
            p.0.started_at,
        ))
    }
}

/// Progress of a job's PRIMARY tasks.
pub struct Progress(pub ProgressCounts);

fn int(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[Object(name = "Progress")]
impl Progress {
    /// completed + cancelled + open.
    async fn total(&self) -> i32 {
        int(self.0.total())
    }
    async fn completed(&self) -> i32 {
        int(self.0.completed)
    }
    async fn cancelled(&self) -> i32 {
        int(self.0.cancelled)
    }
    /// OPEN and IN_PROGRESS.
    async fn open(&self) -> i32 {
        int(self.0.open)
    }
    /// completed / (total − cancelled); 0 when that is 0.
    async fn ratio(&self) -> f64 {
        self.0.ratio()
    }
}
