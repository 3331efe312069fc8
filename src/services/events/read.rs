//! Reading the stored events (DESIGN.md §7): `events`, `Job.events`, `Task.events` and
//! `latestEventId`, tenant-scoped; and pruning them when retention is on.
//!
//! Cursors are event ids and `after` means "strictly greater". A reader reads its page first
//! and the tenant's pruning watermark second: a prune that committed before the page was read
//! is seen by the second read (EVENTS_PRUNED), and one that commits later cannot have removed
//! anything the page holds, so a page after a cursor never silently starts late.

use super::model::{Event, JobEventKind, TaskEventKind};
use crate::auth::Actor;
use crate::domain::time::Clock;
use crate::error::{ServiceError, ServiceResult};
use crate::events::store::{self, RecordColumn};
use crate::events::stream::{Start, StreamConfig, StreamError, replay_then_live};
use crate::events::{EventBus, EventFilter, TypePattern};
use crate::services::access::{may_read, require};
use crate::services::paging::{Page, page_size};
use crate::services::{tx, validate};
use futures_util::{Stream, StreamExt};
use sea_orm::DatabaseConnection;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// How many old events one tenant's prune deletes per tick at most (a backlog drains over
/// several ticks instead of holding one long transaction).
pub const PRUNE_BATCH: u64 = 10_000;

/// `Query.events`' filter as given.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub types: Option<Vec<String>>,
    pub job_id: Option<Uuid>,
    pub task_id: Option<Uuid>,
    pub plan_id: Option<Uuid>,
}

impl EventQuery {
    /// The filter this asks for, checked.
    pub fn checked(self) -> ServiceResult<EventFilter> {
        Ok(EventFilter {
            types: match &self.types {
                Some(types) => type_patterns("filter.types", types)?,
                None => Vec::new(),
            },
            job_ids: self.job_id.into_iter().collect(),
            task_ids: self.task_id.into_iter().collect(),
            plan_id: self.plan_id,
            ..Default::default()
        })
    }
}

/// `jobEvents`' filter as given.
#[derive(Debug, Clone, Default)]
pub struct JobEventQuery {
    pub job_ids: Option<Vec<Uuid>>,
    pub plan_id: Option<Uuid>,
    pub kinds: Option<Vec<JobEventKind>>,
}

impl JobEventQuery {
    /// The filter this asks for (job events only), checked.
    pub fn checked(self) -> ServiceResult<EventFilter> {
        let types = kind_types(self.kinds.as_deref(), |k| k.event_type(), "job.")?;
        Ok(EventFilter {
            types,
            job_ids: id_list("filter.jobIds", self.job_ids)?,
            plan_id: self.plan_id,
            ..Default::default()
        })
    }
}

/// `taskEvents`' filter as given.
#[derive(Debug, Clone, Default)]
pub struct TaskEventQuery {
    pub task_ids: Option<Vec<Uuid>>,
    pub job_id: Option<Uuid>,
    pub assigned_agent: Option<String>,
    pub kinds: Option<Vec<TaskEventKind>>,
}

impl TaskEventQuery {
    /// The filter this asks for (task events only), checked.
    pub fn checked(self) -> ServiceResult<EventFilter> {
        let types = kind_types(self.kinds.as_deref(), |k| k.event_type(), "task.")?;
        let task_ids = id_list("filter.taskIds", self.task_ids)?;
        let assignee = self
            .assigned_agent
            .as_deref()
            .map(|a| validate::actor_id("filter.assignedAgent", a))
            .transpose()?;
        Ok(EventFilter {
            types,
            task_ids,
            linked_job: self.job_id,
            assignee,
            ..Default::default()
        })
    }
}

/// The event types a subscription's `kinds` stand for (at most 100, not empty); without
/// `kinds`, every type under `prefix`.
fn kind_types<K: Copy>(
    kinds: Option<&[K]>,
    event_type: impl Fn(K) -> &'static str,
    prefix: &str,
) -> ServiceResult<Vec<TypePattern>> {
    match kinds {
        Some(kinds) => {
            validate::list_len("filter.kinds", kinds.len())?;
            Ok(kinds
                .iter()
                .map(|&k| TypePattern::Exact(event_type(k).to_string()))
                .collect())
        }
        None => Ok(vec![TypePattern::Prefix(prefix.into())]),
    }
}

/// A list of ids (at most 100, not empty), or none for any.
fn id_list(field: &str, ids: Option<Vec<Uuid>>) -> ServiceResult<Vec<Uuid>> {
    match ids {
        Some(ids) => {
            validate::list_len(field, ids.len())?;
            Ok(ids)
        }
        None => Ok(Vec::new()),
    }
}

