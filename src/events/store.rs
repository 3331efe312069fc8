//! Reads and pruning of the event table (DESIGN.md §7), always within one tenant: ids are in
//! commit order only within a tenant, so every read, mark and watermark is per tenant.

use super::filter::EventFilter;
use entity::{event, event_watermark};
use sea_orm::sea_query::{Expr, OnConflict, Query};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Statement, Value,
};
use uuid::Uuid;

/// The oldest events of the tenant after `after` (strictly) that match `filter`, at most
/// `limit`, oldest first.
pub async fn page<C: ConnectionTrait>(
    db: &C,
    tenant: &str,
    filter: &EventFilter,
    after: Option<i64>,
    limit: u64,
) -> Result<Vec<event::Model>, DbErr> {
    event::Entity::find()
        .filter(event::Column::TenantId.eq(tenant))
        .filter(event::Column::Id.gt(after.unwrap_or(0)))
        .filter(filter.condition(db.get_database_backend()))
        .order_by_asc(event::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Which record an event is grouped by in a batched read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordColumn {
    Job,
    Task,
}

impl RecordColumn {
    fn name(self) -> &'static str {
        match self {
            Self::Job => "job_id",
            Self::Task => "task_id",
        }
    }
}

/// For each of `ids`, its oldest `limit` events after `after`, in one statement (the
/// `Job.events` / `Task.events` of a whole page). Oldest first overall.
pub async fn pages_by_record<C: ConnectionTrait>(
    db: &C,
    tenant: &str,
    column: RecordColumn,
    ids: &[Uuid],
    after: Option<i64>,
    limit: u64,
) -> Result<Vec<event::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.get_database_backend();
    let mark = |n: usize| match backend {
        sea_orm::DbBackend::Postgres => format!("${n}"),
        _ => "?".to_string(),
    };
    let col = column.name();
    let id_marks: Vec<String> = (0..ids.len()).map(|i| mark(i + 2)).collect();
    let sql = format!(
        "SELECT * FROM (
            SELECT event.*, ROW_NUMBER() OVER (PARTITION BY {col} ORDER BY id) AS rn
            FROM event
            WHERE tenant_id = {} AND {col} IN ({}) AND id > {}
        ) ranked WHERE rn <= {} ORDER BY id",
        mark(1),
        id_marks.join(", "),
        mark(ids.len() + 2),
        mark(ids.len() + 3),
    );
    let mut values: Vec<Value> = Vec::with_capacity(ids.len() + 3);
    values.push(tenant.into());
    values.extend(ids.iter().map(|id| Value::from(*id)));
    values.push(after.unwrap_or(0).into());
    values.push(i64::try_from(limit).unwrap_or(i64::MAX).into());
    event::Entity::find()
        .from_raw_sql(Statement::from_sql_and_values(backend, sql, values))
        .all(db)
        .await
}

/// The newest event id of the tenant.
pub async fn latest_id<C: ConnectionTrait>(db: &C, tenant: &str) -> Result<Option<i64>, DbErr> {
    event::Entity::find()
        .select_only()
        .column(event::Column::Id)
        .filter(event::Column::TenantId.eq(tenant))
        .order_by_desc(event::Column::Id)
        .limit(1)
        .into_tuple::<i64>()
        .one(db)
        .await
}

/// The highest event id ever pruned in the tenant (0: none).
pub async fn watermark<C: ConnectionTrait>(db: &C, tenant: &str) -> Result<i64, DbErr> {
    Ok(event_watermark::Entity::find_by_id(tenant.to_string())
        .one(db)
        .await?
        .map_or(0, |w| w.pruned_through))
}

/// The tenants that have events older than `cutoff` (microseconds).
pub async fn tenants_with_events_before<C: ConnectionTrait>(
    db: &C,
    cutoff: i64,
) -> Result<Vec<String>, DbErr> {
    event::Entity::find()
        .select_only()
        .column(event::Column::TenantId)
        .filter(event::Column::OccurredAt.lt(cutoff))
        .distinct()
        .into_tuple::<String>()
        .all(db)
        .await
}

/// Prunes one batch of the tenant's events older than `cutoff`, by id: the oldest `batch`
/// events before the cutoff are found, and every event of the tenant up to the highest of
/// their ids is deleted, so that what remains is always everything after one id (no holes;
/// event times are taken before the ordering lock, so a few events a moment younger than the
/// cutoff may go with them). Raises the watermark to that id. Returns (events deleted, the id
/// pruned through), or `None` when nothing was old enough.
pub async fn prune_batch<C: ConnectionTrait>(
    db: &C,
    tenant: &str,
    cutoff: i64,
    batch: u64,
) -> Result<Option<(u64, i64)>, DbErr> {
    let oldest: Vec<i64> = event::Entity::find()
        .select_only()
        .column(event::Column::Id)
        .filter(event::Column::OccurredAt.lt(cutoff))
        .filter(event::Column::TenantId.eq(tenant))
        .order_by_asc(event::Column::OccurredAt)
        .limit(batch)
        .into_tuple::<i64>()
        .all(db)
        .await?;
    let Some(through) = oldest.into_iter().max() else {
        return Ok(None);
    };
    let deleted = event::Entity::delete_many()
        .filter(event::Column::TenantId.eq(tenant))
        .filter(event::Column::Id.lte(through))
        .exec(db)
        .await?
        .rows_affected;
    // Never lowers the mark (another replica may have pruned further meanwhile).
    let upsert = Query::insert()
        .into_table(event_watermark::Entity)
        .columns([
            event_watermark::Column::TenantId,
            event_watermark::Column::PrunedThrough,
        ])
        .values_panic([tenant.into(), through.into()])
        .on_conflict(
            OnConflict::column(event_watermark::Column::TenantId)
                .value(
                    event_watermark::Column::PrunedThrough,
                    Expr::cust(
                        "CASE WHEN excluded.pruned_through > event_watermark.pruned_through \
                         THEN excluded.pruned_through ELSE event_watermark.pruned_through END",
                    ),
                )
                .to_owned(),
        )
        .to_owned();
    db.execute(&upsert).await?;
    Ok(Some((deleted, through)))
}
