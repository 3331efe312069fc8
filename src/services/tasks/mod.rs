//! Tasks (DESIGN.md §4): reads, the subtask tree, and every write through `write` and
//! `lifecycle`.

mod lifecycle;
pub mod list;
pub mod model;
pub mod permissions;
pub mod state;
mod write;

pub use list::{TaskFilter, TaskOrder, TaskOrderField, TaskPage};
pub use model::{NewTask, Task, TaskPatch};

use crate::auth::Actor;
use crate::domain::time::Clock;
use crate::error::{ServiceError, ServiceResult};
use crate::events::EventBus;
use crate::services::access::{Owners, require};
use std::sync::Arc;

use crate::services::{Limits, tx};
use entity::status::JobTaskRole;
use entity::{job, job_task, task};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::HashMap;
use uuid::Uuid;

/// How deep subtasks may nest: a root is at depth 1.
pub const MAX_DEPTH: usize = 32;

/// The tasks of every tenant, reached only through an `Actor`.
#[derive(Clone)]
pub struct TaskService {
    db: DatabaseConnection,
    limits: Limits,
    clock: Clock,
    bus: Arc<dyn EventBus>,
}

pub(crate) fn owners(row: &task::Model) -> Owners<'_> {
    Owners {
        created_by: &row.created_by,
        assigned_agent: row.assigned_agent.as_deref(),
    }
}

impl TaskService {
    pub fn new(
        db: DatabaseConnection,
        limits: Limits,
        clock: Clock,
        bus: Arc<dyn EventBus>,
    ) -> Self {
        Self {
            db,
            limits,
            clock,
            bus,
        }
    }

    /// `task(id)`: the task, or `None` when it does not exist in the caller's tenant.
    pub async fn get(&self, actor: &Actor, id: Uuid) -> ServiceResult<Option<Task>> {
        require(permissions::can_read(actor), "read tasks")?;
        Ok(find(&self.db, actor, id).await?.map(Task::from))
    }

    /// Several tasks by id in one statement (for the DataLoader); foreign ids are left out.
    pub async fn by_ids(&self, actor: &Actor, ids: &[Uuid]) -> ServiceResult<HashMap<Uuid, Task>> {
        require(permissions::can_read(actor), "read tasks")?;
        let rows = task::Entity::find()
            .filter(task::Column::TenantId.eq(actor.tenant.as_str()))
            .filter(task::Column::Id.is_in(ids.iter().copied()))
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| (row.id, Task::from(row)))
            .collect())
    }

    /// The direct subtasks of several tasks in one statement, oldest first (for the DataLoader).
    pub async fn children_of(
        &self,
        actor: &Actor,
        parent_ids: &[Uuid],
    ) -> ServiceResult<HashMap<Uuid, Vec<Task>>> {
        require(permissions::can_read(actor), "read tasks")?;
        let rows = task::Entity::find()
            .filter(task::Column::TenantId.eq(actor.tenant.as_str()))
            .filter(task::Column::ParentId.is_in(parent_ids.iter().copied()))
            .order_by_asc(task::Column::CreatedAt)
            .order_by_asc(task::Column::Id)
            .all(&self.db)
            .await?;
        let mut by_parent: HashMap<Uuid, Vec<Task>> = HashMap::new();
        for row in rows {
            if let Some(parent) = row.parent_id {
                by_parent.entry(parent).or_default().push(Task::from(row));
            }
        }
        Ok(by_parent)
    }

    /// `subtasks(parentId)`: the direct subtasks, oldest first. NOT_FOUND for a foreign parent.
    pub async fn subtasks(&self, actor: &Actor, parent_id: Uuid) -> ServiceResult<Vec<Task>> {
        require(permissions::can_read(actor), "read tasks")?;
        if find(&self.db, actor, parent_id).await?.is_none() {
            return Err(ServiceError::not_found("task", parent_id));
        }
        Ok(self
            .children_of(actor, &[parent_id])
            .await?
            .remove(&parent_id)
            .unwrap_or_default())
    }

    /// A writing transaction for a change of the subtask tree (a new subtask, a move, a
    /// reopen under a parent, a recursive cancel or delete), with the task `id` locked in it.
    ///
    /// Tree changes of a tenant take one advisory lock first (PostgreSQL; SQLite's IMMEDIATE
    /// transaction already serialises every writer). Row locks alone cannot keep the tree
    /// acyclic: two moves that each lock their own pair of rows can both pass their ancestor
    /// walks and close a loop between them, and a child-then-parent lock order would deadlock
    /// against a parent-then-child one.
    async fn begin_tree_change(
        &self,
        actor: &Actor,
        id: Uuid,
    ) -> ServiceResult<(crate::services::tx::WriteTx, task::Model)> {
        let tx = tx::begin_write(&self.db).await?;
        lock_tree(&tx, &actor.tenant).await?;
        let row = lock(&tx, actor, id).await?;
        Ok((tx, row))
    }

    /// As `begin_on`, with the task's predecessors locked FOR SHARE first (predecessor before
    /// successor, the order every edge-touching writer keeps).
    async fn begin_start(
        &self,
        actor: &Actor,
        id: Uuid,
    ) -> ServiceResult<(crate::services::tx::WriteTx, task::Model)> {
        let tx = tx::begin_write(&self.db).await?;
        crate::services::dependencies::lock_predecessors(
            &tx,
            crate::services::dependencies::Kind::Task,
            &actor.tenant,
            id,
        )
        .await?;
        let row = lock(&tx, actor, id).await?;
        Ok((tx, row))
    }

    /// A writing transaction with the task `id` of the caller's tenant locked in it.
    async fn begin_on(
        &self,
        actor: &Actor,
        id: Uuid,
    ) -> ServiceResult<(crate::services::tx::WriteTx, task::Model)> {
        let tx = tx::begin_write(&self.db).await?;
        let row = lock(&tx, actor, id).await?;
        Ok((tx, row))
    }
}

