//! Jobs (DESIGN.md §3): reads, and every write through `write` and `lifecycle`.

pub mod cron;
mod lifecycle;
pub mod list;
pub mod model;
pub mod permissions;
pub(crate) mod queues;
pub mod retry;
pub mod state;
mod write;

pub(crate) use lifecycle::{close_run, enter_waiting, open_attempt, started_events};
pub use list::{JobFilter, JobOrder, JobOrderField, JobPage};
pub use model::{
    CancelMode, Delegation, Job, JobLimits, JobPatch, JobResult, JobRun, LimitsPatch, NewJob,
    ScheduleRequest, policy_of,
};
pub use retry::{RetryPolicy, RetryPolicyPatch};

use crate::auth::Actor;
use crate::domain::time::Clock;
use crate::error::{ServiceError, ServiceResult};
use crate::events::EventBus;
use crate::services::access::{Owners, require};
use crate::services::{Limits, tx};
use entity::status::JobRunStatus;
use entity::{job, job_run};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

/// The jobs of every tenant, reached only through an `Actor`.
#[derive(Clone)]
pub struct JobService {
    db: DatabaseConnection,
    limits: Limits,
    clock: Clock,
    bus: Arc<dyn EventBus>,
}

/// The owners of a job row, for the permission policies.
pub(crate) fn owners(row: &job::Model) -> Owners<'_> {
    Owners {
        created_by: &row.created_by,
        assigned_agent: row.assigned_agent.as_deref(),
    }
}

impl JobService {
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

    /// `job(id)`: the job, or `None` when it does not exist in the caller's tenant.
    pub async fn get(&self, actor: &Actor, id: Uuid) -> ServiceResult<Option<Job>> {
        require(permissions::can_read(actor), "read jobs")?;
        Ok(find(&self.db, actor, id).await?.map(Job::from))
    }

    /// Several jobs by id in one statement (for the DataLoader); foreign ids are left out.
    pub async fn by_ids(&self, actor: &Actor, ids: &[Uuid]) -> ServiceResult<HashMap<Uuid, Job>> {
        require(permissions::can_read(actor), "read jobs")?;
        let rows = job::Entity::find()
            .filter(job::Column::TenantId.eq(actor.tenant.as_str()))
            .filter(job::Column::Id.is_in(ids.iter().copied()))
            .all(&self.db)
            .await?;
        Ok(rows
            .into_iter()
            .map(|row| (row.id, Job::from(row)))
            .collect())
    }

    /// `jobHistory(id)`: every run of the job, oldest first. NOT_FOUND for a foreign id.
    pub async fn history(&self, actor: &Actor, id: Uuid) -> ServiceResult<Vec<JobRun>> {
        require(permissions::can_read(actor), "read jobs")?;
        if find(&self.db, actor, id).await?.is_none() {
            return Err(ServiceError::not_found("job", id));
        }
        let mut runs = self.runs_for_jobs(actor, &[id]).await?;
        Ok(runs.remove(&id).unwrap_or_default())
    }

    /// The runs of several jobs at once, oldest first, in one statement (for the DataLoader).
    /// Jobs outside the caller's tenant get none.
    pub async fn runs_for_jobs(
        &self,
        actor: &Actor,
        ids: &[Uuid],
    ) -> ServiceResult<HashMap<Uuid, Vec<JobRun>>> {
        let rows = job_run::Entity::find()
            .filter(job_run::Column::TenantId.eq(actor.tenant.as_str()))
            .filter(job_run::Column::JobId.is_in(ids.iter().copied()))
            .order_by_asc(job_run::Column::Series)
            .order_by_asc(job_run::Column::Attempt)
            .all(&self.db)
            .await?;
        let mut by_job: HashMap<Uuid, Vec<JobRun>> = HashMap::new();
        for row in rows {
            by_job.entry(row.job_id).or_default().push(row.into());
        }
        Ok(by_job)
    }

    /// As `begin_on`, with the job's predecessors locked FOR SHARE before the job itself (the
    /// lock order every edge-touching writer keeps: predecessor first).
    async fn begin_start(
        &self,
        actor: &Actor,
        id: Uuid,
    ) -> ServiceResult<(crate::services::tx::WriteTx, job::Model)> {
        let tx = tx::begin_write(&self.db).await?;
        crate::services::dependencies::lock_predecessors(
            &tx,
            crate::services::dependencies::Kind::Job,
            &actor.tenant,
            id,
        )
        .await?;
        let row = lock(&tx, actor, id).await?;
        Ok((tx, row))
    }

    /// A transaction that writes, with the job `id` of the caller's tenant locked in it.
    async fn begin_on(
        &self,
        actor: &Actor,
        id: Uuid,
    ) -> ServiceResult<(crate::services::tx::WriteTx, job::Model)> {
        let tx = tx::begin_write(&self.db).await?;
        let row = lock(&tx, actor, id).await?;
        Ok((tx, row))
    }
}

