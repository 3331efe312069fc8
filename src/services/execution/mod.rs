//! The execution area (DESIGN.md §3 "Checkpoints", "Execution context", §6 "Costs"): what a
//! worker records about the work while doing it. Execution contexts, checkpoints and costs of
//! jobs (`jobs`) and tasks (`tasks`), each one locked row, one transaction, and its event.
//!
//! Every operation checks in the order of DESIGN.md §2: the record in the caller's tenant
//! (NOT_FOUND), `permissions::can_execute` on own* (FORBIDDEN), the input (BAD_USER_INPUT,
//! PAYLOAD_TOO_LARGE), the attempt of a job (CONFLICT), then the state (INVALID_TRANSITION).

mod jobs;
pub mod merge;
pub mod permissions;
mod tasks;

use crate::domain::money::Money;
use crate::domain::time::Clock;
use crate::error::{ServiceError, ServiceResult};
use crate::events::EventBus;
use crate::services::{Limits, validate};
use rust_decimal::Decimal;
use sea_orm::DatabaseConnection;
use serde_json::Value;
use std::sync::Arc;

/// Contexts, checkpoints and costs of the jobs and tasks of every tenant, reached only through
/// an `Actor`.
#[derive(Clone)]
pub struct ExecutionService {
    db: DatabaseConnection,
    limits: Limits,
    clock: Clock,
    bus: Arc<dyn EventBus>,
}

impl ExecutionService {
    pub fn new(
        db: DatabaseConnection,
        limits: Limits,
        clock: Clock,
        bus: Arc<dyn EventBus>,
    ) -> Self {
        Self {
            db,
            limits,
            clock,
            bus,
        }
    }
}

/// How a patch changes an execution context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContextMode {
    /// Apply the patch as an RFC 7396 JSON merge patch.
    #[default]
    Merge,
    /// Swap the context for the patch.
    Replace,
}

/// saveCheckpoint's and saveTaskCheckpoint's command.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// The last completed step: at least 0, and never below the stored one (equal overwrites).
    pub step: i32,
    /// Data to resume from. `None` keeps the stored data: an absent `data` and an explicit
    /// `null` are the same (the API cannot tell them apart through `Option`, and "store null"
    /// would only make a resuming worker lose its data).
    pub data: Option<Value>,
}

/// The context after `patch`: BAD_USER_INPUT (`patch`) unless the patch and the result are
/// JSON objects, PAYLOAD_TOO_LARGE (`patch`) when the result is over `max_bytes`.
fn patched_context(
    current: &Value,
    patch: &Value,
    mode: ContextMode,
    max_bytes: usize,
) -> ServiceResult<Value> {
    if !patch.is_object() {
        return Err(ServiceError::bad_input(
            "patch",
            "`patch` must be a JSON object (an execution context is always an object)",
        ));
    }
    let next = match mode {
        ContextMode::Merge => merge::merge_patch(current, patch),
        ContextMode::Replace => patch.clone(),
    };
    validate::json_object("patch", &next, max_bytes)?;
    Ok(next)
}

/// The checkpoint data to store after `checkpoint`, given the stored step and data: checks the
/// step (`checkpoint.step`: at least 0 and at least `last_step`) and the size of the data
/// (`checkpoint.data`). heartbeatJob's optional checkpoint follows the same rules.
pub(crate) fn checkpointed_data(
    last_step: Option<i32>,
    stored: Option<&Value>,
    checkpoint: &Checkpoint,
    max_bytes: usize,
) -> ServiceResult<Option<Value>> {
    if checkpoint.step < 0 {
        return Err(ServiceError::bad_input(
            "checkpoint.step",
            "`checkpoint.step` must be 0 or more",
        ));
    }
    if let Some(data) = &checkpoint.data {
        validate::json_size("checkpoint.data", data, max_bytes)?;
    }
    if let Some(last) = last_step
        && checkpoint.step < last
    {
        return Err(ServiceError::bad_input(
            "checkpoint.step",
            format!(
                "`checkpoint.step` {} is below the last completed step {last}: steps never go back",
                checkpoint.step
            ),
        ));
    }
    Ok(checkpoint.data.clone().or_else(|| stored.cloned()))
}

/// A recorded amount (`amount`): exact, not negative.
fn amount(value: Decimal) -> ServiceResult<Money> {
    validate::non_negative_money("amount", value)
}

