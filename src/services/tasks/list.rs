//! `tasks`: filtered, ordered, keyset-paginated lists (DESIGN.md §9); paging itself is
//! `services::paging`.

use super::{Task, TaskService, permissions};
use crate::auth::Actor;
use crate::domain::time::to_micros;
use crate::error::{ServiceError, ServiceResult};
use crate::services::access::require;
use crate::services::dependencies::rules;
use crate::services::paging::{self, Ordering, Page, PageArgs, SortDirection};
use crate::services::stats::{self, Stats};
use crate::services::validate;
use chrono::{DateTime, Utc};
use entity::status::TaskStatus;
use entity::{job_task, task, task_label};
use sea_orm::sea_query::Query;
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
use sea_orm::{ColumnTrait, Condition, EntityTrait, Iterable, QueryFilter};
use uuid::Uuid;

/// The filters of `tasks` (all given ones must hold).
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub status: Option<Vec<TaskStatus>>,
    pub plan_id: Option<Uuid>,
    pub assigned_agent: Option<String>,
    pub created_by: Option<String>,
    pub label: Option<String>,
    /// Only tasks linked to this job.
    pub job_id: Option<Uuid>,
    /// Only direct subtasks of this task.
    pub parent_id: Option<Uuid>,
    /// Only tasks without a parent.
    pub root_only: bool,
    pub priority_min: Option<i32>,
    pub priority_max: Option<i32>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    /// A literal, case-insensitive substring of the title.
    pub search: Option<String>,
    /// false: ready work (nothing keeps it from starting); true: blocked work.
    pub blocked: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskOrderField {
    CreatedAt,
    UpdatedAt,
    Priority,
    DueAt,
}

/// An ordering; every ordering ends with `id` in the same direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskOrder {
    pub field: TaskOrderField,
    pub direction: SortDirection,
}

impl Default for TaskOrder {
    fn default() -> Self {
        Self {
            field: TaskOrderField::CreatedAt,
            direction: SortDirection::Desc,
        }
    }
}

/// One page of tasks.
pub type TaskPage = Page<Task>;

impl TaskOrderField {
    fn tag(self) -> &'static str {
        match self {
            Self::CreatedAt => "created_at",
            Self::UpdatedAt => "updated_at",
            Self::Priority => "priority",
            Self::DueAt => "due_at",
        }
    }
    fn column(self) -> task::Column {
        match self {
            Self::CreatedAt => task::Column::CreatedAt,
            Self::UpdatedAt => task::Column::UpdatedAt,
            Self::Priority => task::Column::Priority,
            Self::DueAt => task::Column::DueAt,
        }
    }
    fn value(self, row: &task::Model) -> Option<i64> {
        match self {
            Self::CreatedAt => Some(row.created_at),
            Self::UpdatedAt => Some(row.updated_at),
            Self::Priority => Some(i64::from(row.priority)),
            Self::DueAt => row.due_at,
        }
    }
}

impl TaskOrder {
    fn ordering(self) -> Ordering<task::Column> {
        Ordering {
            list: "task",
            field: self.field.tag(),
            column: self.field.column(),
            id_column: task::Column::Id,
            nullable: self.field == TaskOrderField::DueAt,
            direction: self.direction,
        }
    }
}

