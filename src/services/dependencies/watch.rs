//! `blocked` of the records waiting on a change (DESIGN.md §7): a predecessor that starts,
//! finishes, is cancelled, reopened or deleted can flip the `blocked` of its successors, whose
//! own rows do not change. So that a dashboard watching events keeps its "blocked" marks right,
//! every change notes its successors' `blocked` before it writes, and after it adds one
//! `*.updated` per successor whose `blocked` flipped, last in the transaction.

use super::{Kind, edges, rules};
use crate::error::ServiceResult;
use crate::services::events::EventDraft;
use crate::services::tasks;
use entity::{job, task};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use std::collections::{BTreeMap, HashSet};
use uuid::Uuid;

/// Which of `ids` (records of `kind`) are blocked now: one statement.
pub(crate) async fn blocked_among<C: ConnectionTrait>(
    conn: &C,
    kind: Kind,
    tenant: &str,
    ids: &[Uuid],
) -> ServiceResult<HashSet<Uuid>> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let ids = ids.iter().copied();
    Ok(match kind {
        Kind::Job => {
            job::Entity::find()
                .select_only()
                .column(job::Column::Id)
                .filter(job::Column::TenantId.eq(tenant))
                .filter(job::Column::Id.is_in(ids))
                .filter(Expr::cust(rules::job_blocked_sql(true)))
                .into_tuple::<Uuid>()
                .all(conn)
                .await?
        }
        Kind::Task => {
            task::Entity::find()
                .select_only()
                .column(task::Column::Id)
                .filter(task::Column::TenantId.eq(tenant))
                .filter(task::Column::Id.is_in(ids))
                .filter(Expr::cust(rules::task_blocked_sql(true)))
                .into_tuple::<Uuid>()
                .all(conn)
                .await?
        }
    }
    .into_iter()
    .collect())
}

/// The `blocked` of the successors of the records a change is about to write.
#[derive(Debug, Default)]
pub(crate) struct BlockedWatch {
    /// For each watched successor (by kind, ordered for deterministic events): blocked before.
    before: BTreeMap<(KindKey, Uuid), bool>,
    tenant: String,
}

/// `Kind` as an ordered map key (jobs first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum KindKey {
    Job,
    Task,
}

impl From<Kind> for KindKey {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Job => Self::Job,
            Kind::Task => Self::Task,
        }
    }
}

impl BlockedWatch {
    /// A watch in `tenant`, empty.
    pub(crate) fn new(tenant: &str) -> Self {
        Self {
            before: BTreeMap::new(),
            tenant: tenant.to_string(),
        }
    }

    /// Notes the `blocked` of the records that wait on `changed` (records of `kind`) through
    /// a FINISH_TO_START or START_TO_START edge, before `changed` are written.
    pub(crate) async fn watch(
        &mut self,
        tx: &DatabaseTransaction,
        kind: Kind,
        changed: &[Uuid],
    ) -> ServiceResult<()> {
        let successors: Vec<Uuid> = edges(tx, kind, &self.tenant, changed, false)
            .await?
            .into_iter()
            .filter(|e| rules::gates_start(e.dependency_type))
            .map(|e| e.successor_id)
            .filter(|s| !self.before.contains_key(&(kind.into(), *s)))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let blocked = blocked_among(tx, kind, &self.tenant, &successors).await?;
        for s in successors {
            self.before.insert((kind.into(), s), blocked.contains(&s));
        }
        Ok(())
    }

    /// One `job.updated` / `task.updated` per watched successor whose `blocked` flipped, except
    /// those that `events` (the change's own events so far) already speak of, and those gone.
    pub(crate) async fn after(
        self,
        tx: &DatabaseTransaction,
        events: &[EventDraft],
    ) -> ServiceResult<Vec<EventDraft>> {
        let mut out = Vec::new();
        for kind in [Kind::Job, Kind::Task] {
            let key = KindKey::from(kind);
            let spoken: HashSet<Uuid> = events
                .iter()
                .filter_map(|e| match kind {
                    Kind::Job => e.job_id,
                    Kind::Task => e.task_id,
                })
                .collect();
            let watched: Vec<(Uuid, bool)> = self
                .before
                .iter()
                .filter(|((k, id), _)| *k == key && !spoken.contains(id))
                .map(|((_, id), was)| (*id, *was))
                .collect();
            if watched.is_empty() {
                continue;
            }
            let ids: Vec<Uuid> = watched.iter().map(|(id, _)| *id).collect();
            let now = blocked_among(tx, kind, &self.tenant, &ids).await?;
            let flipped: Vec<Uuid> = watched
                .iter()
                .filter(|(id, was)| *was != now.contains(id))
                .map(|(id, _)| *id)
                .collect();
            if flipped.is_empty() {
                continue;
            }
            match kind {
                Kind::Job => {
                    let rows = job::Entity::find()
                        .filter(job::Column::Id.is_in(flipped))
                        .order_by_asc(job::Column::CreatedAt)
                        .order_by_asc(job::Column::Id)
                        .all(tx)
                        .await?;
                    out.extend(rows.iter().map(|r| EventDraft::job("job.updated", r)));
                }
                Kind::Task => {
                    let rows = task::Entity::find()
                        .filter(task::Column::Id.is_in(flipped))
                        .order_by_asc(task::Column::CreatedAt)
                        .order_by_asc(task::Column::Id)
                        .all(tx)
                        .await?;
                    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
                    let mut links = tasks::linked_jobs(tx, &ids).await?;
                    out.extend(rows.iter().map(|r| {
                        EventDraft::task("task.updated", r, links.remove(&r.id).unwrap_or_default())
                    }));
                }
            }
        }
        Ok(out)
    }
}
