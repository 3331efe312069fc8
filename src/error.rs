//! The one error type of the service layer. Each variant is one `extensions.code` of the API
//! (DESIGN.md §8); `graphql::error` turns it into a GraphQL error exactly once.
//!
//! May import: sea_orm (to classify database errors), serde_json, tracing.

use serde_json::{Value, json};

/// What went wrong, in the terms a client can act on.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// UNAUTHENTICATED: no valid bearer token.
    #[error("{0}")]
    Unauthenticated(String),
    /// FORBIDDEN: the caller's roles do not allow this on this record.
    #[error("{0}")]
    Forbidden(String),
    /// NOT_FOUND (`id`): no such record in the caller's tenant.
    #[error("{what} {id} was not found")]
    NotFound { what: &'static str, id: String },
    /// BAD_USER_INPUT (`field`): an argument is malformed or out of bounds.
    #[error("{message}")]
    BadInput { field: String, message: String },
    /// PAYLOAD_TOO_LARGE (`field`): a JSON value or the request body is over its limit.
    #[error("{message}")]
    PayloadTooLarge { field: String, message: String },
    /// INVALID_TRANSITION (`from`, `to`): the record's state does not allow this.
    #[error("{message}")]
    InvalidTransition {
        from: String,
        to: String,
        message: String,
    },
    /// CONFLICT (`expectedVersion`, `actualVersion`): the record changed since it was read.
    #[error(
        "version {expected} was expected but the record is at version {actual}; read it again and retry"
    )]
    VersionConflict { expected: i32, actual: i32 },
    /// CONFLICT (`expectedAttempt`, `actualAttempt`): a stale worker's call.
    #[error("{message}")]
    AttemptConflict {
        expected: i32,
        actual: i32,
        message: String,
    },
    /// CYCLE_DETECTED (`cycle`): the edge would close a cycle.
    #[error("{message}")]
    CycleDetected { cycle: Vec<String>, message: String },
    /// DEPENDENCY_UNMET (`unmet`): predecessors, prerequisites or subtasks are not done.
    #[error("{message}")]
    DependencyUnmet { unmet: Vec<Value>, message: String },
    /// BUDGET_EXCEEDED: starting would overshoot a budget.
    #[error("{0}")]
    BudgetExceeded(String),
    /// CONCURRENCY_LIMIT (`key`, `limit`, `running`): the job's concurrency key is at its limit.
    #[error(
        "concurrency key `{key}` is at its limit: {running} of {limit} jobs with it are running; start this job when one ends"
    )]
    ConcurrencyLimit {
        key: String,
        limit: i32,
        running: i64,
    },
    /// EVENTS_PRUNED (`prunedThrough`): the cursor is below the pruning watermark, so events
    /// after it may be gone.
    #[error(
        "events after {after} were pruned (everything up to {pruned_through} is gone): reload your data, then read or subscribe after `latestEventId`"
    )]
    EventsPruned { after: i64, pruned_through: i64 },
    /// SUBSCRIBER_LAGGING (`resumeAfter`): a subscriber fell too far behind and its
    /// subscription ended; resuming after the id it was last sent loses nothing.
    #[error(
        "this subscription fell too far behind the events and ended: subscribe again with after: \"{resume_after}\" to continue without a gap"
    )]
    SubscriberLagging { resume_after: i64 },
    /// TIMEOUT: the request ran past its deadline.
    #[error("{0}")]
    Timeout(String),
    /// CONFLICT: the database broke a deadlock or a serialization conflict with a concurrent
    /// change by rolling this one back. The detail is logged, never shown.
    #[error(
        "this change collided with a concurrent one and was rolled back; nothing was changed: retry it"
    )]
    Contention(String),
    /// INTERNAL: a fault of the server. The detail is logged, never shown.
    #[error("internal error")]
    Internal(String),
}

impl ServiceError {
    /// The `extensions.code` of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound { .. } => "NOT_FOUND",
            Self::BadInput { .. } => "BAD_USER_INPUT",
            Self::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            Self::InvalidTransition { .. } => "INVALID_TRANSITION",
            Self::VersionConflict { .. } | Self::AttemptConflict { .. } | Self::Contention(_) => {
                "CONFLICT"
            }
            Self::CycleDetected { .. } => "CYCLE_DETECTED",
            Self::DependencyUnmet { .. } => "DEPENDENCY_UNMET",
            Self::BudgetExceeded(_) => "BUDGET_EXCEEDED",
            Self::ConcurrencyLimit { .. } => "CONCURRENCY_LIMIT",
            Self::EventsPruned { .. } => "EVENTS_PRUNED",
            Self::SubscriberLagging { .. } => "SUBSCRIBER_LAGGING",
            Self::Timeout(_) => "TIMEOUT",
            Self::Internal(_) => "INTERNAL",
        }
    }

    /// The extension keys besides `code`, as DESIGN.md §8 lists them.
    pub fn extensions(&self) -> Vec<(&'static str, Value)> {
        match self {
            Self::NotFound { id, .. } => vec![("id", json!(id))],
            Self::BadInput { field, .. } | Self::PayloadTooLarge { field, .. } => {
                vec![("field", json!(field))]
            }
            Self::InvalidTransition { from, to, .. } => {
                vec![("from", json!(from)), ("to", json!(to))]
            }
            Self::VersionConflict { expected, actual } => vec![
                ("expectedVersion", json!(expected)),
                ("actualVersion", json!(actual)),
            ],
            Self::AttemptConflict {
                expected, actual, ..
            } => vec![
                ("expectedAttempt", json!(expected)),
                ("actualAttempt", json!(actual)),
            ],
            Self::CycleDetected { cycle, .. } => vec![("cycle", json!(cycle))],
            Self::DependencyUnmet { unmet, .. } => vec![("unmet", json!(unmet))],
            Self::ConcurrencyLimit {
                key,
                limit,
                running,
            } => vec![
                ("key", json!(key)),
                ("limit", json!(limit)),
                ("running", json!(running)),
            ],
            Self::EventsPruned { pruned_through, .. } => {
                vec![("prunedThrough", json!(pruned_through.to_string()))]
            }
            Self::SubscriberLagging { resume_after } => {
                vec![("resumeAfter", json!(resume_after.to_string()))]
            }
            _ => Vec::new(),
        }
    }

    /// BAD_USER_INPUT naming `field`.
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::BadInput {
            field: field.into(),
            message: message.into(),
        }
    }

    /// NOT_FOUND for a record of kind `what`.
    pub fn not_found(what: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            what,
            id: id.to_string(),
        }
    }

    /// INVALID_TRANSITION from one state to another.
    pub fn invalid_transition(what: &str, from: &str, to: &str) -> Self {
        Self::InvalidTransition {
            from: from.to_string(),
            to: to.to_string(),
            message: format!("a {what} cannot go from {from} to {to}"),
        }
    }
}