/// The checked paging arguments of an event list: the page size and the cursor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventPageArgs {
    pub limit: u64,
    pub after: Option<i64>,
}

/// What one prune did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub tenants: usize,
    pub events: u64,
}

#[derive(Clone)]
pub struct EventService {
    db: DatabaseConnection,
    clock: Clock,
    bus: Arc<dyn EventBus>,
}

/// Reads an event cursor: a decimal event id.
pub fn parse_after(field: &str, after: &str) -> ServiceResult<i64> {
    let numeric =
        !after.is_empty() && after.len() <= 19 && after.bytes().all(|b| b.is_ascii_digit());
    numeric
        .then(|| after.parse::<i64>().ok())
        .flatten()
        .ok_or_else(|| {
            ServiceError::bad_input(
                field,
                format!(
                    "`{field}` must be an event id (a decimal number, as `id` and `cursor` give it)"
                ),
            )
        })
}

/// Checks `first` (1..200, default 20) and `after`.
pub fn page_args(first: Option<i32>, after: Option<&str>) -> ServiceResult<EventPageArgs> {
    Ok(EventPageArgs {
        limit: page_size("first", first)?,
        after: after.map(|a| parse_after("after", a)).transpose()?,
    })
}

/// Checks a list of event types (`field`), each a dotted name or a `prefix.*`.
pub fn type_patterns(field: &str, types: &[String]) -> ServiceResult<Vec<TypePattern>> {
    validate::list_len(field, types.len())?;
    types
        .iter()
        .enumerate()
        .map(|(i, t)| {
            TypePattern::parse(t).ok_or_else(|| {
                ServiceError::bad_input(
                    format!("{field}[{i}]"),
                    format!("`{t}` is not an event type: give a dotted name such as `job.status_changed`, or a prefix such as `job.*`"),
                )
            })
        })
        .collect()
}

/// `rows` (up to `limit + 1`) as a page.
fn into_page(rows: Vec<entity::event::Model>, args: EventPageArgs) -> ServiceResult<Page<Event>> {
    let has_next_page = rows.len() as u64 > args.limit;
    let items = rows
        .into_iter()
        .take(args.limit as usize)
        .map(|row| Event::from_row(&row).map(|e| (e.head.id.to_string(), e)))
        .collect::<ServiceResult<Vec<_>>>()?;
    Ok(Page {
        items,
        has_next_page,
        has_previous_page: args.after.is_some(),
    })
}

impl EventService {
    pub fn new(db: DatabaseConnection, clock: Clock, bus: Arc<dyn EventBus>) -> Self {
        Self { db, clock, bus }
    }

    /// EVENTS_PRUNED when `after` is below the tenant's watermark. Called after the page was
    /// read (see the module comment).
    async fn check_not_pruned(&self, actor: &Actor, after: Option<i64>) -> ServiceResult<()> {
        let Some(after) = after else { return Ok(()) };
        let pruned_through = store::watermark(&self.db, &actor.tenant).await?;
        if after < pruned_through {
            return Err(ServiceError::EventsPruned {
                after,
                pruned_through,
            });
        }
        Ok(())
    }

    /// `events(filter, first, after)`: the tenant's events after `after`, oldest first.
    pub async fn list(
        &self,
        actor: &Actor,
        query: EventQuery,
        args: EventPageArgs,
    ) -> ServiceResult<Page<Event>> {
        require(may_read(actor), "read events")?;
        let filter = query.checked()?;
        let rows =
            store::page(&self.db, &actor.tenant, &filter, args.after, args.limit + 1).await?;
        self.check_not_pruned(actor, args.after).await?;
        into_page(rows, args)
    }

    /// `Job.events` (or `Task.events`) of several records at once, with the same paging
    /// arguments: one statement for all of them (for the DataLoader).
    pub async fn of_records(
        &self,
        actor: &Actor,
        column: RecordColumn,
        ids: &[Uuid],
        args: EventPageArgs,
    ) -> ServiceResult<HashMap<Uuid, Page<Event>>> {
        require(may_read(actor), "read events")?;
        let rows = store::pages_by_record(
            &self.db,
            &actor.tenant,
            column,
            ids,
            args.after,
            args.limit + 1,
        )
        .await?;
        self.check_not_pruned(actor, args.after).await?;
        let mut by_record: HashMap<Uuid, Vec<entity::event::Model>> = HashMap::new();
        for row in rows {
            let key = match column {
                RecordColumn::Job => row.job_id,
                RecordColumn::Task => row.task_id,
            };
            if let Some(key) = key {
                by_record.entry(key).or_default().push(row);
            }
        }
        ids.iter()
            .map(|id| {
                let rows = by_record.remove(id).unwrap_or_default();
                Ok((*id, into_page(rows, args)?))
            })
            .collect()
    }

