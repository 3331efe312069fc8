//! Task queries and mutations.

use crate::graphql::context::{actor, services};
use crate::graphql::error::to_gql;
use crate::graphql::scalars::Uuid;
use crate::graphql::types::stats::TaskStats;
use crate::graphql::types::task::{Task, TaskCount};
use crate::graphql::types::task_inputs::{CreateTaskInput, TaskFilter, TaskOrder, UpdateTaskInput};
use crate::services::paging::PageArgs;
use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Object, Result};

#[derive(Default)]
pub struct TaskQuery;

/// A page of tasks with `totalCount`.
pub type TaskConnection = Connection<String, Task, TaskCount>;

#[Object]
impl TaskQuery {
    /// The task, or null when it does not exist in the caller's tenant.
    async fn task(&self, ctx: &Context<'_>, id: Uuid) -> Result<Option<Task>> {
        let task = services(ctx)?
            .tasks
            .get(actor(ctx)?, id.0)
            .await
            .map_err(to_gql)?;
        Ok(task.map(Task))
    }

    /// Tasks of the caller's tenant, newest first unless `orderBy` says otherwise. Page forward
    /// with `first`/`after`, back with `last`/`before`; both cursors give a window.
    #[allow(clippy::too_many_arguments)]
    #[graphql(complexity = "crate::graphql::cost::page(first, last, child_complexity)")]
    async fn tasks(
        &self,
        ctx: &Context<'_>,
        filter: Option<TaskFilter>,
        order_by: Option<TaskOrder>,
        #[graphql(desc = "Page size from the start, 1..200 (default 20).")] first: Option<i32>,
        #[graphql(desc = "A cursor from this list with the same ordering.")] after: Option<String>,
        #[graphql(desc = "Page size from the end, 1..200; not with `first`.")] last: Option<i32>,
        #[graphql(desc = "A cursor from this list with the same ordering.")] before: Option<String>,
    ) -> Result<TaskConnection> {
        let filter: crate::services::tasks::TaskFilter = filter.unwrap_or_default().into();
        let order = order_by.map(Into::into).unwrap_or_default();
        let args = PageArgs {
            first,
            after: after.as_deref(),
            last,
            before: before.as_deref(),
        };
        let page = services(ctx)?
            .tasks
            .list(actor(ctx)?, &filter, order, args)
            .await
            .map_err(to_gql)?;
        let mut connection = Connection::with_additional_fields(
            page.has_previous_page,
            page.has_next_page,
            TaskCount { filter },
        );
        connection.edges = page
            .items
            .into_iter()
            .map(|(cursor, task)| Edge::new(cursor, Task(task)))
            .collect();
        Ok(connection)
    }

    /// Counts per status and exact cost sums of the tasks a filter selects.
    async fn task_stats(&self, ctx: &Context<'_>, filter: Option<TaskFilter>) -> Result<TaskStats> {
        let filter: crate::services::tasks::TaskFilter = filter.unwrap_or_default().into();
        let stats = services(ctx)?
            .tasks
            .stats(actor(ctx)?, &filter)
            .await
            .map_err(to_gql)?;
        Ok(TaskStats(stats))
    }

    /// The direct subtasks of a task, oldest first.
    #[graphql(complexity = "crate::graphql::cost::list(child_complexity)")]
    async fn subtasks(&self, ctx: &Context<'_>, parent_id: Uuid) -> Result<Vec<Task>> {
        let tasks = services(ctx)?
            .tasks
            .subtasks(actor(ctx)?, parent_id.0)
            .await
            .map_err(to_gql)?;
        Ok(tasks.into_iter().map(Task).collect())
    }
}

#[derive(Default)]
pub struct TaskMutation;

#[Object]
impl TaskMutation {
    /// A new root task, OPEN.
    async fn create_task(&self, ctx: &Context<'_>, input: CreateTaskInput) -> Result<Task> {
        let task = services(ctx)?
            .tasks
            .create(actor(ctx)?, input.into())
            .await
            .map_err(to_gql)?;
        Ok(Task(task))
    }

    /// A new task under `parentId` (which must not be COMPLETED or CANCELLED).
    async fn create_subtask(
        &self,
        ctx: &Context<'_>,
        parent_id: Uuid,
        input: CreateTaskInput,
    ) -> Result<Task> {
        let task = services(ctx)?
            .tasks
            .create_subtask(actor(ctx)?, parent_id.0, input.into())
            .await
            .map_err(to_gql)?;
        Ok(Task(task))
    }

    /// Changes the given fields; `parentId` moves the task. With `expectedVersion`, a task at
    /// another version is CONFLICT.
    async fn update_task(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: UpdateTaskInput,
        expected_version: Option<i32>,
    ) -> Result<Task> {
        let task = services(ctx)?
            .tasks
            .update(actor(ctx)?, id.0, input.into(), expected_version)
            .await
            .map_err(to_gql)?;
        Ok(Task(task))
    }

    /// Deletes the task and its subtasks; returns its id.
    async fn delete_task(&self, ctx: &Context<'_>, id: Uuid) -> Result<Uuid> {
        services(ctx)?
            .tasks
            .delete(actor(ctx)?, id.0)
            .await
            .map(Uuid::from)
            .map_err(to_gql)
    }

    /// Hands the task to `assignee` (or, on an unassigned task, to yourself).
    async fn assign_task(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        assignee: String,
        reason: Option<String>,
    ) -> Result<Task> {
        let task = services(ctx)?
            .tasks
            .assign(actor(ctx)?, id.0, &assignee, reason.as_deref())
            .await
            .map_err(to_gql)?;
        Ok(Task(task))
    }

    /// OPEN → IN_PROGRESS.
    async fn start_task(&self, ctx: &Context<'_>, id: Uuid) -> Result<Task> {
        let task = services(ctx)?
            .tasks
            .start(actor(ctx)?, id.0)
            .await
            .map_err(to_gql)?;
        Ok(Task(task))
    }

    /// OPEN or IN_PROGRESS → COMPLETED; refused while a subtask is open.
    async fn complete_task(&self, ctx: &Context<'_>, id: Uuid) -> Result<Task> {
        let task = services(ctx)?
            .tasks
            .complete(actor(ctx)?, id.0)
            .await
            .map_err(to_gql)?;
        Ok(Task(task))
    }

    /// OPEN or IN_PROGRESS → CANCELLED, with its open subtasks.
    async fn cancel_task(&self, ctx: &Context<'_>, id: Uuid, reason: String) -> Result<Task> {
        let task = services(ctx)?
            .tasks
            .cancel(actor(ctx)?, id.0, &reason)
            .await
            .map_err(to_gql)?;
        Ok(Task(task))
    }

    /// COMPLETED or CANCELLED → OPEN.
    async fn reopen_task(&self, ctx: &Context<'_>, id: Uuid) -> Result<Task> {
        let task = services(ctx)?
            .tasks
            .reopen(actor(ctx)?, id.0)
            .await
            .map_err(to_gql)?;
        Ok(Task(task))
    }
}
