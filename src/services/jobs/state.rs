//! The job state machine of DESIGN.md §3 as a pure function: which operation may move a job
//! from which status, and where to. Anything not listed is INVALID_TRANSITION.

use crate::error::{ServiceError, ServiceResult};
use entity::status::JobStatus::{self, *};

/// An operation that changes a job's status (or, for delete and delegate, needs one of a set).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobAction {
    Schedule,
    Start,
    Complete,
    /// failJob; the retry decision picks SCHEDULED or FAILED from RUNNING.
    Fail,
    CancelGraceful,
    CancelHard,
    Retry,
    Delete,
    Delegate,
}

/// Where `action` takes a job in status `from`, or INVALID_TRANSITION. For `Fail` on RUNNING
/// the answer is FAILED; the caller turns it into SCHEDULED when attempts are left. For
/// `Delete` and `Delegate` the status stays as it is.
pub fn transition(action: JobAction, from: JobStatus) -> ServiceResult<JobStatus> {
    use JobAction as A;
    let to = match (action, from) {
        (A::Schedule, Pending | Scheduled) => Scheduled,
        (A::Start, Pending | Scheduled) => Running,
        (A::Complete, Running | Cancelling) => Succeeded,
        (A::Fail, Running) => Failed,
        (A::Fail, Cancelling) => Cancelled,
        (A::CancelGraceful, Pending | Scheduled) => Cancelled,
        (A::CancelGraceful, Running) => Cancelling,
        (A::CancelHard, Pending | Scheduled | Running | Cancelling) => Cancelled,
        (A::Retry, Failed | Cancelled | TimedOut) => Scheduled,
        (A::Delete, s) if !matches!(s, Running | Cancelling) => s,
        (A::Delegate, s) if !s.is_terminal() => s,
        _ => return Err(refusal(action, from)),
    };
    Ok(to)
}

fn refusal(action: JobAction, from: JobStatus) -> ServiceError {
    use JobAction as A;
    let to = match action {
        A::Schedule | A::Retry => "SCHEDULED",
        A::Start => "RUNNING",
        A::Complete => "SUCCEEDED",
        A::Fail => "FAILED",
        A::CancelGraceful if from == Cancelling => "CANCELLING",
        A::CancelGraceful | A::CancelHard => "CANCELLED",
        A::Delete => "DELETED",
        A::Delegate => from.as_str(),
    };
    let mut err = ServiceError::invalid_transition("job", from.as_str(), to);
    if let ServiceError::InvalidTransition { message, .. } = &mut err {
        let hint = match action {
            A::Delete => " (cancel it first: a RUNNING or CANCELLING job cannot be deleted)",
            A::Delegate => " (a finished job cannot be delegated)",
            A::CancelGraceful if from == Cancelling => {
                " (it is already cancelling: use mode HARD to stop it now)"
            }
            _ => "",
        };
        message.push_str(hint);
    }
    err
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobAction as A;
    use sea_orm::Iterable;

    /// Every allowed row of DESIGN.md §3's table that an API call drives; every other
    /// (action, status) pair must be refused.
    const ALLOWED: &[(JobAction, JobStatus, JobStatus)] = &[
        (A::Schedule, Pending, Scheduled),
        (A::Schedule, Scheduled, Scheduled),
        (A::Start, Pending, Running),
        (A::Start, Scheduled, Running),
        (A::CancelGraceful, Pending, Cancelled),
        (A::CancelGraceful, Scheduled, Cancelled),
        (A::CancelHard, Pending, Cancelled),
        (A::CancelHard, Scheduled, Cancelled),
        (A::Complete, Running, Succeeded),
        (A::Fail, Running, Failed),
        (A::CancelGraceful, Running, Cancelling),
        (A::CancelHard, Running, Cancelled),
        (A::CancelHard, Cancelling, Cancelled),
        (A::Fail, Cancelling, Cancelled),
        (A::Complete, Cancelling, Succeeded),
        (A::Retry, Failed, Scheduled),
        (A::Retry, Cancelled, Scheduled),
        (A::Retry, TimedOut, Scheduled),
    ];

    #[test]
    fn table_is_exact() {
        let actions = [
            A::Schedule,
            A::Start,
            A::Complete,
            A::Fail,
            A::CancelGraceful,
            A::CancelHard,
            A::Retry,
        ];
        for action in actions {
            for from in JobStatus::iter() {
                let expected = ALLOWED
                    .iter()
                    .find(|(a, f, _)| *a == action && *f == from)
                    .map(|r| r.2);
                match (transition(action, from), expected) {
                    (Ok(to), Some(want)) => assert_eq!(to, want, "{action:?} from {from:?}"),
                    (Err(ServiceError::InvalidTransition { from: f, .. }), None) => {
                        assert_eq!(f, from.as_str())
                    }
                    (got, want) => panic!("{action:?} from {from:?}: got {got:?}, want {want:?}"),
                }
            }
        }
    }

    #[test]
    fn delete_and_delegate() {
        for from in JobStatus::iter() {
            let deletable = !matches!(from, Running | Cancelling);
            assert_eq!(transition(A::Delete, from).is_ok(), deletable, "{from:?}");
            assert_eq!(
                transition(A::Delegate, from).is_ok(),
                !from.is_terminal(),
                "{from:?}"
            );
        }
        match transition(A::Delete, Running) {
            Err(ServiceError::InvalidTransition { to, .. }) => assert_eq!(to, "DELETED"),
            other => panic!("{other:?}"),
        }
    }
}
