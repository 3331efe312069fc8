//! Dependencies between jobs and between tasks (DESIGN.md §5): adding and removing edges with
//! the cycle check, the batched reads behind `dependencies`/`dependents`/`satisfied`/`blocked`,
//! the start and finish checks, and the cascades an ended job sets off (`cascade`).

pub mod cascade;
pub mod permissions;
pub mod rules;
mod watch;

pub(crate) use watch::{BlockedWatch, blocked_among};

use crate::auth::Actor;
use crate::domain::time::Clock;
use crate::error::{ServiceError, ServiceResult};
use crate::events::EventBus;
use crate::services::access::require;
use crate::services::events::EventDraft;
use crate::services::{jobs, tasks, tx};
use entity::status::{DependencyType, JobTaskRole};
use entity::{job, job_dependency, job_task, task, task_dependency};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    DbBackend, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Statement,
    Value as DbValue,
};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use uuid::Uuid;

/// Which graph an edge belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Job,
    Task,
}

impl Kind {
    fn table(self) -> &'static str {
        match self {
            Self::Job => "job_dependency",
            Self::Task => "task_dependency",
        }
    }
    fn noun(self) -> &'static str {
        match self {
            Self::Job => "job",
            Self::Task => "task",
        }
    }
}

/// One edge: the successor waits on the predecessor as the type says.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    pub predecessor_id: Uuid,
    pub successor_id: Uuid,
    pub dependency_type: DependencyType,
    pub created_at: i64,
}

impl From<job_dependency::Model> for Edge {
    fn from(m: job_dependency::Model) -> Self {
        Self {
            predecessor_id: m.predecessor_id,
            successor_id: m.successor_id,
            dependency_type: m.dependency_type,
            created_at: m.created_at,
        }
    }
}

impl From<task_dependency::Model> for Edge {
    fn from(m: task_dependency::Model) -> Self {
        Self {
            predecessor_id: m.predecessor_id,
            successor_id: m.successor_id,
            dependency_type: m.dependency_type,
            created_at: m.created_at,
        }
    }
}

