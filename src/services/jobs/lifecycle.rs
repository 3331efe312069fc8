//! The job lifecycle: scheduleJob, startJob, completeJob, cancelJob, retryJob (failJob, which
//! shares its decision with the loops, is the executor's). Each checks in the order of
//! DESIGN.md §2, then moves the job and its run in one transaction. `open_attempt` is how
//! startJob and claims begin an attempt.

use super::model::{CancelMode, Job, JobResult, ScheduleRequest};
use super::state::{JobAction, transition};
use super::write::resolve_schedule;
use super::{JobService, attempt_ended, commit, fence, open_run, owners, permissions, save};
use crate::auth::Actor;
use crate::domain::time::{Micros, rfc3339, to_micros};
use crate::error::{ServiceError, ServiceResult};
use crate::services::access::require;
use crate::services::dependencies::{self, BlockedWatch, cascade, cascade::Ending};
use crate::services::events::EventDraft;
use crate::services::{budgets, concurrency, validate};
use entity::job;
use entity::job_run;
use entity::status::{JobRunStatus, JobStatus};
use sea_orm::{ActiveModelTrait, DatabaseTransaction, IntoActiveModel};
use serde_json::{Value, json};
use uuid::Uuid;

/// `job.status_changed` from `before` to `after`.
fn status_changed(before: &job::Model, after: &job::Model) -> EventDraft {
    EventDraft::job("job.status_changed", after)
        .status_change(before.status.as_str(), after.status.as_str())
}

/// The `blocked` of the job's successors, before the job changes status.
pub(super) async fn watch_successors(
    tx: &DatabaseTransaction,
    job: &job::Model,
) -> ServiceResult<BlockedWatch> {
    let mut watch = BlockedWatch::new(&job.tenant_id);
    watch.watch(tx, dependencies::Kind::Job, &[job.id]).await?;
    Ok(watch)
}

/// Clears what entering PENDING or SCHEDULED clears (DESIGN.md §3, fields over time).
pub(crate) fn enter_waiting(row: &mut job::Model) {
    row.finished_at = None;
    row.error = None;
    row.result = None;
    row.lease_expires_at = None;
    row.lease_seconds = None;
}

/// Opens a new attempt of the locked, startable job `before` at `now`: RUNNING, the next
/// attempt, a run whose agent is `agent`, and the lease (seconds, expiry) when one is given
/// (claims; startJob sets none). Saves the job and inserts the run; returns the job after.
pub(crate) async fn open_attempt(
    tx: &DatabaseTransaction,
    before: &job::Model,
    agent: &str,
    lease: Option<(i32, Micros)>,
    now: Micros,
) -> ServiceResult<job::Model> {
    let mut after = before.clone();
    after.status = JobStatus::Running;
    after.attempt += 1;
    after.started_at = Some(now);
    after.finished_at = None;
    after.lease_seconds = lease.map(|(seconds, _)| seconds);
    after.lease_expires_at = lease.map(|(_, expires)| expires);
    if lease.is_some() {
        // A claim assigns the job to the agent that took it (no chain entry).
        after.assigned_agent = Some(agent.to_string());
    }
    after.version += 1;
    after.updated_at = now;
    save(tx, before, &after).await?;
    job_run::Model {
        id: Uuid::now_v7(),
        job_id: after.id,
        tenant_id: after.tenant_id.clone(),
        series: after.series,
        attempt: after.attempt,
        status: JobRunStatus::Running,
        agent: Some(agent.to_string()),
        started_at: now,
        finished_at: None,
        error: None,
        result: None,
        cost: 0,
    }
    .into_active_model()
    .insert(tx)
    .await?;
    Ok(after)
}

/// The events of a started attempt: `job.status_changed`, `job.started` (attempt).
pub(crate) fn started_events(before: &job::Model, after: &job::Model) -> [EventDraft; 2] {
    [
        status_changed(before, after),
        EventDraft::job("job.started", after).with("attempt", json!(after.attempt)),
    ]
}

/// Closes the open run of a job with `status`.
pub(crate) async fn close_run(
    tx: &DatabaseTransaction,
    run: Option<job_run::Model>,
    status: JobRunStatus,
    at: Micros,
    error: Option<String>,
    result: Option<Value>,
    cost: Option<i64>,
) -> ServiceResult<()> {
    let Some(run) = run else { return Ok(()) };
    let mut active = run.into_active_model();
    active.status = sea_orm::Set(status);
    active.finished_at = sea_orm::Set(Some(at));
    active.error = sea_orm::Set(error);
    if result.is_some() {
        active.result = sea_orm::Set(result);
    }
    if let Some(cost) = cost {
        active.cost = sea_orm::Set(cost);
    }
    active.update(tx).await?;
    Ok(())
}

