//! The executor (DESIGN.md §3): what workers call to take and do work, and what the background
//! loops call to keep it moving.
//! - `claim`: claimJobs, runnable jobs in claim order, locked `FOR UPDATE SKIP LOCKED` on
//!   PostgreSQL so claimers on any number of replicas never take the same job;
//! - `heartbeat`: heartbeatJob, extending the lease (how a worker also learns of a cancel);
//! - `liveness`: heartbeatAgent (every lease an agent holds, in one statement) and
//!   releaseJobs (an agent shutting down hands its jobs back);
//! - `fail`: failJob, an attempt that ended badly, decided by `attempt::end_attempt`;
//! - `sweeps`: timeouts, lost leases, graceful-cancel deadlines and cron, each one call per tick
//!   acting as `system`, one tenant per transaction, guarded by the state it read.

pub mod attempt;
mod claim;
mod liveness;
mod sweeps;

pub use attempt::{AttemptEnd, Cause, EndEvent, end_attempt};
pub use claim::{ClaimRequest, QueueStats};
pub use liveness::AgentHeartbeat;
pub use sweeps::SweepReport;

use crate::auth::Actor;
use crate::domain::time::Clock;
use crate::error::{ServiceError, ServiceResult};
use crate::events::EventBus;
use crate::services::access::require;
use crate::services::events::EventDraft;
use crate::services::execution::{Checkpoint, checkpointed_data};
use crate::services::jobs::{self, Job, permissions};
use crate::services::{Limits, tx, validate};
use entity::job;
use entity::status::JobStatus;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::json;
use std::sync::Arc;
use uuid::Uuid;

/// The lease a heartbeat gives a job that never had one (started by startJob).
pub const DEFAULT_LEASE_SECONDS: i32 = 60;

/// The worker side of jobs, reached only through an `Actor` (or, for the sweeps, as `system`).
#[derive(Clone)]
pub struct ExecutorService {
    db: DatabaseConnection,
    limits: Limits,
    clock: Clock,
    bus: Arc<dyn EventBus>,
}

/// An integer argument within `min..=max`, `default` when absent; BAD_USER_INPUT naming it.
fn bounded(
    field: &str,
    value: Option<i32>,
    min: i32,
    max: i32,
    default: i32,
) -> ServiceResult<i32> {
    let v = value.unwrap_or(default);
    if !(min..=max).contains(&v) {
        return Err(ServiceError::bad_input(
            field,
            format!("`{field}` must be between {min} and {max}"),
        ));
    }
    Ok(v)
}

impl ExecutorService {
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

