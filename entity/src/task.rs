//! A task: a piece of work people or agents do by hand, nestable as subtasks.

use sea_orm::entity::prelude::*;

pub use crate::status::TaskStatus;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "task")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: String,
    pub parent_id: Option<Uuid>,
    pub title: String,
    /// The title lower-cased by the server, for `search` (same folding on every backend).
    pub search_title: String,
    pub description: Option<String>,
    /// The labels in the order given (the `task_label` rows carry them for filtering).
    #[sea_orm(column_type = "JsonBinary")]
    pub labels: Json,
    pub status: TaskStatus,
    pub priority: i32,
    pub version: i32,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub due_at: Option<i64>,
    pub started_at: Option<i64>,
    pub completed_at: Option<i64>,
    pub cancel_reason: Option<String>,
    pub assigned_agent: Option<String>,
    #[sea_orm(column_type = "JsonBinary")]
    pub delegation_chain: Json,
    #[sea_orm(column_type = "JsonBinary")]
    pub execution_context: Json,
    pub estimated_cost: Option<i64>,
    pub actual_cost: i64,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub checkpoint_data: Option<Json>,
    pub last_completed_step: Option<i32>,
    pub timeout_seconds: Option<i32>,
    pub plan_id: Option<Uuid>,
    pub plan_step_index: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
