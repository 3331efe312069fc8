//! Usage (DESIGN.md §6, "Usage"): what agents report using of models and tools, where it
//! landed, and the sums readers ask for.
//!
//! A report is one `usage_record` row (job and open run, or task; the agent it is charged to;
//! the model; the counts; the amount) plus an upsert into the `usage_daily` rollup, both in the
//! recording transaction (`record`). The amount itself is recorded as a cost by the caller,
//! exactly as recordJobCost / recordTaskCost do. Sums (`sums`) group the rows by model in one
//! statement per batch of records; amounts are summed as whole units plus nanos so no partial
//! sum can overflow 64 bits on SQLite.
//!
//! May import: entity, sea_orm, domain, the services' shared pieces (`validate`, `access`,
//! `sql`, `tx`).

pub mod report;

use crate::domain::money::{Money, MoneySum};
use crate::domain::time::Micros;
use crate::error::ServiceResult;
use crate::services::validate;
use entity::{usage_daily, usage_record};
use rust_decimal::Decimal;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    IntoActiveModel, QueryFilter, QuerySelect,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use uuid::Uuid;

/// One usage report as given (recordUsage / recordTaskUsage).
#[derive(Debug, Clone, Default)]
pub struct UsageInput {
    pub model: String,
    pub input_tokens: Option<i32>,
    pub cached_input_tokens: Option<i32>,
    pub output_tokens: Option<i32>,
    pub tool_calls: Option<i32>,
    pub amount: Option<Decimal>,
}

/// A report once checked: the model trimmed, every count present and non-negative.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub model: String,
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub output_tokens: i64,
    pub tool_calls: i64,
    pub amount: Option<Money>,
}

impl Report {
    /// Checks `input`, naming fields under `usage.`.
    pub fn check(input: &UsageInput) -> ServiceResult<Self> {
        validate::no_nul("usage.model", &input.model)?;
        let model = input.model.trim();
        if model.is_empty() || model.chars().count() > 200 {
            return Err(crate::error::ServiceError::bad_input(
                "usage.model",
                "`usage.model` must be 1..200 characters",
            ));
        }
        let count = |field: &str, v: Option<i32>| -> ServiceResult<i64> {
            let v = v.unwrap_or(0);
            validate::int_range(field, v, 0, i32::MAX).map(i64::from)
        };
        Ok(Self {
            model: model.to_string(),
            input_tokens: count("usage.inputTokens", input.input_tokens)?,
            cached_input_tokens: count("usage.cachedInputTokens", input.cached_input_tokens)?,
            output_tokens: count("usage.outputTokens", input.output_tokens)?,
            tool_calls: count("usage.toolCalls", input.tool_calls)?,
            amount: input
                .amount
                .map(|a| validate::non_negative_money("usage.amount", a))
                .transpose()?,
        })
    }

    /// Tokens as limits count them: input + cached + output.
    pub fn tokens(&self) -> i64 {
        self.input_tokens + self.cached_input_tokens + self.output_tokens
    }

    /// What the `*.usage_recorded` event says (`usage` and `amount` details).
    pub fn event_details(&self) -> [(&'static str, Value); 2] {
        [
            (
                "usage",
                json!({
                    "model": self.model,
                    "inputTokens": self.input_tokens,
                    "cachedInputTokens": self.cached_input_tokens,
                    "outputTokens": self.output_tokens,
                    "toolCalls": self.tool_calls,
                }),
            ),
            ("amount", json!(self.amount.unwrap_or_default().to_string())),
        ]
    }
}

/// Where a report landed and whom it is charged to.
#[derive(Debug, Clone)]
pub struct Landing<'a> {
    pub tenant: &'a str,
    pub job_id: Option<Uuid>,
    pub series: i32,
    pub run_id: Option<Uuid>,
    pub task_id: Option<Uuid>,
    pub plan_id: Option<Uuid>,
    pub agent: Option<&'a str>,
}

/// The UTC day of `at`, in days since 1970-01-01.
pub fn day_of(at: Micros) -> i32 {
    at.div_euclid(86_400_000_000) as i32
}

