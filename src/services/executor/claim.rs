//! claimJobs (DESIGN.md §3): take up to `limit` runnable jobs for an agent, in fair claim
//! order, in one transaction.
//!
//! Runnable: PENDING or SCHEDULED, `runAt` null or passed, not blocked, carrying every label
//! asked for, within every budget covering it, and its concurrency key (if any) below its
//! limit. Candidates are read in fair claim order (`priority DESC, rank, COALESCE(runAt,
//! createdAt) ASC, id ASC`, where `rank` is a job's place within its key: see `candidates`;
//! its first turns are often read straight from plain claim order: see `first_turns`),
//! blocked ones and keys at their limit filtered in SQL so they never starve the claim; on
//! PostgreSQL each batch is locked `FOR UPDATE SKIP LOCKED`, so concurrent claimers on any
//! replica neither take the same job nor wait for one another's rows. Each locked candidate is
//! checked again: its predecessors and prerequisites locked FOR SHARE SKIP LOCKED (one being
//! changed right now makes it wait for the next claim rather than block this one), then the
//! budgets and the concurrency limits, whose rows are locked once per claim (budgets, then
//! limits by key) and whose amounts and counts are carried along as jobs are taken. Candidates
//! over a budget or a limit are skipped, not failed. On SQLite the single writer serialises
//! claims.

use super::{ExecutorService, bounded};
use crate::auth::Actor;
use crate::error::{ServiceError, ServiceResult};
use crate::services::access::require;
use crate::services::budgets::Ledger;
use crate::services::concurrency::Slots;
use crate::services::dependencies::{self, BlockedWatch, Gates, Kind, rules};
use crate::services::jobs::{self, Job, permissions};
use crate::services::sql::Sql;
use crate::services::{tx, validate};
use entity::job;
use entity::status::JobStatus;
use sea_orm::sea_query::{Expr, LockBehavior, LockType};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, QuerySelect,
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

/// A candidate's place in claim order, and whether its group held jobs back behind it.
#[derive(Debug, Clone, Copy)]
struct Ranked {
    priority: i32,
    rank: i64,
    ready: i64,
    id: uuid::Uuid,
    keyless: bool,
    /// The last job its group offered, with more behind it.
    frontier: bool,
}

/// A position in claim order (`priority DESC, rank, ready, id`), as an ascending key.
type OrderKey = (i64, i64, i64, uuid::Uuid);

impl Ranked {
    fn key(&self) -> OrderKey {
        (-i64::from(self.priority), self.rank, self.ready, self.id)
    }

    /// The earliest place the jobs its group held back can have: a key's next job ranks one
    /// lower and is no older; the next job without a key ranks 1 and is no older.
    fn next_behind(&self) -> OrderKey {
        let (p, rank, ready, id) = self.key();
        (p, if self.keyless { rank } else { rank + 1 }, ready, id)
    }
}

/// Walks candidates in claim order, stopping at the first that a job some group held back
/// would come before (so a refused candidate never lets a later one jump the queue).
#[derive(Debug, Default)]
struct Frontier(Option<OrderKey>);

impl Frontier {
    fn admits(&mut self, r: &Ranked) -> bool {
        if self.0.is_some_and(|bound| r.key() > bound) {
            return false;
        }
        if r.frontier {
            let next = r.next_behind();
            self.0 = Some(self.0.map_or(next, |b| b.min(next)));
        }
        true
    }
}

/// Walks ranked candidate rows (columns `id`, `p`, `rank`, `ready`, `keyless`, `candidates`,
/// `cut`, `frontier`) in claim order: how many come before every job a group held back, and
/// what the batch says of the candidates behind it.
fn walk(rows: &[sea_orm::QueryResult]) -> ServiceResult<(usize, Batch)> {
    let mut more = Batch {
        total: 0,
        cut: false,
        truncated: false,
    };
    let mut frontier = Frontier::default();
    for (i, row) in rows.iter().enumerate() {
        more.total = row.try_get::<i64>("", "candidates")?;
        more.cut = row.try_get::<i64>("", "cut")? == 1;
        let ranked = Ranked {
            priority: row.try_get("", "p")?,
            rank: row.try_get("", "rank")?,
            ready: row.try_get("", "ready")?,
            id: row.try_get("", "id")?,
            keyless: row.try_get::<i64>("", "keyless")? == 1,
            frontier: row.try_get::<i64>("", "frontier")? == 1,
        };
        if !frontier.admits(&ranked) {
            more.truncated = true;
            return Ok((i, more));
        }
    }
    Ok((rows.len(), more))
}

