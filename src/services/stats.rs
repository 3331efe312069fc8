//! `jobStats` and `taskStats`: counts per status and exact cost sums in one grouped statement.
//!
//! Amounts are BIGINT nano-units. A plain SUM could overflow 64 bits on SQLite (which raises
//! an error rather than widening), so each amount is summed as whole units and the remaining
//! nanos separately — each partial sum stays far inside 64 bits — and the two are joined in
//! 128-bit arithmetic here. Exact on both backends.

use crate::domain::money::MoneySum;
use crate::error::ServiceResult;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QuerySelect, Select};

/// One status's group: (status name, count, estimated units, estimated nanos, actual units,
/// actual nanos).
type Group = (String, i64, i64, i64, i64, i64);

/// Counts and sums of the rows of `query`, per value of `status`.
pub async fn by_status<E: EntityTrait, D: ConnectionTrait>(
    db: &D,
    query: Select<E>,
    status: impl ColumnTrait,
) -> ServiceResult<Vec<Group>> {
    let sum = |expr: &str| Expr::cust(format!("CAST(COALESCE(SUM({expr}), 0) AS BIGINT)"));
    let rows: Vec<Group> = query
        .select_only()
        .column(status)
        .column_as(Expr::cust("COUNT(*)"), "n")
        .column_as(sum("estimated_cost / 1000000000"), "est_units")
        .column_as(sum("estimated_cost % 1000000000"), "est_nanos")
        .column_as(sum("actual_cost / 1000000000"), "act_units")
        .column_as(sum("actual_cost % 1000000000"), "act_nanos")
        .group_by(status)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows)
}

/// The stats of a list: every status in the enum's order (zeros included) and the cost sums.
#[derive(Debug, Clone)]
pub struct Stats<S> {
    pub total: i64,
    pub by_status: Vec<(S, i64)>,
    pub estimated_cost: MoneySum,
    pub actual_cost: MoneySum,
}

/// Something with the API name of a status.
pub trait StatusName: Copy {
    fn name(self) -> &'static str;
}

impl StatusName for entity::status::JobStatus {
    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl StatusName for entity::status::TaskStatus {
    fn name(self) -> &'static str {
        self.as_str()
    }
}

impl<S: StatusName> Stats<S> {
    /// Folds the grouped rows into every status of `all`, in its order.
    pub fn from_groups(groups: Vec<Group>, all: impl Iterator<Item = S>) -> Self {
        let mut estimated = MoneySum::default();
        let mut actual = MoneySum::default();
        let mut total = 0;
        for (_, n, est_units, est_nanos, act_units, act_nanos) in &groups {
            total += n;
            estimated.add_parts(*est_units, *est_nanos);
            actual.add_parts(*act_units, *act_nanos);
        }
        let by_status = all
            .map(|s| {
                let n = groups.iter().find(|g| g.0 == s.name()).map_or(0, |g| g.1);
                (s, n)
            })
            .collect();
        Self {
            total,
            by_status,
            estimated_cost: estimated,
            actual_cost: actual,
        }
    }
}
