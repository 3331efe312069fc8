//! `Budget` and `Plan`.

use super::graph::Progress;
use super::job::Job;
use super::task::Task;
use crate::graphql::loaders::UsageLoader;
use crate::graphql::scalars::Decimal;
use crate::graphql::scalars::Uuid;
use crate::services::budgets;
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Object, Result};

/// A spending limit for the tenant or one plan.
pub struct Budget(pub budgets::Budget);

#[Object(name = "Budget")]
impl Budget {
    /// Null for the tenant-wide budget.
    async fn plan_id(&self) -> Option<Uuid> {
        self.0.plan_id.map(Uuid::from)
    }
    async fn limit(&self) -> Decimal {
        self.0.limit.into()
    }
    /// Actual cost of the jobs in scope, plus, for each open run, the part of its job's estimatedCost not yet spent.
    async fn committed(&self) -> Decimal {
        Decimal(self.0.committed.to_decimal())
    }
    /// limit - committed; negative when costs overran.
    async fn remaining(&self) -> Decimal {
        Decimal(self.0.remaining().to_decimal())
    }
}

/// An implicit plan: the jobs and tasks that carry its id.
pub struct Plan(pub budgets::Plan);

#[Object(name = "Plan")]
impl Plan {
    async fn id(&self) -> Uuid {
        Uuid::from(self.0.id)
    }
    /// Ordered by planStepIndex.
    #[graphql(complexity = "crate::graphql::cost::list(child_complexity)")]
    async fn jobs(&self) -> Vec<Job> {
        self.0.jobs.iter().cloned().map(Job).collect()
    }
    /// Ordered by planStepIndex.
    #[graphql(complexity = "crate::graphql::cost::list(child_complexity)")]
    async fn tasks(&self) -> Vec<Task> {
        self.0.tasks.iter().cloned().map(Task).collect()
    }
    /// Progress of the plan's tasks.
    async fn progress(&self) -> Progress {
        Progress(self.0.progress)
    }
    /// Σ estimatedCost of its jobs and tasks (a null estimate counts 0).
    async fn estimated_cost(&self) -> Decimal {
        Decimal(self.0.estimated_cost.to_decimal())
    }
    /// Σ actualCost of its jobs and tasks.
    async fn actual_cost(&self) -> Decimal {
        Decimal(self.0.actual_cost.to_decimal())
    }
    async fn budget(&self) -> Option<Budget> {
        self.0.budget.clone().map(Budget)
    }
    /// Usage of its jobs and tasks.
    async fn usage(&self, ctx: &Context<'_>) -> Result<super::usage::Usage> {
        use crate::services::usage::{Owner, merged};
        let loader = ctx.data_unchecked::<DataLoader<UsageLoader>>();
        let keys = self
            .0
            .jobs
            .iter()
            .map(|j| (Owner::Job, j.id))
            .chain(self.0.tasks.iter().map(|t| (Owner::Task, t.id)));
        let found = loader.load_many(keys).await?;
        Ok(super::usage::Usage(merged(found.values())))
    }
}
