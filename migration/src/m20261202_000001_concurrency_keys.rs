//! Concurrency keys and fair claims (DESIGN.md §3).
//!
//! - `job.concurrency_key`: the key a job shares its limit with (null: none);
//!   `job.released_attempts`: the attempts of the current series that were handed back by
//!   releaseJobs, which `maxAttempts` does not count.
//! - `concurrency_limit`: one row per limited key of a tenant. Claims and starts lock it (in key
//!   order) before counting the key's RUNNING and CANCELLING jobs, so a limit is exact on every
//!   replica; there is no stored counter, so freeing a slot locks nothing.
//! - `ix_job_claim_groups`: the runnable jobs by (priority, key, claim order), so a claim walks
//!   the (priority, key) groups and takes the head of each without ranking every row;
//!   `ix_job_tenant_key_status`: the `concurrencyKey` filter; `ix_job_running_key`: the running
//!   count per key (claims count every key's running jobs in one pass over it);
//!   `ix_job_waiting_keyed`: whether a tenant has waiting keyed jobs at all (if not, a claim
//!   takes the plain claim order, with nothing to take turns between).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, integer, string_len};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Job {
    Table,
    ConcurrencyKey,
    ReleasedAttempts,
}

#[derive(DeriveIden)]
enum ConcurrencyLimit {
    Table,
    TenantId,
    ConcurrencyKey,
    MaxRunning,
    CreatedAt,
    UpdatedAt,
}

const INDEXES: &[(&str, &str)] = &[
    (
        "ix_job_claim_groups",
        "job (tenant_id, priority, (COALESCE(concurrency_key, '')), (COALESCE(run_at, created_at)), id) WHERE status IN ('PENDING', 'SCHEDULED')",
    ),
    (
        "ix_job_tenant_key_status",
        "job (tenant_id, concurrency_key, status)",
    ),
    (
        "ix_job_waiting_keyed",
        "job (tenant_id) WHERE status IN ('PENDING', 'SCHEDULED') AND concurrency_key IS NOT NULL",
    ),
    (
        "ix_job_running_key",
        "job (tenant_id, concurrency_key) WHERE status IN ('RUNNING', 'CANCELLING')",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Job::Table)
                    .add_column(ColumnDef::new(Job::ConcurrencyKey).string_len(200).null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Job::Table)
                    .add_column(integer(Job::ReleasedAttempts).default(0))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ConcurrencyLimit::Table)
                    .col(string_len(ConcurrencyLimit::TenantId, 200))
                    .col(string_len(ConcurrencyLimit::ConcurrencyKey, 200))
                    .col(integer(ConcurrencyLimit::MaxRunning))
                    .col(big_integer(ConcurrencyLimit::CreatedAt))
                    .col(big_integer(ConcurrencyLimit::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(ConcurrencyLimit::TenantId)
                            .col(ConcurrencyLimit::ConcurrencyKey),
                    )
                    .to_owned(),
            )
            .await?;
        crate::indexes::create(manager, INDEXES).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        crate::indexes::drop(manager, INDEXES).await?;
        manager
            .drop_table(Table::drop().table(ConcurrencyLimit::Table).to_owned())
            .await?;
        for column in [Job::ReleasedAttempts, Job::ConcurrencyKey] {
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
