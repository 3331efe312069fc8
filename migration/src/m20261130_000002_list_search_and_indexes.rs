//! What the list API needs beyond the first migration:
//! - `search_title`, the title lower-cased by the server (Unicode-aware, the same on every
//!   backend), so that `search` is one `LIKE` over stored text: SQLite's own `lower()` only
//!   folds ASCII and would answer differently from PostgreSQL's;
//! - indexes for the remaining equality filters with the default ordering, and partial indexes
//!   for `pendingJobs` (claim order) and `runningJobs`, tenant first.
//!
//! The partial and expression indexes are plain SQL that SQLite and PostgreSQL both accept.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::string;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Job {
    Table,
    SearchTitle,
}

#[derive(DeriveIden)]
enum Task {
    Table,
    SearchTitle,
}

const INDEXES: &[(&str, &str)] = &[
    (
        "ix_job_tenant_plan_created",
        "job (tenant_id, plan_id, created_at, id)",
    ),
    (
        "ix_job_tenant_assignee_created",
        "job (tenant_id, assigned_agent, created_at, id)",
    ),
    (
        "ix_job_tenant_creator_created",
        "job (tenant_id, created_by, created_at, id)",
    ),
    (
        "ix_task_tenant_plan_created",
        "task (tenant_id, plan_id, created_at, id)",
    ),
    (
        "ix_task_tenant_assignee_created",
        "task (tenant_id, assigned_agent, created_at, id)",
    ),
    (
        "ix_task_tenant_creator_created",
        "task (tenant_id, created_by, created_at, id)",
    ),
    (
        "ix_task_tenant_parent_created",
        "task (tenant_id, parent_id, created_at, id)",
    ),
    (
        "ix_job_pending_claim_order",
        "job (tenant_id, priority DESC, (COALESCE(run_at, created_at)), id) WHERE status IN ('PENDING', 'SCHEDULED')",
    ),
    (
        "ix_job_running_started",
        "job (tenant_id, started_at, id) WHERE status IN ('RUNNING', 'CANCELLING')",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Job::Table)
                    .add_column(string(Job::SearchTitle).default(""))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Task::Table)
                    .add_column(string(Task::SearchTitle).default(""))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        // Rows written before this migration: lower() folds ASCII on SQLite; the server rewrites
        // the column with full Unicode folding on the next change of each title.
        db.execute_unprepared("UPDATE job SET search_title = lower(title)")
            .await?;
        db.execute_unprepared("UPDATE task SET search_title = lower(title)")
            .await?;
        crate::indexes::create(manager, INDEXES).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::indexes::drop(manager, INDEXES).await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Task::Table)
                    .drop_column(Task::SearchTitle)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Job::Table)
                    .drop_column(Job::SearchTitle)
                    .to_owned(),
            )
            .await?;
        Ok(())
    }
}
