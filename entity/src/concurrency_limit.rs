//! How many jobs sharing a concurrency key may be RUNNING or CANCELLING at once in a tenant.
//! A key without a row is unlimited. The running count is never stored: it is counted under
//! this row's lock by whoever admits a job.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "concurrency_limit")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub concurrency_key: String,
    pub max_running: i32,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
