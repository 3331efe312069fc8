//! The event filters: `EventFilter` for the `events` query and subscription, and the job and
//! task event filters of the typed subscriptions.

use super::enums::{JobEventKind, TaskEventKind};
use crate::graphql::scalars::Uuid;
use crate::services::events::EventQuery;
use async_graphql::InputObject;

/// Which events: every given part must match (`jobId` and `taskId` together: either).
#[derive(InputObject, Clone, Default)]
pub struct EventFilter {
    /// Dotted names; a trailing .* matches a prefix, e.g. job.*
    pub types: Option<Vec<String>>,
    /// Events of this job.
    pub job_id: Option<Uuid>,
    /// Events of this task.
    pub task_id: Option<Uuid>,
    /// Events of the jobs and tasks of this plan.
    pub plan_id: Option<Uuid>,
}

impl From<EventFilter> for EventQuery {
    fn from(f: EventFilter) -> Self {
        Self {
            types: f.types,
            job_id: f.job_id.map(Into::into),
            task_id: f.task_id.map(Into::into),
            plan_id: f.plan_id.map(Into::into),
        }
    }
}

/// Which job events: every given part must match.
#[derive(InputObject, Clone, Default)]
pub struct JobEventFilter {
    /// Events of these jobs (at most 100).
    pub job_ids: Option<Vec<Uuid>>,
    /// Events of the jobs of this plan.
    pub plan_id: Option<Uuid>,
    /// Only these kinds (at most 100).
    pub kinds: Option<Vec<JobEventKind>>,
}

/// Which task events: every given part must match.
#[derive(InputObject, Clone, Default)]
pub struct TaskEventFilter {
    /// Events of these tasks (at most 100).
    pub task_ids: Option<Vec<Uuid>>,
    /// Only tasks linked to this job.
    pub job_id: Option<Uuid>,
    /// Only tasks assigned to this actor (after the change).
    pub assigned_agent: Option<String>,
    /// Only these kinds (at most 100).
    pub kinds: Option<Vec<TaskEventKind>>,
}

impl From<JobEventFilter> for crate::services::events::JobEventQuery {
    fn from(f: JobEventFilter) -> Self {
        Self {
            job_ids: f
                .job_ids
                .map(|ids| ids.into_iter().map(Into::into).collect()),
            plan_id: f.plan_id.map(Into::into),
            kinds: f.kinds.map(|k| k.into_iter().map(Into::into).collect()),
        }
    }
}

impl From<TaskEventFilter> for crate::services::events::TaskEventQuery {
    fn from(f: TaskEventFilter) -> Self {
        Self {
            task_ids: f
                .task_ids
                .map(|ids| ids.into_iter().map(Into::into).collect()),
            job_id: f.job_id.map(Into::into),
            assigned_agent: f.assigned_agent,
            kinds: f.kinds.map(|k| k.into_iter().map(Into::into).collect()),
        }
    }
}
