//! Reactions to a job that ended badly (DESIGN.md §5), run in the transaction of the change
//! that caused them, with their own events and a reason naming the cause:
//! - a job that ends FAILED, CANCELLED or TIMED_OUT (or is deleted unfinished) cancels its
//!   PENDING and SCHEDULED successors of every edge type, transitively;
//! - a job that ends CANCELLED (or is deleted unfinished) cancels its OPEN PRIMARY tasks that
//!   no other unfinished job links as PRIMARY.
//!
//! Cascades run with the authority of the change that caused them: no permission is checked
//! on the records they reach.

use super::{BlockedWatch, Kind, edges};
use crate::domain::time::Micros;
use crate::error::ServiceResult;
use crate::services::events::EventDraft;
use crate::services::links::JobWatch;
use crate::services::{jobs, tasks};
use entity::status::{JobStatus, JobTaskRole, TaskStatus};
use entity::{job, job_task, task};
use sea_orm::{
    ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde_json::json;
use std::collections::{HashSet, VecDeque};
use uuid::Uuid;

/// How the causing job ended, for the reasons the reactions carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    Failed,
    Cancelled,
    TimedOut,
    Deleted,
}

impl Ending {
    fn phrase(self) -> &'static str {
        match self {
            Self::Failed => "failed",
            Self::Cancelled => "was cancelled",
            Self::TimedOut => "timed out",
            Self::Deleted => "was deleted before it finished",
        }
    }

    /// The ending of a job now in `status`, if it sets off reactions.
    pub fn of(status: JobStatus) -> Option<Self> {
        match status {
            JobStatus::Failed => Some(Self::Failed),
            JobStatus::Cancelled => Some(Self::Cancelled),
            JobStatus::TimedOut => Some(Self::TimedOut),
            _ => None,
        }
    }
}

/// The events of every reaction to `cause` ending as `ending`, in order: cancelled successors
/// (breadth first), then cancelled PRIMARY tasks.
/// The tasks it cancels are added to `watch`, so that their successors' flips of `blocked` are
/// reported with the change's.
pub(crate) async fn job_ended(
    tx: &DatabaseTransaction,
    now: Micros,
    cause: &job::Model,
    ending: Ending,
    watch: &mut BlockedWatch,
) -> ServiceResult<Vec<EventDraft>> {
    let mut events = Vec::new();
    let root = format!("job {} {}", cause.id, ending.phrase());
    // Jobs whose PRIMARY tasks to look at: the cause if it was cancelled or deleted, and every
    // successor the cascade cancels.
    let mut cancelled_jobs: Vec<(Uuid, String)> = Vec::new();
    if matches!(ending, Ending::Cancelled | Ending::Deleted) {
        cancelled_jobs.push((cause.id, root.clone()));
    }
    let mut seen: HashSet<Uuid> = HashSet::from([cause.id]);
    let mut queue: VecDeque<Uuid> = VecDeque::from([cause.id]);
    while let Some(id) = queue.pop_front() {
        let out = edges(tx, Kind::Job, &cause.tenant_id, &[id], false).await?;
        let successors: Vec<Uuid> = out
            .iter()
            .map(|e| e.successor_id)
            .filter(|s| seen.insert(*s))
            .collect();
        if successors.is_empty() {
            continue;
        }
        // Names the immediate predecessor and the root cause (not the whole chain, which would
        // grow with its length).
        let reason = if id == cause.id {
            format!("predecessor {root}")
        } else {
            format!("predecessor job {id} was cancelled because {root}")
        };
        let rows = job::Entity::find()
            .filter(job::Column::Id.is_in(successors))
            .filter(job::Column::Status.is_in([JobStatus::Pending, JobStatus::Scheduled]))
            .order_by_asc(job::Column::CreatedAt)
            .order_by_asc(job::Column::Id)
            .lock_exclusive()
            .all(tx)
            .await?;
        for before in rows {
            let mut after = before.clone();
            after.status = JobStatus::Cancelled;
            after.cancel_reason = Some(reason.clone());
            after.finished_at = Some(now);
            after.lease_expires_at = None;
            after.version += 1;
            after.updated_at = now;
            jobs::save(tx, &before, &after).await?;
            events.push(
                EventDraft::job("job.status_changed", &after)
                    .status_change(before.status.as_str(), after.status.as_str()),
            );
            events.push(EventDraft::job("job.cancelled", &after).with("reason", json!(reason)));
            cancelled_jobs.push((
                after.id,
                format!("job {} was cancelled because {root}", after.id),
            ));
            queue.push_back(after.id);
        }
    }
    // The PRIMARY tasks to cancel, all of them first, so that the jobs they are linked to can be
    // watched across the change and get their `job.updated`, last.
    let mut doomed: Vec<(task::Model, String)> = Vec::new();
    for (job_id, reason) in cancelled_jobs {
        for t in primary_tasks_to_cancel(tx, job_id).await? {
            if !doomed.iter().any(|(d, _)| d.id == t.id) {
                doomed.push((t, reason.clone()));
            }
        }
    }
    if doomed.is_empty() {
        return Ok(events);
    }
    let rows: Vec<&task::Model> = doomed.iter().map(|(t, _)| t).collect();
    let job_watch = JobWatch::before(tx, &rows).await?;
    let ids: Vec<Uuid> = rows.iter().map(|t| t.id).collect();
    watch.watch(tx, Kind::Task, &ids).await?;
    let mut links_now = tasks::linked_jobs(tx, &ids).await?;
    for (before, reason) in &doomed {
        let mut after = before.clone();
        after.status = TaskStatus::Cancelled;
        after.cancel_reason = Some(reason.clone());
        after.version += 1;
        after.updated_at = now;
        tasks::save(tx, before, &after).await?;
        let linked = links_now.remove(&after.id).unwrap_or_default();
        events.push(
            EventDraft::task("task.status_changed", &after, linked.clone())
                .status_change(before.status.as_str(), after.status.as_str()),
        );
        events
            .push(EventDraft::task("task.cancelled", &after, linked).with("reason", json!(reason)));
    }
    events.extend(job_watch.after(tx, |_| Some(TaskStatus::Cancelled)).await?);
    Ok(events)
}

