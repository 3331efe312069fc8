//! The task state machine of DESIGN.md §4 as a pure function.

use crate::error::{ServiceError, ServiceResult};
use entity::status::TaskStatus::{self, *};

/// An operation that changes a task's status, or needs one of a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskAction {
    Start,
    Complete,
    Cancel,
    Reopen,
    /// assignTask: allowed while the task is not finished.
    Assign,
}

/// Where `action` takes a task in status `from`, or INVALID_TRANSITION.
pub fn transition(action: TaskAction, from: TaskStatus) -> ServiceResult<TaskStatus> {
    use TaskAction as A;
    let to = match (action, from) {
        (A::Start, Open) => InProgress,
        (A::Complete, Open | InProgress) => Completed,
        (A::Cancel, Open | InProgress) => Cancelled,
        (A::Reopen, Completed | Cancelled) => Open,
        (A::Assign, Open | InProgress) => from,
        _ => {
            let to = match action {
                A::Start => "IN_PROGRESS",
                A::Complete => "COMPLETED",
                A::Cancel => "CANCELLED",
                A::Reopen => "OPEN",
                A::Assign => from.as_str(),
            };
            return Err(ServiceError::invalid_transition("task", from.as_str(), to));
        }
    };
    Ok(to)
}

/// OPEN or IN_PROGRESS.
pub fn is_open(status: TaskStatus) -> bool {
    matches!(status, Open | InProgress)
}

#[cfg(test)]
mod tests {
    use super::*;
    use TaskAction as A;
    use sea_orm::Iterable;

    const ALLOWED: &[(TaskAction, TaskStatus, TaskStatus)] = &[
        (A::Start, Open, InProgress),
        (A::Complete, Open, Completed),
        (A::Complete, InProgress, Completed),
        (A::Cancel, Open, Cancelled),
        (A::Cancel, InProgress, Cancelled),
        (A::Reopen, Completed, Open),
        (A::Reopen, Cancelled, Open),
        (A::Assign, Open, Open),
        (A::Assign, InProgress, InProgress),
    ];

    #[test]
    fn table_is_exact() {
        for action in [A::Start, A::Complete, A::Cancel, A::Reopen, A::Assign] {
            for from in TaskStatus::iter() {
                let want = ALLOWED
                    .iter()
                    .find(|(a, f, _)| *a == action && *f == from)
                    .map(|r| r.2);
                match (transition(action, from), want) {
                    (Ok(to), Some(w)) => assert_eq!(to, w, "{action:?} from {from:?}"),
                    (Err(ServiceError::InvalidTransition { from: f, .. }), None) => {
                        assert_eq!(f, from.as_str())
                    }
                    (got, want) => panic!("{action:?} from {from:?}: got {got:?}, want {want:?}"),
                }
            }
        }
    }
}
