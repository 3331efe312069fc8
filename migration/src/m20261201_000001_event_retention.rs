//! Event retention (DESIGN.md §7): the per-tenant pruning watermark, and an index that finds
//! the events old enough to prune without walking the whole table.
//!
//! `event_watermark.pruned_through` is the highest event id ever pruned in a tenant: a cursor
//! below it may have lost events, and readers answer EVENTS_PRUNED for it. The index leads with
//! `occurred_at`, so the pruner's "which tenants have events older than the cutoff, and up to
//! which id" reads only the old rows (a handful, when pruning runs every tick).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::{big_integer, string_len};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum EventWatermark {
    Table,
    TenantId,
    PrunedThrough,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EventWatermark::Table)
                    .col(string_len(EventWatermark::TenantId, 200).primary_key())
                    .col(big_integer(EventWatermark::PrunedThrough))
                    .to_owned(),
            )
            .await?;
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX ix_event_occurred ON event (occurred_at, tenant_id, id)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX ix_event_occurred")
            .await?;
        manager
            .drop_table(Table::drop().table(EventWatermark::Table).to_owned())
            .await
    }
}
