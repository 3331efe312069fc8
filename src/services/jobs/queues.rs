//! `pendingJobs` (PENDING and SCHEDULED in claim order) and `runningJobs` (RUNNING and
//! CANCELLING by start), each read through its own partial index.

use super::{Job, JobPage, JobService, permissions};
use crate::auth::Actor;
use crate::error::{ServiceError, ServiceResult};
use crate::services::access::require;
use crate::services::paging::{self, Ordering, PageArgs, SortDirection};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use entity::job;
use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, EntityTrait, Order, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

/// PENDING or SCHEDULED, spelled as the partial index on claim order spells it: with the
/// statuses as bound parameters, SQLite (and PostgreSQL's generic plans) cannot prove that the
/// index covers the query, and would scan and sort the whole tenant instead.
pub(crate) fn waiting() -> SimpleExpr {
    Expr::cust(WAITING_SQL)
}

/// `waiting` as SQL text, for hand-written statements.
pub(crate) const WAITING_SQL: &str = "\"job\".\"status\" IN ('PENDING', 'SCHEDULED')";

/// `running` as SQL text, for hand-written statements.
pub(crate) const RUNNING_SQL: &str = "\"job\".\"status\" IN ('RUNNING', 'CANCELLING')";

/// RUNNING or CANCELLING, as the partial index on running jobs spells it (see `waiting`).
pub(crate) fn running() -> SimpleExpr {
    Expr::cust(RUNNING_SQL)
}

/// The claim-order key of DESIGN.md §3: `COALESCE(runAt, createdAt)`.
fn ready_at() -> SimpleExpr {
    Expr::cust("COALESCE(run_at, created_at)")
}

/// A position in claim order: (priority, ready time, id).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ClaimPosition {
    priority: i32,
    ready_at: i64,
    id: Uuid,
}

const PENDING_TAG: &str = "job:pending";

fn encode(pos: &ClaimPosition) -> String {
    URL_SAFE_NO_PAD.encode(format!(
        "{PENDING_TAG}|{}|{}|{}",
        pos.priority, pos.ready_at, pos.id
    ))
}

fn decode(cursor: &str) -> ServiceResult<ClaimPosition> {
    let bad = || ServiceError::bad_input("after", "`after` is not a cursor of pendingJobs");
    let text =
        String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?).map_err(|_| bad())?;
    let parts: Vec<&str> = text.split('|').collect();
    match parts.as_slice() {
        [tag, priority, ready_at, id] if *tag == PENDING_TAG => Ok(ClaimPosition {
            priority: priority.parse().map_err(|_| bad())?,
            ready_at: ready_at.parse().map_err(|_| bad())?,
            id: Uuid::parse_str(id).map_err(|_| bad())?,
        }),
        _ => Err(bad()),
    }
}

impl JobService {
    /// `pendingJobs(first, after)`: runnable-or-waiting jobs in the order claims take them:
    /// `priority DESC, COALESCE(runAt, createdAt) ASC, id ASC`.
    pub async fn pending(
        &self,
        actor: &Actor,
        first: Option<i32>,
        after: Option<&str>,
    ) -> ServiceResult<JobPage> {
        require(permissions::can_read(actor), "list jobs")?;
        let limit = paging::page_size("first", first)?;
        let cursor = after.map(decode).transpose()?;
        let mut query = job::Entity::find()
            .filter(job::Column::TenantId.eq(actor.tenant.as_str()))
            .filter(waiting());
        if let Some(pos) = &cursor {
            query = query.filter(
                Condition::any()
                    .add(job::Column::Priority.lt(pos.priority))
                    .add(
                        Condition::all()
                            .add(job::Column::Priority.eq(pos.priority))
                            .add(
                                Condition::any().add(ready_at().gt(pos.ready_at)).add(
                                    Condition::all()
                                        .add(ready_at().eq(pos.ready_at))
                                        .add(job::Column::Id.gt(pos.id)),
                                ),
                            ),
                    ),
            );
        }
        let mut rows = query
            .order_by(job::Column::Priority, Order::Desc)
            .order_by(ready_at(), Order::Asc)
            .order_by(job::Column::Id, Order::Asc)
            .limit(limit + 1)
            .all(&self.db)
            .await?;
        let has_next_page = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let items = rows
            .into_iter()
            .map(|row| {
                let pos = ClaimPosition {
                    priority: row.priority,
                    ready_at: row.run_at.unwrap_or(row.created_at),
                    id: row.id,
                };
                (encode(&pos), Job::from(row))
            })
            .collect();
        Ok(paging::Page {
            items,
            has_next_page,
            has_previous_page: cursor.is_some(),
        })
    }

    /// `runningJobs(first, after)`: RUNNING and CANCELLING jobs, longest-running first.
    pub async fn running(
        &self,
        actor: &Actor,
        first: Option<i32>,
        after: Option<&str>,
    ) -> ServiceResult<JobPage> {
        require(permissions::can_read(actor), "list jobs")?;
        let ordering = Ordering {
            list: "job:running",
            field: "started_at",
            column: job::Column::StartedAt,
            id_column: job::Column::Id,
            nullable: false,
            direction: SortDirection::Asc,
        };
        let base = job::Entity::find()
            .filter(job::Column::TenantId.eq(actor.tenant.as_str()))
            .filter(running());
        let args = PageArgs {
            first,
            after,
            ..Default::default()
        };
        let page = ordering
            .fetch(&self.db, base, args, |row| row.started_at, |row| row.id)
            .await?;
        Ok(page.map(Job::from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_cursors_round_trip() {
        let pos = ClaimPosition {
            priority: 75,
            ready_at: 1_700_000_000_000_000,
            id: Uuid::now_v7(),
        };
        assert_eq!(decode(&encode(&pos)).unwrap(), pos);
        assert!(decode("garbage").is_err());
        assert!(decode(&URL_SAFE_NO_PAD.encode("job:created_at:desc|1|x")).is_err());
    }
}