/// The OPEN PRIMARY tasks of `job_id` that no other unfinished job links as PRIMARY, locked.
/// The candidates are locked before the other jobs are read, so that two jobs sharing a task
/// and cancelled at once see each other's outcome (the second waits, then reads the first as
/// CANCELLED) instead of each keeping the task for the other.
async fn primary_tasks_to_cancel(
    tx: &DatabaseTransaction,
    job_id: Uuid,
) -> ServiceResult<Vec<task::Model>> {
    let primary = sea_orm::sea_query::Query::select()
        .column(job_task::Column::TaskId)
        .from(job_task::Entity)
        .and_where(job_task::Column::JobId.eq(job_id))
        .and_where(job_task::Column::Role.eq(JobTaskRole::Primary))
        .to_owned();
    let candidates = task::Entity::find()
        .filter(task::Column::Id.in_subquery(primary))
        .filter(task::Column::Status.eq(TaskStatus::Open))
        .order_by_asc(task::Column::CreatedAt)
        .order_by_asc(task::Column::Id)
        .lock_exclusive()
        .all(tx)
        .await?;
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let other_primary = job_task::Entity::find()
        .filter(job_task::Column::TaskId.is_in(candidates.iter().map(|t| t.id)))
        .filter(job_task::Column::Role.eq(JobTaskRole::Primary))
        .filter(job_task::Column::JobId.ne(job_id))
        .all(tx)
        .await?;
    let other_jobs: Vec<Uuid> = other_primary.iter().map(|l| l.job_id).collect();
    let unfinished: HashSet<Uuid> = if other_jobs.is_empty() {
        HashSet::new()
    } else {
        job::Entity::find()
            .filter(job::Column::Id.is_in(other_jobs))
            .filter(job::Column::Status.is_not_in([
                JobStatus::Succeeded,
                JobStatus::Failed,
                JobStatus::Cancelled,
                JobStatus::TimedOut,
            ]))
            .all(tx)
            .await?
            .into_iter()
            .map(|j| j.id)
            .collect()
    };
    let kept: HashSet<Uuid> = other_primary
        .iter()
        .filter(|l| unfinished.contains(&l.job_id))
        .map(|l| l.task_id)
        .collect();
    Ok(candidates
        .into_iter()
        .filter(|t| !kept.contains(&t.id))
        .collect())
}
