//! Usage and per-job limits (DESIGN.md §6, "Usage", "Per-job limits").
//!
//! - `usage_record`: one row per usage report, where it landed (the job and its open run, or the
//!   task), with the agent it is charged to, the model, the counts and the amount (nano-units).
//!   Indexed by job and series (the per-job limits and `Job.usage`), run, task, and by tenant
//!   and time (the partial days of a report).
//! - `usage_daily`: the rollup the report reads, one row per (tenant, UTC day, agent, model,
//!   plan), upserted in the recording transaction. A missing agent or plan is '' (a key column
//!   cannot be null); the amount is kept as whole units plus nano-units so sums cannot overflow.
//! - `job.limit_max_tokens`, `job.limit_max_cost`: the per-job limits (null: none).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, integer, pk_uuid, string_len, uuid_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Job {
    Table,
    LimitMaxTokens,
    LimitMaxCost,
}

#[derive(DeriveIden)]
enum UsageRecord {
    Table,
    Id,
    TenantId,
    JobId,
    Series,
    RunId,
    TaskId,
    PlanId,
    Agent,
    Model,
    InputTokens,
    CachedInputTokens,
    OutputTokens,
    ToolCalls,
    Amount,
    RecordedAt,
    Day,
}

#[derive(DeriveIden)]
enum UsageDaily {
    Table,
    TenantId,
    Day,
    Agent,
    Model,
    Plan,
    InputTokens,
    CachedInputTokens,
    OutputTokens,
    ToolCalls,
    AmountUnits,
    AmountNanos,
}

const INDEXES: &[(&str, &str)] = &[
    ("ix_usage_job_series", "usage_record (job_id, series)"),
    ("ix_usage_run", "usage_record (run_id)"),
    ("ix_usage_task", "usage_record (task_id)"),
    (
        "ix_usage_tenant_time",
        "usage_record (tenant_id, recorded_at)",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Job::LimitMaxTokens, Job::LimitMaxCost] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Job::Table)
                        .add_column(ColumnDef::new(column).big_integer().null())
                        .to_owned(),
                )
                .await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(UsageRecord::Table)
                    .col(pk_uuid(UsageRecord::Id))
                    .col(string_len(UsageRecord::TenantId, 200))
                    .col(uuid_null(UsageRecord::JobId))
                    .col(integer(UsageRecord::Series).default(0))
                    .col(uuid_null(UsageRecord::RunId))
                    .col(uuid_null(UsageRecord::TaskId))
                    .col(uuid_null(UsageRecord::PlanId))
                    .col(ColumnDef::new(UsageRecord::Agent).string_len(200).null())
                    .col(string_len(UsageRecord::Model, 200))
                    .col(big_integer(UsageRecord::InputTokens))
                    .col(big_integer(UsageRecord::CachedInputTokens))
                    .col(big_integer(UsageRecord::OutputTokens))
                    .col(big_integer(UsageRecord::ToolCalls))
                    .col(big_integer(UsageRecord::Amount))
                    .col(big_integer(UsageRecord::RecordedAt))
                    .col(integer(UsageRecord::Day))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UsageDaily::Table)
                    .col(string_len(UsageDaily::TenantId, 200))
                    .col(integer(UsageDaily::Day))
                    .col(string_len(UsageDaily::Agent, 200))
                    .col(string_len(UsageDaily::Model, 200))
                    .col(string_len(UsageDaily::Plan, 64))
                    .col(big_integer(UsageDaily::InputTokens))
                    .col(big_integer(UsageDaily::CachedInputTokens))
                    .col(big_integer(UsageDaily::OutputTokens))
                    .col(big_integer(UsageDaily::ToolCalls))
                    .col(big_integer(UsageDaily::AmountUnits))
                    .col(big_integer(UsageDaily::AmountNanos))
                    .primary_key(
                        Index::create()
                            .col(UsageDaily::TenantId)
                            .col(UsageDaily::Day)
                            .col(UsageDaily::Agent)
                            .col(UsageDaily::Model)
                            .col(UsageDaily::Plan),
                    )
                    .to_owned(),
            )
            .await?;
        crate::indexes::create(manager, INDEXES).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(UsageDaily::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(UsageRecord::Table).to_owned())
            .await?;
        for column in [Job::LimitMaxCost, Job::LimitMaxTokens] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Job::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}
