//! Budgets and implicit plans (DESIGN.md §6).
//!
//! `committed(scope)` = Σ actualCost of the jobs in scope + Σ over open runs (job RUNNING or
//! CANCELLING) of max(0, estimatedCost − the run's cost so far). A start is allowed iff
//! `committed + (estimatedCost ?? 0) <= limit` for every budget covering the job; the check and
//! the move to RUNNING share one transaction that first locks the budget rows in scope (tenant
//! row, then plan row), so concurrent starts on any replica cannot overshoot.

pub mod permissions;

use crate::auth::Actor;
use crate::domain::money::{Money, MoneySum};
use crate::domain::time::Clock;
use crate::error::{ServiceError, ServiceResult};
use crate::services::access::require;
use crate::services::jobs::Job;
use crate::services::links::Progress;
use crate::services::tasks::Task;
use crate::services::{stats, tx, validate};
use entity::status::{JobRunStatus, JobStatus};
use entity::{budget, job, job_run, task};
use rust_decimal::Decimal;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, EntityTrait, IntoActiveModel, Order, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

/// The key of a budget row: `"tenant"` or the plan id.
fn scope(plan_id: Option<Uuid>) -> String {
    plan_id.map_or_else(|| "tenant".to_string(), |p| p.to_string())
}

/// A budget with its computed amounts.
#[derive(Debug, Clone)]
pub struct Budget {
    pub plan_id: Option<Uuid>,
    pub limit: Money,
    pub committed: MoneySum,
}

impl Budget {
    /// limit − committed; negative when costs overran.
    pub fn remaining(&self) -> MoneySum {
        let mut r = MoneySum::default();
        r.add(self.limit);
        r.sub(self.committed);
        r
    }
}

/// An implicit plan: whatever jobs and tasks carry its id.
#[derive(Debug, Clone)]
pub struct Plan {
    pub id: Uuid,
    pub jobs: Vec<Job>,
    pub tasks: Vec<Task>,
    pub progress: Progress,
    pub estimated_cost: MoneySum,
    pub actual_cost: MoneySum,
    pub budget: Option<Budget>,
}

/// `committed` of a scope (the tenant, or one plan), read in `conn`.
async fn committed<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    plan_id: Option<Uuid>,
) -> ServiceResult<MoneySum> {
    let mut in_scope = Condition::all().add(job::Column::TenantId.eq(tenant));
    if let Some(plan) = plan_id {
        in_scope = in_scope.add(job::Column::PlanId.eq(plan));
    }
    let groups = stats::by_status(
        conn,
        job::Entity::find().filter(in_scope.clone()),
        job::Column::Status,
    )
    .await?;
    let mut total = MoneySum::default();
    for (_, _, _, _, units, nanos) in &groups {
        total.add_parts(*units, *nanos);
    }
    // Open runs still hold the unspent part of their job's estimate.
    let running: Vec<(Uuid, Option<i64>)> = job::Entity::find()
        .select_only()
        .column(job::Column::Id)
        .column(job::Column::EstimatedCost)
        .filter(in_scope)
        .filter(job::Column::Status.is_in([JobStatus::Running, JobStatus::Cancelling]))
        .into_tuple()
        .all(conn)
        .await?;
    if !running.is_empty() {
        let spent: std::collections::HashMap<Uuid, i64> = job_run::Entity::find()
            .select_only()
            .column(job_run::Column::JobId)
            .column(job_run::Column::Cost)
            .filter(job_run::Column::JobId.is_in(running.iter().map(|(id, _)| *id)))
            .filter(job_run::Column::Status.eq(JobRunStatus::Running))
            .into_tuple::<(Uuid, i64)>()
            .all(conn)
            .await?
            .into_iter()
            .collect();
        for (id, estimated) in running {
            let unspent = estimated.unwrap_or(0) - spent.get(&id).copied().unwrap_or(0);
            total.add(Money::from_nanos(std::cmp::max(unspent, 0)));
        }
    }
    Ok(total)
}

/// What a transaction knows of one budget scope.
#[derive(Debug, Clone, Copy)]
enum Scope {
    /// No budget covers it.
    Unlimited,
    /// Locked: the limit and what is committed, counting what this transaction admitted.
    Known(Money, MoneySum),
    /// Another transaction holds the row and this one chose not to wait: admit nothing now.
    Busy,
}

/// The budgets a transaction starts jobs against: each covering budget's row is locked once
/// (tenant row, then plan row) and its committed amount read once, then carried along as jobs
/// are admitted, so a claim of many jobs reads each budget once and cannot overshoot it.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// Per scope (None: the tenant).
    scopes: std::collections::HashMap<Option<Uuid>, Scope>,
    /// Take rows only if free (`SKIP LOCKED`): set once the transaction holds locks that come
    /// later in the lock order (concurrency-limit rows), so it never waits out of order.
    no_wait: bool,
}

