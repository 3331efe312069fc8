//! Agent liveness (DESIGN.md §3): one heartbeat for every lease an agent holds, and handing its
//! jobs back when it shuts down.
//!
//! An agent *holds* a job when the job is RUNNING or CANCELLING, assigned to it, with a lease
//! set (a claim's; a job started by startJob has none until its first heartbeat). Both calls
//! cover exactly those jobs, and only the caller's own.

use super::{AttemptEnd, Cause, ExecutorService, attempt, bounded, end_attempt};
use crate::auth::{Actor, Role};
use crate::error::{ServiceError, ServiceResult};
use crate::services::access::require;
use crate::services::jobs::{self, Job};
use crate::services::sql::Sql;
use crate::services::{tx, validate};
use entity::job;
use entity::status::JobStatus;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

/// What heartbeatAgent did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentHeartbeat {
    /// How many of the caller's leases were extended.
    pub extended: usize,
    /// The caller's jobs that are CANCELLING (by id): the worker should stop them.
    pub cancelling: Vec<Uuid>,
}

/// heartbeatAgent and releaseJobs: an AGENT, or an ADMIN, for the leases it holds itself.
pub fn can_hold_leases(actor: &Actor) -> bool {
    actor.is_admin() || actor.has(Role::Agent)
}

/// The caller's held jobs, locked in id order (the lock order of DESIGN.md §3).
async fn held(tx: &DatabaseTransaction, actor: &Actor) -> ServiceResult<Vec<job::Model>> {
    Ok(job::Entity::find()
        .filter(job::Column::TenantId.eq(actor.tenant.as_str()))
        .filter(job::Column::AssignedAgent.eq(actor.id.as_str()))
        .filter(jobs::queues::running())
        .filter(job::Column::LeaseExpiresAt.is_not_null())
        .order_by_asc(job::Column::Id)
        .lock_exclusive()
        .all(tx)
        .await?)
}

impl ExecutorService {
    /// heartbeatAgent: extends every lease the caller holds to `now + leaseSeconds` (absent:
    /// 60), in one statement, and lists those of its jobs that are CANCELLING. Like a plain
    /// heartbeatJob it writes no event and bumps no version.
    pub async fn heartbeat_agent(
        &self,
        actor: &Actor,
        lease_seconds: Option<i32>,
    ) -> ServiceResult<AgentHeartbeat> {
        require(
            can_hold_leases(actor),
            "heartbeat an agent's leases (AGENT or ADMIN)",
        )?;
        let lease = bounded(
            "leaseSeconds",
            lease_seconds,
            1,
            3600,
            super::DEFAULT_LEASE_SECONDS,
        )?;
        let now = self.clock.now_micros();
        let expires = now + i64::from(lease) * 1_000_000;
        let postgres = tx::is_postgres(&self.db);
        // One UPDATE … RETURNING. On PostgreSQL it locks the rows it changes by id first, the
        // lock order every writer keeps (releaseJobs, claims, attempt ends), then re-checks
        // each under its lock: a job a concurrent write moved out of RUNNING or CANCELLING
        // first is left alone.
        let held = |sql: &mut Sql| {
            sql.push("tenant_id = ")
                .bind(actor.tenant.as_str())
                .push(" AND assigned_agent = ")
                .bind(actor.id.as_str())
                .push(" AND ")
                .push(jobs::queues::RUNNING_SQL)
                .push(" AND lease_expires_at IS NOT NULL");
        };
        let mut sql = Sql::new(postgres);
        sql.push("UPDATE job SET lease_expires_at = ")
            .bind(expires)
            .push(", lease_seconds = ")
            .bind(lease)
            .push(" WHERE ");
        held(&mut sql);
        if postgres {
            sql.push(" AND id IN (SELECT id FROM job WHERE ");
            held(&mut sql);
            sql.push(" ORDER BY id FOR UPDATE)");
        }
        sql.push(" RETURNING id, status");
        let statement = sql.statement(&self.db);
        let rows = if postgres {
            self.db.query_all_raw(statement).await?
        } else {
            // SQLite: through the single writer's queue, like every write.
            let tx = tx::begin_write(&self.db).await?;
            let rows = tx.query_all_raw(statement).await?;
            tx.commit().await?;
            rows
        };
        let mut beat = AgentHeartbeat {
            extended: rows.len(),
            cancelling: Vec::new(),
        };
        for row in rows {
            if row.try_get::<String>("", "status")? == JobStatus::Cancelling.as_str() {
                beat.cancelling.push(row.try_get::<Uuid>("", "id")?);
            }
        }
        beat.cancelling.sort_unstable();
        Ok(beat)
    }

    /// releaseJobs: hands back every job the caller holds, in one transaction. A RUNNING one
    /// ends its attempt with a RELEASED run (error "released: <reason>") and is SCHEDULED now,
    /// its checkpoint kept and the attempt not counted toward `maxAttempts`; a CANCELLING one
    /// ends CANCELLED, its cancel reason kept. Returns the jobs as they are after, by id.
    pub async fn release(&self, actor: &Actor, reason: &str) -> ServiceResult<Vec<Job>> {
        require(
            can_hold_leases(actor),
            "release an agent's jobs (AGENT or ADMIN)",
        )?;
        let reason = validate::reason("reason", reason)?;
        let tx = tx::begin_write(&self.db).await?;
        let mut rows = held(&tx, actor).await?;
        // The RUNNING ones first: a CANCELLING one's cascade may then cancel a released job
        // that waits on it, as it would any waiting successor.
        rows.sort_by_key(|r| (r.status != JobStatus::Running, r.id));
        if rows.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let now = self.clock.now_micros();
        let cause = Cause::Released { reason };
        let mut events = Vec::new();
        let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
        for before in rows {
            let end: AttemptEnd = end_attempt(
                before.status,
                &jobs::policy_of(&before),
                attempt::counted_attempts(&before),
                &cause,
                now,
            )
            .ok_or_else(|| {
                ServiceError::Internal(format!(
                    "release of job {} in status {}",
                    before.id,
                    before.status.as_str()
                ))
            })?;
            let run = jobs::open_run(&tx, before.id).await?;
            let (_, more) = attempt::apply(&tx, &before, run, &end, now).await?;
            events.extend(more);
        }
        // As they are now, cascades included.
        let released = job::Entity::find()
            .filter(job::Column::Id.is_in(ids))
            .order_by_asc(job::Column::Id)
            .all(&tx)
            .await?;
        jobs::commit(&*self.bus, tx, actor, now, events).await?;
        Ok(released.into_iter().map(Job::from).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_and_admins_hold_leases() {
        for (role, allowed) in [
            (Role::Viewer, false),
            (Role::Member, false),
            (Role::Agent, true),
            (Role::Admin, true),
        ] {
            assert_eq!(
                can_hold_leases(&Actor::new("me", "t", vec![role])),
                allowed,
                "{role:?}"
            );
        }
    }
}
