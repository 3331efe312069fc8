//! updateExecutionContext, saveCheckpoint and recordJobCost: a job's execution state.

use super::{
    Checkpoint, ContextMode, ExecutionService, add_cost, amount, checkpointed_data, finished,
    patched_context, permissions,
};
use crate::auth::Actor;
use crate::error::ServiceResult;
use crate::services::access::require;
use crate::services::events::EventDraft;

use crate::domain::money::{Money, MoneySum};
use crate::domain::time::Micros;
use crate::services::jobs::{self, Job};
use crate::services::tx;
use crate::services::usage::{self, Landing, Report, UsageInput};
use entity::status::JobStatus;
use entity::{job, job_run};
use rust_decimal::Decimal;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, QueryFilter,
    QuerySelect,
};
use serde_json::{Value, json};
use uuid::Uuid;

impl ExecutionService {
    /// A writing transaction with the job `id` of the caller's tenant locked in it (NOT_FOUND
    /// otherwise), once the caller may act on it (FORBIDDEN otherwise).
    async fn begin_on_job(
        &self,
        actor: &Actor,
        id: Uuid,
        what: &str,
    ) -> ServiceResult<(crate::services::tx::WriteTx, job::Model)> {
        let tx = tx::begin_write(&self.db).await?;
        let row = jobs::lock(&tx, actor, id).await?;
        require(
            permissions::can_execute(actor, jobs::owners(&row).owned_by(actor)),
            what,
        )?;
        Ok((tx, row))
    }

    /// updateExecutionContext: MERGE (RFC 7396) or REPLACE, in any status. A patch that
    /// changes nothing returns the job untouched (no version bump, no event).
    pub async fn update_job_context(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: &Value,
        mode: ContextMode,
    ) -> ServiceResult<Job> {
        let (tx, before) = self
            .begin_on_job(actor, id, "change this job's execution context")
            .await?;
        let context = patched_context(
            &before.execution_context,
            patch,
            mode,
            self.limits.max_json_bytes,
        )?;
        if context == before.execution_context {
            return Ok(Job::from(before));
        }
        let now = self.clock.now_micros();
        let mut after = before.clone();
        after.execution_context = context;
        after.version += 1;
        after.updated_at = now;
        jobs::save(&tx, &before, &after).await?;
        let event = EventDraft::job("job.updated", &after);
        jobs::commit(&*self.bus, tx, actor, now, vec![event]).await?;
        Ok(Job::from(after))
    }

    /// saveCheckpoint: records the last completed step (never lower) and, when given, the
    /// data to resume from, in any non-terminal status. `attempt` fences stale workers.
    pub async fn save_job_checkpoint(
        &self,
        actor: &Actor,
        id: Uuid,
        checkpoint: Checkpoint,
        attempt: Option<i32>,
    ) -> ServiceResult<Job> {
        let (tx, before) = self
            .begin_on_job(actor, id, "save a checkpoint of this job")
            .await?;
        let data = checkpointed_data(
            before.last_completed_step,
            before.checkpoint_data.as_ref(),
            &checkpoint,
            self.limits.max_json_bytes,
        )?;
        if attempt.is_some() {
            let run = jobs::open_run(&tx, id).await?;
            jobs::fence(&before, run.as_ref(), attempt)?;
        }
        if before.status.is_terminal() {
            return Err(finished("job", before.status.as_str()));
        }
        let now = self.clock.now_micros();
        let mut after = before.clone();
        after.last_completed_step = Some(checkpoint.step);
        after.checkpoint_data = data;
        after.version += 1;
        after.updated_at = now;
        jobs::save(&tx, &before, &after).await?;
        let event =
            EventDraft::job("job.checkpointed", &after).with("step", json!(checkpoint.step));
        jobs::commit(&*self.bus, tx, actor, now, vec![event]).await?;
        Ok(Job::from(after))
    }

    /// recordJobCost: adds `amount` to the open run's cost if a run is open, and always to the
    /// job's `actualCost` (the runs' costs plus what was recorded while no run was open). Any
    /// status (late bills); never refused for budget reasons. `attempt` fences stale workers.
    /// A RUNNING job whose series cost passes its `maxCost` moves to CANCELLING.
    pub async fn record_job_cost(
        &self,
        actor: &Actor,
        id: Uuid,
        value: Decimal,
        attempt: Option<i32>,
    ) -> ServiceResult<Job> {
        let (tx, before) = self
            .begin_on_job(actor, id, "record costs of this job")
            .await?;
        let amount = amount(value)?;
        let run = jobs::open_run(&tx, id).await?;
        jobs::fence(&before, run.as_ref(), attempt)?;
        let now = self.clock.now_micros();
        let mut after = before.clone();
        add_job_cost(&tx, &mut after, run, amount).await?;
        after.version += 1;
        after.updated_at = now;
        let mut events = vec![
            EventDraft::job("job.cost_recorded", &after).with("amount", json!(amount.to_string())),
        ];
        events.extend(enforce_limits(&tx, &mut after, now).await?);
        jobs::save(&tx, &before, &after).await?;
        jobs::commit(&*self.bus, tx, actor, now, events).await?;
        Ok(Job::from(after))
    }

