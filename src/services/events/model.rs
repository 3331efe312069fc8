//! A stored event as the API reads it: what it is about (the record's view, rendered from the
//! stored snapshot), its kind, and the change's details (DESIGN.md §7).

use crate::domain::money::Money;
use crate::domain::time::{Micros, serde_rfc3339_opt};
use crate::error::{ServiceError, ServiceResult};
use crate::services::jobs::Job;
use crate::services::tasks::Task;
use entity::event;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

/// Declares an event kind enumeration with its dotted type names.
macro_rules! kinds {
    ($(#[$doc:meta])* $name:ident, $prefix:literal { $($variant:ident = $suffix:literal,)+ }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)+
        }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// The dotted type, e.g. `job.status_changed`.
            pub fn event_type(self) -> &'static str {
                match self {
                    $(Self::$variant => concat!($prefix, ".", $suffix),)+
                }
            }

            /// The kind of a dotted type.
            pub fn of_type(event_type: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|k| k.event_type() == event_type)
            }
        }
    };
}

kinds!(
    /// What happened to a job.
    JobEventKind, "job" {
        Created = "created",
        Updated = "updated",
        Deleted = "deleted",
        StatusChanged = "status_changed",
        Scheduled = "scheduled",
        Started = "started",
        Succeeded = "succeeded",
        Failed = "failed",
        Cancelled = "cancelled",
        CancelRequested = "cancel_requested",
        TimedOut = "timed_out",
        RetryScheduled = "retry_scheduled",
        Checkpointed = "checkpointed",
        Delegated = "delegated",
        CostRecorded = "cost_recorded",
        Released = "released",
        UsageRecorded = "usage_recorded",
        LimitExceeded = "limit_exceeded",
    }
);

kinds!(
    /// What happened to a task.
    TaskEventKind, "task" {
        Created = "created",
        Updated = "updated",
        Deleted = "deleted",
        StatusChanged = "status_changed",
        Assigned = "assigned",
        Completed = "completed",
        Cancelled = "cancelled",
        Started = "started",
        Reopened = "reopened",
        Checkpointed = "checkpointed",
        CostRecorded = "cost_recorded",
        UsageRecorded = "usage_recorded",
    }
);

/// The record an event is about, as it was right after the change (before it, for a
/// deletion), rendered from the event's snapshot.
#[derive(Debug, Clone)]
pub enum Subject {
    Job {
        kind: JobEventKind,
        job: Box<Job>,
    },
    Task {
        kind: TaskEventKind,
        task: Box<Task>,
    },
}

/// What a usage report said (`*.usage_recorded`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageDetails {
    pub model: String,
    #[serde(default)]
    pub input_tokens: i64,
    #[serde(default)]
    pub cached_input_tokens: i64,
    #[serde(default)]
    pub output_tokens: i64,
    #[serde(default)]
    pub tool_calls: i64,
}

/// The change an event describes; only the parts that apply are set.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Details {
    pub from_status: Option<String>,
    pub to_status: Option<String>,
    pub from_assignee: Option<String>,
    pub to_assignee: Option<String>,
    #[serde(with = "serde_rfc3339_opt")]
    pub run_at: Option<Micros>,
    pub result: Option<Value>,
    /// The result was too large to store: read the record's current one.
    pub result_elided: bool,
    pub error: Option<String>,
    pub reason: Option<String>,
    pub amount: Option<Money>,
    pub attempt: Option<i32>,
    pub usage: Option<UsageDetails>,
}

/// What every stored event has besides its subject.
#[derive(Debug, Clone)]
pub struct EventHead {
    pub id: i64,
    pub event_type: String,
    pub actor_id: String,
    pub occurred_at: Micros,
    pub details: Details,
}

/// One stored event.
#[derive(Debug, Clone)]
pub struct Event {
    pub head: EventHead,
    pub subject: Subject,
}

impl Event {
    /// The record the event is about.
    pub fn record_id(&self) -> Uuid {
        match &self.subject {
            Subject::Job { job, .. } => job.id,
            Subject::Task { task, .. } => task.id,
        }
    }

    /// Reads a stored row. A row the server could not have written is INTERNAL.
    pub fn from_row(row: &event::Model) -> ServiceResult<Self> {
        let broken = |why: String| {
            ServiceError::Internal(format!("event {} ({}): {why}", row.id, row.event_type))
        };
        let subject = if let Some(kind) = JobEventKind::of_type(&row.event_type) {
            let job = Job::from_snapshot(&row.snapshot).map_err(|e| broken(e.to_string()))?;
            Subject::Job {
                kind,
                job: Box::new(job),
            }
        } else if let Some(kind) = TaskEventKind::of_type(&row.event_type) {
            let task = Task::from_snapshot(&row.snapshot).map_err(|e| broken(e.to_string()))?;
            Subject::Task {
                kind,
                task: Box::new(task),
            }
        } else {
            return Err(broken("unknown event type".into()));
        };
        let details = Details::deserialize(&row.details).map_err(|e| broken(e.to_string()))?;
        Ok(Self {
            head: EventHead {
                id: row.id,
                event_type: row.event_type.clone(),
                actor_id: row.actor_id.clone(),
                occurred_at: row.occurred_at,
                details,
            },
            subject,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_know_their_types() {
        assert_eq!(
            JobEventKind::of_type("job.status_changed"),
            Some(JobEventKind::StatusChanged)
        );
        assert_eq!(TaskEventKind::Reopened.event_type(), "task.reopened");
        assert_eq!(JobEventKind::of_type("task.created"), None);
        assert_eq!(JobEventKind::ALL.len(), 18);
        assert_eq!(TaskEventKind::ALL.len(), 12);
    }

    #[test]
    fn details_read_what_the_writers_store() {
        let d = Details::deserialize(&serde_json::json!({
            "fromStatus": "PENDING", "toStatus": "RUNNING", "attempt": 2,
            "runAt": "2026-01-02T03:04:05.000006Z", "amount": "1.5", "step": 3,
            "resultElided": true,
        }))
        .unwrap();
        assert_eq!(d.to_status.as_deref(), Some("RUNNING"));
        assert_eq!(d.attempt, Some(2));
        assert_eq!(
            d.run_at.map(crate::domain::time::rfc3339).as_deref(),
            Some("2026-01-02T03:04:05.000006Z")
        );
        assert_eq!(d.amount.map(|a| a.to_string()).as_deref(), Some("1.5"));
        assert!(d.result_elided);
    }
}
