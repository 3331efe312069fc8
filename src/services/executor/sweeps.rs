//! What the background loops do each tick (DESIGN.md §1, §3), one service call each, acting as
//! `system`:
//! - timeouts: a RUNNING attempt older than `timeoutSeconds` ends TIMED_OUT, or retries;
//! - leases: an attempt whose lease passed ends "lease expired" (retry or FAILED; CANCELLED on
//!   CANCELLING);
//! - grace periods: a CANCELLING job whose grace period is over ends CANCELLED;
//! - cron: a cron job whose series ended SUCCEEDED, FAILED or TIMED_OUT is SCHEDULED at its
//!   next occurrence, with a new series and no checkpoint.
//!
//! Each finds its candidates across tenants, then handles one tenant per transaction: the
//! candidates are locked (on PostgreSQL `SKIP LOCKED`: a job a worker is finishing right now is
//! left for the next tick) and the condition is checked again on the locked row, so a sweep
//! never overwrites a job a worker completed meanwhile, and sweeps on every replica at once act
//! once per job.

use super::attempt::{self, Cause};
use super::{ExecutorService, end_attempt};
use crate::auth::Actor;
use crate::domain::time::{Micros, from_micros, rfc3339, to_micros};
use crate::error::ServiceResult;
use crate::services::events::EventDraft;
use crate::services::jobs::{self, cron::CronSchedule};
use crate::services::tx;
use entity::job;
use entity::status::JobStatus;
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use uuid::Uuid;

/// Jobs one sweep handles per tick at most (the rest wait for the next tick).
const SWEEP_BATCH: u64 = 500;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Jobs the sweep moved.
    pub jobs: usize,
    /// Tenants it wrote in.
    pub tenants: usize,
}

/// Which sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sweep {
    Timeouts,
    Leases,
    Grace(i64),
    Cron,
}

impl Sweep {
    /// The SQL condition of a candidate at `now`.
    fn condition(self, now: Micros) -> Condition {
        match self {
            Self::Timeouts => Condition::all()
                .add(job::Column::Status.eq(JobStatus::Running))
                .add(job::Column::TimeoutSeconds.is_not_null())
                .add(Expr::cust_with_values(
                    "started_at + CAST(timeout_seconds AS BIGINT) * 1000000 <= $1",
                    [now],
                )),
            Self::Leases => Condition::all()
                .add(job::Column::Status.is_in([JobStatus::Running, JobStatus::Cancelling]))
                .add(job::Column::LeaseExpiresAt.lte(now)),
            Self::Grace(grace_us) => Condition::all()
                .add(job::Column::Status.eq(JobStatus::Cancelling))
                .add(job::Column::CancelRequestedAt.lte(now - grace_us)),
            Self::Cron => Condition::all()
                .add(job::Column::Status.is_in([
                    JobStatus::Succeeded,
                    JobStatus::Failed,
                    JobStatus::TimedOut,
                ]))
                .add(job::Column::Cron.is_not_null()),
        }
    }

    /// The same test on a locked row (the compare half of compare-and-set).
    fn applies(self, row: &job::Model, now: Micros) -> bool {
        match self {
            Self::Timeouts => {
                row.status == JobStatus::Running
                    && matches!((row.started_at, row.timeout_seconds), (Some(s), Some(t)) if s + i64::from(t) * 1_000_000 <= now)
            }
            Self::Leases => {
                matches!(row.status, JobStatus::Running | JobStatus::Cancelling)
                    && row.lease_expires_at.is_some_and(|l| l <= now)
            }
            Self::Grace(grace_us) => {
                row.status == JobStatus::Cancelling
                    && row.cancel_requested_at.is_some_and(|c| c <= now - grace_us)
            }
            Self::Cron => {
                matches!(
                    row.status,
                    JobStatus::Succeeded | JobStatus::Failed | JobStatus::TimedOut
                ) && row.cron.is_some()
            }
        }
    }
}

impl ExecutorService {
    /// Ends the attempts that ran past their job's `timeoutSeconds`.
    pub async fn sweep_timeouts(&self) -> ServiceResult<SweepReport> {
        let report = self.sweep(Sweep::Timeouts).await?;
        Ok(report)
    }

    /// Ends the attempts whose lease passed.
    pub async fn sweep_leases(&self) -> ServiceResult<SweepReport> {
        let report = self.sweep(Sweep::Leases).await?;
        crate::metrics::leases_expired(report.jobs);
        Ok(report)
    }

    /// Cancels the CANCELLING jobs whose grace period (`grace`) is over.
    pub async fn sweep_grace_periods(&self, grace: Duration) -> ServiceResult<SweepReport> {
        let grace_us = i64::try_from(grace.as_micros()).unwrap_or(i64::MAX);
        let report = self.sweep(Sweep::Grace(grace_us)).await?;
        Ok(report)
    }