    /// recordUsage: stores what the worker used where a cost would land (the open run, else
    /// the job), charged to the run's agent (else the job's assignee); its `amount` is recorded
    /// as recordJobCost would. One `job.usage_recorded` event. A RUNNING job whose series
    /// tokens or cost pass its limits moves to CANCELLING in the same transaction.
    pub async fn record_usage(
        &self,
        actor: &Actor,
        id: Uuid,
        input: &UsageInput,
        attempt: Option<i32>,
    ) -> ServiceResult<Job> {
        let (tx, before) = self
            .begin_on_job(actor, id, "record usage of this job")
            .await?;
        let report = Report::check(input)?;
        let run = jobs::open_run(&tx, id).await?;
        jobs::fence(&before, run.as_ref(), attempt)?;
        let now = self.clock.now_micros();
        let agent = run
            .as_ref()
            .and_then(|r| r.agent.clone())
            .or_else(|| before.assigned_agent.clone());
        let landing = Landing {
            tenant: &before.tenant_id,
            job_id: Some(before.id),
            series: before.series,
            run_id: run.as_ref().map(|r| r.id),
            task_id: None,
            plan_id: before.plan_id,
            agent: agent.as_deref(),
        };
        usage::record(&tx, &landing, &report, now).await?;
        let mut after = before.clone();
        if let Some(amount) = report.amount {
            add_job_cost(&tx, &mut after, run, amount).await?;
        }
        after.version += 1;
        after.updated_at = now;
        let mut event = EventDraft::job("job.usage_recorded", &after);
        for (key, value) in report.event_details() {
            event = event.with(key, value);
        }
        let mut events = vec![event];
        events.extend(enforce_limits(&tx, &mut after, now).await?);
        jobs::save(&tx, &before, &after).await?;
        jobs::commit(&*self.bus, tx, actor, now, events).await?;
        Ok(Job::from(after))
    }
}

/// Adds `amount` to the job's `actualCost` (in `after`, saved by the caller) and to its open
/// run's cost (written here).
async fn add_job_cost(
    tx: &DatabaseTransaction,
    after: &mut job::Model,
    run: Option<job_run::Model>,
    amount: Money,
) -> ServiceResult<()> {
    after.actual_cost = add_cost(after.actual_cost, amount)?;
    if let Some(run) = run {
        let cost = add_cost(run.cost, amount)?;
        let mut active = run.into_active_model();
        active.cost = sea_orm::Set(cost);
        active.update(tx).await?;
    }
    Ok(())
}

/// The per-job limits (DESIGN.md §6): when the RUNNING job's current series has used more
/// tokens than `maxTokens` or cost more than `maxCost`, moves it (in `after`) to CANCELLING
/// with the reason and returns `job.limit_exceeded`, `job.status_changed` and
/// `job.cancel_requested`. Reaching a limit exactly is within it.
async fn enforce_limits(
    tx: &DatabaseTransaction,
    after: &mut job::Model,
    now: Micros,
) -> ServiceResult<Vec<EventDraft>> {
    if after.status != JobStatus::Running
        || (after.limit_max_tokens.is_none() && after.limit_max_cost.is_none())
    {
        return Ok(Vec::new());
    }
    let mut crossed = None;
    if let Some(max) = after.limit_max_tokens {
        let used = usage::series_tokens(tx, after.id, after.series).await?;
        if used > max {
            crossed = Some(("token limit exceeded", "maxTokens", json!(used), json!(max)));
        }
    }
    if crossed.is_none()
        && let Some(max) = after.limit_max_cost
    {
        let spent = series_cost(tx, after.id, after.series).await?;
        if spent.to_decimal() > Money::from_nanos(max).to_decimal() {
            crossed = Some((
                "cost limit exceeded",
                "maxCost",
                json!(spent.to_decimal().to_string()),
                json!(Money::from_nanos(max).to_string()),
            ));
        }
    }
    let Some((reason, limit, used, max)) = crossed else {
        return Ok(Vec::new());
    };
    let from = after.status;
    after.status = JobStatus::Cancelling;
    after.cancel_reason = Some(reason.to_string());
    after.cancel_requested_at = Some(now);
    Ok(vec![
        EventDraft::job("job.limit_exceeded", after)
            .with("reason", json!(reason))
            .with("limit", json!(limit))
            .with("used", used)
            .with("max", max),
        EventDraft::job("job.status_changed", after)
            .status_change(from.as_str(), after.status.as_str()),
        EventDraft::job("job.cancel_requested", after).with("reason", json!(reason)),
    ])
}

/// The cost of the job's runs in `series`.
async fn series_cost(
    tx: &DatabaseTransaction,
    job_id: Uuid,
    series: i32,
) -> ServiceResult<MoneySum> {
    let (units, nanos): (i64, i64) = job_run::Entity::find()
        .select_only()
        .column_as(
            Expr::cust("CAST(COALESCE(SUM(cost / 1000000000), 0) AS BIGINT)"),
            "u",
        )
        .column_as(
            Expr::cust("CAST(COALESCE(SUM(cost % 1000000000), 0) AS BIGINT)"),
            "n",
        )
        .filter(job_run::Column::JobId.eq(job_id))
        .filter(job_run::Column::Series.eq(series))
        .into_tuple()
        .one(tx)
        .await?
        .unwrap_or((0, 0));
    let mut sum = MoneySum::default();
    sum.add_parts(units, nanos);
    Ok(sum)
}