/// What a batch of candidates said about the ones behind it.
#[derive(Debug, Clone, Copy)]
struct Batch {
    /// How many candidates there were (locked or not).
    total: i64,
    /// A group had more runnable jobs than it offered.
    cut: bool,
    /// The batch was cut short at such a group's last offered row: the rows after it wait for
    /// the next batch, which offers the group's next jobs.
    truncated: bool,
}

/// The most batches one claim reads: a claim whose candidates keep being refused (budgets,
/// limits, rows changed under it) stops after this many and returns what it took.
const MAX_BATCHES: usize = 8;

/// The fewest candidates a claim on PostgreSQL looks at (spread over the groups it sees).
const SPREAD: i64 = 64;

/// The key of a job's group: its concurrency key, '' for none (keys are never empty).
const GROUP_KEY: &str = r#"COALESCE("job"."concurrency_key", '')"#;

/// `"job"` is a waiting job of the tenant, as `ix_job_claim_groups` spells it.
fn waiting_in(sql: &mut Sql, tenant: &str) {
    sql.push(r#""job"."tenant_id" = "#)
        .bind(tenant)
        .push(" AND ")
        .push(jobs::queues::WAITING_SQL);
}

/// `"job"` may start now: its `runAt` passed, not blocked, carrying every label of `labels`.
fn runnable_in(sql: &mut Sql, now: i64, labels: &[String]) {
    sql.push(r#" AND ("job"."run_at" IS NULL OR "job"."run_at" <= "#)
        .bind(now)
        .push(") AND ")
        .push(&rules::job_blocked_sql(false));
    for label in labels {
        sql.push(r#" AND EXISTS (SELECT 1 FROM job_label WHERE job_label.job_id = "job"."id" AND job_label.label = "#)
            .bind(label.as_str())
            .push(")");
    }
}

/// After a row source `c(id, …)` in claim order: its jobs still waiting, each locked by its own
/// primary-key probe `FOR UPDATE SKIP LOCKED` (PostgreSQL), in that order until `batch` are
/// locked. The nested loop stops at the LIMIT, so no row past it is locked, and no plan the
/// statistics could choose scans the waiting jobs.
fn lock_each(sql: &mut Sql, batch: u64) {
    sql.push(r#" CROSS JOIN LATERAL (SELECT "job".* FROM job WHERE "job"."id" = c.id AND "job"."status" IN ('PENDING', 'SCHEDULED') FOR UPDATE SKIP LOCKED) j LIMIT "#)
        .bind(batch as i64);
}

/// The next batch of candidates in fair claim order (DESIGN.md §3, "Fair claims"), locked
/// `FOR UPDATE SKIP LOCKED` on PostgreSQL, with what the batch says of those behind it.
///
/// The statement walks the (priority, key) groups of the tenant's waiting jobs through
/// `ix_job_claim_groups` (one index probe per group, never a scan of the jobs) and leaves out
/// the keys already at their limit. Each key's group offers its jobs up to the rank at which
/// the groups offer the claim's size between them (at least `SPREAD` rows on PostgreSQL, so
/// concurrent claimers find different rows; see `lim`), and the jobs without a key, which all
/// rank 1, offer up to the statement's window: a LATERAL subquery on PostgreSQL, a correlated
/// `IN` on SQLite. The heads are ranked within their group after the key's running jobs (the
/// oldest waiting job of a key with two running has rank 3; a job without a key has rank 1)
/// and ordered by `priority DESC, rank, COALESCE(runAt, createdAt), id`. Counting the running
/// jobs is what makes turns carry over between claims: a worker claiming one job at a time
/// takes a job of each key in turn, not the next one of whichever key has the oldest jobs.
///
/// The walk stops where a job a group held back would rank (`Frontier`), so a refused head never
/// lets a later candidate jump the queue; the next batch offers that group's next jobs. On
/// PostgreSQL the ranked ids and the lock are two statements, and the lock takes each id by its
/// primary key, whatever the ranking's estimates. The cost grows with the number of groups
/// (a few milliseconds at 100 keys), not with the number of waiting jobs; `first_turns` spares
/// most claims it. `seen` holds the candidates earlier batches already looked at.
#[allow(clippy::too_many_arguments)]
async fn candidates(
    tx: &DatabaseTransaction,
    tenant: &str,
    now: i64,
    labels: &[String],
    seen: &[uuid::Uuid],
    claim_size: u64,
    batch: u64,
) -> ServiceResult<(Vec<job::Model>, Batch)> {
    let postgres = tx::is_postgres_tx(tx);
    // SQLite's planner, given statistics of a tenant much larger than the others, may prefer
    // scanning the table to walking the index backwards: name the index it must use.
    let indexed = if postgres {
        ""
    } else {
        " INDEXED BY ix_job_claim_groups"
    };
    let mut sql = Sql::new(postgres);
    // `select` over the tenant's waiting jobs, through `ix_job_claim_groups`.
    let from_waiting = |sql: &mut Sql, select: &str| {
        sql.push(select)
            .push(" FROM job")
            .push(indexed)
            .push(" WHERE ");
        waiting_in(sql, tenant);
    };
    // The groups, from the highest (priority, key) down: each step finds the next key within
    // the priority, else the first key of the next lower priority.
    sql.push("WITH RECURSIVE g(p, k) AS (SELECT p, k FROM (");
    from_waiting(
        &mut sql,
        &format!(r#"SELECT "job"."priority" AS p, {GROUP_KEY} AS k"#),
    );
    sql.push(r#" ORDER BY "job"."priority" DESC, "#)
        .push(GROUP_KEY)
        .push(" DESC LIMIT 1) head UNION ALL ");
    // The next group within the priority, else the first of the next lower one.
    let next_key = |sql: &mut Sql, select: &str| {
        from_waiting(sql, select);
        sql.push(r#" AND "job"."priority" = g.p AND "#)
            .push(GROUP_KEY)
            .push(" < g.k ORDER BY ")
            .push(GROUP_KEY)
            .push(" DESC LIMIT 1");
    };
    let next_priority = |sql: &mut Sql, select: &str| {
        from_waiting(sql, select);
        sql.push(r#" AND "job"."priority" < g.p ORDER BY "job"."priority" DESC, "#)
            .push(GROUP_KEY)
            .push(" DESC LIMIT 1");
    };
    if postgres {
        // Both index probes in a LATERAL UNION ALL under LIMIT 1, so the second runs only when
        // the first finds nothing, and each yields the group itself: no join back to `job`,
        // whose plan would depend on the table's statistics (a hash of the whole table when
        // they say it is small).
        let group = format!(r#"SELECT "job"."priority" AS p, {GROUP_KEY} AS k"#);
        sql.push("SELECT n.p, n.k FROM g CROSS JOIN LATERAL ((");
        next_key(&mut sql, &group);
        sql.push(") UNION ALL (");
        next_priority(&mut sql, &group);
        sql.push(") LIMIT 1) n), ");
    } else {
        // SQLite takes no LATERAL: the next group's id, then its row by primary key.
        sql.push("SELECT j.priority, COALESCE(j.concurrency_key, '') FROM g JOIN job j ON j.id = COALESCE((");
        next_key(&mut sql, r#"SELECT "job"."id""#);
        sql.push("), (");
        next_priority(&mut sql, r#"SELECT "job"."id""#);
        sql.push("))), ");
    }
    // How many jobs of each key run now, in one pass over `ix_job_running_key` (running jobs
    // are few), and the keys that are at their limit.
    sql.push("counts(k, n) AS (SELECT concurrency_key, COUNT(*) FROM job")
        .push(if postgres {
            ""
        } else {
            " INDEXED BY ix_job_running_key"
        })
        .push(" WHERE tenant_id = ")
        .bind(tenant)
        .push(" AND status IN ('RUNNING', 'CANCELLING') AND concurrency_key IS NOT NULL GROUP BY concurrency_key), ");
    sql.push("full_keys(k) AS (SELECT l.concurrency_key FROM concurrency_limit l JOIN counts ON counts.k = l.concurrency_key WHERE l.tenant_id = ")
        .bind(tenant)
        .push(" AND l.max_running <= counts.n), ");
    // How many candidates each group offers. A key's group offers its jobs up to one rank `r`
    // (at least one job), which is the lowest rank at which the keys' groups offer `want` jobs
    // between them: a group with `busy` running offers `r - busy`. So one statement offers the
    // jobs of the claim's ranks whatever the keys' running counts, rather than each key's first
    // jobs and a statement for each rank after. `want` is the claim's size, and at least
    // `SPREAD` on PostgreSQL so that concurrent claimers, which all see the same order, each
    // find rows the others have not locked. The jobs without a key all rank 1 and so interleave
    // with every key's first job: they offer `nk`, as many as the statement reads at most, so
    // they never bind before the statement's own limit. On SQLite, which takes no correlated
    // LIMIT, every key's group offers `n`: up to `r` for the least busy key.
    let window = if postgres {
        batch as i64 + SPREAD
    } else {
        batch as i64
    };
    let want = if postgres {
        (claim_size as i64).max(SPREAD)
    } else {
        claim_size as i64
    };
    sql.push("gb(busy) AS (SELECT COALESCE((SELECT n FROM counts WHERE counts.k = g.k), 0) FROM g WHERE g.k <> '' AND g.k NOT IN (SELECT k FROM full_keys)), ");
    sql.push("rs(r, s) AS (SELECT 1, (SELECT COUNT(*) FROM gb WHERE busy = 0) UNION ALL SELECT r + 1, (SELECT CAST(COALESCE(SUM(r + 1 - busy), 0) AS BIGINT) FROM gb WHERE busy < r + 1) FROM rs WHERE s < ")
        .bind(want)
        .push(" AND r < (SELECT COALESCE(MAX(busy), 0) FROM gb) + ")
        .bind(want)
        .push("), ");
    sql.push("lim(r, n, nk) AS (SELECT l.r, CASE WHEN l.r - m.busy > 1 THEN l.r - m.busy ELSE 1 END, CAST(")
        .bind(window)
        .push(" AS BIGINT) FROM (SELECT MAX(r) AS r FROM rs) l CROSS JOIN (SELECT COALESCE(MIN(busy), 0) AS busy FROM gb) m), ");
    // The runnable head of one group, in claim order.
    let head = |sql: &mut Sql, select: &str, limit: &str| {
        from_waiting(sql, select);
        sql.push(r#" AND "job"."priority" = g.p AND "#)
            .push(GROUP_KEY)
            .push(" = g.k");
        runnable_in(sql, now, labels);
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
            .push(limit);
    };
    // How many jobs of the group's key run now: they hold the first ranks, so turns between
    // keys carry over from one claim to the next.
    let busy = |sql: &mut Sql| {
        sql.push("COALESCE((SELECT n FROM counts WHERE counts.k = g.k), 0)");
    };
    if postgres {
        sql.push("c AS (SELECT x.id, g.p, g.k, x.ready, ");
        busy(&mut sql);
        sql.push(" AS busy FROM g CROSS JOIN LATERAL (");
        head(
            &mut sql,
            r#"SELECT "job"."id" AS id, COALESCE("job"."run_at", "job"."created_at") AS ready"#,
            "(SELECT CASE WHEN g.k = '' THEN nk WHEN r - busy > 1 THEN r - busy ELSE 1 END FROM lim CROSS JOIN (SELECT COALESCE((SELECT n FROM counts WHERE counts.k = g.k), 0) AS busy) b)",
        );
        sql.push(") x WHERE g.k NOT IN (SELECT k FROM full_keys)), ");
    } else {
        // SQLite takes no correlated LIMIT: the keys' groups and the keyless one apart.
        sql.push("c AS (");
        for (i, (which, limit)) in [("<>", "(SELECT n FROM lim)"), ("=", "(SELECT nk FROM lim)")]
            .into_iter()
            .enumerate()
        {
            if i > 0 {
                sql.push(" UNION ALL ");
            }
            sql.push("SELECT j.id, g.p, g.k, COALESCE(j.run_at, j.created_at) AS ready, ");
            busy(&mut sql);
            // CROSS JOIN: SQLite keeps the groups as the outer loop.
            sql.push(" AS busy FROM g CROSS JOIN job j ON j.id IN (");
            head(&mut sql, r#"SELECT "job"."id""#, limit);
            sql.push(") WHERE g.p IS NOT NULL AND g.k ")
                .push(which)
                .push(" '' AND g.k NOT IN (SELECT k FROM full_keys)");
        }
        sql.push("), ");
    }
    sql.push("o AS (SELECT id, p, k, ready, busy, ROW_NUMBER() OVER (PARTITION BY p, k ORDER BY ready, id) AS pos, COUNT(*) OVER (PARTITION BY p, k) AS offered FROM c) ");
    // The candidates in claim order. `frontier`: the last row a group offered while it had
    // more; `cut`: some group had more than it offered.
    // What a key's group offered (see `lim`).
    let held = if postgres {
        "(SELECT CASE WHEN r - o.busy > 1 THEN r - o.busy ELSE 1 END FROM lim)"
    } else {
        "(SELECT n FROM lim)"
    };
    let ranked = format!(
        r#"SELECT id, p, CASE WHEN k = '' THEN 1 ELSE busy + pos END AS rank, ready, CAST(CASE WHEN k = '' THEN 1 ELSE 0 END AS BIGINT) AS keyless, COUNT(*) OVER () AS candidates, CAST(MAX(CASE WHEN offered >= held THEN 1 ELSE 0 END) OVER () AS BIGINT) AS cut, CAST(CASE WHEN offered >= held AND pos = offered THEN 1 ELSE 0 END AS BIGINT) AS frontier FROM (SELECT o.*, CASE WHEN k = '' THEN (SELECT nk FROM lim) ELSE {held} END AS held FROM o) o"#
    );
    if !postgres {
        // SQLite: one statement (no locks; the single writer has excluded every other claim).
        sql.push(r#"SELECT "job".*, n.p, n.rank, n.ready, n.keyless, n.candidates, n.cut, n.frontier FROM job JOIN ("#)
            .push(&ranked)
            .push(r#") n ON n.id = "job"."id" WHERE "job"."status" IN ('PENDING', 'SCHEDULED') ORDER BY n.p DESC, n.rank, n.ready, n.id LIMIT "#)
            .bind(batch as i64);
        let rows = tx.query_all_raw(sql.statement(tx)).await?;
        let (admitted, more) = walk(&rows)?;
        let models = rows[..admitted]
            .iter()
            .map(|row| job::Model::from_query_result(row, ""))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok((models, more));
    }
    // PostgreSQL: the ranked ids first, then the lock in a statement of its own, whose plan
    // (a primary-key probe per listed id) does not depend on estimates of the ranking.
    sql.push("SELECT id, p, rank, ready, keyless, candidates, cut, frontier FROM (")
        .push(&ranked)
        .push(") n ORDER BY p DESC, rank, ready, id LIMIT ")
        .bind(window);
    let rows = tx.query_all_raw(sql.statement(tx)).await?;
    let (admitted, more) = walk(&rows)?;
    let order = rows[..admitted]
        .iter()
        .map(|row| row.try_get::<uuid::Uuid>("", "id"))
        .collect::<Result<Vec<_>, _>>()?;
    if order.is_empty() {
        return Ok((Vec::new(), more));
    }
    // The LIMIT sits with the lock: rows another claimer holds are skipped, not counted.
    let mut lock = Sql::new(true);
    lock.push(r#"SELECT j.* FROM (VALUES "#);
    for (i, id) in order.iter().enumerate() {
        if i > 0 {
            lock.push(", ");
        }
        lock.push("(").bind(*id).push("::uuid)");
    }
    lock.push(") AS c(id)");
    lock_each(&mut lock, batch);
    let models = job::Entity::find()
        .from_raw_sql(lock.statement(tx))
        .all(tx)
        .await?;
    Ok((models, more))
}

/// The first turns of fair claim order, read from plain claim order when they are there: the
/// cheap way in for the common case, before `candidates` walks every group.
///
/// Within the highest priority, the jobs ranked 1 (without a key, or the oldest runnable job of
/// a key with none running) come first in fair order, oldest first. The first `SCAN` rows of
/// plain claim order (`priority DESC, COALESCE(runAt, createdAt), id`, runnable only) are a
/// prefix of it, so every earlier runnable job of a row's key and priority is among them: the
/// rows ranked 1 within them, at the first row's priority, are a prefix of fair order. They are
/// locked `FOR UPDATE SKIP LOCKED` (PostgreSQL) up to `batch`. An empty answer says only that
/// this way found nothing (say every key in reach is busy): the caller walks the groups.
async fn first_turns(
    tx: &DatabaseTransaction,
    tenant: &str,
    now: i64,
    labels: &[String],
    batch: u64,
) -> ServiceResult<Vec<job::Model>> {
    let postgres = tx::is_postgres_tx(tx);
    let scan = batch as i64 + SPREAD;
    let mut sql = Sql::new(postgres);
    sql.push(r#"WITH w AS (SELECT "job"."id" AS id, "job"."priority" AS p, "job"."concurrency_key" AS k, COALESCE("job"."run_at", "job"."created_at") AS ready FROM job WHERE "#);
    waiting_in(&mut sql, tenant);
    runnable_in(&mut sql, now, labels);
    sql.push(r#" ORDER BY "job"."priority" DESC, COALESCE("job"."run_at", "job"."created_at"), "job"."id" LIMIT "#)
        .bind(scan)
        .push("), ");
    // Ranked 1: no key, or the first of its key in the scan with none of the key running.
    sql.push("r AS (SELECT id, p, k, ready, ROW_NUMBER() OVER (PARTITION BY p, k ORDER BY ready, id) AS pos, MAX(p) OVER () AS top FROM w), ")
        .push("c AS (SELECT id, ready FROM r WHERE p = top AND (k IS NULL OR (pos = 1 AND NOT EXISTS (SELECT 1 FROM job x WHERE x.tenant_id = ")
        .bind(tenant)
        .push(" AND x.status IN ('RUNNING', 'CANCELLING') AND x.concurrency_key = r.k))) ORDER BY ready, id) ");
    if postgres {
        sql.push("SELECT j.* FROM c");
        lock_each(&mut sql, batch);
    } else {
        sql.push(
            r#"SELECT "job".* FROM c JOIN job ON "job"."id" = c.id ORDER BY c.ready, c.id LIMIT "#,
        )
        .bind(batch as i64);
    }
    Ok(job::Entity::find()
        .from_raw_sql(sql.statement(tx))
        .all(tx)
        .await?)
}

/// Whether the tenant has waiting jobs with a concurrency key (`ix_job_waiting_keyed`).
async fn keyed_waiting(tx: &DatabaseTransaction, tenant: &str) -> ServiceResult<bool> {
    let found: Option<uuid::Uuid> = job::Entity::find()
        .select_only()
        .column(job::Column::Id)
        .filter(job::Column::TenantId.eq(tenant))
        .filter(jobs::queues::waiting())
        .filter(job::Column::ConcurrencyKey.is_not_null())
        .limit(1)
        .into_tuple()
        .one(tx)
        .await?;
    Ok(found.is_some())
}

/// The next batch in plain claim order (`priority DESC, COALESCE(runAt, createdAt), id`), for
/// a tenant with no keys to take turns between: read lazily through the claim-order index and
/// locked `FOR UPDATE SKIP LOCKED` on PostgreSQL, so locked rows are skipped as they are met.
async fn plain_candidates(
    tx: &DatabaseTransaction,
    tenant: &str,
    now: i64,
    labels: &[String],
    seen: &[uuid::Uuid],
    batch: u64,
) -> ServiceResult<(Vec<job::Model>, Batch)> {
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
    if !seen.is_empty() {
        query = query.filter(job::Column::Id.is_not_in(seen.iter().copied()));
    }
    let mut query = query
        .order_by_desc(job::Column::Priority)
        .order_by(
            Expr::cust("COALESCE(run_at, created_at)"),
            sea_orm::Order::Asc,
        )
        .order_by_asc(job::Column::Id)
        .limit(batch);
    if tx::is_postgres_tx(tx) {
        query = query.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let rows = query.all(tx).await?;
    let more = Batch {
        total: rows.len() as i64,
        // A full batch may have more behind it.
        cut: rows.len() as u64 == batch,
        truncated: false,
    };
    Ok((rows, more))
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

/// The runnable jobs of every tenant (waiting, due, not blocked, whatever their labels), for
/// `/metrics`: how many, and how long the oldest has been due (since its `runAt`, or its
/// creation without one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueStats {
    pub depth: u64,
    pub oldest_due_micros: Option<i64>,
}

impl ExecutorService {
    /// The queue as `/metrics` reports it; one statement over the waiting jobs.
    pub async fn queue_stats(&self) -> ServiceResult<QueueStats> {
        let now = self.clock.now_micros();
        let postgres = self.db.get_database_backend() == sea_orm::DbBackend::Postgres;
        let mut sql = Sql::new(postgres);
        sql.push(r#"SELECT COUNT(*) AS depth, MIN(COALESCE("job"."run_at", "job"."created_at")) AS oldest FROM job WHERE "job"."status" IN ('PENDING', 'SCHEDULED')"#);
        runnable_in(&mut sql, now, &[]);
        let row = self
            .db
            .query_one_raw(sql.statement(&self.db))
            .await?
            .ok_or_else(|| ServiceError::Internal("COUNT returned no row".into()))?;
        let depth: i64 = row.try_get("", "depth")?;
        let oldest: Option<i64> = row.try_get("", "oldest")?;
        Ok(QueueStats {
            depth: depth.max(0) as u64,
            oldest_due_micros: oldest,
        })
    }
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
        // Without keys every job ranks 1 and fair order is plain claim order: take it lazily.
        let fair = keyed_waiting(&tx, &actor.tenant).await?;
        if postgres && fair {
            // The fair statement takes milliseconds to plan and its plan does not depend on
            // the values bound: plan it once per connection, not once per claim.
            tx.execute_unprepared("SET LOCAL plan_cache_mode = force_generic_plan")
                .await?;
        }
        for round in 0..MAX_BATCHES {
            let first = if fair && round == 0 {
                first_turns(&tx, &actor.tenant, now, &labels, batch).await?
            } else {
                Vec::new()
            };
            let (rows, more) = if !first.is_empty() {
                // A prefix of fair order; what it cannot fill, the next batch walks for.
                let more = Batch {
                    total: first.len() as i64,
                    cut: true,
                    truncated: false,
                };
                (first, more)
            } else if fair {
                candidates(&tx, &actor.tenant, now, &labels, &seen, limit as u64, batch).await?
            } else {
                plain_candidates(&tx, &actor.tenant, now, &labels, &seen, batch).await?
            };
            if rows.is_empty() {
                // Nothing runnable, or everything offered is being claimed by others.
                break;
            }
            // Every candidate was offered to the lock, and no group held any back.
            let exhausted = more.total <= batch as i64 && !more.cut && !more.truncated;
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
            // holds limit rows it waits for no further row: later ones take only free rows.
            ledger.prepare(&tx, &actor.tenant, &rows).await?;
            let keys: Vec<Option<String>> =
                rows.iter().map(|r| r.concurrency_key.clone()).collect();
            // The keys of the candidates up to here have their limit rows locked and counted.
            let mut reserved = 0;
            for (i, row) in rows.into_iter().enumerate() {
                if claimed.len() == limit {
                    break;
                }
                if i >= reserved {
                    // Only the keys of as many candidates as the claim still needs: limit rows
                    // locked for candidates it will not reach would make other claimers wait.
                    reserved = (i + limit - claimed.len()).min(keys.len());
                    let held = slots
                        .reserve(
                            &tx,
                            &actor.tenant,
                            keys[i..reserved].iter().filter_map(|k| k.as_deref()),
                            !slots.holds_any(),
                        )
                        .await?;
                    if held {
                        ledger.stop_waiting();
                    }
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
        crate::metrics::claimed(claimed.len());
        Ok(claimed.into_iter().map(Job::from).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranked(priority: i32, rank: i64, ready: i64, keyless: bool, frontier: bool) -> Ranked {
        Ranked {
            priority,
            rank,
            ready,
            id: uuid::Uuid::from_u128(ready as u128),
            keyless,
            frontier,
        }
    }

    #[test]
    fn a_held_back_group_stops_the_walk_where_its_next_job_would_go() {
        // Key A offered one job (rank 1) and holds more: its next has rank 2, so the other
        // rank-1 jobs pass and the first rank-2 job does not.
        let mut f = Frontier::default();
        assert!(f.admits(&ranked(50, 1, 10, false, true)));
        assert!(f.admits(&ranked(50, 1, 20, false, false)));
        assert!(f.admits(&ranked(50, 1, 30, true, false)));
        assert!(!f.admits(&ranked(50, 2, 15, false, false)));
        // The keyless jobs held back rank 1 and are no older: nothing after the frontier
        // passes, but a higher priority would have come first anyway.
        let mut f = Frontier::default();
        assert!(f.admits(&ranked(90, 1, 5, true, false)));
        assert!(f.admits(&ranked(50, 1, 10, true, true)));
        assert!(!f.admits(&ranked(50, 1, 11, false, false)));
        // No frontier: everything passes.
        let mut f = Frontier::default();
        for r in [
            ranked(50, 1, 1, false, false),
            ranked(10, 3, 2, false, false),
        ] {
            assert!(f.admits(&r));
        }
    }

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
