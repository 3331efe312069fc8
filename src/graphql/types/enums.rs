//! The API's enums, mapped onto the entity and domain enums they mirror.

use async_graphql::Enum;

/// A role a token grants.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::auth::Role")]
pub enum Role {
    Admin,
    Member,
    Agent,
    Viewer,
}

/// Where a job is in its lifecycle.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::status::JobStatus")]
pub enum JobStatus {
    Pending,
    Scheduled,
    Running,
    Cancelling,
    Succeeded,
    Failed,
    Cancelled,
    TimedOut,
}

/// How an attempt of a job ended (RUNNING while it is open).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::status::JobRunStatus")]
pub enum JobRunStatus {
    Running,
    Succeeded,
    Failed,
    Cancelled,
    TimedOut,
    /// The worker handed the job back (releaseJobs); it does not count toward maxAttempts.
    Released,
}

/// Semantic aliases of the numeric 1..100 priority: CRITICAL=100, HIGH=75, MEDIUM=50, LOW=25, BACKGROUND=10.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::domain::priority::PriorityLevel")]
pub enum PriorityLevel {
    Critical,
    High,
    Medium,
    Low,
    Background,
}

/// GRACEFUL asks a running job to stop (CANCELLING); HARD stops it now.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::services::jobs::CancelMode")]
pub enum CancelMode {
    Graceful,
    Hard,
}

/// Ascending or descending.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::services::paging::SortDirection")]
pub enum SortDirection {
    Asc,
    Desc,
}

/// What a list of jobs can be ordered by (then by id, in the same direction; nulls last).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::services::jobs::JobOrderField")]
pub enum JobOrderField {
    CreatedAt,
    UpdatedAt,
    Priority,
    RunAt,
}

/// Where a task is in its lifecycle.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::status::TaskStatus")]
pub enum TaskStatus {
    Open,
    InProgress,
    Completed,
    Cancelled,
}

/// What a list of tasks can be ordered by (then by id, in the same direction; nulls last).
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::services::tasks::TaskOrderField")]
pub enum TaskOrderField {
    CreatedAt,
    UpdatedAt,
    Priority,
    DueAt,
}

/// A task's part in a job.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::status::JobTaskRole")]
pub enum JobTaskRole {
    /// The job's work; counted in its progress.
    Primary,
    /// Context only.
    Supporting,
    /// Must be COMPLETED or CANCELLED before the job may start.
    Prerequisite,
}

/// How a successor waits on its predecessor.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "entity::status::DependencyType")]
pub enum DependencyType {
    /// The successor starts after the predecessor finishes.
    FinishToStart,
    /// The successor starts after the predecessor starts.
    StartToStart,
    /// The successor finishes after the predecessor finishes.
    FinishToFinish,
}

/// What happened to a job.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::services::events::JobEventKind")]
pub enum JobEventKind {
    Created,
    Updated,
    Deleted,
    StatusChanged,
    Scheduled,
    Started,
    Succeeded,
    Failed,
    Cancelled,
    CancelRequested,
    TimedOut,
    RetryScheduled,
    Checkpointed,
    Delegated,
    CostRecorded,
    Released,
    UsageRecorded,
    LimitExceeded,
}

/// What happened to a task.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::services::events::TaskEventKind")]
pub enum TaskEventKind {
    Created,
    Updated,
    Deleted,
    StatusChanged,
    Assigned,
    Completed,
    Cancelled,
    Started,
    Reopened,
    Checkpointed,
    CostRecorded,
    UsageRecorded,
}