/// Stores `report` where it landed, and adds it to the day's rollup, in `tx`.
pub async fn record(
    tx: &DatabaseTransaction,
    landing: &Landing<'_>,
    report: &Report,
    now: Micros,
) -> ServiceResult<()> {
    let amount = report.amount.map_or(0, |a| a.nanos());
    let day = day_of(now);
    usage_record::Model {
        id: Uuid::now_v7(),
        tenant_id: landing.tenant.to_string(),
        job_id: landing.job_id,
        series: landing.series,
        run_id: landing.run_id,
        task_id: landing.task_id,
        plan_id: landing.plan_id,
        agent: landing.agent.map(str::to_string),
        model: report.model.clone(),
        input_tokens: report.input_tokens,
        cached_input_tokens: report.cached_input_tokens,
        output_tokens: report.output_tokens,
        tool_calls: report.tool_calls,
        amount,
        recorded_at: now,
        day,
    }
    .into_active_model()
    .insert(tx)
    .await?;
    let row = usage_daily::ActiveModel {
        tenant_id: sea_orm::Set(landing.tenant.to_string()),
        day: sea_orm::Set(day),
        agent: sea_orm::Set(landing.agent.unwrap_or_default().to_string()),
        model: sea_orm::Set(report.model.clone()),
        plan: sea_orm::Set(landing.plan_id.map(|p| p.to_string()).unwrap_or_default()),
        input_tokens: sea_orm::Set(report.input_tokens),
        cached_input_tokens: sea_orm::Set(report.cached_input_tokens),
        output_tokens: sea_orm::Set(report.output_tokens),
        tool_calls: sea_orm::Set(report.tool_calls),
        amount_units: sea_orm::Set(amount / 1_000_000_000),
        amount_nanos: sea_orm::Set(amount % 1_000_000_000),
    };
    // A repeat of the key adds to the day's sums.
    let add = |c: usage_daily::Column| {
        let col = sea_orm::IdenStatic::as_str(&c);
        (c, Expr::cust(format!("usage_daily.{col} + excluded.{col}")))
    };
    let mut conflict = OnConflict::columns([
        usage_daily::Column::TenantId,
        usage_daily::Column::Day,
        usage_daily::Column::Agent,
        usage_daily::Column::Model,
        usage_daily::Column::Plan,
    ]);
    for c in [
        usage_daily::Column::InputTokens,
        usage_daily::Column::CachedInputTokens,
        usage_daily::Column::OutputTokens,
        usage_daily::Column::ToolCalls,
        usage_daily::Column::AmountUnits,
        usage_daily::Column::AmountNanos,
    ] {
        let (col, expr) = add(c);
        conflict.value(col, expr);
    }
    usage_daily::Entity::insert(row)
        .on_conflict(conflict)
        .exec_without_returning(tx)
        .await?;
    Ok(())
}

/// Usage summed: totals and one row per model, by model name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub output_tokens: i64,
    pub tool_calls: i64,
    pub amount: MoneySum,
    pub by_model: Vec<ModelUsage>,
}

/// The usage of one model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelUsage {
    pub model: String,
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub output_tokens: i64,
    pub tool_calls: i64,
    pub amount: MoneySum,
}

impl ModelUsage {
    /// Adds another row of the same model.
    fn add(&mut self, other: &ModelUsage) {
        self.input_tokens += other.input_tokens;
        self.cached_input_tokens += other.cached_input_tokens;
        self.output_tokens += other.output_tokens;
        self.tool_calls += other.tool_calls;
        self.amount.add_sum(other.amount);
    }

    /// An empty row of `model`.
    fn of(model: &str) -> Self {
        Self {
            model: model.to_string(),
            ..Default::default()
        }
    }
}

impl Usage {
    /// Adds one model's row (rows arrive ordered by model).
    fn push(&mut self, row: ModelUsage) {
        self.input_tokens += row.input_tokens;
        self.cached_input_tokens += row.cached_input_tokens;
        self.output_tokens += row.output_tokens;
        self.tool_calls += row.tool_calls;
        self.amount.add_sum(row.amount);
        self.by_model.push(row);
    }
}

/// The column usage is grouped by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Owner {
    Job,
    Run,
    Task,
}

impl Owner {
    fn column(self) -> usage_record::Column {
        match self {
            Self::Job => usage_record::Column::JobId,
            Self::Run => usage_record::Column::RunId,
            Self::Task => usage_record::Column::TaskId,
        }
    }
}

