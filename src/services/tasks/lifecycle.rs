//! The task lifecycle: startTask, completeTask, cancelTask, reopenTask.

use super::model::Task;
use super::state::{TaskAction, is_open, transition};
use super::{TaskService, commit, descendants, linked_jobs, owned, permissions, save};
use crate::auth::Actor;
use crate::error::{ServiceError, ServiceResult};
use crate::services::access::require;
use crate::services::dependencies::{self, BlockedWatch};
use crate::services::events::EventDraft;
use crate::services::links::JobWatch;
use crate::services::validate;
use entity::status::TaskStatus;
use entity::task;
use sea_orm::DatabaseTransaction;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;
use std::collections::HashMap;
use uuid::Uuid;

/// `task.status_changed` from `before` to `after`.
fn status_changed(before: &task::Model, after: &task::Model, links: Vec<Uuid>) -> EventDraft {
    EventDraft::task("task.status_changed", after, links)
        .status_change(before.status.as_str(), after.status.as_str())
}

/// The `blocked` of the successors of `ids`, before they change status.
pub(super) async fn watch_successors(
    tx: &DatabaseTransaction,
    ids: &[Uuid],
    tenant: &str,
) -> ServiceResult<BlockedWatch> {
    let mut watch = BlockedWatch::new(tenant);
    watch.watch(tx, dependencies::Kind::Task, ids).await?;
    Ok(watch)
}

impl TaskService {
    /// startTask: OPEN → IN_PROGRESS. Never changes the assignee.
    pub async fn start(&self, actor: &Actor, id: Uuid) -> ServiceResult<Task> {
        let (tx, before) = self.begin_start(actor, id).await?;
        require(
            permissions::can_modify(actor, owned(&tx, actor, &before).await?),
            "start this task",
        )?;
        let to = transition(TaskAction::Start, before.status)?;
        dependencies::check_task(&tx, &before, true).await?;
        let watch = JobWatch::before(&tx, &[&before]).await?;
        let successors = watch_successors(&tx, &[before.id], &before.tenant_id).await?;
        let now = self.clock.now_micros();
        let mut after = before.clone();
        after.status = to;
        after.started_at = Some(now);
        after.version += 1;
        after.updated_at = now;
        save(&tx, &before, &after).await?;
        let links = linked_jobs(&tx, &[id])
            .await?
            .remove(&id)
            .unwrap_or_default();
        let mut events = vec![
            status_changed(&before, &after, links.clone()),
            EventDraft::task("task.started", &after, links),
        ];
        events.extend(watch.after(&tx, |_| Some(after.status)).await?);
        events.extend(successors.after(&tx, &events).await?);
        commit(&*self.bus, tx, actor, now, events).await?;
        Ok(Task::from(after))
    }

    /// completeTask: OPEN or IN_PROGRESS → COMPLETED, refused while a subtask is open. From
    /// OPEN it also counts as started (`startedAt` = `completedAt`, no `task.started`).
    pub async fn complete(&self, actor: &Actor, id: Uuid) -> ServiceResult<Task> {
        let (tx, before) = self.begin_start(actor, id).await?;
        require(
            permissions::can_modify(actor, owned(&tx, actor, &before).await?),
            "complete this task",
        )?;
        let to = transition(TaskAction::Complete, before.status)?;
        let open_children = task::Entity::find()
            .filter(task::Column::ParentId.eq(id))
            .filter(task::Column::Status.is_in([TaskStatus::Open, TaskStatus::InProgress]))
            .order_by_asc(task::Column::CreatedAt)
            .all(&tx)
            .await?;
        if !open_children.is_empty() {
            let unmet = open_children
                .iter()
                .map(
                    |c| json!({"taskId": c.id, "relation": "SUBTASK", "status": c.status.as_str()}),
                )
                .collect();
            return Err(ServiceError::DependencyUnmet {
                unmet,
                message: format!(
                    "{} subtask(s) of task {id} are still open: complete or cancel them first",
                    open_children.len()
                ),
            });
        }
        if before.status == TaskStatus::Open {
            // Completing an OPEN task also starts it: the start's edges must hold too.
            dependencies::check_task(&tx, &before, true).await?;
        }
        dependencies::check_task(&tx, &before, false).await?;
        let watch = JobWatch::before(&tx, &[&before]).await?;
        let successors = watch_successors(&tx, &[before.id], &before.tenant_id).await?;
        let now = self.clock.now_micros();
        let mut after = before.clone();
        after.status = to;
        after.completed_at = Some(now);
        if before.status == TaskStatus::Open {
            // Completing an OPEN task counts as starting it now (DESIGN.md §4).
            after.started_at = Some(now);
        }
        after.version += 1;
        after.updated_at = now;
        save(&tx, &before, &after).await?;
        let links = linked_jobs(&tx, &[id])
            .await?
            .remove(&id)
            .unwrap_or_default();
        let mut events = vec![
            status_changed(&before, &after, links.clone()),
            EventDraft::task("task.completed", &after, links),
        ];
        events.extend(watch.after(&tx, |_| Some(after.status)).await?);
        events.extend(successors.after(&tx, &events).await?);
        commit(&*self.bus, tx, actor, now, events).await?;
        Ok(Task::from(after))
    }

