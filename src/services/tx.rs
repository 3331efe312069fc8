//! Transactions and locks that behave the same on SQLite and PostgreSQL.
//!
//! Every writing operation runs in one transaction from `begin_write`. On SQLite it begins
//! IMMEDIATE, taking the single writer lock up front: a DEFERRED read-then-write transaction
//! would fail with SQLITE_BUSY when it tries to upgrade, instead of queueing. On PostgreSQL,
//! rows are locked with `FOR UPDATE` and keyed advisory locks serialise what rows cannot.

use crate::db::{Backend, backend_of};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode,
    Statement, TransactionOptions, TransactionTrait,
};

/// Begins a writing transaction.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        isolation_level: None,
        access_mode: None,
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
    })
    .await
}

/// Takes a transaction-scoped lock on `key` (PostgreSQL `pg_advisory_xact_lock`); on SQLite the
/// IMMEDIATE transaction already excludes every other writer.
pub async fn advisory_lock(tx: &DatabaseTransaction, key: &str) -> Result<(), DbErr> {
    if tx.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Ok(());
    }
    tx.execute_raw(Statement::from_sql_and_values(
        sea_orm::DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [lock_key(key).into()],
    ))
    .await?;
    Ok(())
}

/// A stable 64-bit key for a lock name (FNV-1a), the same in every replica and release.
pub fn lock_key(name: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.as_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash as i64
}

/// True on PostgreSQL.
pub fn is_postgres(db: &DatabaseConnection) -> bool {
    backend_of(db) == Backend::Postgres
}

/// True when `tx` runs on PostgreSQL (where row locks and `SKIP LOCKED` exist).
pub fn is_postgres_tx(tx: &DatabaseTransaction) -> bool {
    tx.get_database_backend() == sea_orm::DbBackend::Postgres
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_are_stable_and_distinct() {
        assert_eq!(lock_key("events:acme"), lock_key("events:acme"));
        assert_ne!(lock_key("events:acme"), lock_key("events:acme2"));
        // FNV-1a of the empty string is its offset basis.
        assert_eq!(lock_key(""), 0xcbf2_9ce4_8422_2325_u64 as i64);
    }
}