/// A statement with `$n` placeholders, in the backend's own spelling (`?n` on SQLite).
pub(crate) fn statement(backend: DbBackend, sql: &str, values: Vec<DbValue>) -> Statement {
    let sql = if backend == DbBackend::Sqlite {
        sql.replace('$', "?")
    } else {
        sql.to_string()
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// The edges writes of a tenant take one lock (DESIGN.md §5: edge writes are serialised per
/// tenant), so that two concurrent edges cannot together close a cycle. Task edges take the
/// task-tree lock first (`tasks::lock_tree`), before any row: their ends may be a descendant
/// and its ancestor, which a tree change locks in the other order.
pub(crate) async fn lock_edges(
    tx: &DatabaseTransaction,
    kind: Kind,
    tenant: &str,
) -> ServiceResult<()> {
    if kind == Kind::Task {
        crate::services::tasks::lock_tree(tx, tenant).await?;
    }
    tx::advisory_lock(tx, &format!("jobgraph.edges:{tenant}")).await?;
    Ok(())
}

/// Edges of `kind` whose successor (`incoming`) or predecessor is one of `ids`, oldest first.
pub(crate) async fn edges<C: ConnectionTrait>(
    conn: &C,
    kind: Kind,
    tenant: &str,
    ids: &[Uuid],
    incoming: bool,
) -> ServiceResult<Vec<Edge>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(match kind {
        Kind::Job => {
            let col = if incoming {
                job_dependency::Column::SuccessorId
            } else {
                job_dependency::Column::PredecessorId
            };
            job_dependency::Entity::find()
                .filter(job_dependency::Column::TenantId.eq(tenant))
                .filter(col.is_in(ids.iter().copied()))
                .order_by_asc(job_dependency::Column::CreatedAt)
                .order_by_asc(job_dependency::Column::PredecessorId)
                .order_by_asc(job_dependency::Column::SuccessorId)
                .all(conn)
                .await?
                .into_iter()
                .map(Edge::from)
                .collect()
        }
        Kind::Task => {
            let col = if incoming {
                task_dependency::Column::SuccessorId
            } else {
                task_dependency::Column::PredecessorId
            };
            task_dependency::Entity::find()
                .filter(task_dependency::Column::TenantId.eq(tenant))
                .filter(col.is_in(ids.iter().copied()))
                .order_by_asc(task_dependency::Column::CreatedAt)
                .order_by_asc(task_dependency::Column::PredecessorId)
                .order_by_asc(task_dependency::Column::SuccessorId)
                .all(conn)
                .await?
                .into_iter()
                .map(Edge::from)
                .collect()
        }
    })
}

/// Locks the predecessors of `id` FOR SHARE (PostgreSQL), before the caller locks `id` itself.
///
/// Every writer that touches both ends of an edge locks the predecessor first (edge writes,
/// cascades from an ended job to its successors); a start that locked its own row first and
/// then its predecessors could deadlock against them.
pub(crate) async fn lock_predecessors(
    tx: &DatabaseTransaction,
    kind: Kind,
    tenant: &str,
    id: Uuid,
) -> ServiceResult<()> {
    let preds: Vec<Uuid> = edges(tx, kind, tenant, &[id], true)
        .await?
        .into_iter()
        .map(|e| e.predecessor_id)
        .collect();
    if preds.is_empty() {
        return Ok(());
    }
    match kind {
        Kind::Job => {
            job::Entity::find()
                .filter(job::Column::Id.is_in(preds))
                .order_by_asc(job::Column::Id)
                .lock_shared()
                .all(tx)
                .await?;
        }
        Kind::Task => {
            task::Entity::find()
                .filter(task::Column::Id.is_in(preds))
                .order_by_asc(task::Column::Id)
                .lock_shared()
                .all(tx)
                .await?;
        }
    }
    Ok(())
}

/// The path `from` ⇒ `to` along existing edges, if there is one: one recursive query for the
/// answer, and (only when there is a path) one more to spell it out.
async fn path(
    tx: &DatabaseTransaction,
    kind: Kind,
    tenant: &str,
    from: Uuid,
    to: Uuid,
) -> ServiceResult<Option<Vec<Uuid>>> {
    let backend = tx.get_database_backend();
    let table = kind.table();
    let reach = format!(
        "WITH RECURSIVE reach(id) AS (
            SELECT successor_id FROM {table} WHERE tenant_id = $1 AND predecessor_id = $2
            UNION
            SELECT d.successor_id FROM {table} d JOIN reach r ON d.predecessor_id = r.id WHERE d.tenant_id = $1
        ) SELECT 1 AS found FROM reach WHERE id = $3 LIMIT 1"
    );
    let values = vec![tenant.into(), from.into(), to.into()];
    if tx
        .query_one_raw(statement(backend, &reach, values))
        .await?
        .is_none()
    {
        return Ok(None);
    }
    let steps = format!(
        "WITH RECURSIVE reach(id, via) AS (
            SELECT successor_id, predecessor_id FROM {table} WHERE tenant_id = $1 AND predecessor_id = $2
            UNION
            SELECT d.successor_id, d.predecessor_id FROM {table} d JOIN reach r ON d.predecessor_id = r.id WHERE d.tenant_id = $1
        ) SELECT id, via FROM reach"
    );
    let rows = tx
        .query_all_raw(statement(backend, &steps, vec![tenant.into(), from.into()]))
        .await?;
    let mut via: HashMap<Uuid, Uuid> = HashMap::new();
    for row in rows {
        let id: Uuid = row.try_get_by_index(0)?;
        let prev: Uuid = row.try_get_by_index(1)?;
        via.entry(id).or_insert(prev);
    }
    // Walk back from `to`; the graph is acyclic, so this ends at `from`.
    let mut chain = vec![to];
    let mut at = to;
    while at != from {
        let Some(prev) = via.get(&at).copied() else {
            break;
        };
        chain.push(prev);
        at = prev;
        if chain.len() > via.len() + 1 {
            return Err(ServiceError::Internal(format!(
                "{} dependencies of {from} loop",
                kind.noun()
            )));
        }
    }
    chain.reverse();
    Ok(Some(chain))
}

