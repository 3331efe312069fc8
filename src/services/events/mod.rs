//! Lifecycle events (DESIGN.md §7): writing them in the transaction of the change they describe
//! (here), the stored event as the API reads it (`model`), and reading them (`read`).
//!
//! Ids must become visible in commit order: once a reader has seen id N, no lower id may commit
//! later. An auto-increment id alone breaks that on PostgreSQL (a transaction that drew id 10 can
//! commit after one that drew 11), so the insert takes a per-tenant transaction lock first; the
//! ids of one tenant are then drawn and committed one transaction at a time. Events are always
//! written last in a transaction, so the lock is held only for the insert and the commit.

pub mod model;
pub mod read;

pub use model::{Details, Event, EventHead, JobEventKind, Subject, TaskEventKind, UsageDetails};
pub use read::{
    EventPageArgs, EventQuery, EventService, JobEventQuery, PruneReport, TaskEventQuery,
};

use crate::auth::Actor;
use crate::domain::time::Micros;
use crate::events::EventBus;
use crate::services::tx;
use entity::event;
use sea_orm::{ActiveModelTrait, ConnectionTrait, DatabaseTransaction, DbErr, Set, Statement};
use serde_json::{Map, Value, json};
use uuid::Uuid;

/// An event about to be stored.
#[derive(Debug, Clone)]
pub struct EventDraft {
    pub event_type: &'static str,
    pub job_id: Option<Uuid>,
    pub task_id: Option<Uuid>,
    pub plan_id: Option<Uuid>,
    pub assignee: Option<String>,
    pub linked_job_ids: Option<Vec<Uuid>>,
    pub details: Map<String, Value>,
    pub snapshot: Value,
}

impl EventDraft {
    /// An event about a job, with the job's snapshot.
    pub fn job(event_type: &'static str, job: &entity::job::Model) -> Self {
        Self {
            event_type,
            job_id: Some(job.id),
            task_id: None,
            plan_id: job.plan_id,
            assignee: job.assigned_agent.clone(),
            linked_job_ids: None,
            details: Map::new(),
            snapshot: crate::services::jobs::Job::snapshot(job),
        }
    }

    /// An event about a task, with its snapshot and the jobs linked to it at that moment.
    pub fn task(
        event_type: &'static str,
        task: &entity::task::Model,
        linked_job_ids: Vec<Uuid>,
    ) -> Self {
        Self {
            event_type,
            job_id: None,
            task_id: Some(task.id),
            plan_id: task.plan_id,
            assignee: task.assigned_agent.clone(),
            linked_job_ids: Some(linked_job_ids),
            details: Map::new(),
            snapshot: crate::services::tasks::Task::snapshot(task),
        }
    }

    /// Adds one detail (camelCase key, as the API names it); `null`s are left out. A value too
    /// large to store in an event row is left out too, marked `<key>Elided`, so that the
    /// reader resolves the record's current value instead (DESIGN.md §7: small event rows).
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        let value = Some(value.into()).filter(|v| !v.is_null());
        match crate::services::view::storable(&value) {
            Some(_) => {
                self.details
                    .insert(key.to_string(), value.unwrap_or(Value::Null));
            }
            None if value.is_some() => {
                self.details
                    .insert(format!("{key}Elided"), Value::Bool(true));
            }
            None => {}
        }
        self
    }

    /// `fromStatus` and `toStatus`.
    pub fn status_change(self, from: &str, to: &str) -> Self {
        self.with("fromStatus", json!(from))
            .with("toStatus", json!(to))
    }
}

/// Stores `drafts` in order, as one batch of the actor's tenant, and (PostgreSQL) NOTIFYs the
/// other replicas of it, in the transaction: the news goes out only if the batch commits.
/// Returns the stored rows.
async fn write(
    tx: &DatabaseTransaction,
    actor: &Actor,
    at: Micros,
    drafts: Vec<EventDraft>,
) -> Result<Vec<event::Model>, DbErr> {
    if drafts.is_empty() {
        return Ok(Vec::new());
    }
    tx::advisory_lock(tx, &format!("jobgraph.events:{}", actor.tenant)).await?;
    let mut stored = Vec::with_capacity(drafts.len());
    for d in drafts {
        let row = event::ActiveModel {
            tenant_id: Set(actor.tenant.clone()),
            event_type: Set(d.event_type.to_string()),
            actor_id: Set(actor.id.clone()),
            job_id: Set(d.job_id),
            task_id: Set(d.task_id),
            plan_id: Set(d.plan_id),
            assignee: Set(d.assignee),
            linked_job_ids: Set(d.linked_job_ids.map(|ids| json!(ids))),
            details: Set(Value::Object(d.details)),
            snapshot: Set(d.snapshot),
            occurred_at: Set(at),
            ..Default::default()
        };
        stored.push(row.insert(tx).await?);
    }
    if let (sea_orm::DbBackend::Postgres, Some(newest)) = (tx.get_database_backend(), stored.last())
    {
        tx.execute_raw(Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [
                crate::events::postgres::CHANNEL.into(),
                crate::events::postgres::payload(&actor.tenant, newest.id).into(),
            ],
        ))
        .await?;
    }
    Ok(stored)
}

/// Stores the events and commits, then tells the bus: the last step of every write, and the
/// one place events are handed on (never before their commit).
pub(crate) async fn commit(
    bus: &dyn EventBus,
    tx: crate::services::tx::WriteTx,
    actor: &Actor,
    at: Micros,
    drafts: Vec<EventDraft>,
) -> crate::error::ServiceResult<()> {
    if drafts.is_empty() {
        tx.commit().await?;
        return Ok(());
    }
    let stored = write(&tx, actor, at, drafts).await?;
    let (tx, _turn) = tx.into_parts();
    let written = stored.len();
    bus.commit(tx, &actor.tenant, stored).await?;
    crate::metrics::events_written(written);
    Ok(())
}
