//! A stored lifecycle event. Ids are global and become visible in commit order.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub tenant_id: String,
    /// Dotted name, e.g. `job.status_changed`.
    pub event_type: String,
    pub actor_id: String,
    pub job_id: Option<Uuid>,
    pub task_id: Option<Uuid>,
    pub plan_id: Option<Uuid>,
    /// The record's assignee after the change.
    pub assignee: Option<String>,
    /// For task events: the ids of the jobs linked to the task at that moment.
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub linked_job_ids: Option<Json>,
    /// The change: fromStatus, toStatus, fromAssignee, toAssignee, reason, error, result,
    /// runAt, amount, attempt (only those that apply).
    #[sea_orm(column_type = "JsonBinary")]
    pub details: Json,
    /// The record's scalar fields right after the change (before it, for deletions).
    #[sea_orm(column_type = "JsonBinary")]
    pub snapshot: Json,
    pub occurred_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
