//! createJob, updateJob, deleteJob and delegateJob.

use super::model::{Delegation, Job, JobPatch, NewJob, ScheduleRequest};
use super::retry::RetryPolicy;
use super::state::{JobAction, transition};
use super::{JobService, commit, owners, permissions, save, write_labels};
use crate::auth::Actor;
use crate::domain::time::to_micros;
use crate::error::{ServiceError, ServiceResult};
use crate::services::access::require;
use crate::services::dependencies::cascade::{self, Ending};
use crate::services::events::EventDraft;
use crate::services::update::{SharedFields, check_version, not_null};
use crate::services::{Patch, tx, validate};
use entity::job;
use entity::status::JobStatus;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter};
use serde_json::json;
use uuid::Uuid;

/// The `runAt` and `cron` a schedule gives (exactly one of its fields must be set).
pub(super) fn resolve_schedule(
    field: &str,
    schedule: &ScheduleRequest,
    now: chrono::DateTime<chrono::Utc>,
) -> ServiceResult<(Option<i64>, Option<String>)> {
    match (&schedule.run_at, &schedule.cron) {
        (Some(run_at), None) => Ok((Some(to_micros(*run_at)), None)),
        (None, Some(expr)) => {
            let cron = super::cron::CronSchedule::parse(&format!("{field}.cron"), expr)?;
            let next = cron.next_after(now).ok_or_else(|| {
                ServiceError::bad_input(format!("{field}.cron"), "the cron expression never fires")
            })?;
            Ok((Some(to_micros(next)), Some(cron.expr().to_string())))
        }
        _ => Err(ServiceError::bad_input(
            field,
            format!("`{field}` needs exactly one of `runAt` and `cron`"),
        )),
    }
}

