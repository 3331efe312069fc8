//! The inputs of the task operations, and their conversion into service commands.

use super::enums::{JobTaskRole, PriorityLevel, SortDirection, TaskOrderField, TaskStatus};
use super::job_inputs::patch;
use crate::graphql::scalars::Uuid;
use crate::graphql::scalars::{DateTime, Decimal};
use crate::services::tasks;
use crate::services::update::SharedPatch;
use async_graphql::{InputObject, MaybeUndefined};

/// A new task.
#[derive(InputObject)]
pub struct CreateTaskInput {
    /// 1..200 characters, trimmed.
    pub title: String,
    /// At most 10,000 characters; empty means none.
    pub description: Option<String>,
    /// At most 20, each 1..50 characters; duplicates are dropped.
    pub labels: Option<Vec<String>>,
    /// 1..100; give this or priorityLevel, not both. Default 50.
    pub priority: Option<i32>,
    pub priority_level: Option<PriorityLevel>,
    pub assigned_agent: Option<String>,
    pub due_at: Option<DateTime>,
    pub plan_id: Option<Uuid>,
    pub plan_step_index: Option<i32>,
    pub estimated_cost: Option<Decimal>,
    /// 1..604800; a hint for agents.
    pub timeout_seconds: Option<i32>,
    /// A JSON object (default {}).
    pub execution_context: Option<serde_json::Value>,
    /// Link the new task to this job at once.
    pub job_id: Option<Uuid>,
    /// Role of that link; default PRIMARY.
    pub role: Option<JobTaskRole>,
}

impl From<CreateTaskInput> for tasks::NewTask {
    fn from(i: CreateTaskInput) -> Self {
        Self {
            title: i.title,
            description: i.description,
            labels: i.labels,
            priority: i.priority,
            priority_level: i.priority_level.map(Into::into),
            assigned_agent: i.assigned_agent,
            due_at: i.due_at.map(|t| t.0),
            plan_id: i.plan_id.map(Into::into),
            plan_step_index: i.plan_step_index,
            estimated_cost: i.estimated_cost.map(|d| d.0),
            timeout_seconds: i.timeout_seconds,
            execution_context: i.execution_context,
            job_id: i.job_id.map(Into::into),
            role: i.role.map(Into::into),
        }
    }
}

/// Changes to a task: an absent field is unchanged, an explicit null clears it (title, labels
/// and priority cannot be null).
#[derive(InputObject, Default)]
pub struct UpdateTaskInput {
    pub title: MaybeUndefined<String>,
    /// Move the task under another parent; null detaches it.
    pub parent_id: MaybeUndefined<Uuid>,
    pub description: MaybeUndefined<String>,
    pub labels: MaybeUndefined<Vec<String>>,
    pub priority: MaybeUndefined<i32>,
    pub priority_level: MaybeUndefined<PriorityLevel>,
    pub due_at: MaybeUndefined<DateTime>,
    pub plan_id: MaybeUndefined<Uuid>,
    pub plan_step_index: MaybeUndefined<i32>,
    pub estimated_cost: MaybeUndefined<Decimal>,
    pub timeout_seconds: MaybeUndefined<i32>,
}

impl From<UpdateTaskInput> for tasks::TaskPatch {
    fn from(i: UpdateTaskInput) -> Self {
        Self {
            shared: SharedPatch {
                title: patch(i.title, |t| t),
                description: patch(i.description, |d| d),
                labels: patch(i.labels, |l| l),
                priority: patch(i.priority, |p| p),
                priority_level: patch(i.priority_level, Into::into),
                plan_id: patch(i.plan_id, |p| p.0),
                plan_step_index: patch(i.plan_step_index, |p| p),
                estimated_cost: patch(i.estimated_cost, |d| d.0),
                timeout_seconds: patch(i.timeout_seconds, |t| t),
            },
            parent_id: patch(i.parent_id, |p| p.0),
            due_at: patch(i.due_at, |t| t.0),
        }
    }
}

/// Which tasks a list holds; every given field must match.
#[derive(InputObject, Default)]
pub struct TaskFilter {
    /// Any of these statuses (not an empty list).
    pub status: Option<Vec<TaskStatus>>,
    pub plan_id: Option<Uuid>,
    pub assigned_agent: Option<String>,
    pub created_by: Option<String>,
    /// Carries this label (exact, case-sensitive).
    pub label: Option<String>,
    /// Only tasks linked to this job.
    pub job_id: Option<Uuid>,
    /// Only direct subtasks of this task.
    pub parent_id: Option<Uuid>,
    /// Only tasks without a parent.
    pub root_only: Option<bool>,
    pub priority_min: Option<i32>,
    pub priority_max: Option<i32>,
    /// Created strictly after.
    pub created_after: Option<DateTime>,
    /// Created strictly before.
    pub created_before: Option<DateTime>,
    /// Case-insensitive substring of the title (taken literally: `%` and `_` are plain characters).
    pub search: Option<String>,
    /// false: ready work (nothing keeps it from starting); true: blocked work.
    pub blocked: Option<bool>,
}

impl From<TaskFilter> for tasks::TaskFilter {
    fn from(f: TaskFilter) -> Self {
        Self {
            status: f.status.map(|s| s.into_iter().map(Into::into).collect()),
            plan_id: f.plan_id.map(Into::into),
            assigned_agent: f.assigned_agent,
            created_by: f.created_by,
            label: f.label,
            job_id: f.job_id.map(Into::into),
            parent_id: f.parent_id.map(Into::into),
            root_only: f.root_only.unwrap_or(false),
            priority_min: f.priority_min,
            priority_max: f.priority_max,
            created_after: f.created_after.map(|t| t.0),
            created_before: f.created_before.map(|t| t.0),
            search: f.search,
            blocked: f.blocked,
        }
    }
}

/// An ordering of a task list.
#[derive(InputObject, Clone, Copy)]
pub struct TaskOrder {
    pub field: TaskOrderField,
    pub direction: SortDirection,
}

impl From<TaskOrder> for tasks::TaskOrder {
    fn from(o: TaskOrder) -> Self {
        Self {
            field: o.field.into(),
            direction: o.direction.into(),
        }
    }
}
