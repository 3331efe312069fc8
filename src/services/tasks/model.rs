//! The task as the service layer hands it out, and the commands that create and change one.

use crate::domain::money::Money;
use crate::domain::priority::PriorityLevel;
use crate::domain::time::{Micros, rfc3339};
use crate::services::Patch;
use crate::services::delegation::Delegation;
use chrono::{DateTime, Utc};
use entity::task;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

/// A task, read in the caller's tenant.
#[derive(Debug, Clone)]
pub struct Task {
    pub row: task::Model,
}

impl Task {
    pub fn id(&self) -> Uuid {
        self.row.id
    }
    pub fn labels(&self) -> Vec<String> {
        serde_json::from_value(self.row.labels.clone()).unwrap_or_default()
    }
    pub fn priority_level(&self) -> PriorityLevel {
        PriorityLevel::of(self.row.priority)
    }
    pub fn estimated_cost(&self) -> Option<Money> {
        self.row.estimated_cost.map(Money::from_nanos)
    }
    pub fn actual_cost(&self) -> Money {
        Money::from_nanos(self.row.actual_cost)
    }
    pub fn delegation_chain(&self) -> Vec<Delegation> {
        Delegation::chain_from_json(&self.row.delegation_chain)
    }
}

/// createTask's and createSubtask's command.
#[derive(Debug, Clone, Default)]
pub struct NewTask {
    pub title: String,
    pub description: Option<String>,
    pub labels: Option<Vec<String>>,
    pub priority: Option<i32>,
    pub priority_level: Option<PriorityLevel>,
    pub assigned_agent: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub plan_id: Option<Uuid>,
    pub plan_step_index: Option<i32>,
    pub estimated_cost: Option<Decimal>,
    pub timeout_seconds: Option<i32>,
    pub execution_context: Option<Value>,
    /// Link the new task to this job at once…
    pub job_id: Option<Uuid>,
    /// …with this role (default PRIMARY).
    pub role: Option<entity::status::JobTaskRole>,
}

/// updateTask's command: `Keep` leaves a field alone, `Clear` sets it to null.
#[derive(Debug, Clone, Default)]
pub struct TaskPatch {
    pub shared: crate::services::update::SharedPatch,
    /// `Set` moves the task under another parent; `Clear` makes it a root.
    pub parent_id: Patch<Uuid>,
    pub due_at: Patch<DateTime<Utc>>,
}

/// The scalar fields of a task as events store them (API names; times RFC 3339; money as text).
pub fn snapshot(row: &task::Model) -> Value {
    let t = |us: Option<Micros>| us.map(rfc3339);
    let money = |n: Option<i64>| n.map(|n| Money::from_nanos(n).to_string());
    json!({
        "id": row.id,
        "tenantId": row.tenant_id,
        "parentId": row.parent_id,
        "title": row.title,
        "description": row.description,
        "labels": row.labels,
        "status": row.status.as_str(),
        "priority": row.priority,
        "version": row.version,
        "createdBy": row.created_by,
        "createdAt": rfc3339(row.created_at),
        "updatedAt": rfc3339(row.updated_at),
        "dueAt": t(row.due_at),
        "startedAt": t(row.started_at),
        "completedAt": t(row.completed_at),
        "cancelReason": row.cancel_reason,
        "assignedAgent": row.assigned_agent,
        "delegationChain": row.delegation_chain,
        "estimatedCost": money(row.estimated_cost),
        "actualCost": Money::from_nanos(row.actual_cost).to_string(),
        "lastCompletedStep": row.last_completed_step,
        "timeoutSeconds": row.timeout_seconds,
        "planId": row.plan_id,
        "planStepIndex": row.plan_step_index,
    })
}
