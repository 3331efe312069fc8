//! createTask, createSubtask, updateTask (with re-parenting), deleteTask and assignTask.

use super::model::{NewTask, Task, TaskPatch};
use super::state::{TaskAction, is_open, transition};
use super::{
    MAX_DEPTH, TaskService, ancestors, commit, descendants, linked_jobs, lock, owned, owners,
    permissions, save, write_labels,
};
use crate::auth::Actor;
use crate::domain::time::to_micros;
use crate::error::{ServiceError, ServiceResult};
use crate::services::access::require;
use crate::services::delegation::Delegation;
use crate::services::events::EventDraft;
use crate::services::links::{self, JobWatch};
use crate::services::update::{SharedFields, check_version};
use crate::services::{Patch, jobs, tx, validate};
use entity::status::{JobTaskRole, TaskStatus};
use entity::task;
use sea_orm::{ActiveModelTrait, DatabaseTransaction, EntityTrait, IntoActiveModel};
use serde_json::json;
use uuid::Uuid;

/// What a move under a new parent would do.
enum Placement {
    Fits,
    Cycle(Vec<String>),
}

/// INVALID_TRANSITION for work placed under a finished parent.
fn finished_parent(parent: &task::Model, what: &str) -> ServiceError {
    ServiceError::InvalidTransition {
        from: parent.status.as_str().to_string(),
        to: "OPEN".to_string(),
        message: format!(
            "parent task {} is {}: {what} under a finished task is not allowed (reopen the parent first)",
            parent.id,
            parent.status.as_str()
        ),
    }
}

impl TaskService {
    /// createTask: a new root task, OPEN.
    pub async fn create(&self, actor: &Actor, input: NewTask) -> ServiceResult<Task> {
        require(permissions::can_create(actor), "create tasks")?;
        let tx = tx::begin_write(&self.db).await?;
        self.insert(tx, actor, input, None).await
    }

    /// createSubtask: a new task under `parent_id`, which must not be COMPLETED or CANCELLED.
    pub async fn create_subtask(
        &self,
        actor: &Actor,
        parent_id: Uuid,
        input: NewTask,
    ) -> ServiceResult<Task> {
        // The parent is locked, so it cannot finish while its new child is being added. A job to
        // link is locked before it: jobs before tasks, the order job cascades keep.
        let tx = tx::begin_write(&self.db).await?;
        super::lock_tree(&tx, &actor.tenant).await?;
        if let Some(job_id) = input.job_id {
            jobs::lock(&tx, actor, job_id).await?;
        }
        let parent = lock(&tx, actor, parent_id).await?;
        let parent_owned = owned(&tx, actor, &parent).await?;
        require(
            permissions::can_create_under(actor, parent_owned),
            "add subtasks to this task",
        )?;
        self.insert(tx, actor, input, Some(parent)).await
    }

