//! claimJobs (DESIGN.md §3): take up to `limit` runnable jobs for an agent, in fair claim
//! order, in one transaction.
//!
//! Runnable: PENDING or SCHEDULED, `runAt` null or passed, not blocked, carrying every label
//! asked for, within every budget covering it, and its concurrency key (if any) below its
//! limit. Candidates are read in fair claim order (`priority DESC, rank, COALESCE(runAt,
//! createdAt) ASC, id ASC`, where `rank` is a job's place within its key: see `candidates`),
//! blocked ones and keys at their limit filtered in SQL so they never starve the claim; on
//! PostgreSQL each batch is locked `FOR UPDATE SKIP LOCKED`, so concurrent claimers on any
//! replica neither take the same job nor wait for one another's rows. Each locked candidate is
//! checked again: its predecessors and prerequisites locked FOR SHARE SKIP LOCKED (one being
//! changed right now makes it wait for the next claim rather than block this one), then the
//! budgets and the concurrency limits, whose rows are locked once per claim (budgets, then
//! limits by key) and whose amounts and counts are carried along as jobs are taken. Candidates
//! over a budget or a limit are skipped, not failed. On SQLite the single writer serialises
//! claims.

use super::{ExecutorCounters, ExecutorService, bounded};
use crate::auth::Actor;
use crate::error::{ServiceError, ServiceResult};
use crate::services::access::require;
use crate::services::budgets::Ledger;
use crate::services::concurrency::Slots;
use crate::services::dependencies::{self, BlockedWatch, Gates, Kind, rules};
use crate::services::jobs::{self, Job, permissions};
use crate::services::{tx, validate};
use entity::job;
use entity::status::JobStatus;
use sea_orm::{ConnectionTrait, DatabaseTransaction, FromQueryResult, Statement};

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

/// A statement under construction, binding values in the order they appear (SQLite's `?` are
/// positional; PostgreSQL's are numbered).
struct Sql {
    postgres: bool,
    text: String,
    values: Vec<sea_orm::Value>,
}

impl Sql {
    fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    fn bind(&mut self, value: impl Into<sea_orm::Value>) -> &mut Self {
        self.values.push(value.into());
        if self.postgres {
            let n = self.values.len();
            self.text.push_str(&format!("${n}"));
        } else {
            self.text.push('?');
        }
        self
    }
}

/// The key of a job's group: its concurrency key, '' for none (keys are never empty).
const GROUP_KEY: &str = r#"COALESCE("job"."concurrency_key", '')"#;

