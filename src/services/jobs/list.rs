//! `jobs`: filtered, ordered, keyset-paginated lists (DESIGN.md §9).
//!
//! A page is `ORDER BY <field> <dir> [nulls last], id <dir> LIMIT first+1` starting strictly
//! after the cursor's (value, id): the same index range scan on page 1 and on page 10,000.
//! A cursor records its ordering, so one from another ordering is refused rather than misread.

use super::{Job, JobService, permissions};
use crate::auth::Actor;
use crate::domain::time::to_micros;
use crate::error::{ServiceError, ServiceResult};
use crate::services::access::require;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use entity::job;
use entity::status::JobStatus;
use sea_orm::sea_query::{Expr, ExprTrait, Query, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, Order, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use uuid::Uuid;

/// Largest and default page size.
pub const MAX_PAGE: i32 = 200;
pub const DEFAULT_PAGE: i32 = 20;

/// The filters of `jobs` (all given ones must hold).
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub status: Option<Vec<JobStatus>>,
    pub plan_id: Option<Uuid>,
    pub assigned_agent: Option<String>,
    pub created_by: Option<String>,
    pub label: Option<String>,
    pub priority_min: Option<i32>,
    pub priority_max: Option<i32>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOrderField {
    CreatedAt,
    UpdatedAt,
    Priority,
    RunAt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortDirection {
    Asc,
    Desc,
}

/// An ordering; every ordering ends with `id` in the same direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobOrder {
    pub field: JobOrderField,
    pub direction: SortDirection,
}

impl Default for JobOrder {
    fn default() -> Self {
        Self {
            field: JobOrderField::CreatedAt,
            direction: SortDirection::Desc,
        }
    }
}

/// One page: the jobs with their cursors.
#[derive(Debug, Clone)]
pub struct JobPage {
    pub items: Vec<(String, Job)>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
}

impl JobOrderField {
    fn tag(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
            Self::Priority => "priority",
            Self::RunAt => "run_at",
        }
    }
    fn column(self) -> job::Column {
        match self {
            Self::CreatedAt => job::Column::CreatedAt,
            Self::UpdatedAt => job::Column::UpdatedAt,
            Self::Priority => job::Column::Priority,
            Self::RunAt => job::Column::RunAt,
        }
    }
    fn nullable(self) -> bool {
        self == Self::RunAt
    }
    fn value(self, row: &job::Model) -> Option<i64> {
        match self {
            Self::CreatedAt => Some(row.created_at),
            Self::UpdatedAt => Some(row.updated_at),
            Self::Priority => Some(i64::from(row.priority)),
            Self::RunAt => row.run_at,
        }
    }
}

impl JobOrder {
    fn tag(self) -> String {
        let dir = match self.direction {
            SortDirection::Asc => "asc",
            SortDirection::Desc => "desc",
        };
        format!("job:{}:{dir}", self.field.tag())
    }
}

/// The position of a row in an ordering.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Position {
    value: Option<i64>,
    id: Uuid,
}

fn encode_cursor(order: JobOrder, pos: &Position) -> String {
    let value = pos.value.map_or_else(|| "~".to_string(), |v| v.to_string());
    URL_SAFE_NO_PAD.encode(format!("{}|{value}|{}", order.tag(), pos.id))
}

fn decode_cursor(field: &str, order: JobOrder, cursor: &str) -> ServiceResult<Position> {
    let malformed =
        || ServiceError::bad_input(field, format!("`{field}` is not a cursor this list issued"));
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| malformed())?;
    let text = String::from_utf8(bytes).map_err(|_| malformed())?;
    let mut parts = text.split('|');
    let (Some(tag), Some(value), Some(id), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    if tag != order.tag() {
        return Err(ServiceError::bad_input(
            field,
            format!("`{field}` belongs to another ordering or list; start again without it"),
        ));
    }
    let value = match value {
        "~" if order.field.nullable() => None,
        v => Some(v.parse::<i64>().map_err(|_| malformed())?),
    };
    let id = Uuid::parse_str(id).map_err(|_| malformed())?;
    Ok(Position { value, id })
}

/// The rows strictly after `pos` in `order` (nulls last in both directions).
fn after_condition(order: JobOrder, pos: &Position) -> Condition {
    let col = order.field.column();
    let beyond = |a: SimpleExpr, b: SimpleExpr| match order.direction {
        SortDirection::Asc => a.gt(b),
        SortDirection::Desc => a.lt(b),
    };
    let id_beyond = beyond(Expr::col(job::Column::Id), Expr::val(pos.id));
    match pos.value {
        Some(v) => {
            let mut any = Condition::any()
                .add(beyond(Expr::col(col), Expr::val(v)))
                .add(Condition::all().add(col.eq(v)).add(id_beyond));
            if order.field.nullable() {
                any = any.add(col.is_null());
            }
            any
        }
        None => Condition::all().add(col.is_null()).add(id_beyond),
    }
}