impl JobService {
    /// createJob: a PENDING job, or SCHEDULED with a schedule. A known idempotency key returns
    /// the job it created and writes nothing.
    pub async fn create(&self, actor: &Actor, input: NewJob) -> ServiceResult<Job> {
        require(permissions::can_create(actor), "create jobs")?;
        let key = input
            .idempotency_key
            .as_deref()
            .map(|k| validate::idempotency_key("input.idempotencyKey", k))
            .transpose()?;
        let tx = tx::begin_write(&self.db).await?;
        if let Some(key) = &key {
            // Serialise creates of one key, so that two concurrent ones return the same job.
            tx::advisory_lock(&tx, &format!("jobgraph.idempotency:{}:{key}", actor.tenant)).await?;
            let existing = job::Entity::find()
                .filter(job::Column::TenantId.eq(actor.tenant.as_str()))
                .filter(job::Column::IdempotencyKey.eq(key.as_str()))
                .one(&tx)
                .await?;
            if let Some(row) = existing {
                return Ok(Job::from(row));
            }
        }

        let now = self.clock.now();
        let now_us = to_micros(now);
        let title = validate::title("input.title", &input.title)?;
        let description = validate::description("input.description", input.description.as_deref())?;
        let labels = validate::labels("input.labels", input.labels.as_deref().unwrap_or_default())?;
        let priority =
            validate::priority_or_default("input.", input.priority, input.priority_level)?;
        let plan_step_index = input
            .plan_step_index
            .map(|i| validate::step_index("input.planStepIndex", i))
            .transpose()?;
        let estimated_cost = input
            .estimated_cost
            .map(|c| validate::non_negative_money("input.estimatedCost", c))
            .transpose()?;
        let timeout_seconds = input
            .timeout_seconds
            .map(|s| validate::timeout_seconds("input.timeoutSeconds", s))
            .transpose()?;
        let policy = match &input.retry_policy {
            Some(p) => RetryPolicy::default().merged(p, "input.retryPolicy")?,
            None => RetryPolicy::default(),
        };
        let context = input.execution_context.unwrap_or_else(|| json!({}));
        validate::json_object(
            "input.executionContext",
            &context,
            self.limits.max_json_bytes,
        )?;
        let assigned_agent = input
            .assigned_agent
            .as_deref()
            .map(|a| validate::actor_id("input.assignedAgent", a))
            .transpose()?;
        let concurrency_key = input
            .concurrency_key
            .as_deref()
            .map(|k| validate::concurrency_key("input.concurrencyKey", k))
            .transpose()?;
        let (status, run_at, cron) = match &input.schedule {
            None => (JobStatus::Pending, None, None),
            Some(s) => {
                let (run_at, cron) = resolve_schedule("input.schedule", s, now)?;
                (JobStatus::Scheduled, run_at, cron)
            }
        };
        let chain = Delegation::initial_chain(assigned_agent.as_deref(), &actor.id, now_us);

        let row = job::Model {
            id: Uuid::now_v7(),
            tenant_id: actor.tenant.clone(),
            search_title: title.to_lowercase(),
            title,
            description,
            labels: json!(labels),
            status,
            priority,
            version: 1,
            created_by: actor.id.clone(),
            created_at: now_us,
            updated_at: now_us,
            run_at,
            cron,
            started_at: None,
            finished_at: None,
            result: None,
            error: None,
            cancel_reason: None,
            cancel_requested_at: None,
            execution_context: context,
            estimated_cost: estimated_cost.map(|m| m.nanos()),
            actual_cost: 0,
            assigned_agent,
            delegation_chain: chain,
            checkpoint_data: None,
            last_completed_step: None,
            timeout_seconds,
            plan_id: input.plan_id,
            plan_step_index,
            retry_max_attempts: policy.max_attempts,
            retry_initial_backoff_seconds: policy.initial_backoff_seconds,
            retry_backoff_multiplier: policy.backoff_multiplier,
            retry_max_backoff_seconds: policy.max_backoff_seconds,
            attempt: 0,
            series: 1,
            lease_expires_at: None,
            lease_seconds: None,
            idempotency_key: key,
            concurrency_key,
            released_attempts: 0,
            limit_max_tokens: None,
            limit_max_cost: None,
        };
        let mut row = row;
        if let Some(limits) = &input.limits {
            limits.apply(&mut row)?;
        }
        let active = row.clone().into_active_model().reset_all();
        active.insert(&tx).await?;
        write_labels(&tx, &row, &labels).await?;
        let event = EventDraft::job("job.created", &row);
        commit(&*self.bus, tx, actor, now_us, vec![event]).await?;
        Ok(Job::from(row))
    }