/// The service behind the four dependency mutations.
#[derive(Clone)]
pub struct DependencyService {
    db: DatabaseConnection,
    clock: Clock,
    bus: Arc<dyn EventBus>,
}

/// What the successor's `*.updated` event needs: the locked rows of both ends.
#[allow(clippy::large_enum_variant)] // one short-lived value per call; boxing buys nothing
enum Ends {
    Jobs(job::Model, job::Model),
    Tasks(task::Model),
}

impl DependencyService {
    pub fn new(db: DatabaseConnection, clock: Clock, bus: Arc<dyn EventBus>) -> Self {
        Self { db, clock, bus }
    }

    /// Locks both ends in the tenant (NOT_FOUND), checks the right on both (FORBIDDEN).
    async fn ends(
        &self,
        tx: &DatabaseTransaction,
        actor: &Actor,
        kind: Kind,
        pred: Uuid,
        succ: Uuid,
    ) -> ServiceResult<Ends> {
        Ok(match kind {
            Kind::Job => {
                let p = jobs::lock(tx, actor, pred).await?;
                let s = jobs::lock(tx, actor, succ).await?;
                let allowed = permissions::can_edit_edge(
                    actor,
                    jobs::owners(&p).owned_by(actor),
                    jobs::owners(&s).owned_by(actor),
                );
                require(allowed, "change the dependencies of these jobs")?;
                Ends::Jobs(p, s)
            }
            Kind::Task => {
                let p = tasks::lock(tx, actor, pred).await?;
                let s = tasks::lock(tx, actor, succ).await?;
                let allowed = permissions::can_edit_edge(
                    actor,
                    tasks::owned(tx, actor, &p).await?,
                    tasks::owned(tx, actor, &s).await?,
                );
                require(allowed, "change the dependencies of these tasks")?;
                Ends::Tasks(s)
            }
        })
    }

    /// The `*.updated` event of the successor.
    async fn successor_updated(tx: &DatabaseTransaction, ends: &Ends) -> ServiceResult<EventDraft> {
        Ok(match ends {
            Ends::Jobs(_, s) => EventDraft::job("job.updated", s),
            Ends::Tasks(s) => {
                let links = tasks::linked_jobs(tx, &[s.id])
                    .await?
                    .remove(&s.id)
                    .unwrap_or_default();
                EventDraft::task("task.updated", s, links)
            }
        })
    }

