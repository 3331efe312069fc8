//! Opening the database: SQLite by default, PostgreSQL for `postgres://` URLs (DESIGN.md §10),
//! and running the migrations.
//!
//! May import: sea_orm, migration, tracing.

use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, Statement,
    TransactionTrait,
};
use std::time::Duration;

/// The request timeout the database's own timeouts sit below when none is given (DESIGN.md §11,
/// `--request-timeout-ms`).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_millis(30_000);

/// The database's own timeouts, derived from the request timeout (DESIGN.md §11), so that a
/// statement stuck on a lock or running long ends with TIMEOUT inside the request rather than
/// running on after the request gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// PostgreSQL `statement_timeout`: nine tenths of the request timeout.
    pub statement: Duration,
    /// PostgreSQL `lock_timeout`, and SQLite's busy timeout (how long a writer waits for the
    /// write lock): half the request timeout, at most 10 s.
    pub lock: Duration,
}

impl Timeouts {
    /// The timeouts below `request_timeout` (at least 10 ms each).
    pub fn below(request_timeout: Duration) -> Self {
        let floor = Duration::from_millis(10);
        Self {
            statement: (request_timeout * 9 / 10).max(floor),
            lock: (request_timeout / 2)
                .min(Duration::from_secs(10))
                .max(floor),
        }
    }
}

/// Which database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `postgres://` and `postgresql://` are PostgreSQL; `sqlite:` is SQLite; anything else is refused.
    pub fn of_url(url: &str) -> Option<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else {
            None
        }
    }
}

/// Connects with a pool of `max_connections` and the settings each backend needs, with the
/// database timeouts below the default request timeout.
pub async fn connect(url: &str, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    connect_with(
        url,
        max_connections,
        Timeouts::below(DEFAULT_REQUEST_TIMEOUT),
    )
    .await
}

/// Connects with a pool of `max_connections`, each session with `timeouts`.
pub async fn connect_with(
    url: &str,
    max_connections: u32,
    timeouts: Timeouts,
) -> Result<DatabaseConnection, DbErr> {
    let backend = Backend::of_url(url).ok_or_else(|| {
        DbErr::Custom(format!(
            "unsupported database URL `{}`: use sqlite:PATH or postgres://…",
            redact(url)
        ))
    })?;
    let mut opts = ConnectOptions::new(url.to_string());
    opts.max_connections(max_connections.max(2))
        .min_connections(1)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(30))
        // Statement logs would print every query at INFO; failures are logged by the services.
        .sqlx_logging(false);
    if backend == Backend::Sqlite {
        // WAL lets readers run beside the one writer; writers queue on busy_timeout; foreign
        // keys are off by default in SQLite and the schema relies on their cascades.
        opts.map_sqlx_sqlite_opts(move |o| {
            o.create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(timeouts.lock)
        });
    } else {
        // Set at connection start-up, so they hold for every statement of every session.
        opts.map_sqlx_postgres_opts(move |o| {
            o.options([
                (
                    "statement_timeout",
                    format!("{}", timeouts.statement.as_millis()),
                ),
                ("lock_timeout", format!("{}", timeouts.lock.as_millis())),
            ])
        });
    }
    Database::connect(opts).await
}

/// The advisory lock migrations run under on PostgreSQL (`lock_key` of this name).
pub const MIGRATION_LOCK: &str = "jobgraph.migrations";

/// Brings the schema up to date. On PostgreSQL, in one transaction under an advisory lock, so
/// replicas starting together migrate once (the others wait, then find nothing to do), and
/// with the sessions' timeouts lifted: an index built over a large table may take longer than
/// a request.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Migrator::up(db, None).await;
    }
    let tx = db.begin().await?;
    tx.execute_unprepared("SET LOCAL statement_timeout = 0")
        .await?;
    tx.execute_unprepared("SET LOCAL lock_timeout = 0").await?;
    tx.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_advisory_xact_lock($1)",
        [lock_key(MIGRATION_LOCK).into()],
    ))
    .await?;
    Migrator::up(&tx, None).await?;
    tx.commit().await
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

/// The backend of an open connection.
pub fn backend_of(db: &DatabaseConnection) -> Backend {
    match db.get_database_backend() {
        DbBackend::Postgres => Backend::Postgres,
        _ => Backend::Sqlite,
    }
}

/// A URL with its password replaced, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The pool's connections: (in use, idle).
pub fn pool_connections(db: &DatabaseConnection) -> (u32, u32) {
    let (size, idle) = match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle())
        }
        _ => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle())
        }
    };
    let idle = u32::try_from(idle).unwrap_or(u32::MAX).min(size);
    (size - idle, idle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_by_url() {
        assert_eq!(
            Backend::of_url("postgres://u@h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::of_url("postgresql://u@h/db"),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::of_url("sqlite:data/jobgraph.db?mode=rwc"),
            Some(Backend::Sqlite)
        );
        assert_eq!(Backend::of_url("mysql://h/db"), None);
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite:x.db"), "sqlite:x.db");
    }
}