    /// cancelTask: OPEN or IN_PROGRESS → CANCELLED, and every open subtask below it too
    /// (their events follow the task's, top down, with a reason naming the cause).
    pub async fn cancel(&self, actor: &Actor, id: Uuid, reason: &str) -> ServiceResult<Task> {
        let (tx, before) = self.begin_tree_change(actor, id).await?;
        require(
            permissions::can_modify(actor, owned(&tx, actor, &before).await?),
            "cancel this task",
        )?;
        let reason = validate::reason("reason", reason)?;
        let to = transition(TaskAction::Cancel, before.status)?;
        let now = self.clock.now_micros();
        let mut after = before.clone();
        after.status = to;
        after.cancel_reason = Some(reason.clone());
        after.version += 1;
        after.updated_at = now;
        // Open subtasks, top down; a finished subtask keeps its status, and so do its children
        // (they cannot be open under a finished parent anyway).
        let below: Vec<task::Model> = descendants(&tx, id).await?.into_iter().flatten().collect();
        let cascade: Vec<task::Model> = below.into_iter().filter(|t| is_open(t.status)).collect();
        let watched: Vec<&task::Model> = std::iter::once(&before).chain(cascade.iter()).collect();
        let watch = JobWatch::before(&tx, &watched).await?;
        let ids: Vec<Uuid> = watched.iter().map(|t| t.id).collect();
        let successors = watch_successors(&tx, &ids, &before.tenant_id).await?;
        save(&tx, &before, &after).await?;
        let mut ids: Vec<Uuid> = cascade.iter().map(|t| t.id).collect();
        ids.push(id);
        let mut links: HashMap<Uuid, Vec<Uuid>> = linked_jobs(&tx, &ids).await?;
        let own_links = links.remove(&id).unwrap_or_default();
        let mut events = vec![
            status_changed(&before, &after, own_links.clone()),
            EventDraft::task("task.cancelled", &after, own_links).with("reason", json!(reason)),
        ];
        let cascade_reason = format!("parent task {id} was cancelled: {reason}");
        for child in cascade {
            let mut cancelled = child.clone();
            cancelled.status = TaskStatus::Cancelled;
            cancelled.cancel_reason = Some(cascade_reason.clone());
            cancelled.version += 1;
            cancelled.updated_at = now;
            save(&tx, &child, &cancelled).await?;
            let child_links = links.remove(&child.id).unwrap_or_default();
            events.push(status_changed(&child, &cancelled, child_links.clone()));
            events.push(
                EventDraft::task("task.cancelled", &cancelled, child_links)
                    .with("reason", json!(cascade_reason)),
            );
        }
        events.extend(watch.after(&tx, |_| Some(after.status)).await?);
        events.extend(successors.after(&tx, &events).await?);
        commit(&*self.bus, tx, actor, now, events).await?;
        Ok(Task::from(after))
    }

    /// reopenTask: COMPLETED or CANCELLED → OPEN (clears completedAt and cancelReason, keeps
    /// startedAt); refused while the parent is COMPLETED.
    pub async fn reopen(&self, actor: &Actor, id: Uuid) -> ServiceResult<Task> {
        let (tx, before) = self.begin_tree_change(actor, id).await?;
        require(
            permissions::can_modify(actor, owned(&tx, actor, &before).await?),
            "reopen this task",
        )?;
        let to = transition(TaskAction::Reopen, before.status)?;
        let watch = JobWatch::before(&tx, &[&before]).await?;
        let successors = watch_successors(&tx, &[before.id], &before.tenant_id).await?;
        if let Some(parent_id) = before.parent_id {
            let parent = super::lock(&tx, actor, parent_id).await?;
            if parent.status == TaskStatus::Completed {
                return Err(ServiceError::InvalidTransition {
                    from: before.status.as_str().to_string(),
                    to: "OPEN".to_string(),
                    message: format!(
                        "parent task {parent_id} is COMPLETED: reopen the parent before its subtask"
                    ),
                });
            }
        }
        let now = self.clock.now_micros();
        let mut after = before.clone();
        after.status = to;
        after.completed_at = None;
        after.cancel_reason = None;
        after.version += 1;
        after.updated_at = now;
        save(&tx, &before, &after).await?;
        let links = linked_jobs(&tx, &[id])
            .await?
            .remove(&id)
            .unwrap_or_default();
        let mut events = vec![
            status_changed(&before, &after, links.clone()),
            EventDraft::task("task.reopened", &after, links),
        ];
        events.extend(watch.after(&tx, |_| Some(after.status)).await?);
        events.extend(successors.after(&tx, &events).await?);
        commit(&*self.bus, tx, actor, now, events).await?;
        Ok(Task::from(after))
    }
}
