//! updateTaskExecutionContext, saveTaskCheckpoint and recordTaskCost: a task's execution
//! state. Task events carry the ids of the jobs linked to the task at that moment.

use super::{
    Checkpoint, ContextMode, ExecutionService, add_cost, amount, checkpointed_data, finished,
    patched_context, permissions,
};
use crate::auth::Actor;
use crate::domain::time::Micros;
use crate::error::ServiceResult;
use crate::events::EventBus;
use crate::services::access::require;
use crate::services::events::EventDraft;

use crate::services::tasks::state::is_open;
use crate::services::tasks::{self, Task};
use crate::services::tx;
use crate::services::usage::{self, Landing, Report, UsageInput};
use entity::task;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

impl ExecutionService {
    /// A writing transaction with the task `id` of the caller's tenant locked in it (NOT_FOUND
    /// otherwise), once the caller may act on it (own*, FORBIDDEN otherwise).
    async fn begin_on_task(
        &self,
        actor: &Actor,
        id: Uuid,
        what: &str,
    ) -> ServiceResult<(crate::services::tx::WriteTx, task::Model)> {
        let tx = tx::begin_write(&self.db).await?;
        let row = tasks::lock(&tx, actor, id).await?;
        let owned = tasks::owned(&tx, actor, &row).await?;
        require(permissions::can_execute(actor, owned), what)?;
        Ok((tx, row))
    }

    /// updateTaskExecutionContext: MERGE (RFC 7396) or REPLACE, in any status. A patch that
    /// changes nothing returns the task untouched (no version bump, no event).
    pub async fn update_task_context(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: &Value,
        mode: ContextMode,
    ) -> ServiceResult<Task> {
        let (tx, before) = self
            .begin_on_task(actor, id, "change this task's execution context")
            .await?;
        let context = patched_context(
            &before.execution_context,
            patch,
            mode,
            self.limits.max_json_bytes,
        )?;
        if context == before.execution_context {
            return Ok(Task::from(before));
        }
        let now = self.clock.now_micros();
        let mut after = before.clone();
        after.execution_context = context;
        bump(&mut after, now);
        write(
            &*self.bus,
            tx,
            actor,
            &before,
            after,
            now,
            "task.updated",
            None,
        )
        .await
    }

    /// saveTaskCheckpoint: records the last completed step (never lower) and, when given, the
    /// data to resume from, while the task is OPEN or IN_PROGRESS.
    pub async fn save_task_checkpoint(
        &self,
        actor: &Actor,
        id: Uuid,
        checkpoint: Checkpoint,
    ) -> ServiceResult<Task> {
        let (tx, before) = self
            .begin_on_task(actor, id, "save a checkpoint of this task")
            .await?;
        let data = checkpointed_data(
            before.last_completed_step,
            before.checkpoint_data.as_ref(),
            &checkpoint,
            self.limits.max_json_bytes,
        )?;
        if !is_open(before.status) {
            return Err(finished("task", before.status.as_str()));
        }
        let now = self.clock.now_micros();
        let mut after = before.clone();
        after.last_completed_step = Some(checkpoint.step);
        after.checkpoint_data = data;
        bump(&mut after, now);
        let detail = ("step", json!(checkpoint.step));
        write(
            &*self.bus,
            tx,
            actor,
            &before,
            after,
            now,
            "task.checkpointed",
            Some(detail),
        )
        .await
    }

    /// recordTaskCost: adds `amount` to the task's `actualCost`, in any status (late bills).
    /// Task costs never count toward budgets.
    pub async fn record_task_cost(
        &self,
        actor: &Actor,
        id: Uuid,
        value: Decimal,
    ) -> ServiceResult<Task> {
        let (tx, before) = self
            .begin_on_task(actor, id, "record costs of this task")
            .await?;
        let amount = amount(value)?;
        let total = add_cost(before.actual_cost, amount)?;
        let now = self.clock.now_micros();
        let mut after = before.clone();
        after.actual_cost = total;
        bump(&mut after, now);
        let detail = ("amount", json!(amount.to_string()));
        write(
            &*self.bus,
            tx,
            actor,
            &before,
            after,
            now,
            "task.cost_recorded",
            Some(detail),
        )
        .await
    }

    /// recordTaskUsage: stores what was used on the task, charged to its assignee; the
    /// `amount` is added to the task's `actualCost` as recordTaskCost would (task costs never
    /// count toward budgets). One `task.usage_recorded` event.
    pub async fn record_task_usage(
        &self,
        actor: &Actor,
        id: Uuid,
        input: &UsageInput,
    ) -> ServiceResult<Task> {
        let (tx, before) = self
            .begin_on_task(actor, id, "record usage of this task")
            .await?;
        let report = Report::check(input)?;
        let now = self.clock.now_micros();
        let landing = Landing {
            tenant: &before.tenant_id,
            job_id: None,
            series: 0,
            run_id: None,
            task_id: Some(before.id),
            plan_id: before.plan_id,
            agent: before.assigned_agent.as_deref(),
        };
        usage::record(&tx, &landing, &report, now).await?;
        let mut after = before.clone();
        if let Some(amount) = report.amount {
            after.actual_cost = add_cost(before.actual_cost, amount)?;
        }
        bump(&mut after, now);
        let [usage, amount] = report.event_details();
        tasks::save(&tx, &before, &after).await?;
        let links = tasks::linked_jobs(&tx, &[after.id])
            .await?
            .remove(&after.id)
            .unwrap_or_default();
        let event = EventDraft::task("task.usage_recorded", &after, links)
            .with(usage.0, usage.1)
            .with(amount.0, amount.1);
        tasks::commit(&*self.bus, tx, actor, now, vec![event]).await?;
        Ok(Task::from(after))
    }
}

/// The version bump and `updatedAt` of a write to the task's row.
fn bump(row: &mut task::Model, now: Micros) {
    row.version += 1;
    row.updated_at = now;
}

/// Saves `after`, stores its one event (with the task's linked jobs and `detail`), commits.
#[allow(clippy::too_many_arguments)]
async fn write(
    bus: &dyn EventBus,
    tx: crate::services::tx::WriteTx,
    actor: &Actor,
    before: &task::Model,
    after: task::Model,
    now: Micros,
    event_type: &'static str,
    detail: Option<(&str, Value)>,
) -> ServiceResult<Task> {
    tasks::save(&tx, before, &after).await?;
    let links = tasks::linked_jobs(&tx, &[after.id])
        .await?
        .remove(&after.id)
        .unwrap_or_default();
    let mut event = EventDraft::task(event_type, &after, links);
    if let Some((key, value)) = detail {
        event = event.with(key, value);
    }
    tasks::commit(bus, tx, actor, now, vec![event]).await?;
    Ok(Task::from(after))
}
