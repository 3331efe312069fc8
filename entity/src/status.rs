//! The enumerations stored as short strings in the tables.

use sea_orm::entity::prelude::*;

/// Where a job is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum JobStatus {
    #[sea_orm(string_value = "PENDING")]
    Pending,
    #[sea_orm(string_value = "SCHEDULED")]
    Scheduled,
    #[sea_orm(string_value = "RUNNING")]
    Running,
    #[sea_orm(string_value = "CANCELLING")]
    Cancelling,
    #[sea_orm(string_value = "SUCCEEDED")]
    Succeeded,
    #[sea_orm(string_value = "FAILED")]
    Failed,
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
    #[sea_orm(string_value = "TIMED_OUT")]
    TimedOut,
}

impl JobStatus {
    /// The name used in the API, in errors and in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Scheduled => "SCHEDULED",
            Self::Running => "RUNNING",
            Self::Cancelling => "CANCELLING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
            Self::TimedOut => "TIMED_OUT",
        }
    }

    /// Parses the name `as_str` gives.
    pub fn parse(name: &str) -> Option<Self> {
        use sea_orm::Iterable;
        Self::iter().find(|s| s.as_str() == name)
    }

    /// SUCCEEDED, FAILED, CANCELLED and TIMED_OUT: no attempt is open and none will start by itself.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Cancelled | Self::TimedOut
        )
    }
}

/// Where a task is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum TaskStatus {
    #[sea_orm(string_value = "OPEN")]
    Open,
    #[sea_orm(string_value = "IN_PROGRESS")]
    InProgress,
    #[sea_orm(string_value = "COMPLETED")]
    Completed,
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
}

impl TaskStatus {
    /// The name used in the API, in errors and in events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "OPEN",
            Self::InProgress => "IN_PROGRESS",
            Self::Completed => "COMPLETED",
            Self::Cancelled => "CANCELLED",
        }
    }

    /// Parses the name `as_str` gives.
    pub fn parse(name: &str) -> Option<Self> {
        use sea_orm::Iterable;
        Self::iter().find(|s| s.as_str() == name)
    }
}

/// How one attempt of a job ended (or RUNNING while it is open).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum JobRunStatus {
    #[sea_orm(string_value = "RUNNING")]
    Running,
    #[sea_orm(string_value = "SUCCEEDED")]
    Succeeded,
    #[sea_orm(string_value = "FAILED")]
    Failed,
    #[sea_orm(string_value = "CANCELLED")]
    Cancelled,
    #[sea_orm(string_value = "TIMED_OUT")]
    TimedOut,
    /// Handed back by releaseJobs: not counted toward `maxAttempts`.
    #[sea_orm(string_value = "RELEASED")]
    Released,
}

/// A task's part in a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum JobTaskRole {
    #[sea_orm(string_value = "PRIMARY")]
    Primary,
    #[sea_orm(string_value = "SUPPORTING")]
    Supporting,
    #[sea_orm(string_value = "PREREQUISITE")]
    Prerequisite,
}

/// The kind of an edge between two jobs or two tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(20))")]
pub enum DependencyType {
    #[sea_orm(string_value = "FINISH_TO_START")]
    FinishToStart,
    #[sea_orm(string_value = "START_TO_START")]
    StartToStart,
    #[sea_orm(string_value = "FINISH_TO_FINISH")]
    FinishToFinish,
}
