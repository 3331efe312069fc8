//! `jobs`: filtered, ordered, keyset-paginated lists (DESIGN.md §9); paging itself is
//! `services::paging`.

use super::{Job, JobService, permissions};
use crate::auth::Actor;
use crate::domain::time::to_micros;
use crate::error::{ServiceError, ServiceResult};
use crate::services::access::require;
use crate::services::dependencies::rules;
use crate::services::paging::{self, Ordering, Page, PageArgs, SortDirection};
use crate::services::stats::{self, Stats};
use crate::services::validate;
use chrono::{DateTime, Utc};
use entity::job;
use entity::status::JobStatus;
use sea_orm::sea_query::Query;
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
use sea_orm::{ColumnTrait, Condition, EntityTrait, Iterable, QueryFilter};
use uuid::Uuid;

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
    /// A literal, case-insensitive substring of the title.
    pub search: Option<String>,
    /// false: ready work (nothing keeps it from starting); true: blocked work.
    pub blocked: Option<bool>,
    /// Jobs carrying this concurrency key (compared trimmed, exactly).
    pub concurrency_key: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOrderField {
    CreatedAt,
    UpdatedAt,
    Priority,
    RunAt,
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

/// One page of jobs.
pub type JobPage = Page<Job>;

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
    fn ordering(self) -> Ordering<job::Column> {
        Ordering {
            list: "job",
            field: self.field.tag(),
            column: self.field.column(),
            id_column: job::Column::Id,
            nullable: self.field.nullable(),
            direction: self.direction,
        }
    }
}

impl JobFilter {
    /// Checks the filter's own rules (an empty status list, min > max).
    fn validate(&self) -> ServiceResult<()> {
        if let Some(status) = &self.status {
            validate::list_len("filter.status", status.len())?;
        }
        if let (Some(min), Some(max)) = (self.priority_min, self.priority_max)
            && min > max
        {
            return Err(ServiceError::bad_input(
                "filter.priorityMin",
                "`filter.priorityMin` is above `filter.priorityMax`",
            ));
        }
        if let Some(term) = &self.search {
            paging::search_term("filter.search", term)?;
        }
        for (field, value) in [
            ("filter.assignedAgent", &self.assigned_agent),
            ("filter.createdBy", &self.created_by),
            ("filter.label", &self.label),
            ("filter.concurrencyKey", &self.concurrency_key),
        ] {
            if let Some(v) = value {
                crate::services::validate::no_nul(field, v)?;
            }
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
            c = c.add(has_label(label));
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
        if let Some(term) = &self.search {
            let pattern = LikeExpr::new(paging::contains_pattern(term)).escape('\\');
            c = c.add(Expr::col(job::Column::SearchTitle).like(pattern));
        }
        if let Some(blocked) = self.blocked {
            c = c.add(Expr::cust(rules::job_blocked_sql(blocked)));
        }
        if let Some(key) = &self.concurrency_key {
            c = c.add(job::Column::ConcurrencyKey.eq(key.trim()));
        }
        c
    }
}

impl JobService {
    /// `jobs(filter, orderBy, first, after, last, before)`.
    pub async fn list(
        &self,
        actor: &Actor,
        filter: &JobFilter,
        order: JobOrder,
        args: PageArgs<'_>,
    ) -> ServiceResult<JobPage> {
        require(permissions::can_read(actor), "list jobs")?;
        filter.validate()?;
        let base = job::Entity::find().filter(filter.condition(actor));
        let page = order
            .ordering()
            .fetch(
                &self.db,
                base,
                args,
                |row| order.field.value(row),
                |row| row.id,
            )
            .await?;
        Ok(page.map(Job::from))
    }

    /// `totalCount` of a `jobs` filter (run only when the field is selected).
    pub async fn count(&self, actor: &Actor, filter: &JobFilter) -> ServiceResult<i64> {
        require(permissions::can_read(actor), "count jobs")?;
        filter.validate()?;
        paging::count(
            &self.db,
            job::Entity::find().filter(filter.condition(actor)),
        )
        .await
    }

    /// `jobStats(filter)`: counts per status (every status, zeros included) and exact cost sums.
    pub async fn stats(
        &self,
        actor: &Actor,
        filter: &JobFilter,
    ) -> ServiceResult<Stats<JobStatus>> {
        require(permissions::can_read(actor), "read job stats")?;
        filter.validate()?;
        let query = job::Entity::find().filter(filter.condition(actor));
        let groups = stats::by_status(&self.db, query, job::Column::Status).await?;
        Ok(Stats::from_groups(groups, JobStatus::iter()))
    }
}

/// The job carries `label`. EXISTS, not IN: the planner then walks the ordering's index and
/// probes the label table's primary key per row, instead of collecting every labelled id and
/// sorting them (which grows with the label's popularity; see BENCHMARKS.md).
pub(crate) fn has_label(label: &str) -> sea_orm::sea_query::SimpleExpr {
    let labelled = Query::select()
        .expr(Expr::val(1))
        .from(entity::job_label::Entity)
        .and_where(
            Expr::col((entity::job_label::Entity, entity::job_label::Column::JobId))
                .equals((job::Entity, job::Column::Id)),
        )
        .and_where(
            Expr::col((entity::job_label::Entity, entity::job_label::Column::Label)).eq(label),
        )
        .to_owned();
    Expr::exists(labelled)
}