    /// A subscription's events (DESIGN.md §7): without `after` the live ones from now on; with
    /// `after`, the stored ones after it first, then the live ones, with no gap and no repeat
    /// (`events::stream`). Ends with EVENTS_PRUNED for a cursor below the watermark, and with
    /// SUBSCRIBER_LAGGING when the subscriber cannot keep up.
    pub async fn subscribe(
        &self,
        actor: &Actor,
        filter: EventFilter,
        after: Option<i64>,
    ) -> ServiceResult<impl Stream<Item = ServiceResult<Event>> + Send + 'static + use<>> {
        require(may_read(actor), "subscribe to events")?;
        // Subscribe first, read second: what commits during the replay waits in the queue.
        let live = self.bus.subscribe(&actor.tenant, filter.clone()).await?;
        let start = match after {
            Some(after) => Start::After(after),
            None => Start::Live(live.start),
        };
        let db = self.db.clone();
        let tenant = actor.tenant.clone();
        let filter = Arc::new(filter);
        let read = move |after: i64, limit: usize| {
            let (db, tenant, filter) = (db.clone(), tenant.clone(), filter.clone());
            async move {
                let rows = store::page(&db, &tenant, &filter, Some(after), limit as u64).await?;
                let pruned_through = store::watermark(&db, &tenant).await?;
                if after < pruned_through {
                    return Err(ServiceError::EventsPruned {
                        after,
                        pruned_through,
                    });
                }
                Ok(rows.into_iter().map(Arc::new).collect::<Vec<_>>())
            }
        };
        let events = replay_then_live(start, read, live, StreamConfig::default());
        Ok(events.map(|item| match item {
            Ok(row) => Event::from_row(&row),
            Err(StreamError::Read(err)) => Err(err),
            Err(StreamError::Lagging { resume_after }) => {
                Err(ServiceError::SubscriberLagging { resume_after })
            }
        }))
    }

    /// `latestEventId`: the newest event id of the tenant.
    pub async fn latest_id(&self, actor: &Actor) -> ServiceResult<Option<i64>> {
        require(may_read(actor), "read events")?;
        Ok(store::latest_id(&self.db, &actor.tenant).await?)
    }

    /// Prunes every tenant's events older than `retention`, one tenant per transaction, at
    /// most [`PRUNE_BATCH`] events each. The retention loop's one call per tick, acting as
    /// `system`: it needs no permission and writes no event. Safe on every replica at once
    /// (deletes by id, and the watermark only rises).
    pub async fn prune(&self, retention: Duration) -> ServiceResult<PruneReport> {
        let retention_us = i64::try_from(retention.as_micros()).unwrap_or(i64::MAX);
        let cutoff = self.clock.now_micros().saturating_sub(retention_us);
        let mut report = PruneReport::default();
        for tenant in store::tenants_with_events_before(&self.db, cutoff).await? {
            let tx = tx::begin_write(&self.db).await?;
            let pruned = store::prune_batch(&tx, &tenant, cutoff, PRUNE_BATCH).await?;
            tx.commit().await?;
            if let Some((deleted, through)) = pruned {
                tracing::debug!(%tenant, deleted, through, "pruned events");
                report.tenants += 1;
                report.events += deleted;
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_are_event_ids() {
        assert_eq!(parse_after("after", "1042").unwrap(), 1042);
        assert_eq!(parse_after("after", "0").unwrap(), 0);
        for bad in ["", "-1", "1.5", "abc", " 1", "99999999999999999999", "１"] {
            let err = parse_after("after", bad).unwrap_err();
            assert_eq!(err.code(), "BAD_USER_INPUT", "{bad}");
        }
        assert!(page_args(Some(0), None).is_err());
        assert!(page_args(Some(201), None).is_err());
        assert_eq!(
            page_args(None, Some("7")).unwrap(),
            EventPageArgs {
                limit: 20,
                after: Some(7)
            }
        );
    }

    #[test]
    fn type_lists_are_checked_and_named() {
        let ok = type_patterns("filter.types", &["job.*".into(), "task.created".into()]).unwrap();
        assert_eq!(ok.len(), 2);
        let err = type_patterns("filter.types", &["job.*".into(), "JOB".into()]).unwrap_err();
        assert!(matches!(&err, ServiceError::BadInput { field, .. } if field == "filter.types[1]"));
        assert!(type_patterns("filter.types", &[]).is_err());
        let many: Vec<String> = (0..101).map(|_| "job.created".to_string()).collect();
        assert!(type_patterns("filter.types", &many).is_err());
    }
}