impl Ledger {
    /// The budget of `plan_id`'s scope, locked and read on first use.
    async fn scope(
        &mut self,
        tx: &DatabaseTransaction,
        tenant: &str,
        plan_id: Option<Uuid>,
    ) -> ServiceResult<Scope> {
        if let Some(known) = self.scopes.get(&plan_id) {
            return Ok(*known);
        }
        let find = || {
            budget::Entity::find()
                .filter(budget::Column::TenantId.eq(tenant))
                .filter(budget::Column::Scope.eq(scope(plan_id)))
        };
        let skip = self.no_wait && tx::is_postgres_tx(tx);
        let row = if skip {
            find()
                .lock_with_behavior(
                    sea_orm::sea_query::LockType::Update,
                    sea_orm::sea_query::LockBehavior::SkipLocked,
                )
                .one(tx)
                .await?
        } else {
            find().lock_exclusive().one(tx).await?
        };
        let known = match row {
            Some(b) => Scope::Known(
                Money::from_nanos(b.limit_amount),
                committed(tx, tenant, plan_id).await?,
            ),
            // Skipped because it is held, or absent?
            None if skip && find().one(tx).await?.is_some() => Scope::Busy,
            None => Scope::Unlimited,
        };
        self.scopes.insert(plan_id, known);
        Ok(known)
    }

    /// From now on, take budget rows only if no other transaction holds them.
    pub(crate) fn stop_waiting(&mut self) {
        self.no_wait = true;
    }

    /// The scopes covering `row`: the tenant, then its plan.
    fn scopes_of(row: &job::Model) -> Vec<Option<Uuid>> {
        let mut scopes = vec![None];
        if row.plan_id.is_some() {
            scopes.push(row.plan_id);
        }
        scopes
    }

    /// Locks the budgets covering any of `rows` not seen yet, in lock order (the tenant row,
    /// then plan rows by id), before locks that come after them are taken.
    pub(crate) async fn prepare(
        &mut self,
        tx: &DatabaseTransaction,
        tenant: &str,
        rows: &[job::Model],
    ) -> ServiceResult<()> {
        let plans: std::collections::BTreeSet<Uuid> =
            rows.iter().filter_map(|r| r.plan_id).collect();
        self.scope(tx, tenant, None).await?;
        for plan in plans {
            self.scope(tx, tenant, Some(plan)).await?;
        }
        Ok(())
    }

    /// Starting `row` within every budget covering it: `None` when it fits (and it is counted
    /// from now on), else why not.
    async fn try_admit(
        &mut self,
        tx: &DatabaseTransaction,
        row: &job::Model,
    ) -> ServiceResult<Option<String>> {
        let scopes = Self::scopes_of(row);
        let estimate = Money::from_nanos(row.estimated_cost.unwrap_or(0));
        for plan_id in &scopes {
            let what = || {
                plan_id.map_or_else(
                    || "the tenant's budget".to_string(),
                    |p| format!("the budget of plan {p}"),
                )
            };
            let (limit, committed) = match self.scope(tx, &row.tenant_id, *plan_id).await? {
                Scope::Unlimited => continue,
                Scope::Busy => return Ok(Some(format!("{} is being changed", what()))),
                Scope::Known(limit, committed) => (limit, committed),
            };
            let mut after = committed;
            after.add(estimate);
            if after.to_decimal() > limit.to_decimal() {
                return Ok(Some(format!(
                    "starting job {} (estimated {estimate}) would commit {} against {} of {limit}",
                    row.id,
                    after.to_decimal(),
                    what()
                )));
            }
        }
        for plan_id in scopes {
            if let Some(Scope::Known(_, committed)) = self.scopes.get_mut(&plan_id) {
                committed.add(estimate);
            }
        }
        Ok(None)
    }

    /// Whether `row` may start within its budgets (counting it if so): claims skip it if not.
    pub(crate) async fn admit(
        &mut self,
        tx: &DatabaseTransaction,
        row: &job::Model,
    ) -> ServiceResult<bool> {
        Ok(self.try_admit(tx, row).await?.is_none())
    }
}

/// BUDGET_EXCEEDED unless starting `row` keeps every budget covering it within its limit.
/// Locks the budget rows in scope (tenant row, then plan row) for the rest of the transaction.
pub(crate) async fn check_start(tx: &DatabaseTransaction, row: &job::Model) -> ServiceResult<()> {
    match Ledger::default().try_admit(tx, row).await? {
        None => Ok(()),
        Some(why) => Err(ServiceError::BudgetExceeded(why)),
    }
}

#[derive(Clone)]
pub struct BudgetService {
    db: DatabaseConnection,
    clock: Clock,
}

