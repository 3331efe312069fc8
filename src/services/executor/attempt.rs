//! How an attempt ends when it does not succeed (DESIGN.md §3): one pure decision,
//! `end_attempt`, shared by failJob, releaseJobs, the timeout loop, the lease loop and the grace
//! loop, and one place that applies it (`apply`), so they agree on statuses, runs, retries and
//! events.

use crate::domain::time::Micros;
use crate::error::ServiceResult;
use crate::services::dependencies::{BlockedWatch, cascade, cascade::Ending};
use crate::services::events::EventDraft;
use crate::services::jobs::{self, RetryPolicy};
use entity::job;
use entity::job_run;
use entity::status::{JobRunStatus, JobStatus};
use sea_orm::DatabaseTransaction;
use serde_json::json;

/// What a released run's error starts with, before the worker's reason.
const RELEASED_PREFIX: &str = "released: ";

/// Why an attempt ends.
#[derive(Debug, Clone, PartialEq)]
pub enum Cause {
    /// failJob: the worker gave up (`retryable: false` forbids a retry).
    Failed { error: String, retryable: bool },
    /// The attempt ran past the job's `timeoutSeconds`.
    TimedOut { after_seconds: i32 },
    /// The worker's lease passed without a heartbeat.
    LeaseLost,
    /// A graceful cancel's grace period is over.
    GraceOver,
    /// releaseJobs: the worker hands the job back; the attempt does not count.
    Released { reason: String },
}

/// The event that says how the attempt ended (after `job.status_changed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndEvent {
    RetryScheduled,
    Failed,
    TimedOut,
    Cancelled,
    Released,
}

/// What ending the attempt does to the job and its run.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptEnd {
    pub status: JobStatus,
    pub run_status: JobRunStatus,
    /// The run's error (and, unless cancelled, the job's).
    pub error: Option<String>,
    /// A new cancel reason (cancelled by the loops); failJob on CANCELLING keeps the old one.
    pub cancel_reason: Option<String>,
    /// When the retry becomes runnable (SCHEDULED).
    pub retry_at: Option<Micros>,
    pub event: EndEvent,
    /// The worker's reason, for a release.
    pub released_reason: Option<String>,
}

/// The decision for a job in `status` (RUNNING or CANCELLING) whose current attempt is the
/// `attempt`-th that counts toward `policy` (released attempts do not; see `counted_attempts`), ending for `cause` at `now`. `None` when the cause does not apply
/// in that status (timeouts stop counting once a job is CANCELLING; a grace period only ends
/// a CANCELLING job).
pub fn end_attempt(
    status: JobStatus,
    policy: &RetryPolicy,
    attempt: i32,
    cause: &Cause,
    now: Micros,
) -> Option<AttemptEnd> {
    let retry_or = |run_status: JobRunStatus,
                    error: String,
                    spent: JobStatus,
                    event: EndEvent,
                    allowed: bool| {
        if allowed && policy.has_attempts_after(attempt) {
            AttemptEnd {
                status: JobStatus::Scheduled,
                run_status,
                error: Some(error),
                cancel_reason: None,
                retry_at: Some(now + policy.backoff_seconds(attempt) * 1_000_000),
                event: EndEvent::RetryScheduled,
                released_reason: None,
            }
        } else {
            AttemptEnd {
                status: spent,
                run_status,
                error: Some(error),
                cancel_reason: None,
                retry_at: None,
                event,
                released_reason: None,
            }
        }
    };
    let cancelled =
        |run_status: JobRunStatus, error: Option<String>, reason: Option<&str>| AttemptEnd {
            status: JobStatus::Cancelled,
            run_status,
            error,
            cancel_reason: reason.map(str::to_string),
            retry_at: None,
            event: EndEvent::Cancelled,
            released_reason: None,
        };
    match (status, cause) {
        (JobStatus::Running, Cause::Failed { error, retryable }) => Some(retry_or(
            JobRunStatus::Failed,
            error.clone(),
            JobStatus::Failed,
            EndEvent::Failed,
            *retryable,
        )),
        // A cancel was asked for: a failure ends it, with no retry.
        (JobStatus::Cancelling, Cause::Failed { error, .. }) => {
            Some(cancelled(JobRunStatus::Failed, Some(error.clone()), None))
        }
        (JobStatus::Running, Cause::TimedOut { after_seconds }) => Some(retry_or(
            JobRunStatus::TimedOut,
            format!("timed out after {after_seconds} s"),
            JobStatus::TimedOut,
            EndEvent::TimedOut,
            true,
        )),
        (JobStatus::Running, Cause::LeaseLost) => Some(retry_or(
            JobRunStatus::Failed,
            "lease expired".into(),
            JobStatus::Failed,
            EndEvent::Failed,
            true,
        )),
        (JobStatus::Cancelling, Cause::LeaseLost) => Some(cancelled(
            JobRunStatus::Cancelled,
            None,
            Some("lease expired"),
        )),
        (JobStatus::Cancelling, Cause::GraceOver) => Some(cancelled(
            JobRunStatus::Cancelled,
            None,
            Some("cancel grace period over"),
        )),
        // Runnable again at once, the checkpoint kept, the attempt not counted.
        (JobStatus::Running, Cause::Released { reason }) => Some(AttemptEnd {
            status: JobStatus::Scheduled,
            run_status: JobRunStatus::Released,
            error: Some(format!("{RELEASED_PREFIX}{reason}")),
            cancel_reason: None,
            retry_at: Some(now),
            event: EndEvent::Released,
            released_reason: Some(reason.clone()),
        }),
        // A cancel was asked for: handing it back ends it, its cancel reason kept.
        (JobStatus::Cancelling, Cause::Released { .. }) => {
            Some(cancelled(JobRunStatus::Cancelled, None, None))
        }
        _ => None,
    }
}