    async fn insert(
        &self,
        tx: crate::services::tx::WriteTx,
        actor: &Actor,
        input: NewTask,
        parent: Option<task::Model>,
    ) -> ServiceResult<Task> {
        // A job to link the new task to: it must exist in the tenant and be the caller's to
        // add tasks to (checked before the input, as every existence and permission check is).
        let link_job = match input.job_id {
            Some(job_id) => {
                let job = jobs::lock(&tx, actor, job_id).await?;
                require(
                    permissions::can_create_under(actor, jobs::owners(&job).owned_by(actor)),
                    "add tasks to this job",
                )?;
                Some(job)
            }
            None => None,
        };
        if input.role.is_some() && input.job_id.is_none() {
            return Err(ServiceError::bad_input(
                "input.role",
                "`input.role` needs `input.jobId`",
            ));
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
        if let Some(parent) = &parent {
            let depth = ancestors(&tx, parent).await?.len() + 2;
            if depth > MAX_DEPTH {
                return Err(ServiceError::bad_input(
                    "parentId",
                    format!(
                        "subtasks nest at most {MAX_DEPTH} deep; this one would be at depth {depth}"
                    ),
                ));
            }
            if !is_open(parent.status) {
                return Err(finished_parent(parent, "a subtask"));
            }
        }
        let chain = Delegation::initial_chain(assigned_agent.as_deref(), &actor.id, now_us);
        let row = task::Model {
            id: Uuid::now_v7(),
            tenant_id: actor.tenant.clone(),
            parent_id: parent.as_ref().map(|p| p.id),
            search_title: title.to_lowercase(),
            title,
            description,
            labels: json!(labels),
            status: TaskStatus::Open,
            priority,
            version: 1,
            created_by: actor.id.clone(),
            created_at: now_us,
            updated_at: now_us,
            due_at: input.due_at.map(to_micros),
            started_at: None,
            completed_at: None,
            cancel_reason: None,
            assigned_agent,
            delegation_chain: chain,
            execution_context: context,
            estimated_cost: estimated_cost.map(|m| m.nanos()),
            actual_cost: 0,
            checkpoint_data: None,
            last_completed_step: None,
            timeout_seconds,
            plan_id: input.plan_id,
            plan_step_index,
        };
        row.clone()
            .into_active_model()
            .reset_all()
            .insert(&tx)
            .await?;
        write_labels(&tx, &row, &labels).await?;
        let mut linked = Vec::new();
        if let Some(job) = &link_job {
            let role = input.role.unwrap_or(JobTaskRole::Primary);
            links::insert(&tx, &actor.tenant, job.id, row.id, role, now_us).await?;
            linked.push(job.id);
        }
        // Only `task.created`, even with a link (DESIGN.md §7).
        let event = EventDraft::task("task.created", &row, linked);
        commit(&*self.bus, tx, actor, now_us, vec![event]).await?;
        Ok(Task::from(row))
    }

    /// updateTask: changes the given fields; `parentId` re-parents (null detaches).
    pub async fn update(
        &self,
        actor: &Actor,
        id: Uuid,
        patch: TaskPatch,
        expected_version: Option<i32>,
    ) -> ServiceResult<Task> {
        let (tx, before) = if patch.parent_id.is_keep() {
            self.begin_on(actor, id).await?
        } else {
            self.begin_tree_change(actor, id).await?
        };
        let is_owned = owned(&tx, actor, &before).await?;
        require(permissions::can_modify(actor, is_owned), "update this task")?;
        // A new parent must exist in the tenant and be one the caller may add subtasks to.
        let new_parent = match &patch.parent_id {
            Patch::Set(p) if Some(*p) != before.parent_id && *p != id => {
                let parent = lock(&tx, actor, *p).await?;
                let parent_owned = owned(&tx, actor, &parent).await?;
                require(
                    permissions::can_create_under(actor, parent_owned),
                    "move tasks under this task",
                )?;
                Some(parent)
            }
            _ => None,
        };
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
        match &patch.due_at {
            Patch::Keep => {}
            Patch::Clear => after.due_at = None,
            Patch::Set(t) => after.due_at = Some(to_micros(*t)),
        }
        match &patch.parent_id {
            Patch::Keep => {}
            Patch::Clear => after.parent_id = None,
            Patch::Set(p) => after.parent_id = Some(*p),
        }
        let placement = match &new_parent {
            Some(parent) => Some(self.placement(&tx, &before, parent).await?),
            None => None,
        };
        check_version(before.version, expected_version)?;
        if let Some(parent) = &new_parent
            && is_open(before.status)
            && !is_open(parent.status)
        {
            return Err(finished_parent(parent, "an open task"));
        }
        if after.parent_id == Some(id) {
            return Err(ServiceError::CycleDetected {
                cycle: vec![id.to_string()],
                message: format!("task {id} cannot be its own parent"),
            });
        }
        if let Some(Placement::Cycle(cycle)) = placement {
            return Err(ServiceError::CycleDetected {
                message: format!(
                    "task {} is below task {id}: making it the parent would close a cycle",
                    cycle.last().cloned().unwrap_or_default()
                ),
                cycle,
            });
        }
        if after == before {
            return Ok(Task::from(before));
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
        let links = linked_jobs(&tx, &[id])
            .await?
            .remove(&id)
            .unwrap_or_default();
        let event = EventDraft::task("task.updated", &after, links);
        commit(&*self.bus, tx, actor, now, vec![event]).await?;
        Ok(Task::from(after))
    }

    /// Where a move under `parent` would put `moved`: a cycle (the chain from the moved task
    /// down to the would-be parent), or a legal place, after checking the depth bound.
    async fn placement(
        &self,
        tx: &DatabaseTransaction,
        moved: &task::Model,
        parent: &task::Model,
    ) -> ServiceResult<Placement> {
        let above = ancestors(tx, parent).await?;
        if let Some(pos) = above.iter().position(|a| a.id == moved.id) {
            let mut cycle: Vec<String> = above[..pos]
                .iter()
                .rev()
                .map(|t| t.id.to_string())
                .collect();
            cycle.insert(0, moved.id.to_string());
            cycle.push(parent.id.to_string());
            return Ok(Placement::Cycle(cycle));
        }
        let subtree_height = descendants(tx, moved.id).await?.len();
        let depth = above.len() + 2 + subtree_height;
        if depth > MAX_DEPTH {
            return Err(ServiceError::bad_input(
                "input.parentId",
                format!(
                    "subtasks nest at most {MAX_DEPTH} deep; this move would reach depth {depth}"
                ),
            ));
        }
        Ok(Placement::Fits)
    }

    /// deleteTask: removes the task and its subtasks (recursively), with their links and
    /// edges; `task.deleted` for each, deepest first. Returns the id.
    pub async fn delete(&self, actor: &Actor, id: Uuid) -> ServiceResult<Uuid> {
        let (tx, before) = self.begin_tree_change(actor, id).await?;
        require(
            permissions::can_delete(actor, owners(&before)),
            "delete this task",
        )?;
        let levels = descendants(&tx, id).await?;
        let mut doomed: Vec<&task::Model> = levels.iter().rev().flatten().collect();
        doomed.push(&before);
        let ids: Vec<Uuid> = doomed.iter().map(|t| t.id).collect();
        let mut links = linked_jobs(&tx, &ids).await?;
        let watch = JobWatch::before(&tx, &doomed).await?;
        let successors = super::lifecycle::watch_successors(&tx, &ids, &actor.tenant).await?;
        let mut events: Vec<EventDraft> = doomed
            .iter()
            .map(|t| EventDraft::task("task.deleted", t, links.remove(&t.id).unwrap_or_default()))
            .collect();
        // Deepest first, so no row is removed while a child still points at it.
        for t in &doomed {
            task::Entity::delete_by_id(t.id).exec(&tx).await?;
        }
        events.extend(watch.after(&tx, |_| None).await?);
        // Their edges went with them: a successor that waited only on them may be ready now.
        events.extend(successors.after(&tx, &events).await?);
        commit(&*self.bus, tx, actor, self.clock.now_micros(), events).await?;
        Ok(id)
    }

    /// assignTask: hands the task to `assignee`, appending to its delegation chain. Any MEMBER
    /// or AGENT may pick up an unassigned task for itself.
    pub async fn assign(
        &self,
        actor: &Actor,
        id: Uuid,
        assignee: &str,
        reason: Option<&str>,
    ) -> ServiceResult<Task> {
        let (tx, before) = self.begin_on(actor, id).await?;
        let is_owned = owned(&tx, actor, &before).await?;
        let allowed = permissions::can_assign(
            actor,
            is_owned,
            before.assigned_agent.as_deref(),
            assignee.trim(),
        );
        require(allowed, "assign this task")?;
        let entry = Delegation::hand_over(
            "assignee",
            assignee,
            reason,
            before.assigned_agent.as_deref(),
            &actor.id,
            "task",
            self.clock.now_micros(),
        )?;
        transition(TaskAction::Assign, before.status)?;
        let now_us = entry.at;
        let mut after = before.clone();
        after.delegation_chain = entry.appended_to(&before.delegation_chain);
        after.assigned_agent = Some(entry.to.clone());
        after.version += 1;
        after.updated_at = now_us;
        save(&tx, &before, &after).await?;
        let links = linked_jobs(&tx, &[id])
            .await?
            .remove(&id)
            .unwrap_or_default();
        let event = EventDraft::task("task.assigned", &after, links)
            .with("fromAssignee", json!(before.assigned_agent))
            .with("toAssignee", json!(entry.to))
            .with("reason", json!(entry.reason));
        commit(&*self.bus, tx, actor, now_us, vec![event]).await?;
        Ok(Task::from(after))
    }
}
