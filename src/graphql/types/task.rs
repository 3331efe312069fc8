//! `Task` and the task connection.

use super::enums::JobTaskRole;
use super::enums::{PriorityLevel, TaskStatus};
use super::event::{self, EventConnection};
use super::graph::{JobTaskLink, TaskDependency};
use super::job::Delegation;
use crate::graphql::context::{actor, services};
use crate::graphql::error::to_gql;
use crate::graphql::loaders::TaskEventsLoader;
use crate::graphql::loaders::{
    SubtasksLoader, TaskBlockedLoader, TaskEdgesLoader, TaskLinksLoader, TaskLoader,
};
use crate::graphql::scalars::Uuid;
use crate::graphql::scalars::{DateTime, Decimal};
use crate::services::events::read::page_args;
use crate::services::paging::Page;
use crate::services::tasks;
use crate::services::view::Documents;
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Object, Result};
use std::borrow::Cow;

/// The documents of task `id` as it is now (`None` once deleted), for a view built from an
/// event's snapshot (DESIGN.md §7).
async fn live_documents(ctx: &Context<'_>, id: Uuid) -> Result<Option<Documents>> {
    let loader = ctx.data::<DataLoader<TaskLoader>>()?;
    Ok(loader.load_one(id.0).await?.and_then(|t| t.documents))
}

/// A piece of work for a person or an agent; nests as subtasks.
pub struct Task(pub tasks::Task);

#[Object(name = "Task")]
impl Task {
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
    async fn status(&self) -> TaskStatus {
        self.0.status.into()
    }
    /// 1..100; higher first.
    async fn priority(&self) -> i32 {
        self.0.priority
    }
    /// The highest level whose value is at most `priority` (BACKGROUND below 10).
    async fn priority_level(&self) -> PriorityLevel {
        self.0.priority_level().into()
    }
    /// Starts at 1; every write to the task bumps it. Pass it as `expectedVersion`.
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
    async fn due_at(&self) -> Option<DateTime> {
        self.0.due_at.map(DateTime::from_micros)
    }
    async fn started_at(&self) -> Option<DateTime> {
        self.0.started_at.map(DateTime::from_micros)
    }
    async fn completed_at(&self) -> Option<DateTime> {
        self.0.completed_at.map(DateTime::from_micros)
    }
    async fn cancel_reason(&self) -> Option<&str> {
        self.0.cancel_reason.as_deref()
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
    async fn actual_cost(&self) -> Decimal {
        self.0.actual_cost.into()
    }
    /// Tokens, tool calls and money reported for this task.
    async fn usage(&self, ctx: &Context<'_>) -> Result<super::usage::Usage> {
        super::usage::of(ctx, crate::services::usage::Owner::Task, self.0.id).await
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
    /// A hint for agents; the server does not enforce it.
    async fn timeout_seconds(&self) -> Option<i32> {
        self.0.timeout_seconds
    }
    async fn plan_id(&self) -> Option<Uuid> {
        self.0.plan_id.map(Uuid::from)
    }
    async fn plan_step_index(&self) -> Option<i32> {
        self.0.plan_step_index
    }
    /// The task this one is a subtask of.
    async fn parent(&self, ctx: &Context<'_>) -> Result<Option<Task>> {
        let Some(parent_id) = self.0.parent_id else {
            return Ok(None);
        };
        let loader = ctx.data::<DataLoader<TaskLoader>>()?;
        Ok(loader.load_one(parent_id).await?.map(Task))
    }
    /// The jobs this task is linked to, optionally only through one role.
    #[graphql(complexity = "crate::graphql::cost::list(child_complexity)")]
    async fn jobs(&self, ctx: &Context<'_>, role: Option<JobTaskRole>) -> Result<Vec<JobTaskLink>> {
        let loader = ctx.data::<DataLoader<TaskLinksLoader>>()?;
        let links = loader.load_one(self.0.id).await?.unwrap_or_default();
        let role = role.map(entity::status::JobTaskRole::from);
        Ok(links
            .into_iter()
            .filter(|l| role.is_none_or(|r| l.role == r))
            .map(JobTaskLink)
            .collect())
    }
    /// Dependencies in which this task is the successor.
    #[graphql(complexity = "crate::graphql::cost::list(child_complexity)")]
    async fn dependencies(&self, ctx: &Context<'_>) -> Result<Vec<TaskDependency>> {
        let loader = ctx.data::<DataLoader<TaskEdgesLoader>>()?;
        let edges = loader
            .load_one((self.0.id, true))
            .await?
            .unwrap_or_default();
        Ok(edges.into_iter().map(TaskDependency).collect())
    }
    /// Dependencies in which this task is the predecessor.
    #[graphql(complexity = "crate::graphql::cost::list(child_complexity)")]
    async fn dependents(&self, ctx: &Context<'_>) -> Result<Vec<TaskDependency>> {
        let loader = ctx.data::<DataLoader<TaskEdgesLoader>>()?;
        let edges = loader
            .load_one((self.0.id, false))
            .await?
            .unwrap_or_default();
        Ok(edges.into_iter().map(TaskDependency).collect())
    }
    /// True while it is OPEN and an unsatisfied FINISH_TO_START or START_TO_START dependency keeps it from starting.
    async fn blocked(&self, ctx: &Context<'_>) -> Result<bool> {
        let loader = ctx.data::<DataLoader<TaskBlockedLoader>>()?;
        Ok(loader.load_one(self.0.id).await?.unwrap_or(false))
    }
    /// This task's stored events, oldest first.
    #[graphql(complexity = "crate::graphql::cost::forward(first, child_complexity)")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Page size, 1..200 (default 20).")] first: Option<i32>,
        #[graphql(desc = "An event id: only events after it (strictly).")] after: Option<String>,
    ) -> Result<EventConnection> {
        let args = page_args(first, after.as_deref()).map_err(to_gql)?;
        let loader = ctx.data::<DataLoader<TaskEventsLoader>>()?;
        let page = loader.load_one((self.0.id, args)).await?.unwrap_or(Page {
            items: Vec::new(),
            has_next_page: false,
            has_previous_page: args.after.is_some(),
        });
        Ok(event::connection(page))
    }
    /// Direct subtasks, oldest first.
    #[graphql(complexity = "crate::graphql::cost::list(child_complexity)")]
    async fn subtasks(&self, ctx: &Context<'_>) -> Result<Vec<Task>> {
        let loader = ctx.data::<DataLoader<SubtasksLoader>>()?;
        let children = loader.load_one(self.0.id).await?.unwrap_or_default();
        Ok(children.into_iter().map(Task).collect())
    }
}

/// The `totalCount` of a task list, counted only when selected.
pub struct TaskCount {
    pub filter: tasks::TaskFilter,
}

#[Object]
impl TaskCount {
    /// How many tasks match the filter (all pages).
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i32> {
        let n = services(ctx)?
            .tasks
            .count(actor(ctx)?, &self.filter)
            .await
            .map_err(to_gql)?;
        Ok(i32::try_from(n).unwrap_or(i32::MAX))
    }
}
