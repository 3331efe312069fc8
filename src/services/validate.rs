//! Input rules shared by every area (DESIGN.md §9). Each check names the argument path it
//! refuses (`input.labels[3]`), so a client knows exactly what to fix.

use crate::domain::money::Money;
use crate::domain::priority::{DEFAULT_PRIORITY, MAX_PRIORITY, MIN_PRIORITY, PriorityLevel};
use crate::error::{ServiceError, ServiceResult};
use rust_decimal::Decimal;
use serde_json::Value;

pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;
pub const MAX_LABELS: usize = 20;
pub const MAX_LABEL_CHARS: usize = 50;
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 200;
pub const MAX_TIMEOUT_SECONDS: i32 = 604_800;
pub const MAX_CONCURRENCY_KEY_CHARS: usize = 200;
pub const MAX_CONCURRENCY_LIMIT: i32 = 10_000;
/// Actor ids (assignees, delegation targets) as the token bounds them.
pub const MAX_ACTOR_ID_CHARS: usize = 200;
/// Reasons and error messages.
pub const MAX_REASON_CHARS: usize = 10_000;

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// PostgreSQL's text and jsonb cannot hold U+0000 (SQLite can): refuse it everywhere, so both
/// backends answer alike.
pub fn no_nul(field: &str, s: &str) -> ServiceResult<()> {
    if s.contains('\0') {
        return Err(ServiceError::bad_input(
            field,
            format!("`{field}` must not contain the NUL character"),
        ));
    }
    Ok(())
}

/// `no_nul` over every string and key of a JSON value.
fn json_no_nul(field: &str, value: &Value) -> ServiceResult<()> {
    match value {
        Value::String(s) => no_nul(field, s),
        Value::Array(items) => items.iter().try_for_each(|v| json_no_nul(field, v)),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            no_nul(field, k)?;
            json_no_nul(field, v)
        }),
        _ => Ok(()),
    }
}

/// Trimmed, 1..200 characters.
pub fn title(field: &str, raw: &str) -> ServiceResult<String> {
    no_nul(field, raw)?;
    let t = raw.trim();
    if t.is_empty() {
        return Err(ServiceError::bad_input(
            field,
            format!("`{field}` must not be empty"),
        ));
    }
    if chars(t) > MAX_TITLE_CHARS {
        return Err(ServiceError::bad_input(
            field,
            format!("`{field}` is longer than {MAX_TITLE_CHARS} characters"),
        ));
    }
    Ok(t.to_string())
}

/// At most 10,000 characters; empty becomes none.
pub fn description(field: &str, raw: Option<&str>) -> ServiceResult<Option<String>> {
    match raw {
        None => Ok(None),
        Some("") => Ok(None),
        Some(d) if d.contains('\0') => no_nul(field, d).map(|_| None),
        Some(d) if chars(d) > MAX_DESCRIPTION_CHARS => Err(ServiceError::bad_input(
            field,
            format!("`{field}` is longer than {MAX_DESCRIPTION_CHARS} characters"),
        )),
        Some(d) => Ok(Some(d.to_string())),
    }
}

/// At most 20 labels, each trimmed, non-empty and at most 50 characters; duplicates dropped,
/// first occurrence's order kept.
pub fn labels(field: &str, raw: &[String]) -> ServiceResult<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for (i, label) in raw.iter().enumerate() {
        let l = label.trim();
        let path = format!("{field}[{i}]");
        no_nul(&path, l)?;
        if l.is_empty() {
            return Err(ServiceError::bad_input(
                &path,
                format!("`{path}` must not be empty"),
            ));
        }
        if chars(l) > MAX_LABEL_CHARS {
            return Err(ServiceError::bad_input(
                &path,
                format!("`{path}` is longer than {MAX_LABEL_CHARS} characters"),
            ));
        }
        if !out.iter().any(|o| o == l) {
            out.push(l.to_string());
        }
    }
    if out.len() > MAX_LABELS {
        return Err(ServiceError::bad_input(
            field,
            format!("`{field}` has more than {MAX_LABELS} distinct labels"),
        ));
    }
    Ok(out)
}

/// `priority` (1..100) or `priorityLevel`, not both; `None` when neither is given.
pub fn priority(
    prefix: &str,
    number: Option<i32>,
    level: Option<PriorityLevel>,
) -> ServiceResult<Option<i32>> {
    match (number, level) {
        (Some(_), Some(_)) => Err(ServiceError::bad_input(
            format!("{prefix}priority"),
            "give `priority` or `priorityLevel`, not both",
        )),
        (Some(p), None) if !(MIN_PRIORITY..=MAX_PRIORITY).contains(&p) => {
            Err(ServiceError::bad_input(
                format!("{prefix}priority"),
                format!("`{prefix}priority` must be between {MIN_PRIORITY} and {MAX_PRIORITY}"),
            ))
        }
        (Some(p), None) => Ok(Some(p)),
        (None, Some(level)) => Ok(Some(level.value())),
        (None, None) => Ok(None),
    }
}

