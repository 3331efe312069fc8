//! What agents used: tokens, tool calls and their cost.

use crate::graphql::loaders::UsageLoader;
use crate::graphql::scalars::{BigInt, Decimal};
use crate::services::usage::{self, Owner};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Object, Result};

/// Usage of one model.
#[derive(Debug, Clone)]
pub struct ModelUsage(pub usage::ModelUsage);

#[Object(name = "ModelUsage")]
impl ModelUsage {
    async fn model(&self) -> &str {
        &self.0.model
    }
    /// Input tokens, not counting cached ones.
    async fn input_tokens(&self) -> BigInt {
        BigInt(self.0.input_tokens)
    }
    async fn cached_input_tokens(&self) -> BigInt {
        BigInt(self.0.cached_input_tokens)
    }
    async fn output_tokens(&self) -> BigInt {
        BigInt(self.0.output_tokens)
    }
    async fn tool_calls(&self) -> BigInt {
        BigInt(self.0.tool_calls)
    }
    async fn amount(&self) -> Decimal {
        Decimal(self.0.amount.to_decimal())
    }
}

/// What agents reported using: model tokens, tool calls and the money they cost.
pub struct Usage(pub usage::Usage);

#[Object(name = "Usage")]
impl Usage {
    /// Input tokens not counting cached ones.
    async fn input_tokens(&self) -> BigInt {
        BigInt(self.0.input_tokens)
    }
    async fn cached_input_tokens(&self) -> BigInt {
        BigInt(self.0.cached_input_tokens)
    }
    async fn output_tokens(&self) -> BigInt {
        BigInt(self.0.output_tokens)
    }
    async fn tool_calls(&self) -> BigInt {
        BigInt(self.0.tool_calls)
    }
    /// The part of actualCost that came with usage reports.
    async fn amount(&self) -> Decimal {
        Decimal(self.0.amount.to_decimal())
    }
    /// One row per model, by model name.
    async fn by_model(&self) -> Vec<ModelUsage> {
        self.0.by_model.iter().cloned().map(ModelUsage).collect()
    }
}

/// The usage of a job (all its runs), a run or a task, through the request's loader.
pub async fn of(ctx: &Context<'_>, owner: Owner, id: uuid::Uuid) -> Result<Usage> {
    let loader = ctx.data_unchecked::<DataLoader<UsageLoader>>();
    Ok(Usage(
        loader.load_one((owner, id)).await?.unwrap_or_default(),
    ))
}

/// One usage report.
#[derive(async_graphql::InputObject)]
pub struct UsageInput {
    /// The model or tool provider, 1..200 characters, e.g. gpt-5-mini.
    pub model: String,
    /// Input tokens not counting cached ones (report those in cachedInputTokens).
    pub input_tokens: Option<i32>,
    pub cached_input_tokens: Option<i32>,
    pub output_tokens: Option<i32>,
    pub tool_calls: Option<i32>,
    /// What this usage cost; recorded as a cost, as recordJobCost would.
    pub amount: Option<Decimal>,
}

impl From<UsageInput> for usage::UsageInput {
    fn from(u: UsageInput) -> Self {
        Self {
            model: u.model,
            input_tokens: u.input_tokens,
            cached_input_tokens: u.cached_input_tokens,
            output_tokens: u.output_tokens,
            tool_calls: u.tool_calls,
            amount: u.amount.map(|a| a.0),
        }
    }
}

/// What a usage report sums over; every given field must match.
#[derive(async_graphql::InputObject, Default)]
pub struct UsageFilter {
    /// Inclusive, on the recording time.
    pub from: Option<crate::graphql::scalars::DateTime>,
    /// Exclusive.
    pub to: Option<crate::graphql::scalars::DateTime>,
    pub agent: Option<String>,
    pub plan_id: Option<crate::graphql::scalars::Uuid>,
    pub model: Option<String>,
}

impl From<UsageFilter> for usage::report::UsageFilter {
    fn from(f: UsageFilter) -> Self {
        Self {
            from: f.from.map(|t| t.0),
            to: f.to.map(|t| t.0),
            agent: f.agent,
            plan_id: f.plan_id.map(Into::into),
            model: f.model,
        }
    }
}

/// A key a usage report groups by.
#[derive(async_graphql::Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::services::usage::report::UsageGroup")]
pub enum UsageGroup {
    /// The run's agent, else the record's assignee at recording.
    Agent,
    Model,
    Plan,
    /// The UTC day of recording.
    Day,
}

/// One row of a usage report.
pub struct UsageRow(pub usage::report::UsageRow);

#[Object(name = "UsageRow")]
impl UsageRow {
    /// Set for the groups asked for, null otherwise.
    async fn agent(&self) -> Option<&str> {
        self.0.agent.as_deref()
    }
    async fn model(&self) -> Option<&str> {
        self.0.model.as_deref()
    }
    async fn plan_id(&self) -> Option<crate::graphql::scalars::Uuid> {
        self.0.plan_id.map(Into::into)
    }
    /// UTC day, YYYY-MM-DD.
    async fn day(&self) -> Option<&str> {
        self.0.day.as_deref()
    }
    async fn usage(&self) -> Usage {
        Usage(self.0.usage.clone())
    }
}