    /// Schedules the next occurrence of every cron job whose series ended.
    pub async fn sweep_cron(&self) -> ServiceResult<SweepReport> {
        let report = self.sweep(Sweep::Cron).await?;
        Ok(report)
    }

    async fn sweep(&self, sweep: Sweep) -> ServiceResult<SweepReport> {
        let now = self.clock.now_micros();
        let found: Vec<(Uuid, String)> = job::Entity::find()
            .select_only()
            .column(job::Column::Id)
            .column(job::Column::TenantId)
            .filter(sweep.condition(now))
            .order_by_asc(job::Column::TenantId)
            .order_by_asc(job::Column::Id)
            .limit(SWEEP_BATCH)
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut by_tenant: BTreeMap<String, Vec<Uuid>> = BTreeMap::new();
        for (id, tenant) in found {
            by_tenant.entry(tenant).or_default().push(id);
        }
        let mut report = SweepReport::default();
        for (tenant, ids) in by_tenant {
            let moved = self.sweep_tenant(sweep, &tenant, &ids, now).await?;
            if moved > 0 {
                report.jobs += moved;
                report.tenants += 1;
            }
        }
        Ok(report)
    }

    /// One tenant's candidates, in one transaction: locked, checked again, moved.
    async fn sweep_tenant(
        &self,
        sweep: Sweep,
        tenant: &str,
        ids: &[Uuid],
        now: Micros,
    ) -> ServiceResult<usize> {
        let system = Actor::system(tenant);
        let tx = tx::begin_write(&self.db).await?;
        let mut query = job::Entity::find()
            .filter(job::Column::TenantId.eq(tenant))
            .filter(job::Column::Id.is_in(ids.iter().copied()))
            .order_by_asc(job::Column::Id);
        if tx::is_postgres_tx(&tx) {
            query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
        }
        let rows = query.all(&tx).await?;
        let mut events = Vec::new();
        let mut moved = 0;
        for before in rows {
            if !sweep.applies(&before, now) {
                continue;
            }
            let done = match sweep {
                Sweep::Cron => reschedule(&before, now, &mut events, &tx).await?,
                _ => {
                    let cause = match sweep {
                        Sweep::Timeouts => Cause::TimedOut {
                            after_seconds: before.timeout_seconds.unwrap_or_default(),
                        },
                        Sweep::Leases => Cause::LeaseLost,
                        _ => Cause::GraceOver,
                    };
                    let policy = jobs::policy_of(&before);
                    match end_attempt(
                        before.status,
                        &policy,
                        attempt::counted_attempts(&before),
                        &cause,
                        now,
                    ) {
                        None => false,
                        Some(end) => {
                            let run = jobs::open_run(&tx, before.id).await?;
                            let (_, more) = attempt::apply(&tx, &before, run, &end, now).await?;
                            events.extend(more);
                            true
                        }
                    }
                }
            };
            if done {
                moved += 1;
            }
        }
        if moved == 0 {
            tx.commit().await?;
            return Ok(0);
        }
        jobs::commit(&*self.bus, tx, &system, now, events).await?;
        Ok(moved)
    }
}

/// The cron reschedule of one job: SCHEDULED at the next occurrence after it finished, a new
/// series, the checkpoint cleared. False when the expression has no next occurrence.
async fn reschedule(
    before: &job::Model,
    now: Micros,
    events: &mut Vec<EventDraft>,
    tx: &sea_orm::DatabaseTransaction,
) -> ServiceResult<bool> {
    let Some(expr) = &before.cron else {
        return Ok(false);
    };
    let schedule = CronSchedule::parse("cron", expr)?;
    let finished = from_micros(before.finished_at.unwrap_or(now));
    let Some(next) = schedule.next_after(finished) else {
        return Ok(false);
    };
    let run_at = to_micros(next);
    let mut after = before.clone();
    after.status = JobStatus::Scheduled;
    after.run_at = Some(run_at);
    after.attempt = 0;
    after.released_attempts = 0;
    after.series += 1;
    after.last_completed_step = None;
    after.checkpoint_data = None;
    after.cancel_reason = None;
    after.cancel_requested_at = None;
    jobs::enter_waiting(&mut after);
    after.version += 1;
    after.updated_at = now;
    jobs::save(tx, before, &after).await?;
    events.push(
        EventDraft::job("job.status_changed", &after)
            .status_change(before.status.as_str(), after.status.as_str()),
    );
    events.push(EventDraft::job("job.scheduled", &after).with("runAt", json!(rfc3339(run_at))));
    Ok(true)
}
