//! 5-field POSIX cron expressions in UTC (DESIGN.md §3): minute hour day-of-month month
//! day-of-week, with names and `*/n`. Parsing and next occurrences come from `croner`; this
//! module first holds the expression to the POSIX form, since croner also takes seconds fields,
//! `L`, `W`, `#`, `?` and `@nicknames`, which the API does not promise.

use crate::error::{ServiceError, ServiceResult};
use chrono::{DateTime, Utc};
use croner::Cron;

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// The longest expression accepted (the column holds 200).
const MAX_CRON_CHARS: usize = 200;

/// A checked expression.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    expr: String,
    cron: Cron,
}

impl CronSchedule {
    /// Parses `raw`; `field` names the argument in the error.
    pub fn parse(field: &str, raw: &str) -> ServiceResult<Self> {
        let bad = |why: &str| {
            ServiceError::bad_input(
                field,
                format!(
                    "`{field}` is not a 5-field cron expression (minute hour day-of-month month day-of-week, UTC): {why}"
                ),
            )
        };
        if raw.chars().count() > MAX_CRON_CHARS {
            return Err(bad(&format!("longer than {MAX_CRON_CHARS} characters")));
        }
        let expr = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        let fields: Vec<&str> = expr.split(' ').filter(|f| !f.is_empty()).collect();
        if fields.len() != 5 {
            return Err(bad(&format!("found {} fields", fields.len())));
        }
        for (i, f) in fields.iter().enumerate() {
            let names: &[&str] = match i {
                3 => &MONTHS,
                4 => &DAYS,
                _ => &[],
            };
            if !posix_field(f, names) {
                return Err(bad(&format!("`{f}` is not a valid field")));
            }
        }
        let cron = Cron::new(&expr).parse().map_err(|e| bad(&e.to_string()))?;
        Ok(Self { expr, cron })
    }

    /// The normalised expression (single spaces).
    pub fn expr(&self) -> &str {
        &self.expr
    }

    /// The first occurrence strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&after, false).ok()
    }
}

/// One field: a comma list of `*`, `a`, `a-b`, each optionally `/n`; values are digits or (in
/// month and day-of-week) the English three-letter names.
fn posix_field(field: &str, names: &[&str]) -> bool {
    let atom = |a: &str| {
        !a.is_empty()
            && (a.chars().all(|c| c.is_ascii_digit())
                || names.iter().any(|n| n.eq_ignore_ascii_case(a)))
    };
    field.split(',').all(|part| {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (part, None),
        };
        if let Some(step) = step
            && (step.is_empty() || !step.chars().all(|c| c.is_ascii_digit()))
        {
            return false;
        }
        range == "*"
            || match range.split_once('-') {
                Some((a, b)) => atom(a) && atom(b),
                None => atom(range),
            }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn accepts_posix_forms() {
        for ok in [
            "* * * * *",
            "*/15 * * * *",
            "0 9 * * MON-FRI",
            "0 0 1 JAN,jul *",
            "5,10 1-3 * * 0",
            "0 0 * * 7",
        ] {
            assert!(CronSchedule::parse("c", ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "",
            "* * * *",
            "0 * * * * *",
            "@daily",
            "0 0 L * *",
            "0 0 * * 5#2",
            "0 0 ? * *",
            "61 * * * *",
            "*/x * * * *",
            "0 0 1W * *",
        ] {
            let err = CronSchedule::parse("input.schedule.cron", bad).unwrap_err();
            assert!(
                matches!(err, ServiceError::BadInput { ref field, .. } if field == "input.schedule.cron"),
                "{bad}"
            );
        }
    }

    #[test]
    fn next_occurrence_in_utc() {
        let c = CronSchedule::parse("c", "30 9 * * MON").unwrap();
        // 2026-11-30 is a Monday.
        assert_eq!(
            c.next_after(at("2026-11-30T09:00:00Z")).unwrap(),
            at("2026-11-30T09:30:00Z")
        );
        assert_eq!(
            c.next_after(at("2026-11-30T09:30:00Z")).unwrap(),
            at("2026-12-07T09:30:00Z")
        );
        let every = CronSchedule::parse("c", "*/15 * * * *").unwrap();
        assert_eq!(
            every.next_after(at("2026-01-01T00:07:10Z")).unwrap(),
            at("2026-01-01T00:15:00Z")
        );
    }
}