/// The priority of a new record.
pub fn priority_or_default(
    prefix: &str,
    number: Option<i32>,
    level: Option<PriorityLevel>,
) -> ServiceResult<i32> {
    Ok(priority(prefix, number, level)?.unwrap_or(DEFAULT_PRIORITY))
}

/// An integer within `min..=max`.
pub fn int_range(field: &str, value: i32, min: i32, max: i32) -> ServiceResult<i32> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ServiceError::bad_input(
            field,
            format!("`{field}` must be between {min} and {max}"),
        ))
    }
}

/// 1..604800 seconds.
pub fn timeout_seconds(field: &str, value: i32) -> ServiceResult<i32> {
    int_range(field, value, 1, MAX_TIMEOUT_SECONDS)
}

/// A plan step index: zero or more.
pub fn step_index(field: &str, value: i32) -> ServiceResult<i32> {
    int_range(field, value, 0, i32::MAX)
}

/// 1..200 characters, taken as given (keys are compared exactly).
pub fn idempotency_key(field: &str, key: &str) -> ServiceResult<String> {
    no_nul(field, key)?;
    let n = chars(key);
    if n == 0 || n > MAX_IDEMPOTENCY_KEY_CHARS {
        return Err(ServiceError::bad_input(
            field,
            format!("`{field}` must be 1..{MAX_IDEMPOTENCY_KEY_CHARS} characters"),
        ));
    }
    Ok(key.to_string())
}

/// A concurrency key: trimmed, 1..200 characters, no control characters (keys are compared
/// exactly once trimmed).
pub fn concurrency_key(field: &str, raw: &str) -> ServiceResult<String> {
    no_nul(field, raw)?;
    let key = raw.trim();
    if key.is_empty() || chars(key) > MAX_CONCURRENCY_KEY_CHARS {
        return Err(ServiceError::bad_input(
            field,
            format!("`{field}` must be 1..{MAX_CONCURRENCY_KEY_CHARS} characters"),
        ));
    }
    if key.chars().any(char::is_control) {
        return Err(ServiceError::bad_input(
            field,
            format!("`{field}` must not contain control characters"),
        ));
    }
    Ok(key.to_string())
}

/// An actor id given as an assignee: trimmed, 1..200 characters.
pub fn actor_id(field: &str, raw: &str) -> ServiceResult<String> {
    no_nul(field, raw)?;
    let id = raw.trim();
    if id.is_empty() || chars(id) > MAX_ACTOR_ID_CHARS {
        return Err(ServiceError::bad_input(
            field,
            format!("`{field}` must be an actor id of 1..{MAX_ACTOR_ID_CHARS} characters"),
        ));
    }
    Ok(id.to_string())
}

/// A reason or error text: trimmed, 1..10,000 characters.
pub fn reason(field: &str, raw: &str) -> ServiceResult<String> {
    no_nul(field, raw)?;
    let r = raw.trim();
    if r.is_empty() {
        return Err(ServiceError::bad_input(
            field,
            format!("`{field}` must not be empty"),
        ));
    }
    if chars(r) > MAX_REASON_CHARS {
        return Err(ServiceError::bad_input(
            field,
            format!("`{field}` is longer than {MAX_REASON_CHARS} characters"),
        ));
    }
    Ok(r.to_string())
}

/// An optional reason: empty or blank becomes none.
pub fn optional_reason(field: &str, raw: Option<&str>) -> ServiceResult<Option<String>> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(r) => reason(field, r).map(Some),
    }
}

/// The most values a list argument may hold (DESIGN.md §9).
pub const MAX_LIST_VALUES: usize = 100;

/// A list argument of at most [`MAX_LIST_VALUES`] values, and not empty.
pub fn list_len(field: &str, len: usize) -> ServiceResult<()> {
    if len == 0 {
        return Err(ServiceError::bad_input(
            field,
            format!("`{field}` must not be empty (leave it out to match everything)"),
        ));
    }
    if len > MAX_LIST_VALUES {
        return Err(ServiceError::bad_input(
            field,
            format!("`{field}` holds {len} values; at most {MAX_LIST_VALUES} are allowed"),
        ));
    }
    Ok(())
}

/// The size of `value` as compact UTF-8 JSON, counted without building the text.
pub fn compact_size(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
    }
}

/// A JSON value no larger than `max_bytes` as compact UTF-8.
pub fn json_size(field: &str, value: &Value, max_bytes: usize) -> ServiceResult<()> {
    json_no_nul(field, value)?;
    let size = compact_size(value);
    if size > max_bytes {
        return Err(ServiceError::PayloadTooLarge {
            field: field.to_string(),
            message: format!("`{field}` is {size} bytes of JSON; the limit is {max_bytes}"),
        });
    }
    Ok(())
}

/// A JSON object (execution contexts are always objects) within the size limit.
pub fn json_object(field: &str, value: &Value, max_bytes: usize) -> ServiceResult<()> {
    if !value.is_object() {
        return Err(ServiceError::bad_input(
            field,
            format!("`{field}` must be a JSON object"),
        ));
    }
    json_size(field, value, max_bytes)
}