impl TaskFilter {
    /// Checks the filter's own rules (an empty status list, min > max, parentId with rootOnly).
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
        if self.root_only && self.parent_id.is_some() {
            return Err(ServiceError::bad_input(
                "filter.rootOnly",
                "`filter.rootOnly` and `filter.parentId` cannot both hold",
            ));
        }
        if let Some(term) = &self.search {
            paging::search_term("filter.search", term)?;
        }
        for (field, value) in [
            ("filter.assignedAgent", &self.assigned_agent),
            ("filter.createdBy", &self.created_by),
            ("filter.label", &self.label),
        ] {
            if let Some(v) = value {
                crate::services::validate::no_nul(field, v)?;
            }
        }
        Ok(())
    }

    /// The filter as a condition, the tenant always first.
    fn condition(&self, actor: &Actor) -> Condition {
        let mut c = Condition::all().add(task::Column::TenantId.eq(actor.tenant.as_str()));
        if let Some(status) = &self.status {
            c = c.add(task::Column::Status.is_in(status.iter().copied()));
        }
        if let Some(plan) = self.plan_id {
            c = c.add(task::Column::PlanId.eq(plan));
        }
        if let Some(agent) = &self.assigned_agent {
            c = c.add(task::Column::AssignedAgent.eq(agent.as_str()));
        }
        if let Some(creator) = &self.created_by {
            c = c.add(task::Column::CreatedBy.eq(creator.as_str()));
        }
        if let Some(label) = &self.label {
            // EXISTS, not IN: the planner then walks the ordering's index and probes the label
            // table's primary key per row, instead of collecting every labelled id and sorting
            // them (which grows with the label's popularity; see BENCHMARKS.md).
            let labelled = Query::select()
                .expr(Expr::val(1))
                .from(task_label::Entity)
                .and_where(
                    Expr::col((task_label::Entity, task_label::Column::TaskId))
                        .equals((task::Entity, task::Column::Id)),
                )
                .and_where(
                    Expr::col((task_label::Entity, task_label::Column::Label)).eq(label.as_str()),
                )
                .to_owned();
            c = c.add(Expr::exists(labelled));
        }
        if let Some(job) = self.job_id {
            let linked = Query::select()
                .column(job_task::Column::TaskId)
                .from(job_task::Entity)
                .and_where(job_task::Column::TenantId.eq(actor.tenant.as_str()))
                .and_where(job_task::Column::JobId.eq(job))
                .to_owned();
            c = c.add(task::Column::Id.in_subquery(linked));
        }
        if let Some(parent) = self.parent_id {
            c = c.add(task::Column::ParentId.eq(parent));
        }
        if self.root_only {
            c = c.add(task::Column::ParentId.is_null());
        }
        if let Some(min) = self.priority_min {
            c = c.add(task::Column::Priority.gte(min));
        }
        if let Some(max) = self.priority_max {
            c = c.add(task::Column::Priority.lte(max));
        }
        if let Some(after) = self.created_after {
            c = c.add(task::Column::CreatedAt.gt(to_micros(after)));
        }
        if let Some(before) = self.created_before {
            c = c.add(task::Column::CreatedAt.lt(to_micros(before)));
        }
        if let Some(term) = &self.search {
            let pattern = LikeExpr::new(paging::contains_pattern(term)).escape('\\');
            c = c.add(Expr::col(task::Column::SearchTitle).like(pattern));
        }
        if let Some(blocked) = self.blocked {
            c = c.add(Expr::cust(rules::task_blocked_sql(blocked)));
        }
        c
    }
}

impl TaskService {
    /// `tasks(filter, orderBy, first, after, last, before)`.
    pub async fn list(
        &self,
        actor: &Actor,
        filter: &TaskFilter,
        order: TaskOrder,
        args: PageArgs<'_>,
    ) -> ServiceResult<TaskPage> {
        require(permissions::can_read(actor), "list tasks")?;
        filter.validate()?;
        let base = task::Entity::find().filter(filter.condition(actor));
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
        Ok(page.map(Task::from))
    }

    /// `totalCount` of a `tasks` filter (run only when the field is selected).
    pub async fn count(&self, actor: &Actor, filter: &TaskFilter) -> ServiceResult<i64> {
        require(permissions::can_read(actor), "count tasks")?;
        filter.validate()?;
        paging::count(
            &self.db,
            task::Entity::find().filter(filter.condition(actor)),
        )
        .await
    }

    /// `taskStats(filter)`: counts per status (every status, zeros included) and exact sums.
    pub async fn stats(
        &self,
        actor: &Actor,
        filter: &TaskFilter,
    ) -> ServiceResult<Stats<TaskStatus>> {
        require(permissions::can_read(actor), "read task stats")?;
        filter.validate()?;
        let query = task::Entity::find().filter(filter.condition(actor));
        let groups = stats::by_status(&self.db, query, task::Column::Status).await?;
        Ok(Stats::from_groups(groups, TaskStatus::iter()))
    }
}