/// `total + amount` in nano-units; BAD_USER_INPUT (`amount`) if the total would overflow.
fn add_cost(total: i64, amount: Money) -> ServiceResult<i64> {
    total.checked_add(amount.nanos()).ok_or_else(|| {
        ServiceError::bad_input(
            "amount",
            "`amount` would take the recorded total beyond what can be stored",
        )
    })
}

/// INVALID_TRANSITION for a checkpoint on a finished record (`from` = `to` = its status).
fn finished(what: &str, status: &str) -> ServiceError {
    ServiceError::InvalidTransition {
        from: status.to_string(),
        to: status.to_string(),
        message: format!("a {what} that is {status} takes no more checkpoints"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::str::FromStr;

    fn field_and_code(err: ServiceError) -> (String, &'static str) {
        let code = err.code();
        match err {
            ServiceError::BadInput { field, .. } | ServiceError::PayloadTooLarge { field, .. } => {
                (field, code)
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn contexts() {
        let current = json!({"a": 1, "b": {"c": 2}});
        assert_eq!(
            patched_context(
                &current,
                &json!({"b": {"c": null}, "d": 3}),
                ContextMode::Merge,
                100
            )
            .unwrap(),
            json!({"a": 1, "b": {}, "d": 3})
        );
        assert_eq!(
            patched_context(&current, &json!({"x": 1}), ContextMode::Replace, 100).unwrap(),
            json!({"x": 1})
        );
        for bad in [json!([1]), json!("s"), json!(1), json!(null), json!(true)] {
            for mode in [ContextMode::Merge, ContextMode::Replace] {
                let err = patched_context(&current, &bad, mode, 100).unwrap_err();
                assert_eq!(field_and_code(err), ("patch".to_string(), "BAD_USER_INPUT"));
            }
        }
        // The result is what is measured, not the patch.
        let big = json!({"big": "x".repeat(80)});
        let err = patched_context(
            &big,
            &json!({"more": "y".repeat(30)}),
            ContextMode::Merge,
            100,
        )
        .unwrap_err();
        assert_eq!(
            field_and_code(err),
            ("patch".to_string(), "PAYLOAD_TOO_LARGE")
        );
        assert!(
            patched_context(&big, &json!({"big": null}), ContextMode::Merge, 100).is_ok(),
            "a patch that shrinks an oversized context is fine"
        );
    }

    #[test]
    fn checkpoints() {
        let cp = |step: i32, data: Option<Value>| Checkpoint { step, data };
        let stored = json!({"cursor": 7});
        assert_eq!(
            checkpointed_data(None, None, &cp(0, Some(json!([1]))), 100).unwrap(),
            Some(json!([1]))
        );
        assert_eq!(
            checkpointed_data(Some(3), Some(&stored), &cp(3, None), 100).unwrap(),
            Some(stored.clone()),
            "absent data keeps the stored data"
        );
        assert_eq!(
            checkpointed_data(Some(3), Some(&stored), &cp(4, Some(json!(1))), 100).unwrap(),
            Some(json!(1))
        );
        let err = checkpointed_data(Some(3), Some(&stored), &cp(2, None), 100).unwrap_err();
        assert_eq!(
            field_and_code(err),
            ("checkpoint.step".to_string(), "BAD_USER_INPUT")
        );
        let err = checkpointed_data(None, None, &cp(-1, None), 100).unwrap_err();
        assert_eq!(
            field_and_code(err),
            ("checkpoint.step".to_string(), "BAD_USER_INPUT")
        );
        let err =
            checkpointed_data(None, None, &cp(1, Some(json!("z".repeat(200)))), 100).unwrap_err();
        assert_eq!(
            field_and_code(err),
            ("checkpoint.data".to_string(), "PAYLOAD_TOO_LARGE")
        );
    }

    #[test]
    fn costs() {
        let d = |s: &str| Decimal::from_str(s).unwrap();
        assert_eq!(amount(d("0.1")).unwrap().nanos(), 100_000_000);
        assert_eq!(amount(d("0")).unwrap(), Money::ZERO);
        for bad in ["-0.1", "0.0000000001", "1000000000"] {
            assert_eq!(
                field_and_code(amount(d(bad)).unwrap_err()),
                ("amount".to_string(), "BAD_USER_INPUT"),
                "{bad}"
            );
        }
        let tenth = amount(d("0.1")).unwrap();
        let fifth = amount(d("0.2")).unwrap();
        let total = add_cost(add_cost(0, tenth).unwrap(), fifth).unwrap();
        assert_eq!(Money::from_nanos(total).to_string(), "0.3");
        assert!(add_cost(i64::MAX, tenth).is_err());
    }
}
