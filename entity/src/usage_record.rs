//! One usage report: what an agent used of a model, where it landed (a job and its open run, or
//! a task), and what it cost.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_record")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: String,
    pub job_id: Option<Uuid>,
    /// The job's series at recording (0 for a task's usage).
    pub series: i32,
    /// The run open at recording, if any.
    pub run_id: Option<Uuid>,
    pub task_id: Option<Uuid>,
    /// The record's plan at recording.
    pub plan_id: Option<Uuid>,
    /// Whom it is charged to: the run's agent, else the record's assignee at recording.
    pub agent: Option<String>,
    pub model: String,
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub output_tokens: i64,
    pub tool_calls: i64,
    /// Nano-units.
    pub amount: i64,
    pub recorded_at: i64,
    /// UTC day of `recorded_at`, in days since 1970-01-01.
    pub day: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