impl JobFilter {
    /// Checks the filter's own rules (an empty status list, min > max).
    fn validate(&self) -> ServiceResult<()> {
        if self.status.as_ref().is_some_and(Vec::is_empty) {
            return Err(ServiceError::bad_input(
                "filter.status",
                "`filter.status` must not be an empty list",
            ));
        }
        if let (Some(min), Some(max)) = (self.priority_min, self.priority_max)
            && min > max
        {
            return Err(ServiceError::bad_input(
                "filter.priorityMin",
                "`filter.priorityMin` is above `filter.priorityMax`",
            ));
        }
        Ok(())
    }

    /// The filter as a condition, the tenant always first.
    fn condition(&self, actor: &Actor) -> Condition {
        let mut c = Condition::all().add(job::Column::TenantId.eq(actor.tenant.as_str()));
        if let Some(status) = &self.status {
            c = c.add(job::Column::Status.is_in(status.iter().copied()));
        }
        if let Some(plan) = self.plan_id {
            c = c.add(job::Column::PlanId.eq(plan));
        }
        if let Some(agent) = &self.assigned_agent {
            c = c.add(job::Column::AssignedAgent.eq(agent.as_str()));
        }
        if let Some(creator) = &self.created_by {
            c = c.add(job::Column::CreatedBy.eq(creator.as_str()));
        }
        if let Some(label) = &self.label {
            let with_label = Query::select()
                .column(entity::job_label::Column::JobId)
                .from(entity::job_label::Entity)
                .and_where(entity::job_label::Column::TenantId.eq(actor.tenant.as_str()))
                .and_where(entity::job_label::Column::Label.eq(label.as_str()))
                .to_owned();
            c = c.add(job::Column::Id.in_subquery(with_label));
        }
        if let Some(min) = self.priority_min {
            c = c.add(job::Column::Priority.gte(min));
        }
        if let Some(max) = self.priority_max {
            c = c.add(job::Column::Priority.lte(max));
        }
        if let Some(after) = self.created_after {
            c = c.add(job::Column::CreatedAt.gt(to_micros(after)));
        }
        if let Some(before) = self.created_before {
            c = c.add(job::Column::CreatedAt.lt(to_micros(before)));
        }
        c
    }
}

/// A page size within 1..=200 (default 20).
pub fn page_size(field: &str, first: Option<i32>) -> ServiceResult<u64> {
    let n = first.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&n) {
        return Err(ServiceError::bad_input(
            field,
            format!("`{field}` must be between 1 and {MAX_PAGE}"),
        ));
    }
    Ok(n as u64)
}

impl JobService {
    /// `jobs(filter, orderBy, first, after)`.
    pub async fn list(
        &self,
        actor: &Actor,
        filter: &JobFilter,
        order: JobOrder,
        first: Option<i32>,
        after: Option<&str>,
    ) -> ServiceResult<JobPage> {
        require(permissions::can_read(actor), "list jobs")?;
        filter.validate()?;
        let limit = page_size("first", first)?;
        let cursor = after
            .map(|c| decode_cursor("after", order, c))
            .transpose()?;
        let mut query = job::Entity::find().filter(filter.condition(actor));
        if let Some(pos) = &cursor {
            query = query.filter(after_condition(order, pos));
        }
        let dir = match order.direction {
            SortDirection::Asc => Order::Asc,
            SortDirection::Desc => Order::Desc,
        };
        if order.field.nullable() {
            query = query.order_by(Expr::col(order.field.column()).is_null(), Order::Asc);
        }
        let mut rows = query
            .order_by(order.field.column(), dir.clone())
            .order_by(job::Column::Id, dir)
            .limit(limit + 1)
            .all(&self.db)
            .await?;
        let has_next_page = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        let items = rows
            .into_iter()
            .map(|row| {
                let pos = Position {
                    value: order.field.value(&row),
                    id: row.id,
                };
                (encode_cursor(order, &pos), Job { row })
            })
            .collect();
        Ok(JobPage {
            items,
            has_next_page,
            has_previous_page: cursor.is_some(),
        })
    }

    /// `totalCount` of a `jobs` filter (run only when the field is selected).
    pub async fn count(&self, actor: &Actor, filter: &JobFilter) -> ServiceResult<i64> {
        require(permissions::can_read(actor), "count jobs")?;
        filter.validate()?;
        let n = job::Entity::find()
            .filter(filter.condition(actor))
            .count(&self.db)
            .await?;
        Ok(n as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_know_their_ordering() {
        let order = JobOrder {
            field: JobOrderField::RunAt,
            direction: SortDirection::Asc,
        };
        let pos = Position {
            value: None,
            id: Uuid::now_v7(),
        };
        let c = encode_cursor(order, &pos);
        assert_eq!(decode_cursor("after", order, &c).unwrap(), pos);
        let other = JobOrder::default();
        assert!(
            matches!(decode_cursor("after", other, &c), Err(ServiceError::BadInput { ref field, .. }) if field == "after")
        );
        assert!(decode_cursor("before", order, "not base64!").is_err());
        assert!(
            decode_cursor(
                "after",
                order,
                &URL_SAFE_NO_PAD.encode("job:run_at:asc|x|y")
            )
            .is_err()
        );
    }
}
