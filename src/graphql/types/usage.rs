//! What agents used: tokens, tool calls and their cost.

use crate::domain::money::Money;
use crate::graphql::scalars::{BigInt, Decimal};
use async_graphql::Object;

/// Usage of one model.
#[derive(Debug, Clone)]
pub struct ModelUsage {
    pub model: String,
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub output_tokens: i64,
    pub tool_calls: i64,
    pub amount: Money,
}

#[Object(name = "ModelUsage")]
impl ModelUsage {
    async fn model(&self) -> &str {
        &self.model
    }
    /// Input tokens, not counting cached ones.
    async fn input_tokens(&self) -> BigInt {
        BigInt(self.input_tokens)
    }
    async fn cached_input_tokens(&self) -> BigInt {
        BigInt(self.cached_input_tokens)
    }
    async fn output_tokens(&self) -> BigInt {
        BigInt(self.output_tokens)
    }
    async fn tool_calls(&self) -> BigInt {
        BigInt(self.tool_calls)
    }
    async fn amount(&self) -> Decimal {
        self.amount.into()
    }
}
