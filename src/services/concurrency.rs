//! Concurrency keys and their limits (DESIGN.md §3, "Concurrency keys").
//!
//! A limit caps how many jobs sharing a key are RUNNING or CANCELLING at once in a tenant. The
//! running count is never stored: whoever admits a job (a claim, a start) locks the key's
//! `concurrency_limit` row and then counts, in a separate statement, so the count reads what
//! committed while it waited. Ending an attempt frees its slot by changing the job's status
//! alone, in the transaction that ends it, and locks nothing.
//!
//! `Slots` is that admission for one transaction, carried along as a claim takes several jobs.
//! May import: entity, sea_orm, the services' shared pieces (`access`, `tx`, `validate`).

use crate::auth::Actor;
use crate::domain::time::Clock;
use crate::error::{ServiceError, ServiceResult};
use crate::services::access::{self, require};
use crate::services::{tx, validate};
use entity::{concurrency_limit, job};
use sea_orm::sea_query::{Expr, LockBehavior, LockType, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::{BTreeSet, HashMap};

/// A key's limit with how many of its jobs run now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcurrencyLimit {
    pub key: String,
    pub limit: i32,
    pub running: i64,
}

/// setConcurrencyLimit: ADMIN.
pub fn can_set_limit(actor: &Actor) -> bool {
    actor.is_admin()
}

/// How many jobs with each of `keys` are RUNNING or CANCELLING in the tenant (keys with none
/// are absent). Spelled so that `ix_job_tenant_key_status` answers it.
async fn running<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    keys: &[String],
) -> ServiceResult<HashMap<String, i64>> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(String, i64)> = job::Entity::find()
        .select_only()
        .column(job::Column::ConcurrencyKey)
        .column_as(Expr::cust("COUNT(*)"), "running")
        .filter(job::Column::TenantId.eq(tenant))
        .filter(job::Column::ConcurrencyKey.is_in(keys.iter().map(String::as_str)))
        .filter(crate::services::jobs::queues::running())
        .group_by(job::Column::ConcurrencyKey)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows.into_iter().collect())
}

/// What a transaction knows of one key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// No limit row: unlimited.
    Unlimited,
    /// Locked: the limit and how many run, counting what this transaction admitted.
    Counted { limit: i32, running: i64 },
    /// Another transaction holds the row and this one chose not to wait: admit nothing now.
    Busy,
}

/// The keys a transaction admits jobs under: each limited key's row locked once (in key order)
/// and counted once, then carried along.
#[derive(Debug, Default)]
pub(crate) struct Slots {
    keys: HashMap<String, Slot>,
}

impl Slots {
    /// Whether this transaction holds any limit row.
    pub(crate) fn holds_any(&self) -> bool {
        self.keys
            .values()
            .any(|s| matches!(s, Slot::Counted { .. }))
    }