    /// heartbeatJob: extends the lease of a RUNNING or CANCELLING job to `now + leaseSeconds`
    /// (absent: the claim's lease length, or 60 for a job started without one), optionally
    /// saving a checkpoint. A plain heartbeat changes the lease only: no event, no version, no
    /// `updatedAt`. Answering a CANCELLING job normally is how a worker learns of the cancel.
    pub async fn heartbeat(
        &self,
        actor: &Actor,
        id: Uuid,
        lease_seconds: Option<i32>,
        checkpoint: Option<Checkpoint>,
        attempt: Option<i32>,
    ) -> ServiceResult<Job> {
        let tx = tx::begin_write(&self.db).await?;
        let before = jobs::lock(&tx, actor, id).await?;
        require(
            permissions::can_heartbeat(actor, jobs::owners(&before)),
            "heartbeat this job (its assigned agent or an ADMIN may)",
        )?;
        let lease = match lease_seconds {
            Some(s) => bounded("leaseSeconds", Some(s), 1, 3600, DEFAULT_LEASE_SECONDS)?,
            None => before.lease_seconds.unwrap_or(DEFAULT_LEASE_SECONDS),
        };
        let data = checkpoint
            .as_ref()
            .map(|c| {
                checkpointed_data(
                    before.last_completed_step,
                    before.checkpoint_data.as_ref(),
                    c,
                    self.limits.max_json_bytes,
                )
            })
            .transpose()?;
        let run = jobs::open_run(&tx, id).await?;
        jobs::fence(&before, run.as_ref(), attempt)?;
        if !matches!(before.status, JobStatus::Running | JobStatus::Cancelling) {
            return Err(ServiceError::InvalidTransition {
                from: before.status.as_str().to_string(),
                to: before.status.as_str().to_string(),
                message: format!(
                    "job {id} is {}: only a RUNNING or CANCELLING job takes heartbeats",
                    before.status.as_str()
                ),
            });
        }
        let now = self.clock.now_micros();
        let mut after = before.clone();
        after.lease_expires_at = Some(now + i64::from(lease) * 1_000_000);
        after.lease_seconds = Some(lease);
        match (checkpoint, data) {
            (Some(checkpoint), Some(data)) => {
                after.last_completed_step = Some(checkpoint.step);
                after.checkpoint_data = data;
                after.version += 1;
                after.updated_at = now;
                jobs::save(&tx, &before, &after).await?;
                let event = EventDraft::job("job.checkpointed", &after)
                    .with("step", json!(checkpoint.step));
                jobs::commit(&*self.bus, tx, actor, now, vec![event]).await?;
            }
            _ => {
                // The lease only, guarded by the version read: a write that raced it wins.
                let updated = job::Entity::update_many()
                    .col_expr(
                        job::Column::LeaseExpiresAt,
                        sea_orm::sea_query::Expr::value(after.lease_expires_at),
                    )
                    .col_expr(
                        job::Column::LeaseSeconds,
                        sea_orm::sea_query::Expr::value(after.lease_seconds),
                    )
                    .filter(job::Column::Id.eq(id))
                    .filter(job::Column::Version.eq(before.version))
                    .exec(&tx)
                    .await?;
                if updated.rows_affected != 1 {
                    return Err(ServiceError::VersionConflict {
                        expected: before.version,
                        actual: before.version + 1,
                    });
                }
                tx.commit().await?;
            }
        }
        Ok(Job::from(after))
    }

    /// failJob: ends the current attempt as failed (`attempt::end_attempt`): with attempts
    /// left (and `retryable`) the job is SCHEDULED after the backoff, otherwise FAILED; on
    /// CANCELLING it ends CANCELLED. A repeat of a failJob whose answer was lost (same attempt,
    /// same error) returns the job as it is.
    pub async fn fail(
        &self,
        actor: &Actor,
        id: Uuid,
        error: &str,
        retryable: bool,
        attempt: Option<i32>,
    ) -> ServiceResult<Job> {
        let tx = tx::begin_write(&self.db).await?;
        let before = jobs::lock(&tx, actor, id).await?;
        require(
            permissions::can_modify(actor, jobs::owners(&before)),
            "fail this job",
        )?;
        let error = validate::reason("error", error)?;
        let run = jobs::open_run(&tx, id).await?;
        if let Err(conflict) = jobs::fence(&before, run.as_ref(), attempt) {
            // The same failure sent again: answer as the first time, writing nothing.
            if let Some(n) = attempt
                && jobs::attempt_ended(&tx, &before, n, |r| {
                    r.status == entity::status::JobRunStatus::Failed
                        && r.error.as_deref() == Some(error.as_str())
                })
                .await?
            {
                return Ok(Job::from(before));
            }
            return Err(conflict);
        }
        jobs::state::transition(jobs::state::JobAction::Fail, before.status)?;
        let now = self.clock.now_micros();
        let cause = Cause::Failed {
            error: error.clone(),
            retryable,
        };
        let Some(end) = end_attempt(
            before.status,
            &jobs::policy_of(&before),
            attempt::counted_attempts(&before),
            &cause,
            now,
        ) else {
            return Err(ServiceError::invalid_transition(
                "job",
                before.status.as_str(),
                "FAILED",
            ));
        };
        let (after, events) = attempt::apply(&tx, &before, run, &end, now).await?;
        jobs::commit(&*self.bus, tx, actor, now, events).await?;
        Ok(Job::from(after))
    }
}