/// `"job"` is a waiting job of the tenant, as `ix_job_claim_groups` spells it.
fn waiting_in(sql: &mut Sql, tenant: &str) {
    sql.push(r#""job"."tenant_id" = "#)
        .bind(tenant)
        .push(r#" AND "job"."status" IN ('PENDING', 'SCHEDULED')"#);
}

/// The next batch of candidates in fair claim order (DESIGN.md §3, "Fair claims"), locked
/// `FOR UPDATE SKIP LOCKED` on PostgreSQL, with how many candidates there were in all.
///
/// The statement walks the (priority, key) groups of the tenant's waiting jobs through
/// `ix_job_claim_groups` (one index probe per group, never a scan of the jobs), leaves out the
/// keys already at their limit, takes the first `per_group` runnable jobs of each group in
/// claim order (a LATERAL subquery on PostgreSQL, a correlated `IN` on SQLite), ranks them
/// within their group after the key's running jobs (the oldest waiting job of a key with two
/// running has rank 3; a job without a key has rank 1), and orders the candidates by
/// `priority DESC, rank, COALESCE(runAt, createdAt), id`. Counting the running jobs is what
/// makes turns carry over between claims: a worker claiming one job at a time takes a job of
/// each key in turn, not the next one of whichever key has the oldest jobs. Ranking only the heads of the groups
/// keeps a claim over 100,000 waiting jobs as cheap as one over a hundred. `seen` holds the
/// candidates earlier batches already looked at.
#[allow(clippy::too_many_arguments)]
async fn candidates(
    tx: &DatabaseTransaction,
    tenant: &str,
    now: i64,
    labels: &[String],
    seen: &[uuid::Uuid],
    per_group: u64,
    batch: u64,
) -> ServiceResult<(Vec<job::Model>, i64)> {
    let postgres = tx::is_postgres_tx(tx);
    // SQLite's planner, given statistics of a tenant much larger than the others, may prefer
    // scanning the table to walking the index backwards: name the index it must use.
    let indexed = if postgres {
        ""
    } else {
        " INDEXED BY ix_job_claim_groups"
    };
    let mut sql = Sql {
        postgres,
        text: String::with_capacity(4096),
        values: Vec::new(),
    };
    // The groups, from the highest (priority, key) down: each step finds the next key within
    // the priority, else the first key of the next lower priority.
    sql.push(r#"WITH RECURSIVE g(p, k) AS (SELECT p, k FROM (SELECT "job"."priority" AS p, "#)
        .push(GROUP_KEY)
        .push(" AS k FROM job")
        .push(indexed)
        .push(" WHERE ");
    waiting_in(&mut sql, tenant);
    sql.push(r#" ORDER BY "job"."priority" DESC, "#)
        .push(GROUP_KEY)
        .push(" DESC LIMIT 1) head UNION ALL SELECT j.priority, COALESCE(j.concurrency_key, '') FROM g JOIN job j ON j.id = COALESCE((SELECT \"job\".\"id\" FROM job").push(indexed).push(" WHERE ");
    waiting_in(&mut sql, tenant);
    sql.push(r#" AND "job"."priority" = g.p AND "#)
        .push(GROUP_KEY)
        .push(" < g.k ORDER BY ")
        .push(GROUP_KEY)
        .push(" DESC LIMIT 1), (SELECT \"job\".\"id\" FROM job")
        .push(indexed)
        .push(" WHERE ");
    waiting_in(&mut sql, tenant);
    sql.push(r#" AND "job"."priority" < g.p ORDER BY "job"."priority" DESC, "#)
        .push(GROUP_KEY)
        .push(" DESC LIMIT 1))), ");
    // The keys at their limit, counted through `ix_job_tenant_key_status`.
    sql.push("full_keys(k) AS (SELECT l.concurrency_key FROM concurrency_limit l WHERE l.tenant_id = ")
        .bind(tenant)
        .push(" AND l.concurrency_key IN (SELECT k FROM g) AND l.max_running <= (SELECT COUNT(*) FROM job r WHERE r.tenant_id = l.tenant_id AND r.concurrency_key = l.concurrency_key AND r.status IN ('RUNNING', 'CANCELLING'))), ");
    // The runnable head of one group, in claim order.
    let head = |sql: &mut Sql, select: &str| {
        sql.push(select)
            .push(" FROM job")
            .push(indexed)
            .push(" WHERE ");
        waiting_in(sql, tenant);
        sql.push(r#" AND "job"."priority" = g.p AND "#)
            .push(GROUP_KEY)
            .push(r#" = g.k AND ("job"."run_at" IS NULL OR "job"."run_at" <= "#)
            .bind(now)
            .push(") AND ")
            .push(&rules::job_blocked_sql(false));
        for label in labels {
            sql.push(r#" AND EXISTS (SELECT 1 FROM job_label WHERE job_label.job_id = "job"."id" AND job_label.label = "#)
                .bind(label.as_str())
                .push(")");
        }
        if !seen.is_empty() {
            sql.push(r#" AND "job"."id" NOT IN ("#);
            for (i, id) in seen.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.bind(*id);
            }
            sql.push(")");
        }
        sql.push(r#" ORDER BY COALESCE("job"."run_at", "job"."created_at"), "job"."id" LIMIT "#)
            .bind(per_group as i64);
    };
    // How many jobs of the group's key run now: they hold the first ranks, so turns between
    // keys carry over from one claim to the next.
    let busy = |sql: &mut Sql| {
        sql.push("CASE WHEN g.k = '' THEN 0 ELSE (SELECT COUNT(*) FROM job r WHERE r.tenant_id = ")
            .bind(tenant)
            .push(" AND r.concurrency_key = g.k AND r.status IN ('RUNNING', 'CANCELLING')) END");
    };
    if postgres {
        sql.push("c AS (SELECT x.id, g.p, g.k, x.ready, ");
        busy(&mut sql);
        sql.push(" AS busy FROM g CROSS JOIN LATERAL (");
        head(
            &mut sql,
            r#"SELECT "job"."id" AS id, COALESCE("job"."run_at", "job"."created_at") AS ready"#,
        );
        sql.push(") x WHERE g.k NOT IN (SELECT k FROM full_keys)), ");
    } else {
        sql.push("c AS (SELECT j.id, g.p, g.k, COALESCE(j.run_at, j.created_at) AS ready, ");
        busy(&mut sql);
        sql.push(" AS busy FROM g JOIN job j ON j.id IN (");
        head(&mut sql, r#"SELECT "job"."id""#);
        sql.push(") WHERE g.p IS NOT NULL AND g.k NOT IN (SELECT k FROM full_keys)), ");
    }
    sql.push("o AS (SELECT id, p, ready, CASE WHEN k = '' THEN 1 ELSE busy + ROW_NUMBER() OVER (PARTITION BY p, k ORDER BY ready, id) END AS rank FROM c) ");
    sql.push(r#"SELECT "job".*, n.candidates FROM job JOIN (SELECT id, p, rank, ready, COUNT(*) OVER () AS candidates FROM o ORDER BY p DESC, rank, ready, id LIMIT "#)
        .bind(batch as i64)
        .push(r#") n ON n.id = "job"."id" WHERE "job"."status" IN ('PENDING', 'SCHEDULED') ORDER BY n.p DESC, n.rank, n.ready, n.id"#);
    if postgres {
        sql.push(" FOR UPDATE OF job SKIP LOCKED");
    }
    let backend = tx.get_database_backend();
    let rows = tx
        .query_all_raw(Statement::from_sql_and_values(
            backend, sql.text, sql.values,
        ))
        .await?;
    let mut total = 0;
    let mut models = Vec::with_capacity(rows.len());
    for row in rows {
        total = row.try_get::<i64>("", "candidates")?;
        models.push(job::Model::from_query_result(&row, "")?);
    }
    Ok((models, total))
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
        let mut slots = Slots::default();
        let mut seen: Vec<uuid::Uuid> = Vec::new();
        let batch = (limit * 2 + 8) as u64;
        loop {
            let (rows, total) =
                candidates(&tx, &actor.tenant, now, &labels, &seen, limit as u64, batch).await?;
            // Every candidate was in this batch, or all it offered are someone else's now.
            let exhausted = rows.is_empty() || total <= batch as i64;
            seen.extend(rows.iter().map(|r| r.id));
            // The successors of the whole batch, in one read (watching one that ends up not
            // claimed is harmless: it does not change).
            let ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.id).collect();
            watch.watch(&tx, Kind::Job, &ids).await?;
            let gates = if postgres {
                Gates::of(&tx, &actor.tenant, &ids, true).await?
            } else {
                Gates::default()
            };
            // Lock order: budget rows, then concurrency-limit rows by key. Once this claim
            // holds limit rows it waits for no further row: later batches take only free ones.
            ledger.prepare(&tx, &actor.tenant, &rows).await?;
            let first = !ledger.no_wait;
            slots
                .reserve(
                    &tx,
                    &actor.tenant,
                    rows.iter().filter_map(|r| r.concurrency_key.as_deref()),
                    first,
                )
                .await?;
            ledger.no_wait = true;
            for row in rows {
                if claimed.len() == limit {
                    break;
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
                let key = row.concurrency_key.as_deref();
                if !slots.fits(key) || !ledger.admit(&tx, &row).await? {
                    continue;
                }
                slots.take(key);
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