    /// add{Job,Task}Dependency: a new edge, or a new type for an existing pair.
    pub async fn add(
        &self,
        actor: &Actor,
        kind: Kind,
        pred: Uuid,
        succ: Uuid,
        dependency_type: DependencyType,
    ) -> ServiceResult<Edge> {
        let tx = tx::begin_write(&self.db).await?;
        lock_edges(&tx, kind, &actor.tenant).await?;
        let ends = self.ends(&tx, actor, kind, pred, succ).await?;
        if let Ends::Jobs(p, s) = &ends {
            for (field, row) in [("predecessorId", p), ("successorId", s)] {
                if row.cron.is_some() {
                    return Err(ServiceError::bad_input(
                        field,
                        format!(
                            "job {} recurs by cron: cron jobs take no dependencies",
                            row.id
                        ),
                    ));
                }
            }
        }
        if pred == succ {
            return Err(ServiceError::CycleDetected {
                cycle: vec![pred.to_string()],
                message: format!("a {} cannot depend on itself", kind.noun()),
            });
        }
        if let Some(chain) = path(&tx, kind, &actor.tenant, succ, pred).await? {
            return Err(ServiceError::CycleDetected {
                message: format!(
                    "{pred} already depends on {succ} (through {} edges): this edge would close a cycle",
                    chain.len() - 1
                ),
                cycle: chain.iter().map(Uuid::to_string).collect(),
            });
        }
        let now = self.clock.now_micros();
        let existing = edges(&tx, kind, &actor.tenant, &[succ], true)
            .await?
            .into_iter()
            .find(|e| e.predecessor_id == pred);
        let edge = match existing {
            Some(e) if e.dependency_type == dependency_type => return Ok(e),
            Some(e) => {
                match kind {
                    Kind::Job => {
                        job_dependency::Entity::update_many()
                            .col_expr(
                                job_dependency::Column::DependencyType,
                                sea_orm::sea_query::Expr::value(dependency_type),
                            )
                            .filter(job_dependency::Column::PredecessorId.eq(pred))
                            .filter(job_dependency::Column::SuccessorId.eq(succ))
                            .exec(&tx)
                            .await?;
                    }
                    Kind::Task => {
                        task_dependency::Entity::update_many()
                            .col_expr(
                                task_dependency::Column::DependencyType,
                                sea_orm::sea_query::Expr::value(dependency_type),
                            )
                            .filter(task_dependency::Column::PredecessorId.eq(pred))
                            .filter(task_dependency::Column::SuccessorId.eq(succ))
                            .exec(&tx)
                            .await?;
                    }
                }
                Edge {
                    dependency_type,
                    ..e
                }
            }
            None => {
                let edge = Edge {
                    predecessor_id: pred,
                    successor_id: succ,
                    dependency_type,
                    created_at: now,
                };
                match kind {
                    Kind::Job => {
                        job_dependency::Model {
                            predecessor_id: pred,
                            successor_id: succ,
                            tenant_id: actor.tenant.clone(),
                            dependency_type,
                            created_at: now,
                        }
                        .into_active_model()
                        .insert(&tx)
                        .await?;
                    }
                    Kind::Task => {
                        task_dependency::Model {
                            predecessor_id: pred,
                            successor_id: succ,
                            tenant_id: actor.tenant.clone(),
                            dependency_type,
                            created_at: now,
                        }
                        .into_active_model()
                        .insert(&tx)
                        .await?;
                    }
                }
                edge
            }
        };
        let event = Self::successor_updated(&tx, &ends).await?;
        crate::services::events::commit(&*self.bus, tx, actor, now, vec![event]).await?;
        Ok(edge)
    }

    /// remove{Job,Task}Dependency: false when there was no such edge.
    pub async fn remove(
        &self,
        actor: &Actor,
        kind: Kind,
        pred: Uuid,
        succ: Uuid,
    ) -> ServiceResult<bool> {
        let tx = tx::begin_write(&self.db).await?;
        lock_edges(&tx, kind, &actor.tenant).await?;
        let ends = self.ends(&tx, actor, kind, pred, succ).await?;
        let removed = match kind {
            Kind::Job => {
                job_dependency::Entity::delete_many()
                    .filter(job_dependency::Column::PredecessorId.eq(pred))
                    .filter(job_dependency::Column::SuccessorId.eq(succ))
                    .exec(&tx)
                    .await?
                    .rows_affected
            }
            Kind::Task => {
                task_dependency::Entity::delete_many()
                    .filter(task_dependency::Column::PredecessorId.eq(pred))
                    .filter(task_dependency::Column::SuccessorId.eq(succ))
                    .exec(&tx)
                    .await?
                    .rows_affected
            }
        };
        if removed == 0 {
            return Ok(false);
        }
        let event = Self::successor_updated(&tx, &ends).await?;
        crate::services::events::commit(
            &*self.bus,
            tx,
            actor,
            self.clock.now_micros(),
            vec![event],
        )
        .await?;
        Ok(true)
    }

    /// Edges into (`incoming`) or out of several records at once, for the DataLoaders.
    pub async fn edges_of(
        &self,
        actor: &Actor,
        kind: Kind,
        ids: &[Uuid],
        incoming: bool,
    ) -> ServiceResult<HashMap<Uuid, Vec<Edge>>> {
        let mut by_id: HashMap<Uuid, Vec<Edge>> = HashMap::new();
        for e in edges(&self.db, kind, &actor.tenant, ids, incoming).await? {
            let key = if incoming {
                e.successor_id
            } else {
                e.predecessor_id
            };
            by_id.entry(key).or_default().push(e);
        }
        Ok(by_id)
    }