    /// updateJob: changes the given fields; a change of nothing returns the job untouched.
    pub async fn update(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: JobPatch,
        expected_version: Option<i32>,
    ) -> ServiceResult<Job> {
        let (tx, before) = self.begin_on(actor, id).await?;
        require(
            permissions::can_modify(actor, owners(&before)),
            "update this job",
        )?;
        let mut after = before.clone();
        let new_labels = patch.shared.apply(SharedFields {
            title: &mut after.title,
            search_title: &mut after.search_title,
            description: &mut after.description,
            labels: &mut after.labels,
            priority: &mut after.priority,
            plan_id: &mut after.plan_id,
            plan_step_index: &mut after.plan_step_index,
            estimated_cost: &mut after.estimated_cost,
            timeout_seconds: &mut after.timeout_seconds,
        })?;
        match &patch.retry_policy {
            Patch::Keep => {}
            Patch::Clear => return Err(not_null("retryPolicy")),
            Patch::Set(p) => {
                let policy = super::model::policy_of(&before).merged(p, "input.retryPolicy")?;
                after.retry_max_attempts = policy.max_attempts;
                after.retry_initial_backoff_seconds = policy.initial_backoff_seconds;
                after.retry_backoff_multiplier = policy.backoff_multiplier;
                after.retry_max_backoff_seconds = policy.max_backoff_seconds;
            }
        }
        match &patch.concurrency_key {
            Patch::Keep => {}
            Patch::Clear => after.concurrency_key = None,
            Patch::Set(k) => {
                after.concurrency_key = Some(validate::concurrency_key("input.concurrencyKey", k)?)
            }
        }
        if let Some(limits) = &patch.limits {
            // A lowered limit acts at the next recording.
            limits.apply(&mut after)?;
        }
        if after.concurrency_key != before.concurrency_key
            && matches!(before.status, JobStatus::Running | JobStatus::Cancelling)
        {
            // Its slot is held under the old key until the attempt ends.
            return Err(ServiceError::bad_input(
                "input.concurrencyKey",
                format!(
                    "job {id} is {}: its concurrency key cannot change until the attempt ends",
                    before.status.as_str()
                ),
            ));
        }
        check_version(before.version, expected_version)?;
        if after == before {
            return Ok(Job::from(before));
        }
        let now = self.clock.now_micros();
        after.version += 1;
        after.updated_at = now;
        save(&tx, &before, &after).await?;
        if let Some(labels) = new_labels
            && after.labels != before.labels
        {
            write_labels(&tx, &after, &labels).await?;
        }
        let event = EventDraft::job("job.updated", &after);
        commit(&*self.bus, tx, actor, now, vec![event]).await?;
        Ok(Job::from(after))
    }

    /// deleteJob: removes the job with its runs, labels, links and edges. Returns its id.
    pub async fn delete(&self, actor: &Actor, id: Uuid) -> ServiceResult<Uuid> {
        let (tx, before) = self.begin_on(actor, id).await?;
        require(
            permissions::can_delete(actor, owners(&before)),
            "delete this job",
        )?;
        transition(JobAction::Delete, before.status)?;
        let now = self.clock.now_micros();
        let mut watch = super::lifecycle::watch_successors(&tx, &before).await?;
        let mut events = vec![EventDraft::job("job.deleted", &before)];
        // Deleting an unfinished (not yet started) predecessor counts as cancelling it: the
        // reactions read its edges and links, so they run before the row (and those) go.
        if matches!(before.status, JobStatus::Pending | JobStatus::Scheduled) {
            events
                .extend(cascade::job_ended(&tx, now, &before, Ending::Deleted, &mut watch).await?);
        }
        job::Entity::delete_by_id(id).exec(&tx).await?;
        // Its edges went with it: a successor that waited only on it may be ready now.
        events.extend(watch.after(&tx, &events).await?);
        commit(&*self.bus, tx, actor, now, events).await?;
        Ok(id)
    }

    /// delegateJob: hands the job to `to`, appending to its delegation chain.
    pub async fn delegate(
        &self,
        actor: &Actor,
        id: Uuid,
        to: &str,
        reason: Option<&str>,
    ) -> ServiceResult<Job> {
        let (tx, before) = self.begin_on(actor, id).await?;
        require(
            permissions::can_delegate(actor, owners(&before), to.trim()),
            "delegate this job",
        )?;
        let entry = Delegation::hand_over(
            "to",
            to,
            reason,
            before.assigned_agent.as_deref(),
            &actor.id,
            "job",
            self.clock.now_micros(),
        )?;
        transition(JobAction::Delegate, before.status)?;
        let now_us = entry.at;
        let mut after = before.clone();
        after.delegation_chain = entry.appended_to(&before.delegation_chain);
        after.assigned_agent = Some(entry.to.clone());
        after.version += 1;
        after.updated_at = now_us;
        save(&tx, &before, &after).await?;
        let event = EventDraft::job("job.delegated", &after)
            .with("fromAssignee", json!(before.assigned_agent))
            .with("toAssignee", json!(entry.to))
            .with("reason", json!(entry.reason));
        commit(&*self.bus, tx, actor, now_us, vec![event]).await?;
        Ok(Job::from(after))
    }
}
