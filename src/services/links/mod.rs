//! Links between jobs and tasks (DESIGN.md §5): linkTask / unlinkTask, the batched reads behind
//! `Job.tasks`, `Task.jobs` and `Job.progress`, and `JobWatch`, which turns task changes into
//! the `job.updated` events of the jobs whose progress or `blocked` they changed.

pub mod permissions;

use crate::auth::Actor;
use crate::domain::time::Clock;
use crate::domain::time::Micros;
use crate::error::ServiceResult;
use crate::events::EventBus;
use crate::services::access::require;
use crate::services::dependencies::{Kind, blocked_among};
use crate::services::events::EventDraft;
use crate::services::{jobs, tasks, tx};
use entity::status::{JobTaskRole, TaskStatus};
use entity::{job, job_task, task};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    IntoActiveModel, QueryFilter, QueryOrder,
};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use uuid::Uuid;

/// A task's part in a job.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    pub job_id: Uuid,
    pub task_id: Uuid,
    pub role: JobTaskRole,
    pub created_at: Micros,
}

impl From<job_task::Model> for Link {
    fn from(m: job_task::Model) -> Self {
        Self {
            job_id: m.job_id,
            task_id: m.task_id,
            role: m.role,
            created_at: m.created_at,
        }
    }
}

/// `Job.progress`: the job's PRIMARY tasks by status.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Progress {
    pub completed: i64,
    pub cancelled: i64,
    pub open: i64,
}

impl Progress {
    pub fn total(&self) -> i64 {
        self.completed + self.cancelled + self.open
    }
    /// completed / (total − cancelled), and 0 when that is 0.
    pub fn ratio(&self) -> f64 {
        let denominator = self.total() - self.cancelled;
        if denominator == 0 {
            0.0
        } else {
            self.completed as f64 / denominator as f64
        }
    }
    /// Counts one task of `status`.
    pub fn count(&mut self, status: TaskStatus) {
        self.add(status, 1);
    }

    fn add(&mut self, status: TaskStatus, n: i64) {
        match status {
            TaskStatus::Completed => self.completed += n,
            TaskStatus::Cancelled => self.cancelled += n,
            TaskStatus::Open | TaskStatus::InProgress => self.open += n,
        }
    }
}

#[derive(Clone)]
pub struct LinkService {
    db: DatabaseConnection,
    clock: Clock,
    bus: Arc<dyn EventBus>,
}

impl LinkService {
    pub fn new(db: DatabaseConnection, clock: Clock, bus: Arc<dyn EventBus>) -> Self {
        Self { db, clock, bus }
    }

    /// linkTask: links the task to the job with `role`, or changes the role of an existing link.
    pub async fn link(
        &self,
        actor: &Actor,
        job_id: Uuid,
        task_id: Uuid,
        role: JobTaskRole,
    ) -> ServiceResult<Link> {
        let tx = tx::begin_write(&self.db).await?;
        crate::services::dependencies::lock_edges(
            &tx,
            crate::services::dependencies::Kind::Job,
            &actor.tenant,
        )
        .await?;
        let job = jobs::lock(&tx, actor, job_id).await?;
        let task = tasks::lock(&tx, actor, task_id).await?;
        let allowed = permissions::can_link(
            actor,
            jobs::owners(&job).owned_by(actor),
            tasks::owned(&tx, actor, &task).await?,
        );
        require(allowed, "link this task to this job")?;
        let now = self.clock.now_micros();
        let existing = job_task::Entity::find_by_id((job_id, task_id))
            .one(&tx)
            .await?;
        let link = match existing {
            Some(l) if l.role == role => return Ok(l.into()),
            Some(l) => {
                job_task::Entity::update_many()
                    .col_expr(job_task::Column::Role, Expr::value(role))
                    .filter(job_task::Column::JobId.eq(job_id))
                    .filter(job_task::Column::TaskId.eq(task_id))
                    .exec(&tx)
                    .await?;
                Link { role, ..l.into() }
            }
            None => {
                insert(&tx, &actor.tenant, job_id, task_id, role, now).await?;
                Link {
                    job_id,
                    task_id,
                    role,
                    created_at: now,
                }
            }
        };
        let event = EventDraft::job("job.updated", &job);
        crate::services::events::commit(&*self.bus, tx, actor, now, vec![event]).await?;
        Ok(link)
    }