/// An amount within the bounds of DESIGN.md §6.
pub fn money(field: &str, value: Decimal) -> ServiceResult<Money> {
    Money::from_decimal(value)
        .map_err(|e| ServiceError::bad_input(field, format!("`{field}`: {e}")))
}

/// An amount that must be above zero.
pub fn positive_money(field: &str, value: Decimal) -> ServiceResult<Money> {
    let m = money(field, value)?;
    if m.nanos() <= 0 {
        return Err(ServiceError::bad_input(
            field,
            format!("`{field}` must be above zero"),
        ));
    }
    Ok(m)
}

/// The most a per-job token limit may be (10^15 tokens).
pub const MAX_TOKEN_LIMIT: i64 = 1_000_000_000_000_000;

/// A per-job token limit: 1..10^15.
pub fn token_limit(field: &str, value: i64) -> ServiceResult<i64> {
    if !(1..=MAX_TOKEN_LIMIT).contains(&value) {
        return Err(ServiceError::bad_input(
            field,
            format!("`{field}` must be between 1 and {MAX_TOKEN_LIMIT}"),
        ));
    }
    Ok(value)
}

/// An amount that must not be negative.
pub fn non_negative_money(field: &str, value: Decimal) -> ServiceResult<Money> {
    let m = money(field, value)?;
    if m.is_negative() {
        return Err(ServiceError::bad_input(
            field,
            format!("`{field}` must not be negative"),
        ));
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(err: ServiceError) -> String {
        match err {
            ServiceError::BadInput { field, .. } | ServiceError::PayloadTooLarge { field, .. } => {
                field
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn titles() {
        assert_eq!(title("input.title", "  a job  ").unwrap(), "a job");
        assert_eq!(
            field_of(title("input.title", "   ").unwrap_err()),
            "input.title"
        );
        assert!(
            title("t", &"é".repeat(200)).is_ok(),
            "200 scalar values, more bytes"
        );
        assert!(title("t", &"é".repeat(201)).is_err());
    }

    #[test]
    fn descriptions() {
        assert_eq!(description("d", Some("")).unwrap(), None);
        assert!(description("d", Some(&"x".repeat(10_000))).is_ok());
        assert!(description("d", Some(&"x".repeat(10_001))).is_err());
    }

    #[test]
    fn label_lists() {
        let raw: Vec<String> = [" a", "b ", "a", "c"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(labels("input.labels", &raw).unwrap(), vec!["a", "b", "c"]);
        let with_blank: Vec<String> = ["a", "b", "c", " "].iter().map(|s| s.to_string()).collect();
        assert_eq!(
            field_of(labels("input.labels", &with_blank).unwrap_err()),
            "input.labels[3]"
        );
        let long = vec!["x".repeat(51)];
        assert_eq!(
            field_of(labels("input.labels", &long).unwrap_err()),
            "input.labels[0]"
        );
        let many: Vec<String> = (0..21).map(|i| i.to_string()).collect();
        assert_eq!(
            field_of(labels("input.labels", &many).unwrap_err()),
            "input.labels"
        );
        let dupes: Vec<String> = (0..30).map(|i| (i % 20).to_string()).collect();
        assert_eq!(labels("input.labels", &dupes).unwrap().len(), 20);
    }

    #[test]
    fn priorities() {
        assert_eq!(priority_or_default("input.", None, None).unwrap(), 50);
        assert_eq!(
            priority_or_default("input.", None, Some(PriorityLevel::High)).unwrap(),
            75
        );
        assert_eq!(priority_or_default("input.", Some(1), None).unwrap(), 1);
        assert!(priority_or_default("input.", Some(0), None).is_err());
        assert!(priority_or_default("input.", Some(101), None).is_err());
        assert_eq!(
            field_of(priority_or_default("input.", Some(5), Some(PriorityLevel::Low)).unwrap_err()),
            "input.priority"
        );
    }

    #[test]
    fn json_limits() {
        assert!(json_object("c", &json!({"a": 1}), 100).is_ok());
        assert!(matches!(
            json_object("c", &json!([1]), 100),
            Err(ServiceError::BadInput { .. })
        ));
        assert!(matches!(
            json_size("r", &json!("x".repeat(200)), 100),
            Err(ServiceError::PayloadTooLarge { .. })
        ));
    }

    #[test]
    fn nul_characters_are_refused() {
        assert!(title("t", "a\0b").is_err());
        assert!(labels("l", &["ok".into(), "x\0".into()]).is_err());
        assert!(description("d", Some("\0")).is_err());
        assert!(json_size("j", &json!({"k": ["\0"]}), 100).is_err());
        assert!(json_size("j", &json!({"k\0": 1}), 100).is_err());
    }

    #[test]
    fn amounts() {
        use std::str::FromStr;
        assert!(non_negative_money("a", Decimal::from_str("-1").unwrap()).is_err());
        assert!(money("a", Decimal::from_str("-1").unwrap()).is_ok());
        assert!(money("a", Decimal::from_str("1.0000000001").unwrap()).is_err());
    }
}
