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

// The SQL below is written as (NOT) EXISTS of subqueries that carry the outer row's status
// test inside them, with no OR around them: PostgreSQL can then plan each as a semi- or
// anti-join probing the edge index per row of the page, instead of hashing every unsatisfied
// edge of the tenant first (100 ms at 100,000 tasks; see BENCHMARKS.md).

const JOB_UNSATISFIED_EDGE: &str = r#"EXISTS (SELECT 1 FROM job_dependency d JOIN job p ON p.id = d.predecessor_id
    WHERE d.successor_id = "job"."id" AND "job"."status" IN ('PENDING', 'SCHEDULED')
      AND ((d.dependency_type = 'FINISH_TO_START' AND p.status <> 'SUCCEEDED')
        OR (d.dependency_type = 'START_TO_START' AND p.started_at IS NULL)))"#;

const JOB_UNSATISFIED_PREREQUISITE: &str = r#"EXISTS (SELECT 1 FROM job_task l JOIN task t ON t.id = l.task_id
    WHERE l.job_id = "job"."id" AND "job"."status" IN ('PENDING', 'SCHEDULED')
      AND l.role = 'PREREQUISITE' AND t.status NOT IN ('COMPLETED', 'CANCELLED'))"#;

const TASK_UNSATISFIED_EDGE: &str = r#"EXISTS (SELECT 1 FROM task_dependency d JOIN task p ON p.id = d.predecessor_id
    WHERE d.successor_id = "task"."id" AND "task"."status" = 'OPEN'
      AND ((d.dependency_type = 'FINISH_TO_START' AND p.status NOT IN ('COMPLETED', 'CANCELLED'))
        OR (d.dependency_type = 'START_TO_START' AND p.started_at IS NULL AND p.status <> 'CANCELLED')))"#;

/// SQL: the job row `"job"` is blocked (not started, and an FS/SS edge or a PREREQUISITE link
/// is unsatisfied), or (`blocked == false`) it is not. Mirrors `job_edge_satisfied` and
/// `prerequisite_satisfied`.
pub fn job_blocked_sql(blocked: bool) -> String {
    if blocked {
        format!("({JOB_UNSATISFIED_EDGE} OR {JOB_UNSATISFIED_PREREQUISITE})")
    } else {
        format!("(NOT {JOB_UNSATISFIED_EDGE} AND NOT {JOB_UNSATISFIED_PREREQUISITE})")
    }
}

/// SQL: the task row `"task"` is blocked (OPEN, and an FS/SS edge is unsatisfied), or
/// (`blocked == false`) it is not. Mirrors `task_edge_satisfied`.
pub fn task_blocked_sql(blocked: bool) -> String {
    if blocked {
        TASK_UNSATISFIED_EDGE.to_string()
    } else {
        format!("NOT {TASK_UNSATISFIED_EDGE}")
    }
}

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
