//! `usageReport(filter, groupBy)` (DESIGN.md §6): usage summed over the tenant by any of
//! agent, model, plan and UTC day.
//!
//! Whole days come from the `usage_daily` rollup (one row per tenant, day, agent, model and
//! plan); only the partial days at `from` and `to` are read from `usage_record`, through its
//! (tenant, time) index. So a report over a million reports reads a few thousand rollup rows.
//! Both sources are grouped in one statement by the asked-for keys and the model (every row's
//! `byModel`), then joined, ordered (amount, then tokens, descending; ties by the keys,
//! byte-wise) and cut to 1,000 rows here, in exact 128-bit sums.

use super::{ModelUsage, Usage};
use crate::auth::Actor;
use crate::domain::money::MoneySum;
use crate::domain::time::{Micros, to_micros};
use crate::error::{ServiceError, ServiceResult};
use crate::services::access::{self, require};
use crate::services::sql::Sql;
use crate::services::{tx, validate};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The most rows a report answers (the largest).
pub const MAX_ROWS: usize = 1000;

const DAY: Micros = 86_400_000_000;

/// What a report sums over; every given field must match.
#[derive(Debug, Clone, Default)]
pub struct UsageFilter {
    /// Inclusive, on the recording time.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive.
    pub to: Option<DateTime<Utc>>,
    pub agent: Option<String>,
    pub plan_id: Option<Uuid>,
    pub model: Option<String>,
}

/// A key a report groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum UsageGroup {
    Agent,
    Model,
    Plan,
    Day,
}

/// One row of a report: the keys asked for (the others `None`) and their usage.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageRow {
    pub agent: Option<String>,
    pub model: Option<String>,
    pub plan_id: Option<Uuid>,
    /// UTC day, YYYY-MM-DD.
    pub day: Option<String>,
    pub usage: Usage,
}

/// A row's keys, as grouped (empty strings where a key is not asked for or missing).
type Key = (Option<String>, Option<String>, Option<String>, Option<i32>);

/// The day `d` (days since 1970-01-01) as YYYY-MM-DD.
fn day_name(d: i32) -> String {
    (chrono::DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::days(i64::from(d)))
        .format("%Y-%m-%d")
        .to_string()
}

/// Which source a condition is for: the rollup keeps the plan as text, the reports as a UUID.
#[derive(Clone, Copy, PartialEq)]
enum Source {
    Rollup,
    Reports,
}

/// The filter's conditions on one source.
fn matching(sql: &mut Sql, filter: &UsageFilter, tenant: &str, source: Source) {
    sql.push(" WHERE tenant_id = ").bind(tenant);
    if let Some(a) = &filter.agent {
        sql.push(" AND agent = ").bind(a.as_str());
    }
    if let Some(m) = &filter.model {
        sql.push(" AND model = ").bind(m.as_str());
    }
    if let Some(p) = filter.plan_id {
        match source {
            Source::Rollup => sql.push(" AND plan = ").bind(p.to_string()),
            Source::Reports => sql.push(" AND plan_id = ").bind(p),
        };
    }
}

/// A UUID column as the hyphenated lower-case text the rollup stores (SQLite keeps UUIDs as
/// 16-byte blobs).
fn uuid_text(postgres: bool, col: &str) -> String {
    if postgres {
        format!("CAST({col} AS TEXT)")
    } else {
        let h = format!("hex({col})");
        format!(
            "lower(substr({h}, 1, 8) || '-' || substr({h}, 9, 4) || '-' || substr({h}, 13, 4) || '-' || substr({h}, 17, 4) || '-' || substr({h}, 21))"
        )
    }
}