    /// Locks and counts the keys among `keys` not seen yet, in key order; true when it holds
    /// limit rows afterwards. With `wait` false a row another transaction holds is not waited
    /// for: that key admits nothing in this transaction (a claim that already holds limit rows
    /// must not wait for more, which another transaction may hold in the other order).
    pub(crate) async fn reserve<'k>(
        &mut self,
        tx: &DatabaseTransaction,
        tenant: &str,
        keys: impl IntoIterator<Item = &'k str>,
        wait: bool,
    ) -> ServiceResult<bool> {
        let new: BTreeSet<&str> = keys
            .into_iter()
            .filter(|k| !self.keys.contains_key(*k))
            .collect();
        if new.is_empty() {
            return Ok(self.holds_any());
        }
        let postgres = tx::is_postgres_tx(tx);
        let mut query = concurrency_limit::Entity::find()
            .filter(concurrency_limit::Column::TenantId.eq(tenant))
            .filter(concurrency_limit::Column::ConcurrencyKey.is_in(new.iter().copied()))
            .order_by_asc(concurrency_limit::Column::ConcurrencyKey);
        if postgres {
            query = if wait {
                query.lock(LockType::Update)
            } else {
                query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked)
            };
        }
        let locked = query.all(tx).await?;
        // A row skipped because it is held exists all the same: read which did.
        let busy: BTreeSet<String> = if postgres && !wait && locked.len() < new.len() {
            let got: BTreeSet<&str> = locked.iter().map(|l| l.concurrency_key.as_str()).collect();
            concurrency_limit::Entity::find()
                .select_only()
                .column(concurrency_limit::Column::ConcurrencyKey)
                .filter(concurrency_limit::Column::TenantId.eq(tenant))
                .filter(
                    concurrency_limit::Column::ConcurrencyKey
                        .is_in(new.iter().copied().filter(|k| !got.contains(k))),
                )
                .into_tuple::<String>()
                .all(tx)
                .await?
                .into_iter()
                .collect()
        } else {
            BTreeSet::new()
        };
        // Counted after the lock, in its own statement: it sees what committed while waiting.
        let limited: Vec<String> = locked.iter().map(|l| l.concurrency_key.clone()).collect();
        let counts = running(tx, tenant, &limited).await?;
        for key in new {
            self.keys.insert(key.to_string(), Slot::Unlimited);
        }
        for key in busy {
            self.keys.insert(key, Slot::Busy);
        }
        for l in locked {
            let running = counts.get(&l.concurrency_key).copied().unwrap_or(0);
            self.keys.insert(
                l.concurrency_key,
                Slot::Counted {
                    limit: l.max_running,
                    running,
                },
            );
        }
        Ok(self.holds_any())
    }

    /// Whether `key` (reserved before) has a free slot; a job without a key always fits.
    pub(crate) fn fits(&self, key: Option<&str>) -> bool {
        let Some(key) = key else { return true };
        match self.keys.get(key) {
            None | Some(Slot::Unlimited) => true,
            Some(Slot::Busy) => false,
            Some(Slot::Counted { limit, running }) => *running < i64::from(*limit),
        }
    }

    /// Counts a job admitted under `key` (after `fits` said yes).
    pub(crate) fn take(&mut self, key: Option<&str>) {
        if let Some(Slot::Counted { running, .. }) = key.and_then(|k| self.keys.get_mut(k)) {
            *running += 1;
        }
    }
}

/// CONCURRENCY_LIMIT unless the locked job `row` may start under its key's limit (startJob).
/// Locks the key's limit row for the rest of the transaction.
pub(crate) async fn check_start(tx: &DatabaseTransaction, row: &job::Model) -> ServiceResult<()> {
    let Some(key) = row.concurrency_key.as_deref() else {
        return Ok(());
    };
    let mut slots = Slots::default();
    slots.reserve(tx, &row.tenant_id, [key], true).await?;
    if slots.fits(Some(key)) {
        return Ok(());
    }
    match slots.keys.get(key) {
        Some(Slot::Counted { limit, running }) => Err(ServiceError::ConcurrencyLimit {
            key: key.to_string(),
            limit: *limit,
            running: *running,
        }),
        other => Err(ServiceError::Internal(format!(
            "concurrency key `{key}` refused a start while {other:?}"
        ))),
    }
}

/// Concurrency limits: set by an ADMIN, read by everyone in the tenant.
#[derive(Clone)]
pub struct ConcurrencyService {
    db: DatabaseConnection,
    clock: Clock,
}

impl ConcurrencyService {
    pub fn new(db: DatabaseConnection, clock: Clock) -> Self {
        Self { db, clock }
    }

