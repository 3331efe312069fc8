//! Which events a reader wants (DESIGN.md §7): evaluated only against what the row stored, in
//! SQL for reads of the table and in memory for live events, with one meaning for both.

use entity::event;
use sea_orm::sea_query::{Expr, ExprTrait, LikeExpr};
use sea_orm::{ColumnTrait, Condition, DbBackend};
use uuid::Uuid;

/// A dotted event type, or a prefix of types (`job.*` matches every `job.` type).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypePattern {
    Exact(String),
    /// The text before the `*`, ending with the dot (`job.`).
    Prefix(String),
}

impl TypePattern {
    /// Reads `job.status_changed` or `job.*`; `None` for anything else (empty parts, other
    /// wildcards, characters outside `a-z`, `_` and `.`).
    pub fn parse(text: &str) -> Option<Self> {
        let (body, prefix) = match text.strip_suffix(".*") {
            Some(body) => (body, true),
            None => (text, false),
        };
        let well_formed = !body.is_empty()
            && body.len() <= 64
            && body.split('.').all(|part| {
                !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            });
        if !well_formed {
            return None;
        }
        Some(if prefix {
            Self::Prefix(format!("{body}."))
        } else {
            Self::Exact(body.to_string())
        })
    }

    pub fn matches(&self, event_type: &str) -> bool {
        match self {
            Self::Exact(t) => event_type == t,
            Self::Prefix(p) => event_type.starts_with(p.as_str()),
        }
    }

    fn condition(&self) -> Condition {
        match self {
            Self::Exact(t) => Condition::all().add(event::Column::EventType.eq(t.as_str())),
            Self::Prefix(p) => {
                let mut pattern = String::with_capacity(p.len() + 1);
                for c in p.chars() {
                    if matches!(c, '\\' | '%' | '_') {
                        pattern.push('\\');
                    }
                    pattern.push(c);
                }
                pattern.push('%');
                Condition::all().add(
                    Expr::col(event::Column::EventType).like(LikeExpr::new(pattern).escape('\\')),
                )
            }
        }
    }
}

/// The events a reader asks for. Every part that is set must match; an empty list matches
/// everything. `job_ids` and `task_ids` together match an event of either.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventFilter {
    /// Any of these types (empty: every type).
    pub types: Vec<TypePattern>,
    /// Events of these jobs…
    pub job_ids: Vec<Uuid>,
    /// …or of these tasks (both empty: of any record).
    pub task_ids: Vec<Uuid>,
    pub plan_id: Option<Uuid>,
    /// Task events whose task was linked to this job when the event was written.
    pub linked_job: Option<Uuid>,
    /// Events whose record was assigned to this actor right after the change.
    pub assignee: Option<String>,
}

impl EventFilter {
    /// Whether a stored event matches.
    pub fn matches(&self, e: &event::Model) -> bool {
        let types = self.types.is_empty() || self.types.iter().any(|t| t.matches(&e.event_type));
        let records = (self.job_ids.is_empty() && self.task_ids.is_empty())
            || e.job_id.is_some_and(|id| self.job_ids.contains(&id))
            || e.task_id.is_some_and(|id| self.task_ids.contains(&id));
        let plan = self.plan_id.is_none() || e.plan_id == self.plan_id;
        let linked = self.linked_job.is_none_or(|job| {
            e.linked_job_ids
                .as_ref()
                .and_then(|ids| ids.as_array())
                .is_some_and(|ids| ids.iter().any(|v| v.as_str() == Some(&job.to_string())))
        });
        let assignee = self.assignee.is_none() || e.assignee == self.assignee;
        types && records && plan && linked && assignee
    }

    /// The same test as `matches`, as a SQL condition on the `event` table.
    pub fn condition(&self, backend: DbBackend) -> Condition {
        let mut c = Condition::all();
        if !self.types.is_empty() {
            c = c.add(
                self.types
                    .iter()
                    .fold(Condition::any(), |any, t| any.add(t.condition())),
            );
        }
        if !self.job_ids.is_empty() || !self.task_ids.is_empty() {
            let mut any = Condition::any();
            if !self.job_ids.is_empty() {
                any = any.add(event::Column::JobId.is_in(self.job_ids.iter().copied()));
            }
            if !self.task_ids.is_empty() {
                any = any.add(event::Column::TaskId.is_in(self.task_ids.iter().copied()));
            }
            c = c.add(any);
        }
        if let Some(plan) = self.plan_id {
            c = c.add(event::Column::PlanId.eq(plan));
        }
        if let Some(job) = self.linked_job {
            // The ids are stored as a JSON array of UUID strings.
            let id = job.to_string();
            c = c.add(match backend {
                DbBackend::Postgres => Expr::cust_with_values(
                    "event.linked_job_ids @> $1::jsonb",
                    [serde_json::json!([id]).to_string()],
                ),
                _ => Expr::cust_with_values(
                    "EXISTS (SELECT 1 FROM json_each(event.linked_job_ids) WHERE json_each.value = ?)",
                    [id],
                ),
            });
        }
        if let Some(assignee) = &self.assignee {
            c = c.add(event::Column::Assignee.eq(assignee.as_str()));
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_patterns() {
        assert_eq!(
            TypePattern::parse("job.*"),
            Some(TypePattern::Prefix("job.".into()))
        );
        assert_eq!(
            TypePattern::parse("job.status_changed"),
            Some(TypePattern::Exact("job.status_changed".into()))
        );
        for bad in [
            "",
            "*",
            ".*",
            "job.",
            "job..x",
            "Job.created",
            "job.%",
            "job.*.x",
            "job*",
        ] {
            assert_eq!(TypePattern::parse(bad), None, "{bad}");
        }
        let p = TypePattern::parse("job.*").unwrap();
        assert!(p.matches("job.created"));
        assert!(!p.matches("jobs.created"));
        assert!(!p.matches("task.created"));
    }
}