impl BudgetService {
    pub fn new(db: DatabaseConnection, clock: Clock) -> Self {
        Self { db, clock }
    }

    /// setBudget: ADMIN only; `limit` >= 0. Creates or replaces the budget of the scope.
    pub async fn set(
        &self,
        actor: &Actor,
        plan_id: Option<Uuid>,
        limit: Decimal,
    ) -> ServiceResult<Budget> {
        require(
            permissions::can_set_budget(actor),
            "set budgets (ADMIN only)",
        )?;
        let limit = validate::non_negative_money("limit", limit)?;
        let tx = tx::begin_write(&self.db).await?;
        // FOR UPDATE locks nothing while the row does not exist yet: serialise first creates.
        tx::advisory_lock(
            &tx,
            &format!("jobgraph.budget:{}:{}", actor.tenant, scope(plan_id)),
        )
        .await?;
        let now = self.clock.now_micros();
        let existing = budget::Entity::find()
            .filter(budget::Column::TenantId.eq(actor.tenant.as_str()))
            .filter(budget::Column::Scope.eq(scope(plan_id)))
            .lock_exclusive()
            .one(&tx)
            .await?;
        match existing {
            Some(b) => {
                let mut active = b.into_active_model();
                active.limit_amount = sea_orm::Set(limit.nanos());
                active.updated_at = sea_orm::Set(now);
                active.update(&tx).await?;
            }
            None => {
                budget::Model {
                    id: Uuid::now_v7(),
                    tenant_id: actor.tenant.clone(),
                    scope: scope(plan_id),
                    plan_id,
                    limit_amount: limit.nanos(),
                    created_at: now,
                    updated_at: now,
                }
                .into_active_model()
                .insert(&tx)
                .await?;
            }
        }
        let committed = committed(&tx, &actor.tenant, plan_id).await?;
        tx.commit().await?;
        Ok(Budget {
            plan_id,
            limit,
            committed,
        })
    }

    /// `budget(planId)`: the budget of the scope, or none.
    pub async fn get(&self, actor: &Actor, plan_id: Option<Uuid>) -> ServiceResult<Option<Budget>> {
        require(permissions::can_read(actor), "read budgets")?;
        let Some(b) = budget::Entity::find()
            .filter(budget::Column::TenantId.eq(actor.tenant.as_str()))
            .filter(budget::Column::Scope.eq(scope(plan_id)))
            .one(&self.db)
            .await?
        else {
            return Ok(None);
        };
        let committed = committed(&self.db, &actor.tenant, plan_id).await?;
        Ok(Some(Budget {
            plan_id,
            limit: Money::from_nanos(b.limit_amount),
            committed,
        }))
    }

    /// `plan(id)`: never fails; an id with no members in the tenant is an empty plan.
    pub async fn plan(&self, actor: &Actor, id: Uuid) -> ServiceResult<Plan> {
        require(permissions::can_read(actor), "read plans")?;
        let jobs = job::Entity::find()
            .filter(job::Column::TenantId.eq(actor.tenant.as_str()))
            .filter(job::Column::PlanId.eq(id))
            .order_by(Expr::col(job::Column::PlanStepIndex).is_null(), Order::Asc)
            .order_by_asc(job::Column::PlanStepIndex)
            .order_by_asc(job::Column::CreatedAt)
            .order_by_asc(job::Column::Id)
            .all(&self.db)
            .await?;
        let tasks = task::Entity::find()
            .filter(task::Column::TenantId.eq(actor.tenant.as_str()))
            .filter(task::Column::PlanId.eq(id))
            .order_by(Expr::col(task::Column::PlanStepIndex).is_null(), Order::Asc)
            .order_by_asc(task::Column::PlanStepIndex)
            .order_by_asc(task::Column::CreatedAt)
            .order_by_asc(task::Column::Id)
            .all(&self.db)
            .await?;
        let mut progress = Progress::default();
        let mut estimated = MoneySum::default();
        let mut actual = MoneySum::default();
        for j in &jobs {
            estimated.add(Money::from_nanos(j.estimated_cost.unwrap_or(0)));
            actual.add(Money::from_nanos(j.actual_cost));
        }
        for t in &tasks {
            estimated.add(Money::from_nanos(t.estimated_cost.unwrap_or(0)));
            actual.add(Money::from_nanos(t.actual_cost));
            progress.count(t.status);
        }
        let budget = self.get(actor, Some(id)).await?;
        Ok(Plan {
            id,
            jobs: jobs.into_iter().map(Job::from).collect(),
            tasks: tasks.into_iter().map(Task::from).collect(),
            progress,
            estimated_cost: estimated,
            actual_cost: actual,
            budget,
        })
    }
}