/// Reads the report.
pub async fn run(
    db: &DatabaseConnection,
    actor: &Actor,
    filter: &UsageFilter,
    group_by: &[UsageGroup],
) -> ServiceResult<Vec<UsageRow>> {
    require(access::may_read(actor), "read usage")?;
    for (field, value) in [
        ("filter.agent", &filter.agent),
        ("filter.model", &filter.model),
    ] {
        if let Some(v) = value {
            validate::no_nul(field, v)?;
        }
    }
    let from = filter.from.map(to_micros);
    let to = filter.to.map(to_micros);
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(ServiceError::bad_input(
            "filter.from",
            "`filter.from` must be before `filter.to`",
        ));
    }
    let groups: std::collections::BTreeSet<UsageGroup> = group_by.iter().copied().collect();
    let postgres = tx::is_postgres(db);
    // Whole days: from the first day starting at or after `from` to the last day ending at or
    // before `to`; the partial days at either end are read from the raw reports.
    let first_whole = from.map(|f| (f.div_euclid(DAY) + i64::from(f.rem_euclid(DAY) != 0)) as i32);
    let end_whole = to.map(|t| t.div_euclid(DAY) as i32); // exclusive
    let as_text = uuid_text(postgres, "plan_id");
    let mut sql = Sql::new(postgres);
    sql.push("SELECT ")
        .push(if groups.contains(&UsageGroup::Agent) {
            "agent"
        } else {
            "NULL"
        })
        .push(" AS agent, model, ")
        .push(if groups.contains(&UsageGroup::Plan) {
            "plan"
        } else {
            "NULL"
        })
        .push(" AS plan, ")
        .push(if groups.contains(&UsageGroup::Day) {
            "day"
        } else {
            "NULL"
        })
        .push(" AS day, CAST(SUM(i) AS BIGINT), CAST(SUM(c) AS BIGINT), CAST(SUM(o) AS BIGINT), CAST(SUM(t) AS BIGINT), CAST(SUM(u) AS BIGINT), CAST(SUM(n) AS BIGINT) FROM (");
    // The rollup's whole days ('' stands for a missing agent or plan there).
    sql.push("SELECT NULLIF(agent, '') AS agent, model, NULLIF(plan, '') AS plan, day, input_tokens AS i, cached_input_tokens AS c, output_tokens AS o, tool_calls AS t, amount_units AS u, amount_nanos AS n FROM usage_daily");
    matching(&mut sql, filter, &actor.tenant, Source::Rollup);
    if let Some(d) = first_whole {
        sql.push(" AND day >= ").bind(d);
    }
    if let Some(d) = end_whole {
        sql.push(" AND day < ").bind(d);
    }
    // The partial days, from the reports themselves.
    let mut partial: Vec<(Micros, Micros)> = Vec::new();
    if let Some(f) = from
        && f % DAY != 0
    {
        let day_end = (f.div_euclid(DAY) + 1) * DAY;
        partial.push((f, to.map_or(day_end, |t| t.min(day_end))));
    }
    if let Some(t) = to
        && t % DAY != 0
    {
        let day_start = t.div_euclid(DAY) * DAY;
        let start = from.map_or(day_start, |f| f.max(day_start));
        if partial.first().is_none_or(|(s, _)| *s != start) && start < t {
            partial.push((start, t));
        }
    }
    // Whole days inside an empty range (from and to within one day) are none.
    if let (Some(a), Some(b)) = (first_whole, end_whole)
        && a >= b
    {
        sql.push(" AND 1 = 0");
    }
    for (start, end) in partial {
        sql.push(" UNION ALL SELECT agent, model, ")
            .push(&as_text)
            .push(" AS plan, day, input_tokens, cached_input_tokens, output_tokens, tool_calls, amount / 1000000000, amount % 1000000000 FROM usage_record");
        matching(&mut sql, filter, &actor.tenant, Source::Reports);
        sql.push(" AND recorded_at >= ")
            .bind(start)
            .push(" AND recorded_at < ")
            .bind(end);
    }
    sql.push(") AS s GROUP BY 1, 2, 3, 4");
    let rows = db.query_all_raw(sql.statement(db)).await?;
    // Join the model rows into their groups.
    let mut by_key: BTreeMap<Key, Usage> = BTreeMap::new();
    let mut model_rows: BTreeMap<(Key, Vec<u8>), ModelUsage> = BTreeMap::new();
    for row in rows {
        let agent: Option<String> = row.try_get_by_index(0)?;
        let model: String = row.try_get_by_index(1)?;
        let plan: Option<String> = row.try_get_by_index(2)?;
        let day: Option<i32> = row.try_get_by_index(3)?;
        let mut amount = MoneySum::default();
        amount.add_parts(row.try_get_by_index(8)?, row.try_get_by_index(9)?);
        let part = ModelUsage {
            model,
            input_tokens: row.try_get_by_index(4)?,
            cached_input_tokens: row.try_get_by_index(5)?,
            output_tokens: row.try_get_by_index(6)?,
            tool_calls: row.try_get_by_index(7)?,
            amount,
        };
        let key: Key = (
            agent,
            groups
                .contains(&UsageGroup::Model)
                .then(|| part.model.clone()),
            plan,
            day,
        );
        model_rows
            .entry((key, part.model.as_bytes().to_vec()))
            .or_insert_with(|| ModelUsage::of(&part.model))
            .add(&part);
    }
    for ((key, _), m) in model_rows {
        by_key.entry(key).or_default().push(m);
    }
    let mut out: Vec<(Key, Usage)> = by_key.into_iter().collect();
    let tokens = |u: &Usage| u.input_tokens + u.cached_input_tokens + u.output_tokens;
    // Amount, then tokens, descending; ties by the keys ascending (BTreeMap order: bytes).
    out.sort_by(|(ka, a), (kb, b)| {
        b.amount
            .cmp(&a.amount)
            .then(tokens(b).cmp(&tokens(a)))
            .then(ka.cmp(kb))
    });
    out.truncate(MAX_ROWS);
    Ok(out
        .into_iter()
        .map(|((agent, model, plan, day), usage)| UsageRow {
            agent,
            model,
            plan_id: plan.and_then(|p| Uuid::parse_str(&p).ok()),
            day: day.map(day_name),
            usage,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_named_in_utc() {
        assert_eq!(day_name(0), "1970-01-01");
        assert_eq!(day_name(20_424), "2025-12-02");
    }
}