/// What kind of database fault an error is, for the answer the client gets (DESIGN.md §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbFault {
    /// A deadlock or a serialization failure (PostgreSQL 40P01, 40001): the transaction was
    /// rolled back and may simply be run again.
    Contention,
    /// A statement or lock wait ran past the database's timeout (PostgreSQL 57014 from
    /// `statement_timeout`, 55P03 from `lock_timeout`; SQLite busy or locked after its busy
    /// timeout), or no pooled connection came free in time.
    Timeout,
    /// Anything else: the server's fault.
    Other,
}

impl DbFault {
    /// Classifies a database error by its SQLSTATE (PostgreSQL) or result code (SQLite).
    pub fn of(err: &sea_orm::DbErr) -> Self {
        use sea_orm::{DbErr, RuntimeErr};
        match err {
            DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::Timeout) => Self::Timeout,
            DbErr::Exec(RuntimeErr::SqlxError(e))
            | DbErr::Query(RuntimeErr::SqlxError(e))
            | DbErr::Conn(RuntimeErr::SqlxError(e)) => match &**e {
                sea_orm::sqlx::Error::Database(db) => {
                    Self::of_code(db.code().as_deref().unwrap_or(""))
                }
                sea_orm::sqlx::Error::PoolTimedOut => Self::Timeout,
                _ => Self::Other,
            },
            _ => Self::Other,
        }
    }

    /// By SQLSTATE (PostgreSQL) or primary/extended result code (SQLite).
    pub fn of_code(code: &str) -> Self {
        match code {
            "40P01" | "40001" => Self::Contention,
            // 57014 query_canceled, 55P03 lock_not_available; SQLite: 5 SQLITE_BUSY (and its
            // extended codes 261, 517, 773), 6 SQLITE_LOCKED (262).
            "57014" | "55P03" | "5" | "261" | "517" | "773" | "6" | "262" => Self::Timeout,
            _ => Self::Other,
        }
    }
}

impl From<sea_orm::DbErr> for ServiceError {
    /// A deadlock or serialization failure is CONFLICT and a database timeout is TIMEOUT, with
    /// a message that says what to do; any other database fault is the server's: logged in
    /// full by the GraphQL layer, shown as INTERNAL.
    fn from(err: sea_orm::DbErr) -> Self {
        match DbFault::of(&err) {
            DbFault::Contention => Self::Contention(format!("database: {err}")),
            DbFault::Timeout => Self::Timeout(
                "the database did not finish this request in time (a statement or a lock wait ran past its timeout); nothing was changed: retry it".into(),
            ),
            DbFault::Other => Self::Internal(format!("database: {err}")),
        }
    }
}

/// The result of every service method.
pub type ServiceResult<T> = Result<T, ServiceError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_faults_by_code() {
        for code in ["40P01", "40001"] {
            assert_eq!(DbFault::of_code(code), DbFault::Contention, "{code}");
        }
        for code in ["57014", "55P03", "5", "517", "6"] {
            assert_eq!(DbFault::of_code(code), DbFault::Timeout, "{code}");
        }
        for code in ["23505", "42P01", "", "19"] {
            assert_eq!(DbFault::of_code(code), DbFault::Other, "{code}");
        }
    }

    #[test]
    fn database_faults_answer_without_internals() {
        let err = ServiceError::Contention("database: deadlock detected".into());
        assert_eq!(err.code(), "CONFLICT");
        assert!(!err.to_string().contains("deadlock detected"));
        let err = ServiceError::from(sea_orm::DbErr::ConnectionAcquire(
            sea_orm::error::ConnAcquireErr::Timeout,
        ));
        assert_eq!(err.code(), "TIMEOUT");
        let err = ServiceError::from(sea_orm::DbErr::Custom("boom".into()));
        assert_eq!(err.code(), "INTERNAL");
        assert_eq!(err.to_string(), "internal error");
    }
}