    /// unlinkTask: false when the two were not linked.
    pub async fn unlink(&self, actor: &Actor, job_id: Uuid, task_id: Uuid) -> ServiceResult<bool> {
        let tx = tx::begin_write(&self.db).await?;
        crate::services::dependencies::lock_edges(
            &tx,
            crate::services::dependencies::Kind::Job,
            &actor.tenant,
        )
        .await?;
        let job = jobs::lock(&tx, actor, job_id).await?;
        let task = tasks::lock(&tx, actor, task_id).await?;
        let allowed = permissions::can_link(
            actor,
            jobs::owners(&job).owned_by(actor),
            tasks::owned(&tx, actor, &task).await?,
        );
        require(allowed, "unlink this task from this job")?;
        let removed = job_task::Entity::delete_by_id((job_id, task_id))
            .exec(&tx)
            .await?
            .rows_affected;
        if removed == 0 {
            return Ok(false);
        }
        let event = EventDraft::job("job.updated", &job);
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

    /// The links of several jobs (`by_job`) or tasks, optionally of one role, oldest first.
    pub async fn links_of(
        &self,
        actor: &Actor,
        ids: &[Uuid],
        by_job: bool,
        role: Option<JobTaskRole>,
    ) -> ServiceResult<HashMap<Uuid, Vec<Link>>> {
        let col = if by_job {
            job_task::Column::JobId
        } else {
            job_task::Column::TaskId
        };
        let mut query = job_task::Entity::find()
            .filter(job_task::Column::TenantId.eq(actor.tenant.as_str()))
            .filter(col.is_in(ids.iter().copied()));
        if let Some(role) = role {
            query = query.filter(job_task::Column::Role.eq(role));
        }
        let mut out: HashMap<Uuid, Vec<Link>> = HashMap::new();
        for l in query
            .order_by_asc(job_task::Column::CreatedAt)
            .order_by_asc(job_task::Column::JobId)
            .order_by_asc(job_task::Column::TaskId)
            .all(&self.db)
            .await?
        {
            let key = if by_job { l.job_id } else { l.task_id };
            out.entry(key).or_default().push(l.into());
        }
        Ok(out)
    }

    /// `Job.progress` of several jobs in one statement.
    pub async fn progress_of(
        &self,
        actor: &Actor,
        job_ids: &[Uuid],
    ) -> ServiceResult<HashMap<Uuid, Progress>> {
        use sea_orm::ConnectionTrait;
        use sea_orm::sea_query::{Alias, Query};
        let stmt = Query::select()
            .column((job_task::Entity, job_task::Column::JobId))
            .column((task::Entity, task::Column::Status))
            .expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
            .from(job_task::Entity)
            .inner_join(
                task::Entity,
                Expr::col((task::Entity, task::Column::Id))
                    .equals((job_task::Entity, job_task::Column::TaskId)),
            )
            .and_where(
                Expr::col((job_task::Entity, job_task::Column::TenantId)).eq(actor.tenant.as_str()),
            )
            .and_where(
                Expr::col((job_task::Entity, job_task::Column::JobId))
                    .is_in(job_ids.iter().copied()),
            )
            .and_where(
                Expr::col((job_task::Entity, job_task::Column::Role)).eq(JobTaskRole::Primary),
            )
            .group_by_col((job_task::Entity, job_task::Column::JobId))
            .group_by_col((task::Entity, task::Column::Status))
            .to_owned();
        let backend = self.db.get_database_backend();
        let mut rows: Vec<(Uuid, TaskStatus, i64)> = Vec::new();
        for row in self.db.query_all_raw(backend.build(&stmt)).await? {
            let status: String = row.try_get_by_index(1)?;
            let status = sea_orm::ActiveEnum::try_from_value(&status).map_err(|e| {
                crate::error::ServiceError::Internal(format!("task status {status}: {e}"))
            })?;
            rows.push((row.try_get_by_index(0)?, status, row.try_get_by_index(2)?));
        }
        let mut out: HashMap<Uuid, Progress> = job_ids
            .iter()
            .map(|id| (*id, Progress::default()))
            .collect();
        for (job_id, status, n) in rows {
            out.entry(job_id).or_default().add(status, n);
        }
        Ok(out)
    }
}

/// Inserts a link row.
pub(crate) async fn insert(
    tx: &DatabaseTransaction,
    tenant: &str,
    job_id: Uuid,
    task_id: Uuid,
    role: JobTaskRole,
    now: Micros,
) -> ServiceResult<()> {
    job_task::Model {
        job_id,
        task_id,
        tenant_id: tenant.to_string(),
        role,
        created_at: now,
    }
    .into_active_model()
    .insert(tx)
    .await?;
    Ok(())
}

/// Watches the jobs linked to some tasks across a change of those tasks, to emit one
/// `job.updated` per job whose progress (a PRIMARY task changed between open, completed and
/// cancelled, or went away) or `blocked` (checked before and after) changed.
pub(crate) struct JobWatch {
    tenant: String,
    links: Vec<job_task::Model>,
    statuses: HashMap<Uuid, TaskStatus>,
    blocked_before: HashMap<Uuid, bool>,
}

/// The progress class of a task status.
fn class(status: Option<TaskStatus>) -> u8 {
    match status {
        None => 0,
        Some(TaskStatus::Open | TaskStatus::InProgress) => 1,
        Some(TaskStatus::Completed) => 2,
        Some(TaskStatus::Cancelled) => 3,
    }
}

impl JobWatch {
    /// Takes note of the tasks' links, statuses and the jobs' `blocked` before the change.
    pub(crate) async fn before(
        tx: &DatabaseTransaction,
        tasks: &[&task::Model],
    ) -> ServiceResult<Self> {
        let ids: Vec<Uuid> = tasks.iter().map(|t| t.id).collect();
        let links = if ids.is_empty() {
            Vec::new()
        } else {
            job_task::Entity::find()
                .filter(job_task::Column::TaskId.is_in(ids))
                .all(tx)
                .await?
        };
        let prerequisite_jobs: Vec<Uuid> = links
            .iter()
            .filter(|l| l.role == JobTaskRole::Prerequisite)
            .map(|l| l.job_id)
            .collect();
        let tenant = tasks
            .first()
            .map(|t| t.tenant_id.clone())
            .unwrap_or_default();
        let blocked = blocked_among(tx, Kind::Job, &tenant, &prerequisite_jobs).await?;
        Ok(Self {
            tenant,
            statuses: tasks.iter().map(|t| (t.id, t.status)).collect(),
            blocked_before: prerequisite_jobs
                .iter()
                .map(|j| (*j, blocked.contains(j)))
                .collect(),
            links,
        })
    }

