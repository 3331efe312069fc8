//! Transactions and locks that behave the same on SQLite and PostgreSQL.
//!
//! Every writing operation runs in one transaction from `begin_write`. On SQLite it begins
//! IMMEDIATE, taking the single writer lock up front: a DEFERRED read-then-write transaction
//! would fail with SQLITE_BUSY when it tries to upgrade, instead of queueing. On PostgreSQL,
//! rows are locked with `FOR UPDATE` and keyed advisory locks serialise what rows cannot.
//!
//! SQLite has one writer per file whatever the pool's size, and a writer that finds the lock
//! taken waits in SQLite's busy handler, which sleeps in growing steps (up to 100 ms) and so
//! often wakes long after the lock was freed: under load, writes spend more time asleep than
//! writing. So SQLite writers of one file first queue on an in-process lock, handed on the
//! moment the previous writer commits or rolls back; the busy timeout remains the fallback
//! for another process on the same file.

use crate::db::{Backend, backend_of};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, SqliteTransactionMode,
    Statement, TransactionOptions, TransactionTrait,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};
use tokio::sync::OwnedMutexGuard;

/// The writer lock of each SQLite file this process writes.
static SQLITE_WRITERS: LazyLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> =
    LazyLock::new(Default::default);

/// A writing transaction: the database transaction, and (SQLite) this process's turn at the
/// file's one writer, held until the transaction commits or is dropped (rolled back).
pub struct WriteTx {
    tx: DatabaseTransaction,
    turn: Option<OwnedMutexGuard<()>>,
}

/// Whose turn it is to write, while a transaction is handed on for its commit.
pub struct WriterTurn(#[allow(dead_code)] Option<OwnedMutexGuard<()>>);

impl std::ops::Deref for WriteTx {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.tx
    }
}

/// A write transaction runs statements like the transaction it holds.
#[async_trait::async_trait]
impl ConnectionTrait for WriteTx {
    fn get_database_backend(&self) -> sea_orm::DbBackend {
        self.tx.get_database_backend()
    }
    async fn execute_raw(&self, stmt: Statement) -> Result<sea_orm::ExecResult, DbErr> {
        self.tx.execute_raw(stmt).await
    }
    async fn execute_unprepared(&self, sql: &str) -> Result<sea_orm::ExecResult, DbErr> {
        self.tx.execute_unprepared(sql).await
    }
    async fn query_one_raw(&self, stmt: Statement) -> Result<Option<sea_orm::QueryResult>, DbErr> {
        self.tx.query_one_raw(stmt).await
    }
    async fn query_all_raw(&self, stmt: Statement) -> Result<Vec<sea_orm::QueryResult>, DbErr> {
        self.tx.query_all_raw(stmt).await
    }
    fn support_returning(&self) -> bool {
        self.tx.support_returning()
    }
}

impl WriteTx {
    pub async fn commit(self) -> Result<(), DbErr> {
        let (tx, _turn) = self.into_parts();
        tx.commit().await
    }

    /// The transaction and the writer's turn, for a commit elsewhere (the event bus): keep
    /// the turn until the commit is done.
    pub fn into_parts(self) -> (DatabaseTransaction, WriterTurn) {
        (self.tx, WriterTurn(self.turn))
    }
}

/// Begins a writing transaction.
pub async fn begin_write(db: &DatabaseConnection) -> Result<WriteTx, DbErr> {
    let turn = match db.get_database_backend() {
        sea_orm::DbBackend::Sqlite => {
            let file = db
                .get_sqlite_connection_pool()
                .connect_options()
                .get_filename()
                .to_path_buf();
            let lock = {
                let mut writers = SQLITE_WRITERS
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                writers.entry(file).or_default().clone()
            };
            Some(lock.lock_owned().await)
        }
        _ => None,
    };
    let tx = db
        .begin_with_options(TransactionOptions {
            isolation_level: None,
            access_mode: None,
            sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        })
        .await?;
    Ok(WriteTx { tx, turn })
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

pub use crate::db::lock_key;

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