    /// `blocked` of several records at once (one statement).
    pub async fn blocked_of(
        &self,
        actor: &Actor,
        kind: Kind,
        ids: &[Uuid],
    ) -> ServiceResult<HashMap<Uuid, bool>> {
        let blocked = blocked_among(&self.db, kind, &actor.tenant, ids).await?;
        Ok(ids.iter().map(|id| (*id, blocked.contains(id))).collect())
    }
}

/// DEPENDENCY_UNMET when `unmet` is not empty.
fn refuse(unmet: Vec<Value>, what: &str, id: Uuid, action: &str) -> ServiceResult<()> {
    if unmet.is_empty() {
        return Ok(());
    }
    Err(ServiceError::DependencyUnmet {
        message: format!(
            "{what} {id} cannot {action} yet: {} dependency(ies) are not satisfied",
            unmet.len()
        ),
        unmet,
    })
}

/// How the gates' rows are locked while a start or finish is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Locking {
    /// FOR SHARE, waiting for whoever holds them (startJob, completeJob).
    Wait,
    /// FOR SHARE SKIP LOCKED (claims): a row someone is changing right now is not waited for.
    SkipLocked,
}

/// `query` locked FOR SHARE as `locking` says (SQLite's IMMEDIATE transaction needs none).
fn shared<E: EntityTrait>(
    tx: &DatabaseTransaction,
    query: sea_orm::Select<E>,
    locking: Locking,
) -> sea_orm::Select<E> {
    match locking {
        Locking::Wait => query.lock_shared(),
        Locking::SkipLocked if tx::is_postgres_tx(tx) => query.lock_with_behavior(
            sea_orm::sea_query::LockType::Share,
            sea_orm::sea_query::LockBehavior::SkipLocked,
        ),
        Locking::SkipLocked => query,
    }
}

/// The gates of jobs: their incoming edges and PREREQUISITE tasks, read for many jobs at once.
#[derive(Debug, Default)]
pub(crate) struct Gates {
    edges: HashMap<Uuid, Vec<Edge>>,
    prerequisites: HashMap<Uuid, Vec<Uuid>>,
}

impl Gates {
    /// The gates of `ids` (jobs of `tenant`) for a start (edges and prerequisites: two
    /// statements whatever their number) or a finish (edges only).
    pub(crate) async fn of(
        tx: &DatabaseTransaction,
        tenant: &str,
        ids: &[Uuid],
        starting: bool,
    ) -> ServiceResult<Self> {
        let mut gates = Self::default();
        if ids.is_empty() {
            return Ok(gates);
        }
        for e in edges(tx, Kind::Job, tenant, ids, true).await? {
            gates.edges.entry(e.successor_id).or_default().push(e);
        }
        if !starting {
            return Ok(gates);
        }
        let links: Vec<(Uuid, Uuid)> = job_task::Entity::find()
            .select_only()
            .column(job_task::Column::JobId)
            .column(job_task::Column::TaskId)
            .filter(job_task::Column::JobId.is_in(ids.iter().copied()))
            .filter(job_task::Column::Role.eq(JobTaskRole::Prerequisite))
            .into_tuple()
            .all(tx)
            .await?;
        for (job, task) in links {
            gates.prerequisites.entry(job).or_default().push(task);
        }
        Ok(gates)
    }
}

