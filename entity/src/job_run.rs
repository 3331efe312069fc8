//! One attempt of a job: opened by a start or a claim, closed with the attempt's outcome.

use sea_orm::entity::prelude::*;

pub use crate::status::JobRunStatus;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "job_run")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub job_id: Uuid,
    pub tenant_id: String,
    pub series: i32,
    pub attempt: i32,
    pub status: JobRunStatus,
    pub agent: Option<String>,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub error: Option<String>,
    #[sea_orm(column_type = "JsonBinary", nullable)]
    pub result: Option<Json>,
    /// Nano-units.
    pub cost: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