    /// setConcurrencyLimit: ADMIN; `limit` 1..10,000, or null to remove the key's limit (then
    /// `None`). Lowering a limit below what runs stops nothing: claims and starts of the key
    /// wait until enough attempts end.
    pub async fn set(
        &self,
        actor: &Actor,
        key: &str,
        limit: Option<i32>,
    ) -> ServiceResult<Option<ConcurrencyLimit>> {
        require(can_set_limit(actor), "set concurrency limits (ADMIN only)")?;
        let key = validate::concurrency_key("key", key)?;
        let limit = limit
            .map(|l| validate::int_range("limit", l, 1, validate::MAX_CONCURRENCY_LIMIT))
            .transpose()?;
        let tx = tx::begin_write(&self.db).await?;
        let in_tenant = concurrency_limit::Column::TenantId.eq(actor.tenant.as_str());
        let of_key = concurrency_limit::Column::ConcurrencyKey.eq(key.as_str());
        let Some(limit) = limit else {
            concurrency_limit::Entity::delete_many()
                .filter(in_tenant)
                .filter(of_key)
                .exec(&tx)
                .await?;
            tx.commit().await?;
            return Ok(None);
        };
        let now = self.clock.now_micros();
        let row = concurrency_limit::ActiveModel {
            tenant_id: sea_orm::Set(actor.tenant.clone()),
            concurrency_key: sea_orm::Set(key.clone()),
            max_running: sea_orm::Set(limit),
            created_at: sea_orm::Set(now),
            updated_at: sea_orm::Set(now),
        };
        concurrency_limit::Entity::insert(row)
            .on_conflict(
                OnConflict::columns([
                    concurrency_limit::Column::TenantId,
                    concurrency_limit::Column::ConcurrencyKey,
                ])
                .update_columns([
                    concurrency_limit::Column::MaxRunning,
                    concurrency_limit::Column::UpdatedAt,
                ])
                .to_owned(),
            )
            .exec_without_returning(&tx)
            .await?;
        let running = running(&tx, &actor.tenant, std::slice::from_ref(&key))
            .await?
            .remove(&key)
            .unwrap_or(0);
        tx.commit().await?;
        Ok(Some(ConcurrencyLimit {
            key,
            limit,
            running,
        }))
    }

    /// `concurrencyLimits`: the tenant's limits by key, each with its live running count.
    pub async fn list(&self, actor: &Actor) -> ServiceResult<Vec<ConcurrencyLimit>> {
        require(access::may_read(actor), "read concurrency limits")?;
        let rows = concurrency_limit::Entity::find()
            .filter(concurrency_limit::Column::TenantId.eq(actor.tenant.as_str()))
            .order_by_asc(concurrency_limit::Column::ConcurrencyKey)
            .all(&self.db)
            .await?;
        let keys: Vec<String> = rows.iter().map(|r| r.concurrency_key.clone()).collect();
        let counts = running(&self.db, &actor.tenant, &keys).await?;
        Ok(rows
            .into_iter()
            .map(|r| ConcurrencyLimit {
                running: counts.get(&r.concurrency_key).copied().unwrap_or(0),
                key: r.concurrency_key,
                limit: r.max_running,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    #[test]
    fn only_an_admin_sets_limits() {
        for (role, allowed) in [
            (Role::Viewer, false),
            (Role::Member, false),
            (Role::Agent, false),
            (Role::Admin, true),
        ] {
            assert_eq!(
                can_set_limit(&Actor::new("me", "t", vec![role])),
                allowed,
                "{role:?}"
            );
        }
    }

    #[test]
    fn admitting_counts_up_to_the_limit() {
        let mut slots = Slots::default();
        slots.keys.insert(
            "a".into(),
            Slot::Counted {
                limit: 2,
                running: 1,
            },
        );
        slots.keys.insert("busy".into(), Slot::Busy);
        slots.keys.insert("free".into(), Slot::Unlimited);
        assert!(slots.fits(None));
        assert!(slots.fits(Some("a")));
        slots.take(Some("a"));
        assert!(!slots.fits(Some("a")), "the second slot was the last");
        assert!(!slots.fits(Some("busy")));
        slots.take(Some("free"));
        assert!(slots.fits(Some("free")));
    }
}
