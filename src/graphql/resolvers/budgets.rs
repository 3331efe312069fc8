//! Budgets and plans.

use crate::graphql::context::{actor, services};
use crate::graphql::error::to_gql;
use crate::graphql::scalars::Decimal;
use crate::graphql::scalars::Uuid;
use crate::graphql::types::plan::{Budget, Plan};
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
