//! An edge between two jobs: the successor waits on the predecessor as its type says.

use sea_orm::entity::prelude::*;

pub use crate::status::DependencyType;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "job_dependency")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub predecessor_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub successor_id: Uuid,
    pub tenant_id: String,
    pub dependency_type: DependencyType,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