/// The unmet gates of a job's start (FS and SS edges, PREREQUISITE tasks) or finish (FF
/// edges) given its `gates`, their rows locked FOR SHARE so they cannot change under the
/// decision. `None` when `locking` skips locked rows and one of them is locked by someone else.
async fn job_unmet(
    tx: &DatabaseTransaction,
    row: &job::Model,
    gates: &Gates,
    starting: bool,
    locking: Locking,
) -> ServiceResult<Option<Vec<Value>>> {
    let incoming: Vec<&Edge> = gates
        .edges
        .get(&row.id)
        .into_iter()
        .flatten()
        .filter(|e| rules::gates_start(e.dependency_type) == starting)
        .collect();
    let mut unmet = Vec::new();
    if !incoming.is_empty() {
        let query = job::Entity::find()
            .filter(job::Column::Id.is_in(incoming.iter().map(|e| e.predecessor_id)));
        let preds: HashMap<Uuid, job::Model> = shared(tx, query, locking)
            .all(tx)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        let wanted: HashSet<Uuid> = incoming.iter().map(|e| e.predecessor_id).collect();
        if locking == Locking::SkipLocked && preds.len() < wanted.len() {
            return Ok(None);
        }
        for e in &incoming {
            let ok = preds.get(&e.predecessor_id).is_some_and(|p| {
                rules::job_edge_satisfied(e.dependency_type, p.status, p.started_at)
            });
            if !ok {
                unmet.push(json!({"predecessorId": e.predecessor_id, "type": type_name(e.dependency_type)}));
            }
        }
    }
    let prerequisite_ids = gates.prerequisites.get(&row.id).filter(|_| starting);
    if let Some(prerequisite_ids) = prerequisite_ids {
        let query = task::Entity::find()
            .filter(task::Column::Id.is_in(prerequisite_ids.iter().copied()))
            .order_by_asc(task::Column::CreatedAt);
        let prerequisites = shared(tx, query, locking).all(tx).await?;
        if locking == Locking::SkipLocked && prerequisites.len() < prerequisite_ids.len() {
            return Ok(None);
        }
        for t in prerequisites
            .iter()
            .filter(|t| !rules::prerequisite_satisfied(t.status))
        {
            unmet.push(json!({"taskId": t.id, "role": "PREREQUISITE"}));
        }
    }
    Ok(Some(unmet))
}

/// Checks the edges (and, for a job start, PREREQUISITE tasks) a job's start or finish waits
/// on, locking the predecessors FOR SHARE so they cannot change under the decision.
pub(crate) async fn check_job(
    tx: &DatabaseTransaction,
    row: &job::Model,
    starting: bool,
) -> ServiceResult<()> {
    let gates = Gates::of(tx, &row.tenant_id, &[row.id], starting).await?;
    let unmet = job_unmet(tx, row, &gates, starting, Locking::Wait)
        .await?
        .unwrap_or_default();
    refuse(
        unmet,
        "job",
        row.id,
        if starting { "start" } else { "finish" },
    )
}

/// Whether a claim may start the locked job `row` (whose `gates` were read with its batch)
/// now: every start gate met, and none of their rows being changed by someone else at this
/// moment (then the next claim decides). A job without gates costs no statement.
pub(crate) async fn claimable(
    tx: &DatabaseTransaction,
    row: &job::Model,
    gates: &Gates,
) -> ServiceResult<bool> {
    Ok(job_unmet(tx, row, gates, true, Locking::SkipLocked)
        .await?
        .is_some_and(|unmet| unmet.is_empty()))
}

/// As `check_job`, for a task (tasks have no prerequisites).
pub(crate) async fn check_task(
    tx: &DatabaseTransaction,
    row: &task::Model,
    starting: bool,
) -> ServiceResult<()> {
    let incoming: Vec<Edge> = edges(tx, Kind::Task, &row.tenant_id, &[row.id], true)
        .await?
        .into_iter()
        .filter(|e| rules::gates_start(e.dependency_type) == starting)
        .collect();
    if incoming.is_empty() {
        return Ok(());
    }
    let preds: HashMap<Uuid, task::Model> = task::Entity::find()
        .filter(task::Column::Id.is_in(incoming.iter().map(|e| e.predecessor_id)))
        .lock_shared()
        .all(tx)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let unmet = incoming
        .iter()
        .filter(|e| {
            !preds.get(&e.predecessor_id).is_some_and(|p| {
                rules::task_edge_satisfied(e.dependency_type, p.status, p.started_at)
            })
        })
        .map(|e| json!({"predecessorId": e.predecessor_id, "type": type_name(e.dependency_type)}))
        .collect();
    refuse(
        unmet,
        "task",
        row.id,
        if starting { "start" } else { "finish" },
    )
}

/// The API name of a dependency type.
pub fn type_name(t: DependencyType) -> &'static str {
    match t {
        DependencyType::FinishToStart => "FINISH_TO_START",
        DependencyType::StartToStart => "START_TO_START",
        DependencyType::FinishToFinish => "FINISH_TO_FINISH",
    }
}
