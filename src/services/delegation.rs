//! Delegation chains: every hand-over of a job or task, as stored in its `delegation_chain`.

use crate::error::{ServiceError, ServiceResult};
use crate::services::validate;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// One hand-over of a record: who had it, who has it, who did it.
#[derive(Debug, Clone, PartialEq)]
pub struct Delegation {
    pub from: Option<String>,
    pub to: String,
    pub by: String,
    pub reason: Option<String>,
    pub at: DateTime<Utc>,
}

impl Delegation {
    /// The stored form (an element of the `delegation_chain` JSON array).
    pub fn to_json(&self) -> Value {
        json!({
            "from": self.from,
            "to": self.to,
            "by": self.by,
            "reason": self.reason,
            "at": self.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        })
    }

    /// A checked hand-over, now, by `by` of a `what` currently assigned to `current`: the new
    /// assignee (argument `field`) and the optional reason are validated, and handing a record
    /// to its current assignee is BAD_USER_INPUT.
    pub fn hand_over(
        field: &str,
        to: &str,
        reason: Option<&str>,
        current: Option<&str>,
        by: &str,
        what: &str,
    ) -> ServiceResult<Self> {
        let to = validate::actor_id(field, to)?;
        let reason = validate::optional_reason("reason", reason)?;
        if current == Some(to.as_str()) {
            return Err(ServiceError::bad_input(
                field,
                format!("the {what} is already assigned to `{to}`"),
            ));
        }
        Ok(Self {
            from: current.map(str::to_string),
            to,
            by: by.to_string(),
            reason,
            at: crate::domain::time::now(),
        })
    }

    /// `chain` (a stored chain) with this hand-over appended.
    pub fn appended_to(&self, chain: &Value) -> Value {
        let mut entries = chain.as_array().cloned().unwrap_or_default();
        entries.push(self.to_json());
        Value::Array(entries)
    }

    /// The chain a record created with `assignee` starts with: one entry `{from: null, …}`,
    /// or none without an assignee.
    pub fn initial_chain(assignee: Option<&str>, by: &str, at: DateTime<Utc>) -> Value {
        let first = assignee.map(|to| {
            Delegation {
                from: None,
                to: to.to_string(),
                by: by.to_string(),
                reason: None,
                at,
            }
            .to_json()
        });
        Value::Array(first.into_iter().collect())
    }

    /// Reads a stored chain; entries that do not parse are skipped (the server writes them all).
    pub fn chain_from_json(chain: &Value) -> Vec<Self> {
        let str_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        chain
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|v| {
                        Some(Self {
                            from: str_of(v, "from"),
                            to: str_of(v, "to")?,
                            by: str_of(v, "by")?,
                            reason: str_of(v, "reason"),
                            at: DateTime::parse_from_rfc3339(v.get("at")?.as_str()?)
                                .ok()?
                                .with_timezone(&Utc),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}
