//! Stored events (DESIGN.md §7): `JobEvent`, `TaskEvent`, the `DomainEvent` interface they
//! share, the `Event` union, and the event connection. An event's `job`/`task` renders the
//! stored snapshot through the same `Job`/`Task` type as a live record, whose live-only fields
//! (execution context, checkpoint, relations, computed fields) resolve from the record now.

use super::enums::{JobEventKind, JobStatus, TaskEventKind, TaskStatus};
use super::job::Job;
use super::task::Task;
use super::usage::ModelUsage;
use crate::graphql::loaders::JobLoader;
use crate::graphql::scalars::Uuid;
use crate::graphql::scalars::{DateTime, Decimal};
use crate::services::events::{self, EventHead, Subject};
use async_graphql::connection::{Connection, Edge};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Interface, Object, Result, Union};
use std::borrow::Cow;

/// A page of events; every edge's cursor is its event's id.
pub type EventConnection = Connection<String, Event>;

/// A page of events as a connection.
pub fn connection(page: crate::services::paging::Page<events::Event>) -> EventConnection {
    let mut connection = Connection::new(page.has_previous_page, page.has_next_page);
    connection.edges = page
        .items
        .into_iter()
        .map(|(cursor, e)| Edge::new(cursor, Event::from(e)))
        .collect();
    connection
}

/// Any stored event.
#[derive(Union)]
pub enum Event {
    JobEvent(JobEvent),
    TaskEvent(TaskEvent),
}

impl From<events::Event> for Event {
    fn from(e: events::Event) -> Self {
        match e.subject {
            Subject::Job { kind, job } => Self::JobEvent(JobEvent {
                head: e.head,
                kind,
                job: Job(*job),
            }),
            Subject::Task { kind, task } => Self::TaskEvent(TaskEvent {
                head: e.head,
                kind,
                task: Task(*task),
            }),
        }
    }
}

/// Fields every stored event has.
// clippy reads the repeated `field(name = …, ty = …)` arguments of the derive as duplicated
// attributes; they are one field each.
#[allow(clippy::duplicated_attributes)]
#[derive(Interface)]
#[graphql(
    name = "DomainEvent",
    field(
        name = "id",
        ty = "String",
        desc = "Global event id as a decimal string, e.g. \"1042\". Increases in commit order; not consecutive (all tenants share one sequence). Pass it as `after` to the events query or to any subscription."
    ),
    field(
        name = "type",
        ty = "&str",
        method = "event_type",
        desc = "Dotted name, e.g. job.status_changed."
    ),
    field(name = "occurred_at", ty = "DateTime"),
    field(name = "actor_id", ty = "&str")
)]
pub enum DomainEvent {
    JobEvent(JobEvent),
    TaskEvent(TaskEvent),
}

/// A change of a job.
pub struct JobEvent {
    pub head: EventHead,
    pub kind: events::JobEventKind,
    pub job: Job,
}

/// A change of a task.
pub struct TaskEvent {
    pub head: EventHead,
    pub kind: events::TaskEventKind,
    pub task: Task,
}

/// `fromStatus`/`toStatus` as a job's or a task's status enum.
fn job_status(name: &Option<String>) -> Option<JobStatus> {
    name.as_deref()
        .and_then(entity::status::JobStatus::parse)
        .map(Into::into)
}

fn task_status(name: &Option<String>) -> Option<TaskStatus> {
    name.as_deref()
        .and_then(entity::status::TaskStatus::parse)
        .map(Into::into)
}

fn usage(e: &EventHead) -> Option<ModelUsage> {
    e.details.usage.clone().map(|u| {
        let mut amount = crate::domain::money::MoneySum::default();
        amount.add(e.details.amount.unwrap_or_default());
        ModelUsage(crate::services::usage::ModelUsage {
            model: u.model,
            input_tokens: u.input_tokens,
            cached_input_tokens: u.cached_input_tokens,
            output_tokens: u.output_tokens,
            tool_calls: u.tool_calls,
            amount,
        })
    })
}

