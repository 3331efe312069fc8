//! When an edge or a prerequisite is satisfied, and what "blocked" means (DESIGN.md §5), as
//! pure functions and as the SQL that list filters use; the two are kept side by side so they
//! cannot drift apart.

use entity::status::{DependencyType, JobStatus, TaskStatus};

/// A job predecessor satisfies an edge of `kind`: FS and FF once it SUCCEEDED, SS once it has
/// ever started.
pub fn job_edge_satisfied(
    kind: DependencyType,
    status: JobStatus,
    started_at: Option<i64>,
) -> bool {
    match kind {
        DependencyType::FinishToStart | DependencyType::FinishToFinish => {
            status == JobStatus::Succeeded
        }
        DependencyType::StartToStart => started_at.is_some(),
    }
}

/// A task predecessor satisfies an edge of `kind`: FS and FF once it is COMPLETED or CANCELLED,
/// SS once it has ever started or is CANCELLED.
pub fn task_edge_satisfied(
    kind: DependencyType,
    status: TaskStatus,
    started_at: Option<i64>,
) -> bool {
    match kind {
        DependencyType::FinishToStart | DependencyType::FinishToFinish => {
            matches!(status, TaskStatus::Completed | TaskStatus::Cancelled)
        }
        DependencyType::StartToStart => started_at.is_some() || status == TaskStatus::Cancelled,
    }
}

/// A PREREQUISITE task is satisfied once it is COMPLETED or CANCELLED.
pub fn prerequisite_satisfied(status: TaskStatus) -> bool {
    matches!(status, TaskStatus::Completed | TaskStatus::Cancelled)
}

/// Edges that gate a start (FS, SS) versus a finish (FF).
pub fn gates_start(kind: DependencyType) -> bool {
    matches!(
        kind,
        DependencyType::FinishToStart | DependencyType::StartToStart
    )
}

/// SQL: the job row `"job"` is blocked (not started, and an FS/SS edge or a PREREQUISITE link
/// is unsatisfied). Mirrors `job_edge_satisfied` and `prerequisite_satisfied`.
pub const JOB_BLOCKED_SQL: &str = r#"("job"."status" IN ('PENDING', 'SCHEDULED') AND (
    EXISTS (SELECT 1 FROM job_dependency d JOIN job p ON p.id = d.predecessor_id
            WHERE d.successor_id = "job"."id"
              AND ((d.dependency_type = 'FINISH_TO_START' AND p.status <> 'SUCCEEDED')
                OR (d.dependency_type = 'START_TO_START' AND p.started_at IS NULL)))
    OR EXISTS (SELECT 1 FROM job_task l JOIN task t ON t.id = l.task_id
               WHERE l.job_id = "job"."id" AND l.role = 'PREREQUISITE'
                 AND t.status NOT IN ('COMPLETED', 'CANCELLED'))))"#;

/// SQL: the task row `"task"` is blocked (OPEN, and an FS/SS edge is unsatisfied). Mirrors
/// `task_edge_satisfied`.
pub const TASK_BLOCKED_SQL: &str = r#"("task"."status" = 'OPEN' AND
    EXISTS (SELECT 1 FROM task_dependency d JOIN task p ON p.id = d.predecessor_id
            WHERE d.successor_id = "task"."id"
              AND ((d.dependency_type = 'FINISH_TO_START' AND p.status NOT IN ('COMPLETED', 'CANCELLED'))
                OR (d.dependency_type = 'START_TO_START' AND p.started_at IS NULL AND p.status <> 'CANCELLED'))))"#;

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Iterable;

    #[test]
    fn job_edges_for_every_status() {
        for status in JobStatus::iter() {
            let done = status == JobStatus::Succeeded;
            assert_eq!(
                job_edge_satisfied(DependencyType::FinishToStart, status, None),
                done
            );
            assert_eq!(
                job_edge_satisfied(DependencyType::FinishToFinish, status, Some(1)),
                done
            );
            assert!(job_edge_satisfied(
                DependencyType::StartToStart,
                status,
                Some(1)
            ));
            assert!(!job_edge_satisfied(
                DependencyType::StartToStart,
                status,
                None
            ));
        }
    }

    #[test]
    fn task_edges_for_every_status() {
        for status in TaskStatus::iter() {
            let done = matches!(status, TaskStatus::Completed | TaskStatus::Cancelled);
            assert_eq!(
                task_edge_satisfied(DependencyType::FinishToStart, status, Some(1)),
                done
            );
            assert_eq!(
                task_edge_satisfied(DependencyType::FinishToFinish, status, None),
                done
            );
            assert_eq!(
                task_edge_satisfied(DependencyType::StartToStart, status, None),
                status == TaskStatus::Cancelled
            );
            assert_eq!(prerequisite_satisfied(status), done);
        }
    }
}
