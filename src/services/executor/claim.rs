//! claimJobs (DESIGN.md §3): take up to `limit` runnable jobs for an agent, in claim order,
//! in one transaction.
//!
//! Runnable: PENDING or SCHEDULED, `runAt` null or passed, not blocked, carrying every label
//! asked for, within every budget covering it. Candidates are read in claim order
//! (`priority DESC, COALESCE(runAt, createdAt) ASC, id ASC`), blocked ones filtered in SQL so
//! they never starve the claim; on PostgreSQL each batch is locked `FOR UPDATE SKIP LOCKED`,
//! so concurrent claimers on any replica neither take the same job nor wait for one another's
//! rows. Each locked candidate is checked again: its predecessors and prerequisites locked FOR
//! SHARE SKIP LOCKED (one being changed right now makes it wait for the next claim rather than
//! block this one), then the budgets, whose rows are locked once per claim and whose committed
//! amounts are carried along as jobs are taken. Over-budget candidates are skipped, not failed.
//! On SQLite the single writer serialises claims.

use super::{ExecutorCounters, ExecutorService, bounded};
use crate::auth::Actor;
use crate::error::{ServiceError, ServiceResult};
use crate::services::access::require;
use crate::services::budgets::Ledger;
use crate::services::dependencies::{self, BlockedWatch, Gates, Kind, rules};
use crate::services::jobs::{self, Job, permissions};
use crate::services::{tx, validate};
use entity::job;
use entity::status::JobStatus;
use sea_orm::sea_query::{Expr, ExprTrait, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

/// claimJobs' arguments as given.
#[derive(Debug, Clone, Default)]
pub struct ClaimRequest {
    /// 1..100 (default 1).
    pub limit: Option<i32>,
    /// 1..3600 (default 60).
    pub lease_seconds: Option<i32>,
    /// Claim for this agent (ADMIN only); default the caller.
    pub agent: Option<String>,
    /// Only jobs carrying every one of these labels (at most 100).
    pub labels: Option<Vec<String>>,
}

/// Where the previous batch of candidates ended, in claim order.
#[derive(Debug, Clone, Copy)]
struct Position {
    priority: i32,
    ready_at: i64,
    id: uuid::Uuid,
}

/// The next batch of runnable-looking candidates after `after`, in claim order, locked.
async fn candidates(
    tx: &DatabaseTransaction,
    tenant: &str,
    now: i64,
    labels: &[String],
    after: Option<Position>,
    batch: u64,
) -> ServiceResult<Vec<job::Model>> {
    let ready_at = || Expr::cust("COALESCE(run_at, created_at)");
    let mut query = job::Entity::find()
        .filter(job::Column::TenantId.eq(tenant))
        .filter(jobs::queues::waiting())
        .filter(
            Condition::any()
                .add(job::Column::RunAt.is_null())
                .add(job::Column::RunAt.lte(now)),
        )
        .filter(Expr::cust(rules::job_blocked_sql(false)));
    for label in labels {
        query = query.filter(jobs::list::has_label(label));
    }
    if let Some(p) = after {
        query = query.filter(
            Condition::any()
                .add(job::Column::Priority.lt(p.priority))
                .add(
                    Condition::all()
                        .add(job::Column::Priority.eq(p.priority))
                        .add(
                            Condition::any().add(ready_at().gt(p.ready_at)).add(
                                Condition::all()
                                    .add(ready_at().eq(p.ready_at))
                                    .add(job::Column::Id.gt(p.id)),
                            ),
                        ),
                ),
        );
    }
    let mut query = query
        .order_by_desc(job::Column::Priority)
        .order_by(ready_at(), sea_orm::Order::Asc)
        .order_by_asc(job::Column::Id)
        .limit(batch);
    if tx::is_postgres_tx(tx) {
        query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    Ok(query.all(tx).await?)
}

/// The labels a claim asks for: at most 100, each 1..50 characters after trimming.
fn claim_labels(labels: Option<Vec<String>>) -> ServiceResult<Vec<String>> {
    let labels = labels.unwrap_or_default();
    if labels.len() > validate::MAX_LIST_VALUES {
        return Err(ServiceError::bad_input(
            "labels",
            format!(
                "`labels` holds {} values; at most {} are allowed",
                labels.len(),
                validate::MAX_LIST_VALUES
            ),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(labels.len());
    for (i, l) in labels.iter().enumerate() {
        let field = format!("labels[{i}]");
        validate::no_nul(&field, l)?;
        let t = l.trim();
        if t.is_empty() || t.chars().count() > 50 {
            return Err(ServiceError::bad_input(
                field.clone(),
                format!("`{field}` must be 1..50 characters"),
            ));
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    Ok(out)
}

impl ExecutorService {
    /// claimJobs: up to `limit` runnable jobs for `agent` (the caller, or whom an ADMIN names),
    /// each now RUNNING with `assignedAgent`, a lease of `leaseSeconds` and a new run, in one
    /// transaction. Nothing runnable: an empty list.
    pub async fn claim(&self, actor: &Actor, request: ClaimRequest) -> ServiceResult<Vec<Job>> {
        let agent = match &request.agent {
            Some(a) => validate::actor_id("agent", a)?,
            None => actor.id.clone(),
        };
        let what = if agent == actor.id {
            "claim jobs (AGENT or ADMIN)".to_string()
        } else {
            format!("claim jobs for `{agent}` (only an ADMIN may claim for another agent)")
        };
        require(permissions::can_claim(actor, &agent), &what)?;
        let limit = bounded("limit", request.limit, 1, 100, 1)? as usize;
        let lease = bounded("leaseSeconds", request.lease_seconds, 1, 3600, 60)?;
        let labels = claim_labels(request.labels)?;

        let tx = tx::begin_write(&self.db).await?;
        let postgres = tx::is_postgres_tx(&tx);
        let now = self.clock.now_micros();
        let mut ledger = Ledger::default();
        let mut watch = BlockedWatch::new(&actor.tenant);
        let mut claimed: Vec<job::Model> = Vec::with_capacity(limit);
        let mut events = Vec::new();
        let mut after: Option<Position> = None;
        let batch = (limit * 2 + 8) as u64;
        'scan: loop {
            let rows = candidates(&tx, &actor.tenant, now, &labels, after, batch).await?;
            let exhausted = (rows.len() as u64) < batch;
            // The successors of the whole batch, in one read (watching one that ends up not
            // claimed is harmless: it does not change).
            let ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.id).collect();
            watch.watch(&tx, Kind::Job, &ids).await?;
            let gates = if postgres {
                Gates::of(&tx, &actor.tenant, &ids, true).await?
            } else {
                Gates::default()
            };
            for row in rows {
                after = Some(Position {
                    priority: row.priority,
                    ready_at: row.run_at.unwrap_or(row.created_at),
                    id: row.id,
                });
                if claimed.len() == limit {
                    break 'scan;
                }
                // Locked rows are current: the candidate may have changed since the snapshot.
                let runnable = matches!(row.status, JobStatus::Pending | JobStatus::Scheduled)
                    && row.run_at.is_none_or(|t| t <= now);
                // On SQLite the IMMEDIATE transaction has excluded every other writer since
                // the candidates were read, so their gates cannot have changed; on PostgreSQL
                // they are checked again under their locks.
                if !runnable || (postgres && !dependencies::claimable(&tx, &row, &gates).await?) {
                    continue;
                }
                if !ledger.admit(&tx, &row).await? {
                    continue;
                }
                let started = jobs::open_attempt(
                    &tx,
                    &row,
                    &agent,
                    Some((lease, now + i64::from(lease) * 1_000_000)),
                    now,
                )
                .await?;
                events.extend(jobs::started_events(&row, &started));
                claimed.push(started);
            }
            if exhausted || claimed.len() == limit {
                break;
            }
        }
        if claimed.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        events.extend(watch.after(&tx, &events).await?);
        jobs::commit(&*self.bus, tx, actor, now, events).await?;
        ExecutorCounters::add(&self.counters.claims, claimed.len());
        Ok(claimed.into_iter().map(Job::from).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_labels_are_checked_trimmed_and_deduplicated() {
        assert_eq!(
            claim_labels(Some(vec![" gpu ".into(), "gpu".into(), "eu".into()])).unwrap(),
            vec!["gpu", "eu"]
        );
        assert!(claim_labels(None).unwrap().is_empty());
        let err = claim_labels(Some(vec!["ok".into(), " ".into()])).unwrap_err();
        assert!(matches!(err, ServiceError::BadInput { ref field, .. } if field == "labels[1]"));
        assert!(claim_labels(Some(vec!["x".into(); 101])).is_err());
    }
}