/// The task `id` if it is in the actor's tenant.
async fn find<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    id: Uuid,
) -> ServiceResult<Option<task::Model>> {
    Ok(task::Entity::find_by_id(id)
        .filter(task::Column::TenantId.eq(actor.tenant.as_str()))
        .one(conn)
        .await?)
}

/// Locks the task `id` of the actor's tenant (FOR UPDATE on PostgreSQL), or NOT_FOUND.
pub(crate) async fn lock(
    tx: &DatabaseTransaction,
    actor: &Actor,
    id: Uuid,
) -> ServiceResult<task::Model> {
    task::Entity::find_by_id(id)
        .filter(task::Column::TenantId.eq(actor.tenant.as_str()))
        .lock_exclusive()
        .one(tx)
        .await?
        .ok_or_else(|| ServiceError::not_found("task", id))
}

/// *own\*(actor, task)*: creator, assignee, or owner of a job that links the task as PRIMARY.
pub(crate) async fn owned<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    row: &task::Model,
) -> ServiceResult<bool> {
    if owners(row).owned_by(actor) {
        return Ok(true);
    }
    if actor.is_admin() {
        return Ok(true); // ADMIN needs no ownership; skip the query.
    }
    let primary_jobs = Query::select()
        .column(job_task::Column::JobId)
        .from(job_task::Entity)
        .and_where(job_task::Column::TaskId.eq(row.id))
        .and_where(job_task::Column::Role.eq(JobTaskRole::Primary))
        .to_owned();
    let n = job::Entity::find()
        .filter(job::Column::TenantId.eq(actor.tenant.as_str()))
        .filter(job::Column::Id.in_subquery(primary_jobs))
        .filter(
            Condition::any()
                .add(job::Column::CreatedBy.eq(actor.id.as_str()))
                .add(job::Column::AssignedAgent.eq(actor.id.as_str())),
        )
        .count(conn)
        .await?;
    Ok(n > 0)
}

/// The ids of the jobs linked to each task, in one statement.
pub(crate) async fn linked_jobs(
    tx: &DatabaseTransaction,
    task_ids: &[Uuid],
) -> ServiceResult<HashMap<Uuid, Vec<Uuid>>> {
    let rows = job_task::Entity::find()
        .filter(job_task::Column::TaskId.is_in(task_ids.iter().copied()))
        .order_by_asc(job_task::Column::CreatedAt)
        .order_by_asc(job_task::Column::JobId)
        .order_by_asc(job_task::Column::TaskId)
        .all(tx)
        .await?;
    let mut by_task: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
    for row in rows {
        by_task.entry(row.task_id).or_default().push(row.job_id);
    }
    Ok(by_task)
}

