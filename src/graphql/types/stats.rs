//! `JobStats`, `TaskStats` and their per-status counts.

use super::enums::{JobStatus, TaskStatus};
use crate::graphql::scalars::Decimal;
use crate::services::stats::Stats;
use async_graphql::{Object, SimpleObject};

fn count(n: i64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// How many jobs are in one status.
#[derive(SimpleObject)]
pub struct JobStatusCount {
    pub status: JobStatus,
    pub count: i32,
}

/// How many tasks are in one status.
#[derive(SimpleObject)]
pub struct TaskStatusCount {
    pub status: TaskStatus,
    pub count: i32,
}

/// Counts and exact cost sums of the jobs a filter selects.
pub struct JobStats(pub Stats<entity::status::JobStatus>);

#[Object(name = "JobStats")]
impl JobStats {
    async fn total(&self) -> i32 {
        count(self.0.total)
    }
    /// Every status, zeros included, in the enum's order.
    async fn by_status(&self) -> Vec<JobStatusCount> {
        self.0
            .by_status
            .iter()
            .map(|(s, n)| JobStatusCount {
                status: (*s).into(),
                count: count(*n),
            })
            .collect()
    }
    /// Σ estimatedCost (a null estimate counts 0).
    async fn estimated_cost(&self) -> Decimal {
        Decimal(self.0.estimated_cost.to_decimal())
    }
    /// Σ actualCost.
    async fn actual_cost(&self) -> Decimal {
        Decimal(self.0.actual_cost.to_decimal())
    }
}

/// Counts and exact cost sums of the tasks a filter selects.
pub struct TaskStats(pub Stats<entity::status::TaskStatus>);

#[Object(name = "TaskStats")]
impl TaskStats {
    async fn total(&self) -> i32 {
        count(self.0.total)
    }
    /// Every status, zeros included, in the enum's order.
    async fn by_status(&self) -> Vec<TaskStatusCount> {
        self.0
            .by_status
            .iter()
            .map(|(s, n)| TaskStatusCount {
                status: (*s).into(),
                count: count(*n),
            })
            .collect()
    }
    /// Σ estimatedCost (a null estimate counts 0).
    async fn estimated_cost(&self) -> Decimal {
        Decimal(self.0.estimated_cost.to_decimal())
    }
    /// Σ actualCost.
    async fn actual_cost(&self) -> Decimal {
        Decimal(self.0.actual_cost.to_decimal())
    }
}