/// The attempts of the job's current series that count toward `maxAttempts`: all but the
/// released ones.
pub fn counted_attempts(row: &job::Model) -> i32 {
    row.attempt - row.released_attempts
}

/// Applies `end` to the locked job `before` and its open `run` at `now`: saves the job, closes
/// the run, and returns the events (the status change, the ending, then the reactions of §5 and
/// the successors whose `blocked` flipped), for the caller to commit.
pub(crate) async fn apply(
    tx: &DatabaseTransaction,
    before: &job::Model,
    run: Option<job_run::Model>,
    end: &AttemptEnd,
    now: Micros,
) -> ServiceResult<(job::Model, Vec<EventDraft>)> {
    let mut watch = BlockedWatch::new(&before.tenant_id);
    watch
        .watch(tx, crate::services::dependencies::Kind::Job, &[before.id])
        .await?;
    let mut after = before.clone();
    after.status = end.status;
    after.version += 1;
    after.updated_at = now;
    after.lease_expires_at = None;
    if let Some(reason) = &end.cancel_reason {
        after.cancel_reason = Some(reason.clone());
    }
    if end.run_status == JobRunStatus::Released {
        after.released_attempts += 1;
    }
    match end.retry_at {
        Some(run_at) => {
            jobs::enter_waiting(&mut after);
            after.run_at = Some(run_at);
        }
        None => {
            after.finished_at = Some(now);
            after.error = end.error.clone();
        }
    }
    jobs::save(tx, before, &after).await?;
    jobs::close_run(tx, run, end.run_status, now, end.error.clone(), None, None).await?;
    let mut events = vec![
        EventDraft::job("job.status_changed", &after)
            .status_change(before.status.as_str(), after.status.as_str()),
    ];
    let error = json!(end.error);
    events.push(match end.event {
        EndEvent::RetryScheduled => EventDraft::job("job.retry_scheduled", &after)
            .with("error", error)
            .with(
                "runAt",
                json!(end.retry_at.map(crate::domain::time::rfc3339)),
            )
            .with("attempt", json!(before.attempt)),
        EndEvent::Failed => EventDraft::job("job.failed", &after)
            .with("error", error)
            .with("attempt", json!(before.attempt)),
        EndEvent::TimedOut => EventDraft::job("job.timed_out", &after)
            .with("error", error)
            .with("attempt", json!(before.attempt)),
        EndEvent::Cancelled => EventDraft::job("job.cancelled", &after)
            .with("reason", json!(after.cancel_reason))
            .with("error", error),
        EndEvent::Released => EventDraft::job("job.released", &after)
            .with("reason", json!(end.released_reason))
            .with("attempt", json!(before.attempt)),
    });
    if let Some(ending) = Ending::of(after.status) {
        events.extend(cascade::job_ended(tx, now, &after, ending, &mut watch).await?);
    }
    events.extend(watch.after(tx, &events).await?);
    Ok((after, events))
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobStatus::*;

    fn policy(max: i32) -> RetryPolicy {
        RetryPolicy {
            max_attempts: max,
            initial_backoff_seconds: 10,
            backoff_multiplier: 2.0,
            max_backoff_seconds: 300,
        }
    }

    const NOW: Micros = 1_000_000_000;

    #[test]
    fn every_cause_in_every_status() {
        let failed = Cause::Failed {
            error: "boom".into(),
            retryable: true,
        };
        let fatal = Cause::Failed {
            error: "boom".into(),
            retryable: false,
        };
        let timeout = Cause::TimedOut { after_seconds: 30 };
        let released = Cause::Released {
            reason: "deploy".into(),
        };
        // (status, policy, attempt, cause) → (status, run, error, cancel reason, retry in s, event)
        type Want = Option<(
            JobStatus,
            JobRunStatus,
            Option<&'static str>,
            Option<&'static str>,
            Option<i64>,
            EndEvent,
        )>;
        let cases: Vec<(JobStatus, i32, i32, &Cause, Want)> = vec![
            (
                Running,
                3,
                1,
                &failed,
                Some((
                    Scheduled,
                    JobRunStatus::Failed,
                    Some("boom"),
                    None,
                    Some(10),
                    EndEvent::RetryScheduled,
                )),
            ),
            (
                Running,
                3,
                2,
                &failed,
                Some((
                    Scheduled,
                    JobRunStatus::Failed,
                    Some("boom"),
                    None,
                    Some(20),
                    EndEvent::RetryScheduled,
                )),
            ),
            (
                Running,
                3,
                3,
                &failed,
                Some((
                    Failed,
                    JobRunStatus::Failed,
                    Some("boom"),
                    None,
                    None,
                    EndEvent::Failed,
                )),
            ),
            (
                Running,
                3,
                1,
                &fatal,
                Some((
                    Failed,
                    JobRunStatus::Failed,
                    Some("boom"),
                    None,
                    None,
                    EndEvent::Failed,
                )),
            ),
            (
                Cancelling,
                3,
                1,
                &failed,
                Some((
                    Cancelled,
                    JobRunStatus::Failed,
                    Some("boom"),
                    None,
                    None,
                    EndEvent::Cancelled,
                )),
            ),
            (
                Running,
                2,
                1,
                &timeout,
                Some((
                    Scheduled,
                    JobRunStatus::TimedOut,
                    Some("timed out after 30 s"),
                    None,
                    Some(10),
                    EndEvent::RetryScheduled,
                )),
            ),
            (
                Running,
                1,
                1,
                &timeout,
                Some((
                    TimedOut,
                    JobRunStatus::TimedOut,
                    Some("timed out after 30 s"),
                    None,
                    None,
                    EndEvent::TimedOut,
                )),
            ),
            (Cancelling, 3, 1, &timeout, None),
            (
                Running,
                2,
                1,
                &Cause::LeaseLost,
                Some((
                    Scheduled,
                    JobRunStatus::Failed,
                    Some("lease expired"),
                    None,
                    Some(10),
                    EndEvent::RetryScheduled,
                )),
            ),
            (
                Running,
                1,
                1,
                &Cause::LeaseLost,
                Some((
                    Failed,
                    JobRunStatus::Failed,
                    Some("lease expired"),
                    None,
                    None,
                    EndEvent::Failed,
                )),
            ),
            (
                Cancelling,
                5,
                1,
                &Cause::LeaseLost,
                Some((
                    Cancelled,
                    JobRunStatus::Cancelled,
                    None,
                    Some("lease expired"),
                    None,
                    EndEvent::Cancelled,
                )),
            ),
            (
                Cancelling,
                5,
                1,
                &Cause::GraceOver,
                Some((
                    Cancelled,
                    JobRunStatus::Cancelled,
                    None,
                    Some("cancel grace period over"),
                    None,
                    EndEvent::Cancelled,
                )),
            ),
            (Running, 5, 1, &Cause::GraceOver, None),
            (
                Running,
                1,
                1,
                &released,
                Some((
                    Scheduled,
                    JobRunStatus::Released,
                    Some("released: deploy"),
                    None,
                    Some(0),
                    EndEvent::Released,
                )),
            ),
            (
                Cancelling,
                1,
                1,
                &released,
                Some((
                    Cancelled,
                    JobRunStatus::Cancelled,
                    None,
                    None,
                    None,
                    EndEvent::Cancelled,
                )),
            ),
            (Pending, 5, 0, &failed, None),
            (Succeeded, 5, 1, &Cause::LeaseLost, None),
        ];
        for (status, max, attempt, cause, want) in cases {
            let got = end_attempt(status, &policy(max), attempt, cause, NOW).map(|e| {
                (
                    e.status,
                    e.run_status,
                    e.error.clone(),
                    e.cancel_reason.clone(),
                    e.retry_at.map(|t| (t - NOW) / 1_000_000),
                    e.event,
                )
            });
            let want = want.map(|(s, r, e, c, t, ev)| {
                (s, r, e.map(str::to_string), c.map(str::to_string), t, ev)
            });
            assert_eq!(got, want, "{status:?} attempt {attempt}/{max} {cause:?}");
        }
    }
}
