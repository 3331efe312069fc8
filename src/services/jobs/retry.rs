//! Retry policies: defaults, bounds, partial merges and the backoff (DESIGN.md §3).

use crate::error::{ServiceError, ServiceResult};

/// How a job retries after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryPolicy {
    pub max_attempts: i32,
    pub initial_backoff_seconds: i32,
    pub backoff_multiplier: f64,
    pub max_backoff_seconds: i32,
}

/// A policy given in part; missing fields come from a base policy.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RetryPolicyPatch {
    pub max_attempts: Option<i32>,
    pub initial_backoff_seconds: Option<i32>,
    pub backoff_multiplier: Option<f64>,
    pub max_backoff_seconds: Option<i32>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 1,
            initial_backoff_seconds: 10,
            backoff_multiplier: 2.0,
            max_backoff_seconds: 300,
        }
    }
}

impl RetryPolicy {
    /// `patch` over `self`, checked against the bounds; `field` is the input's path.
    pub fn merged(self, patch: &RetryPolicyPatch, field: &str) -> ServiceResult<Self> {
        let merged = Self {
            max_attempts: patch.max_attempts.unwrap_or(self.max_attempts),
            initial_backoff_seconds: patch
                .initial_backoff_seconds
                .unwrap_or(self.initial_backoff_seconds),
            backoff_multiplier: patch.backoff_multiplier.unwrap_or(self.backoff_multiplier),
            max_backoff_seconds: patch
                .max_backoff_seconds
                .unwrap_or(self.max_backoff_seconds),
        };
        let bad = |name: &str, bounds: &str| {
            Err(ServiceError::bad_input(
                format!("{field}.{name}"),
                format!("`{field}.{name}` must be {bounds}"),
            ))
        };
        if !(1..=100).contains(&merged.max_attempts) {
            return bad("maxAttempts", "between 1 and 100");
        }
        if !(1..=86_400).contains(&merged.initial_backoff_seconds) {
            return bad("initialBackoffSeconds", "between 1 and 86400");
        }
        if !merged.backoff_multiplier.is_finite()
            || !(1.0..=10.0).contains(&merged.backoff_multiplier)
        {
            return bad("backoffMultiplier", "between 1.0 and 10.0");
        }
        if !(merged.initial_backoff_seconds..=604_800).contains(&merged.max_backoff_seconds) {
            // Name the field the caller gave: raising only the initial backoff above the
            // current maximum is a mistake in `initialBackoffSeconds`.
            if patch.max_backoff_seconds.is_none() && patch.initial_backoff_seconds.is_some() {
                return bad("initialBackoffSeconds", "at most maxBackoffSeconds");
            }
            return bad(
                "maxBackoffSeconds",
                "between initialBackoffSeconds and 604800",
            );
        }
        Ok(merged)
    }

    /// Seconds to wait after failed attempt `n` (1-based):
    /// `min(maxBackoff, initialBackoff × multiplier^(n−1))`, rounded down.
    pub fn backoff_seconds(&self, n: i32) -> i64 {
        let exp = (n.max(1) - 1).min(1000);
        let raw = f64::from(self.initial_backoff_seconds) * self.backoff_multiplier.powi(exp);
        raw.min(f64::from(self.max_backoff_seconds)).floor() as i64
    }

    /// True when an attempt numbered `attempt` that failed leaves another to try.
    pub fn has_attempts_after(&self, attempt: i32) -> bool {
        attempt < self.max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_merges_and_bounds() {
        let p = RetryPolicy::default()
            .merged(
                &RetryPolicyPatch {
                    max_attempts: Some(3),
                    ..Default::default()
                },
                "input.retryPolicy",
            )
            .unwrap();
        assert_eq!(
            p,
            RetryPolicy {
                max_attempts: 3,
                ..RetryPolicy::default()
            }
        );
        let err = RetryPolicy::default()
            .merged(
                &RetryPolicyPatch {
                    max_backoff_seconds: Some(5),
                    ..Default::default()
                },
                "input.retryPolicy",
            )
            .unwrap_err();
        assert!(
            matches!(err, ServiceError::BadInput { ref field, .. } if field == "input.retryPolicy.maxBackoffSeconds")
        );
        for bad in [
            RetryPolicyPatch {
                max_attempts: Some(0),
                ..Default::default()
            },
            RetryPolicyPatch {
                max_attempts: Some(101),
                ..Default::default()
            },
            RetryPolicyPatch {
                initial_backoff_seconds: Some(0),
                ..Default::default()
            },
            RetryPolicyPatch {
                backoff_multiplier: Some(0.5),
                ..Default::default()
            },
            RetryPolicyPatch {
                backoff_multiplier: Some(f64::NAN),
                ..Default::default()
            },
            RetryPolicyPatch {
                max_backoff_seconds: Some(604_801),
                ..Default::default()
            },
        ] {
            assert!(RetryPolicy::default().merged(&bad, "p").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn backoff_grows_and_caps() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_backoff_seconds: 10,
            backoff_multiplier: 2.0,
            max_backoff_seconds: 300,
        };
        assert_eq!(p.backoff_seconds(1), 10);
        assert_eq!(p.backoff_seconds(2), 20);
        assert_eq!(p.backoff_seconds(3), 40);
        assert_eq!(p.backoff_seconds(6), 300);
        assert_eq!(p.backoff_seconds(100), 300);
        let q = RetryPolicy {
            backoff_multiplier: 1.5,
            initial_backoff_seconds: 3,
            ..p
        };
        assert_eq!(q.backoff_seconds(2), 4, "4.5 rounds down");
    }
}
