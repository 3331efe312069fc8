//! Indexes for "my next ready work": an assignee's records by priority, so that
//! `tasks(filter: {assignedAgent, status: [OPEN], blocked: false}, orderBy: PRIORITY DESC,
//! first: 1)` walks one agent's rows in order and probes the edge index per row, instead of
//! walking the whole tenant by priority (measured in BENCHMARKS.md).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: &[(&str, &str)] = &[
    (
        "ix_task_tenant_assignee_priority",
        "task (tenant_id, assigned_agent, priority, id)",
    ),
    (
        "ix_job_tenant_assignee_priority",
        "job (tenant_id, assigned_agent, priority, id)",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::indexes::create(manager, INDEXES).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::indexes::drop(manager, INDEXES).await?;
        Ok(())
    }
}