impl JobService {
    /// scheduleJob: (re)schedules a PENDING or SCHEDULED job at `runAt` or by `cron`.
    pub async fn schedule(
        &self,
        actor: &Actor,
        id: Uuid,
        schedule: ScheduleRequest,
    ) -> ServiceResult<Job> {
        let (tx, before) = self.begin_on(actor, id).await?;
        require(
            permissions::can_modify(actor, owners(&before)),
            "schedule this job",
        )?;
        let now = self.clock.now();
        let (run_at, cron) = resolve_schedule("schedule", &schedule, now)?;
        if cron.is_some() {
            // Edges to or from a cron job are refused; so is making a job with edges a cron job.
            let kind = dependencies::Kind::Job;
            let linked = !dependencies::edges(&tx, kind, &actor.tenant, &[id], true)
                .await?
                .is_empty()
                || !dependencies::edges(&tx, kind, &actor.tenant, &[id], false)
                    .await?
                    .is_empty();
            if linked {
                return Err(ServiceError::bad_input(
                    "schedule.cron",
                    "this job has dependencies: a cron job may have none (remove them first)",
                ));
            }
        }
        let to = transition(JobAction::Schedule, before.status)?;
        let now_us = to_micros(now);
        let mut after = before.clone();
        after.status = to;
        after.run_at = run_at;
        after.cron = cron;
        enter_waiting(&mut after);
        after.version += 1;
        after.updated_at = now_us;
        save(&tx, &before, &after).await?;
        let mut events = Vec::new();
        if before.status != after.status {
            events.push(status_changed(&before, &after));
        }
        events.push(
            EventDraft::job("job.scheduled", &after).with("runAt", json!(run_at.map(rfc3339))),
        );
        commit(&*self.bus, tx, actor, now_us, events).await?;
        Ok(Job::from(after))
    }

    /// startJob: RUNNING now, whatever `runAt` says; opens a run with the caller as its agent.
    pub async fn start(&self, actor: &Actor, id: Uuid) -> ServiceResult<Job> {
        let (tx, before) = self.begin_start(actor, id).await?;
        require(
            permissions::can_modify(actor, owners(&before)),
            "start this job",
        )?;
        let to = transition(JobAction::Start, before.status)?;
        dependencies::check_job(&tx, &before, true).await?;
        budgets::check_start(&tx, &before).await?;
        concurrency::check_start(&tx, &before).await?;
        debug_assert_eq!(to, JobStatus::Running);
        let watch = watch_successors(&tx, &before).await?;
        let now = self.clock.now_micros();
        let after = open_attempt(&tx, &before, &actor.id, None, now).await?;
        let mut events = started_events(&before, &after).to_vec();
        events.extend(watch.after(&tx, &events).await?);
        commit(&*self.bus, tx, actor, now, events).await?;
        Ok(Job::from(after))
    }