/// One grouped row: (owner, model, input, cached, output, tool calls, amount units, nanos).
type Grouped = (Uuid, String, i64, i64, i64, i64, i64, i64);

/// The usage of each of `ids` (jobs over all their runs, runs, or tasks), in one statement.
/// Records without usage are absent.
pub async fn sums<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    owner: Owner,
    ids: &[Uuid],
) -> ServiceResult<HashMap<Uuid, Usage>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let sum = |expr: &str| Expr::cust(format!("CAST(COALESCE(SUM({expr}), 0) AS BIGINT)"));
    let rows: Vec<Grouped> = usage_record::Entity::find()
        .select_only()
        .column(owner.column())
        .column(usage_record::Column::Model)
        .column_as(sum("input_tokens"), "i")
        .column_as(sum("cached_input_tokens"), "c")
        .column_as(sum("output_tokens"), "o")
        .column_as(sum("tool_calls"), "t")
        .column_as(sum("amount / 1000000000"), "u")
        .column_as(sum("amount % 1000000000"), "n")
        .filter(usage_record::Column::TenantId.eq(tenant))
        .filter(owner.column().is_in(ids.iter().copied()))
        .group_by(owner.column())
        .group_by(usage_record::Column::Model)
        .into_tuple()
        .all(conn)
        .await?;
    let mut out: HashMap<Uuid, Usage> = HashMap::new();
    for (id, model, i, c, o, t, units, nanos) in rows {
        let mut amount = MoneySum::default();
        amount.add_parts(units, nanos);
        out.entry(id).or_default().push(ModelUsage {
            model,
            input_tokens: i,
            cached_input_tokens: c,
            output_tokens: o,
            tool_calls: t,
            amount,
        });
    }
    for usage in out.values_mut() {
        usage
            .by_model
            .sort_by(|a, b| a.model.as_bytes().cmp(b.model.as_bytes()));
    }
    Ok(out)
}

/// The usage of several records at once, merged by model (a plan's jobs and tasks).
pub fn merged<'a>(parts: impl IntoIterator<Item = &'a Usage>) -> Usage {
    let mut by_model: std::collections::BTreeMap<Vec<u8>, ModelUsage> = Default::default();
    for part in parts {
        for m in &part.by_model {
            by_model
                .entry(m.model.as_bytes().to_vec())
                .or_insert_with(|| ModelUsage::of(&m.model))
                .add(m);
        }
    }
    let mut usage = Usage::default();
    for (_, m) in by_model {
        usage.push(m);
    }
    usage
}

/// Tokens (input + cached + output) recorded on the job in `series`, read in `tx`.
pub async fn series_tokens(
    tx: &DatabaseTransaction,
    job_id: Uuid,
    series: i32,
) -> ServiceResult<i64> {
    let total: Option<i64> = usage_record::Entity::find()
        .select_only()
        .column_as(
            Expr::cust(
                "CAST(COALESCE(SUM(input_tokens + cached_input_tokens + output_tokens), 0) AS BIGINT)",
            ),
            "total",
        )
        .filter(usage_record::Column::JobId.eq(job_id))
        .filter(usage_record::Column::Series.eq(series))
        .into_tuple()
        .one(tx)
        .await?;
    Ok(total.unwrap_or(0))
}

/// Usage as readers see it, reached only through an `Actor`.
#[derive(Clone)]
pub struct UsageService {
    db: sea_orm::DatabaseConnection,
}

impl UsageService {
    pub fn new(db: sea_orm::DatabaseConnection) -> Self {
        Self { db }
    }

    /// The usage of each of `ids` (jobs, runs or tasks of the caller's tenant; others get none),
    /// in one statement (for the DataLoader).
    pub async fn of(
        &self,
        actor: &crate::auth::Actor,
        owner: Owner,
        ids: &[Uuid],
    ) -> ServiceResult<HashMap<Uuid, Usage>> {
        crate::services::access::require(crate::services::access::may_read(actor), "read usage")?;
        sums(&self.db, &actor.tenant, owner, ids).await
    }

    /// `usageReport(filter, groupBy)`.
    pub async fn report(
        &self,
        actor: &crate::auth::Actor,
        filter: &report::UsageFilter,
        group_by: &[report::UsageGroup],
    ) -> ServiceResult<Vec<report::UsageRow>> {
        report::run(&self.db, actor, filter, group_by).await
    }
}
