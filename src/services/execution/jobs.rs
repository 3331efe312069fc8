//! updateExecutionContext, saveCheckpoint and recordJobCost: a job's execution state.

use super::{
    Checkpoint, ContextMode, ExecutionService, add_cost, amount, checkpointed_data, finished,
    patched_context, permissions,
};
use crate::auth::Actor;
use crate::error::ServiceResult;
use crate::services::access::require;
use crate::services::events::EventDraft;

use crate::services::jobs::{self, Job};
use crate::services::tx;
use entity::job;
use rust_decimal::Decimal;
use sea_orm::{ActiveModelTrait, IntoActiveModel};
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
        let total = add_cost(before.actual_cost, amount)?;
        let run = jobs::open_run(&tx, id).await?;
        jobs::fence(&before, run.as_ref(), attempt)?;
        let now = self.clock.now_micros();
        let mut after = before.clone();
        after.actual_cost = total;
        after.version += 1;
        after.updated_at = now;
        jobs::save(&tx, &before, &after).await?;
        if let Some(run) = run {
            let cost = add_cost(run.cost, amount)?;
            let mut active = run.into_active_model();
            active.cost = sea_orm::Set(cost);
            active.update(&tx).await?;
        }
        let event =
            EventDraft::job("job.cost_recorded", &after).with("amount", json!(amount.to_string()));
        jobs::commit(&*self.bus, tx, actor, now, vec![event]).await?;
        Ok(Job::from(after))
    }
}
