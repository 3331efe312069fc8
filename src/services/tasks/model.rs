//! The task as the service layer hands it out, and the commands that create and change one.

use crate::domain::money::Money;
use crate::domain::priority::PriorityLevel;
use crate::domain::time::{Micros, serde_rfc3339, serde_rfc3339_opt};
use crate::services::Patch;
use crate::services::delegation::Delegation;
use crate::services::view::{self, Documents, by_name};
use chrono::{DateTime, Utc};
use entity::status::TaskStatus;
use entity::task;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// A task as readers see it: its typed fields, from a live row or from an event's snapshot
/// (DESIGN.md §1). Serialised, its scalar fields are the snapshot events store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Task {
    pub id: Uuid,
    pub tenant_id: String,
    #[serde(default)]
    pub parent_id: Option<Uuid>,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(with = "by_name")]
    pub status: TaskStatus,
    pub priority: i32,
    pub version: i32,
    pub created_by: String,
    #[serde(with = "serde_rfc3339")]
    pub created_at: Micros,
    #[serde(with = "serde_rfc3339")]
    pub updated_at: Micros,
    #[serde(default, with = "serde_rfc3339_opt")]
    pub due_at: Option<Micros>,
    #[serde(default, with = "serde_rfc3339_opt")]
    pub started_at: Option<Micros>,
    #[serde(default, with = "serde_rfc3339_opt")]
    pub completed_at: Option<Micros>,
    #[serde(default)]
    pub cancel_reason: Option<String>,
    #[serde(default)]
    pub assigned_agent: Option<String>,
    #[serde(default)]
    pub delegation_chain: Vec<Delegation>,
    #[serde(default)]
    pub estimated_cost: Option<Money>,
    pub actual_cost: Money,
    #[serde(default)]
    pub last_completed_step: Option<i32>,
    #[serde(default)]
    pub timeout_seconds: Option<i32>,
    #[serde(default)]
    pub plan_id: Option<Uuid>,
    #[serde(default)]
    pub plan_step_index: Option<i32>,
    /// The live row's JSON documents; `None` in a view built from a snapshot.
    #[serde(skip)]
    pub documents: Option<Documents>,
}

impl Task {
    /// The scalar fields of `row`, with `documents` as given.
    fn scalars(row: &task::Model, documents: Option<Documents>) -> Self {
        Self {
            id: row.id,
            tenant_id: row.tenant_id.clone(),
            parent_id: row.parent_id,
            title: row.title.clone(),
            description: row.description.clone(),
            labels: Vec::<String>::deserialize(&row.labels).unwrap_or_default(),
            status: row.status,
            priority: row.priority,
            version: row.version,
            created_by: row.created_by.clone(),
            created_at: row.created_at,
            updated_at: row.updated_at,
            due_at: row.due_at,
            started_at: row.started_at,
            completed_at: row.completed_at,
            cancel_reason: row.cancel_reason.clone(),
            assigned_agent: row.assigned_agent.clone(),
            delegation_chain: Delegation::chain_from_json(&row.delegation_chain),
            estimated_cost: row.estimated_cost.map(Money::from_nanos),
            actual_cost: Money::from_nanos(row.actual_cost),
            last_completed_step: row.last_completed_step,
            timeout_seconds: row.timeout_seconds,
            plan_id: row.plan_id,
            plan_step_index: row.plan_step_index,
            documents,
        }
    }

    /// The snapshot an event stores of `row` (DESIGN.md §7: small event rows).
    pub fn snapshot(row: &task::Model) -> Value {
        let mut view = Self::scalars(row, None);
        view.delegation_chain = view::snapshot_chain(&view.delegation_chain);
        serde_json::to_value(&view).unwrap_or(Value::Null)
    }

    /// The view an event's snapshot describes (no documents: they resolve live).
    pub fn from_snapshot(snapshot: &Value) -> Result<Self, serde_json::Error> {
        Self::deserialize(snapshot)
    }

    pub fn priority_level(&self) -> PriorityLevel {
        PriorityLevel::of(self.priority)
    }
}

impl From<task::Model> for Task {
    fn from(mut row: task::Model) -> Self {
        let documents = Documents {
            execution_context: std::mem::take(&mut row.execution_context),
            checkpoint_data: row.checkpoint_data.take(),
        };
        Self::scalars(&row, Some(documents))
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
