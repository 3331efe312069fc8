//! A spending limit for a tenant (plan_id null) or for one plan.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "budget")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: String,
    /// `"tenant"` for the tenant-wide budget, else the plan id: a NOT NULL key so that the
    /// unique index (tenant_id, scope) also holds for the tenant-wide row.
    pub scope: String,
    pub plan_id: Option<Uuid>,
    /// Nano-units.
    pub limit_amount: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
