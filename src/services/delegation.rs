//! Delegation chains: every hand-over of a job or task, as stored in its `delegation_chain`.
//!
//! A record keeps its newest [`MAX_CHAIN`] hand-overs (older ones are dropped as new ones are
//! appended), so a record handed back and forth forever stays a bounded row.

use crate::domain::time::{Micros, serde_rfc3339};
use crate::error::{ServiceError, ServiceResult};
use crate::services::validate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How many hand-overs a record's own chain keeps (the newest).
pub const MAX_CHAIN: usize = 1000;

/// One hand-over of a record: who had it, who has it, who did it. Stored as
/// `{from, to, by, reason, at}` with `at` in RFC 3339.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delegation {
    pub from: Option<String>,
    pub to: String,
    pub by: String,
    pub reason: Option<String>,
    #[serde(with = "serde_rfc3339")]
    pub at: Micros,
}

impl Delegation {
    /// A checked hand-over at `at`, by `by` of a `what` currently assigned to `current`: the new
    /// assignee (argument `field`) and the optional reason are validated, and handing a record
    /// to its current assignee is BAD_USER_INPUT.
    pub fn hand_over(
        field: &str,
        to: &str,
        reason: Option<&str>,
        current: Option<&str>,
        by: &str,
        what: &str,
        at: Micros,
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
            at,
        })
    }

    /// `chain` (a stored chain) with this hand-over appended, keeping the newest [`MAX_CHAIN`].
    pub fn appended_to(&self, chain: &Value) -> Value {
        let mut entries = chain.as_array().cloned().unwrap_or_default();
        entries.push(self.to_json());
        if entries.len() > MAX_CHAIN {
            entries.drain(..entries.len() - MAX_CHAIN);
        }
        Value::Array(entries)
    }

    /// The chain a record created with `assignee` starts with: one entry `{from: null, …}`,
    /// or none without an assignee.
    pub fn initial_chain(assignee: Option<&str>, by: &str, at: Micros) -> Value {
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
        chain
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter_map(|v| Self::deserialize(v).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The stored form (an element of the `delegation_chain` JSON array).
    fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(n: usize) -> Delegation {
        Delegation {
            from: Some(format!("a{n}")),
            to: format!("a{}", n + 1),
            by: "boss".into(),
            reason: None,
            at: 1_700_000_000_000_000 + n as i64,
        }
    }

    #[test]
    fn the_chain_round_trips_and_keeps_its_newest_thousand() {
        let mut chain = Delegation::initial_chain(Some("a0"), "boss", 1_700_000_000_000_000);
        assert_eq!(
            chain[0]["at"],
            serde_json::json!("2023-11-14T22:13:20.000000Z")
        );
        for n in 0..MAX_CHAIN + 5 {
            chain = entry(n).appended_to(&chain);
        }
        let read = Delegation::chain_from_json(&chain);
        assert_eq!(read.len(), MAX_CHAIN);
        assert_eq!(read.last(), Some(&entry(MAX_CHAIN + 4)));
        assert_eq!(read[0], entry(5));
    }
}