    /// The `job.updated` events after the change; `now_status` gives each watched task's status
    /// now (`None`: deleted).
    pub(crate) async fn after(
        self,
        tx: &DatabaseTransaction,
        now_status: impl Fn(Uuid) -> Option<TaskStatus>,
    ) -> ServiceResult<Vec<EventDraft>> {
        let mut affected: BTreeSet<Uuid> = BTreeSet::new();
        for l in self.links.iter().filter(|l| l.role == JobTaskRole::Primary) {
            if class(self.statuses.get(&l.task_id).copied()) != class(now_status(l.task_id)) {
                affected.insert(l.job_id);
            }
        }
        let watched: Vec<Uuid> = self.blocked_before.keys().copied().collect();
        let blocked_now = blocked_among(tx, Kind::Job, &self.tenant, &watched).await?;
        for (job_id, was) in &self.blocked_before {
            if *was != blocked_now.contains(job_id) {
                affected.insert(*job_id);
            }
        }
        if affected.is_empty() {
            return Ok(Vec::new());
        }
        let rows = job::Entity::find()
            .filter(job::Column::Id.is_in(affected))
            .order_by_asc(job::Column::CreatedAt)
            .all(tx)
            .await?;
        Ok(rows
            .iter()
            .map(|j| EventDraft::job("job.updated", j))
            .collect())
    }
}