#[Object(name = "JobEvent")]
impl JobEvent {
    /// Global event id as a decimal string, e.g. "1042". Increases in commit order; not consecutive (all tenants share one sequence). Pass it as `after` to the events query or to any subscription.
    async fn id(&self) -> String {
        self.head.id.to_string()
    }
    /// Dotted name, e.g. job.status_changed.
    #[graphql(name = "type")]
    async fn event_type(&self) -> &str {
        &self.head.event_type
    }
    async fn occurred_at(&self) -> DateTime {
        DateTime::from_micros(self.head.occurred_at)
    }
    async fn actor_id(&self) -> &str {
        &self.head.actor_id
    }
    async fn kind(&self) -> JobEventKind {
        self.kind.into()
    }
    async fn job_id(&self) -> Uuid {
        Uuid::from(self.job.0.id)
    }
    /// The job as it was right after the change (before it, for DELETED).
    async fn job(&self) -> &Job {
        &self.job
    }
    async fn from_status(&self) -> Option<JobStatus> {
        job_status(&self.head.details.from_status)
    }
    async fn to_status(&self) -> Option<JobStatus> {
        job_status(&self.head.details.to_status)
    }
    async fn from_assignee(&self) -> Option<&str> {
        self.head.details.from_assignee.as_deref()
    }
    async fn to_assignee(&self) -> Option<&str> {
        self.head.details.to_assignee.as_deref()
    }
    async fn run_at(&self) -> Option<DateTime> {
        self.head.details.run_at.map(DateTime::from_micros)
    }
    /// The result a SUCCEEDED event recorded (a result too large to store in the event is read from the job as it is now).
    async fn result(&self, ctx: &Context<'_>) -> Result<Option<Cow<'_, serde_json::Value>>> {
        if !self.head.details.result_elided {
            return Ok(self.head.details.result.as_ref().map(Cow::Borrowed));
        }
        let loader = ctx.data::<DataLoader<JobLoader>>()?;
        let live = loader.load_one(self.job.0.id).await?;
        Ok(live.and_then(|j| j.result).map(Cow::Owned))
    }
    async fn error(&self) -> Option<&str> {
        self.head.details.error.as_deref()
    }
    async fn reason(&self) -> Option<&str> {
        self.head.details.reason.as_deref()
    }
    /// The amount of a COST_RECORDED or USAGE_RECORDED event.
    async fn amount(&self) -> Option<Decimal> {
        self.head.details.amount.map(Into::into)
    }
    /// What a USAGE_RECORDED event reported.
    async fn usage(&self) -> Option<ModelUsage> {
        usage(&self.head)
    }
    /// The attempt a STARTED, RETRY_SCHEDULED, FAILED, TIMED_OUT or RELEASED event is about.
    async fn attempt(&self) -> Option<i32> {
        self.head.details.attempt
    }
}

#[Object(name = "TaskEvent")]
impl TaskEvent {
    /// Global event id as a decimal string, e.g. "1042". Increases in commit order; not consecutive (all tenants share one sequence). Pass it as `after` to the events query or to any subscription.
    async fn id(&self) -> String {
        self.head.id.to_string()
    }
    /// Dotted name, e.g. task.status_changed.
    #[graphql(name = "type")]
    async fn event_type(&self) -> &str {
        &self.head.event_type
    }
    async fn occurred_at(&self) -> DateTime {
        DateTime::from_micros(self.head.occurred_at)
    }
    async fn actor_id(&self) -> &str {
        &self.head.actor_id
    }
    async fn kind(&self) -> TaskEventKind {
        self.kind.into()
    }
    async fn task_id(&self) -> Uuid {
        Uuid::from(self.task.0.id)
    }
    /// The task as it was right after the change (before it, for DELETED).
    async fn task(&self) -> &Task {
        &self.task
    }
    async fn from_status(&self) -> Option<TaskStatus> {
        task_status(&self.head.details.from_status)
    }
    async fn to_status(&self) -> Option<TaskStatus> {
        task_status(&self.head.details.to_status)
    }
    async fn from_assignee(&self) -> Option<&str> {
        self.head.details.from_assignee.as_deref()
    }
    async fn to_assignee(&self) -> Option<&str> {
        self.head.details.to_assignee.as_deref()
    }
    async fn reason(&self) -> Option<&str> {
        self.head.details.reason.as_deref()
    }
    /// The amount of a COST_RECORDED or USAGE_RECORDED event.
    async fn amount(&self) -> Option<Decimal> {
        self.head.details.amount.map(Into::into)
    }
    /// What a USAGE_RECORDED event reported.
    async fn usage(&self) -> Option<ModelUsage> {
        usage(&self.head)
    }
}