/// Locks the job `id` of the actor's tenant (FOR UPDATE on PostgreSQL), or NOT_FOUND.
pub(crate) async fn lock(
    tx: &DatabaseTransaction,
    actor: &Actor,
    id: Uuid,
) -> ServiceResult<job::Model> {
    job::Entity::find_by_id(id)
        .filter(job::Column::TenantId.eq(actor.tenant.as_str()))
        .lock_exclusive()
        .one(tx)
        .await?
        .ok_or_else(|| ServiceError::not_found("job", id))
}

/// The job `id` if it is in the actor's tenant.
async fn find<C: ConnectionTrait>(
    conn: &C,
    actor: &Actor,
    id: Uuid,
) -> ServiceResult<Option<job::Model>> {
    Ok(job::Entity::find_by_id(id)
        .filter(job::Column::TenantId.eq(actor.tenant.as_str()))
        .one(conn)
        .await?)
}

/// The open run of a job, if any (at most one is open at a time).
pub(crate) async fn open_run(
    tx: &DatabaseTransaction,
    job_id: Uuid,
) -> ServiceResult<Option<job_run::Model>> {
    Ok(job_run::Entity::find()
        .filter(job_run::Column::JobId.eq(job_id))
        .filter(job_run::Column::Status.eq(JobRunStatus::Running))
        .one(tx)
        .await?)
}

/// Writes `after` over `before`, bumping nothing itself: the caller sets `version` and
/// `updated_at`. The `version` guard turns a write that lost a race into CONFLICT.
pub(crate) async fn save(
    tx: &DatabaseTransaction,
    before: &job::Model,
    after: &job::Model,
) -> ServiceResult<()> {
    let active: job::ActiveModel = crate::services::update::changes(before, after);
    let result = job::Entity::update_many()
        .set(active)
        .filter(job::Column::Id.eq(before.id))
        .filter(job::Column::Version.eq(before.version))
        .exec(tx)
        .await?;
    if result.rows_affected != 1 {
        // Lost a race (only possible where no row lock was taken): report the version now stored.
        let actual = job::Entity::find_by_id(before.id)
            .one(tx)
            .await?
            .map_or(before.version, |j| j.version);
        return Err(ServiceError::VersionConflict {
            expected: before.version,
            actual,
        });
    }
    Ok(())
}

/// Replaces the label rows of a job.
async fn write_labels(
    tx: &DatabaseTransaction,
    row: &job::Model,
    labels: &[String],
) -> ServiceResult<()> {
    entity::job_label::Entity::delete_many()
        .filter(entity::job_label::Column::JobId.eq(row.id))
        .exec(tx)
        .await?;
    for label in labels {
        entity::job_label::ActiveModel {
            job_id: sea_orm::Set(row.id),
            label: sea_orm::Set(label.clone()),
            tenant_id: sea_orm::Set(row.tenant_id.clone()),
        }
        .insert(tx)
        .await?;
    }
    Ok(())
}

pub(crate) use crate::services::events::commit;

/// True when attempt `n` of the job's current series has a closed run that `ended_so` accepts
/// (a repeated completeJob or failJob whose first answer was lost, DESIGN.md §3).
pub(crate) async fn attempt_ended(
    tx: &DatabaseTransaction,
    row: &job::Model,
    n: i32,
    ended_so: impl Fn(&job_run::Model) -> bool,
) -> ServiceResult<bool> {
    let run = job_run::Entity::find()
        .filter(job_run::Column::JobId.eq(row.id))
        .filter(job_run::Column::Series.eq(row.series))
        .filter(job_run::Column::Attempt.eq(n))
        .one(tx)
        .await?;
    Ok(run.is_some_and(|r| r.status != JobRunStatus::Running && ended_so(&r)))
}

/// The fencing check of DESIGN.md §3: a given `attempt` must be the job's current attempt, and
/// that attempt's run must still be open.
pub(crate) fn fence(
    row: &job::Model,
    run: Option<&job_run::Model>,
    attempt: Option<i32>,
) -> ServiceResult<()> {
    let Some(expected) = attempt else {
        return Ok(());
    };
    let open = run.is_some_and(|r| r.attempt == row.attempt && r.series == row.series);
    if expected != row.attempt || !open {
        return Err(ServiceError::AttemptConflict {
            expected,
            actual: row.attempt,
            message: if expected != row.attempt {
                format!(
                    "attempt {expected} is stale: the job is at attempt {}",
                    row.attempt
                )
            } else {
                format!("attempt {expected} has already ended")
            },
        });
    }
    Ok(())
}