    /// completeJob: SUCCEEDED from RUNNING or CANCELLING; the run closes with the result and,
    /// when given, the actual cost.
    pub async fn complete(
        &self,
        actor: &Actor,
        id: Uuid,
        result: JobResult,
        attempt: Option<i32>,
    ) -> ServiceResult<Job> {
        let (tx, before) = self.begin_on(actor, id).await?;
        require(
            permissions::can_modify(actor, owners(&before)),
            "complete this job",
        )?;
        if let Some(output) = &result.output {
            validate::json_size("result.output", output, self.limits.max_json_bytes)?;
        }
        let cost = result
            .actual_cost
            .map(|c| validate::non_negative_money("result.actualCost", c))
            .transpose()?;
        let run = open_run(&tx, id).await?;
        if let Err(conflict) = fence(&before, run.as_ref(), attempt) {
            // A completion sent again after its answer was lost: the job as it is, unchanged.
            if let Some(n) = attempt
                && attempt_ended(&tx, &before, n, |r| r.status == JobRunStatus::Succeeded).await?
            {
                return Ok(Job::from(before));
            }
            return Err(conflict);
        }
        let to = transition(JobAction::Complete, before.status)?;
        dependencies::check_job(&tx, &before, false).await?;
        let watch = watch_successors(&tx, &before).await?;
        let now = self.clock.now_micros();
        let mut after = before.clone();
        if let Some(cost) = cost {
            // The closing run's cost becomes `cost`; the job's total moves by the difference.
            let previous = run.as_ref().map_or(0, |r| r.cost);
            after.actual_cost = after
                .actual_cost
                .checked_sub(previous)
                .and_then(|t| t.checked_add(cost.nanos()))
                .ok_or_else(|| {
                    ServiceError::bad_input(
                        "result.actualCost",
                        "the job's total cost would overflow",
                    )
                })?;
        }
        after.status = to;
        after.finished_at = Some(now);
        after.result = result.output.clone();
        after.error = None;
        after.lease_expires_at = None;
        after.version += 1;
        after.updated_at = now;
        save(&tx, &before, &after).await?;
        close_run(
            &tx,
            run,
            JobRunStatus::Succeeded,
            now,
            None,
            result.output.clone(),
            cost.map(|c| c.nanos()),
        )
        .await?;
        let mut events = vec![
            status_changed(&before, &after),
            EventDraft::job("job.succeeded", &after).with("result", json!(result.output)),
        ];
        events.extend(watch.after(&tx, &events).await?);
        commit(&*self.bus, tx, actor, now, events).await?;
        Ok(Job::from(after))
    }

    /// cancelJob: GRACEFUL asks a RUNNING job to stop (CANCELLING); HARD, or any mode on a job
    /// that has not started, makes it CANCELLED now.
    pub async fn cancel(
        &self,
        actor: &Actor,
        id: Uuid,
        reason: &str,
        mode: CancelMode,
    ) -> ServiceResult<Job> {
        let (tx, before) = self.begin_on(actor, id).await?;
        require(
            permissions::can_modify(actor, owners(&before)),
            "cancel this job",
        )?;
        let reason = validate::reason("reason", reason)?;
        let action = match mode {
            CancelMode::Graceful => JobAction::CancelGraceful,
            CancelMode::Hard => JobAction::CancelHard,
        };
        let to = transition(action, before.status)?;
        let mut watch = watch_successors(&tx, &before).await?;
        let now = self.clock.now_micros();
        let mut after = before.clone();
        after.status = to;
        after.cancel_reason = Some(reason.clone());
        after.version += 1;
        after.updated_at = now;
        let run = open_run(&tx, id).await?;
        let event = if to == JobStatus::Cancelling {
            after.cancel_requested_at = Some(now);
            EventDraft::job("job.cancel_requested", &after).with("reason", json!(reason))
        } else {
            after.finished_at = Some(now);
            after.lease_expires_at = None;
            EventDraft::job("job.cancelled", &after).with("reason", json!(reason))
        };
        save(&tx, &before, &after).await?;
        if to == JobStatus::Cancelled {
            close_run(&tx, run, JobRunStatus::Cancelled, now, None, None, None).await?;
        }
        let mut events = vec![status_changed(&before, &after), event];
        if let Some(ending) = Ending::of(after.status) {
            events.extend(cascade::job_ended(&tx, now, &after, ending, &mut watch).await?);
        }
        events.extend(watch.after(&tx, &events).await?);
        commit(&*self.bus, tx, actor, now, events).await?;
        Ok(Job::from(after))
    }

    /// retryJob: a FAILED, CANCELLED or TIMED_OUT job starts a new series, SCHEDULED now.
    pub async fn retry(&self, actor: &Actor, id: Uuid) -> ServiceResult<Job> {
        let (tx, before) = self.begin_on(actor, id).await?;
        require(
            permissions::can_modify(actor, owners(&before)),
            "retry this job",
        )?;
        let to = transition(JobAction::Retry, before.status)?;
        let now = self.clock.now_micros();
        let mut after = before.clone();
        after.status = to;
        after.run_at = Some(now);
        after.attempt = 0;
        after.released_attempts = 0;
        after.series += 1;
        after.cancel_reason = None;
        after.cancel_requested_at = None;
        enter_waiting(&mut after);
        after.version += 1;
        after.updated_at = now;
        save(&tx, &before, &after).await?;
        let events = vec![
            status_changed(&before, &after),
            EventDraft::job("job.scheduled", &after).with("runAt", json!(rfc3339(now))),
        ];
        commit(&*self.bus, tx, actor, now, events).await?;
        Ok(Job::from(after))
    }
}