/// The ancestors of a task, nearest first (bounded: the tree is at most `MAX_DEPTH` deep, and
/// a corrupt loop cannot make this spin).
async fn ancestors(tx: &DatabaseTransaction, row: &task::Model) -> ServiceResult<Vec<task::Model>> {
    let mut chain = Vec::new();
    let mut next = row.parent_id;
    while let Some(id) = next {
        if chain.len() > MAX_DEPTH * 2 {
            return Err(ServiceError::Internal(format!(
                "task {} has a parent loop",
                row.id
            )));
        }
        let Some(parent) = task::Entity::find_by_id(id).one(tx).await? else {
            break;
        };
        next = parent.parent_id;
        chain.push(parent);
    }
    Ok(chain)
}

/// The tenant's task-tree lock (PostgreSQL; SQLite's IMMEDIATE transaction already serialises
/// every writer), taken before any row lock by every tree change and by every task-edge
/// write. A tree change locks its subtree top down; an edge from a descendant to its ancestor
/// locks its ends bottom up: the lock keeps the two from running at once (and deadlocking).
pub(crate) async fn lock_tree(tx: &DatabaseTransaction, tenant: &str) -> ServiceResult<()> {
    tx::advisory_lock(tx, &format!("jobgraph.task-tree:{tenant}")).await?;
    Ok(())
}

/// The descendants of a task by level, locked: `levels[0]` are its children, `levels[1]` theirs, …
async fn descendants(tx: &DatabaseTransaction, id: Uuid) -> ServiceResult<Vec<Vec<task::Model>>> {
    let mut levels: Vec<Vec<task::Model>> = Vec::new();
    let mut frontier = vec![id];
    while !frontier.is_empty() {
        if levels.len() > MAX_DEPTH * 2 {
            return Err(ServiceError::Internal(format!(
                "task {id} has a subtask loop"
            )));
        }
        // Locked: every caller is a tree change about to write these rows (a recursive cancel
        // or delete, a move), and a concurrent start of a subtask must finish first rather than
        // turn the whole change into CONFLICT.
        let level = task::Entity::find()
            .filter(task::Column::ParentId.is_in(frontier.iter().copied()))
            .order_by_asc(task::Column::CreatedAt)
            .order_by_asc(task::Column::Id)
            .lock_exclusive()
            .all(tx)
            .await?;
        frontier = level.iter().map(|t| t.id).collect();
        if !level.is_empty() {
            levels.push(level);
        }
    }
    Ok(levels)
}

/// Writes `after` over `before` (the caller bumps `version` and `updated_at`); a write that
/// lost a race is CONFLICT.
pub(crate) async fn save(
    tx: &DatabaseTransaction,
    before: &task::Model,
    after: &task::Model,
) -> ServiceResult<()> {
    let active: task::ActiveModel = crate::services::update::changes(before, after);
    let result = task::Entity::update_many()
        .set(active)
        .filter(task::Column::Id.eq(before.id))
        .filter(task::Column::Version.eq(before.version))
        .exec(tx)
        .await?;
    if result.rows_affected != 1 {
        // Lost a race (only possible where no row lock was taken): report the version now stored.
        let actual = task::Entity::find_by_id(before.id)
            .one(tx)
            .await?
            .map_or(before.version, |t| t.version);
        return Err(ServiceError::VersionConflict {
            expected: before.version,
            actual,
        });
    }
    Ok(())
}

/// Replaces the label rows of a task.
async fn write_labels(
    tx: &DatabaseTransaction,
    row: &task::Model,
    labels: &[String],
) -> ServiceResult<()> {
    entity::task_label::Entity::delete_many()
        .filter(entity::task_label::Column::TaskId.eq(row.id))
        .exec(tx)
        .await?;
    for label in labels {
        entity::task_label::ActiveModel {
            task_id: sea_orm::Set(row.id),
            label: sea_orm::Set(label.clone()),
            tenant_id: sea_orm::Set(row.tenant_id.clone()),
        }
        .insert(tx)
        .await?;
    }
    Ok(())
}

pub(crate) use crate::services::events::commit;
