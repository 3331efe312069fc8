//! The fields jobs and tasks share, as updateJob and updateTask change them: one set of rules
//! for absent vs explicit null, validation and field names (DESIGN.md §9).

use crate::domain::priority::PriorityLevel;
use crate::error::{ServiceError, ServiceResult};
use crate::services::{Patch, validate};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use uuid::Uuid;

/// Changes to the shared fields: `Keep` leaves a field alone, `Clear` sets it to null (refused
/// for title, labels, priority and priorityLevel, which cannot be null).
#[derive(Debug, Clone, Default)]
pub struct SharedPatch {
    pub title: Patch<String>,
    pub description: Patch<String>,
    pub labels: Patch<Vec<String>>,
    pub priority: Patch<i32>,
    pub priority_level: Patch<PriorityLevel>,
    pub plan_id: Patch<Uuid>,
    pub plan_step_index: Patch<i32>,
    pub estimated_cost: Patch<Decimal>,
    pub timeout_seconds: Patch<i32>,
}

/// The shared columns of a job or task row, borrowed for an update.
pub(crate) struct SharedFields<'a> {
    pub title: &'a mut String,
    pub search_title: &'a mut String,
    pub description: &'a mut Option<String>,
    pub labels: &'a mut Value,
    pub priority: &'a mut i32,
    pub plan_id: &'a mut Option<Uuid>,
    pub plan_step_index: &'a mut Option<i32>,
    pub estimated_cost: &'a mut Option<i64>,
    pub timeout_seconds: &'a mut Option<i32>,
}

/// CONFLICT when the caller expected another version than the record's `actual` one.
pub(crate) fn check_version(actual: i32, expected: Option<i32>) -> ServiceResult<()> {
    match expected {
        Some(v) if v != actual => Err(ServiceError::VersionConflict {
            expected: v,
            actual,
        }),
        _ => Ok(()),
    }
}

/// BAD_USER_INPUT for an explicit null where the field cannot be null.
pub(crate) fn not_null(field: &str) -> ServiceError {
    ServiceError::bad_input(
        format!("input.{field}"),
        format!("`input.{field}` cannot be null"),
    )
}

/// A nullable field: absent keeps, null clears, a value is checked by `check`.
fn nullable<T: Clone, U>(
    patch: &Patch<T>,
    slot: &mut Option<U>,
    check: impl FnOnce(T) -> ServiceResult<U>,
) -> ServiceResult<()> {
    match patch {
        Patch::Keep => {}
        Patch::Clear => *slot = None,
        Patch::Set(v) => *slot = Some(check(v.clone())?),
    }
    Ok(())
}

impl SharedPatch {
    /// Applies the patch to `f`, validating each given value. Returns the new labels when
    /// they were given (the caller rewrites the label rows).
    pub(crate) fn apply(&self, f: SharedFields<'_>) -> ServiceResult<Option<Vec<String>>> {
        match &self.title {
            Patch::Keep => {}
            Patch::Clear => return Err(not_null("title")),
            Patch::Set(t) => {
                *f.title = validate::title("input.title", t)?;
                *f.search_title = f.title.to_lowercase();
            }
        }
        match &self.description {
            Patch::Keep => {}
            Patch::Clear => *f.description = None,
            Patch::Set(d) => *f.description = validate::description("input.description", Some(d))?,
        }
        let mut new_labels = None;
        match &self.labels {
            Patch::Keep => {}
            Patch::Clear => return Err(not_null("labels")),
            Patch::Set(l) => {
                let labels = validate::labels("input.labels", l)?;
                *f.labels = json!(labels);
                new_labels = Some(labels);
            }
        }
        let number = match &self.priority {
            Patch::Keep => None,
            Patch::Clear => return Err(not_null("priority")),
            Patch::Set(p) => Some(*p),
        };
        let level = match &self.priority_level {
            Patch::Keep => None,
            Patch::Clear => return Err(not_null("priorityLevel")),
            Patch::Set(l) => Some(*l),
        };
        if let Some(p) = validate::priority("input.", number, level)? {
            *f.priority = p;
        }
        nullable(&self.plan_id, f.plan_id, Ok)?;
        nullable(&self.plan_step_index, f.plan_step_index, |i| {
            validate::step_index("input.planStepIndex", i)
        })?;
        nullable(&self.estimated_cost, f.estimated_cost, |c| {
            validate::non_negative_money("input.estimatedCost", c).map(|m| m.nanos())
        })?;
        nullable(&self.timeout_seconds, f.timeout_seconds, |s| {
            validate::timeout_seconds("input.timeoutSeconds", s)
        })?;
        Ok(new_labels)
    }
}

/// The columns `after` changes in `before`, as an active model with only those set: an
/// UPDATE then writes them alone. Writing every column would rewrite the entry of every index
/// on the table (a job row has over a dozen), which is most of what a claim or a completion
/// costs SQLite.
pub(crate) fn changes<M, A>(before: &M, after: &M) -> A
where
    M: sea_orm::ModelTrait + sea_orm::IntoActiveModel<A> + Clone,
    A: sea_orm::ActiveModelTrait<Entity = M::Entity>,
{
    use sea_orm::Iterable;
    let mut active = before.clone().into_active_model();
    for column in <M::Entity as sea_orm::EntityTrait>::Column::iter() {
        let value = after.get(column);
        if before.get(column) != value {
            active.set(column, value);
        }
    }
    active
}
