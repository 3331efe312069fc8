//! Budgets, plans and the usage report.

use crate::graphql::context::{actor, services};
use crate::graphql::error::to_gql;
use crate::graphql::scalars::Decimal;
use crate::graphql::scalars::Uuid;
use crate::graphql::types::plan::{Budget, Plan};
use crate::graphql::types::usage::{UsageFilter, UsageGroup, UsageRow};
use async_graphql::{Context, Object, Result};

#[derive(Default)]
pub struct BudgetQuery;

#[Object]
impl BudgetQuery {
    /// Plans are implicit: an id with no members in the caller's tenant gives an empty plan.
    async fn plan(&self, ctx: &Context<'_>, id: Uuid) -> Result<Plan> {
        Ok(Plan(
            services(ctx)?
                .budgets
                .plan(actor(ctx)?, id.0)
                .await
                .map_err(to_gql)?,
        ))
    }

    /// Usage summed by the groups asked for (none: one row for everything), largest amount first.
    #[graphql(complexity = "crate::graphql::cost::list(child_complexity)")]
    async fn usage_report(
        &self,
        ctx: &Context<'_>,
        filter: Option<UsageFilter>,
        group_by: Option<Vec<UsageGroup>>,
    ) -> Result<Vec<UsageRow>> {
        let groups: Vec<_> = group_by
            .unwrap_or_default()
            .into_iter()
            .map(Into::into)
            .collect();
        let rows = services(ctx)?
            .usage
            .report(
                actor(ctx)?,
                &filter.map(Into::into).unwrap_or_default(),
                &groups,
            )
            .await
            .map_err(to_gql)?;
        Ok(rows.into_iter().map(UsageRow).collect())
    }

    /// The tenant-wide budget when planId is null.
    async fn budget(&self, ctx: &Context<'_>, plan_id: Option<Uuid>) -> Result<Option<Budget>> {
        Ok(services(ctx)?
            .budgets
            .get(actor(ctx)?, plan_id.map(Into::into))
            .await
            .map_err(to_gql)?
            .map(Budget))
    }
}

#[derive(Default)]
pub struct BudgetMutation;

#[Object]
impl BudgetMutation {
    /// ADMIN only. A null planId sets the tenant-wide budget.
    async fn set_budget(
        &self,
        ctx: &Context<'_>,
        plan_id: Option<Uuid>,
        limit: Decimal,
    ) -> Result<Budget> {
        Ok(Budget(
            services(ctx)?
                .budgets
                .set(actor(ctx)?, plan_id.map(Into::into), limit.0)
                .await
                .map_err(to_gql)?,
        ))
    }
}
