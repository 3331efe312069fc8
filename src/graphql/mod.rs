//! The GraphQL API: types, resolvers, loaders and error mapping. Knows the services, never the
//! database; knows nothing of HTTP (tests run queries on the schema directly).
//!
//! May import: services, auth, domain, error, async-graphql.

pub mod context;
pub mod cost;
pub mod error;
pub mod loaders;
pub mod order;
pub mod resolvers;
pub mod scalars;
pub mod types;

use crate::services::Services;
use async_graphql::{MergedObject, Schema};

/// Every query.
#[derive(MergedObject, Default)]
pub struct Query(
    resolvers::me::MeQuery,
    resolvers::jobs::JobQuery,
    resolvers::tasks::TaskQuery,
    resolvers::budgets::BudgetQuery,
    resolvers::executor::ExecutorQuery,
    resolvers::events::EventQuery,
);

/// Every mutation.
#[derive(MergedObject, Default)]
pub struct Mutation(
    resolvers::jobs::JobMutation,
    resolvers::tasks::TaskMutation,
    resolvers::execution::ExecutionMutation,
    resolvers::executor::ExecutorMutation,
    resolvers::graph::GraphMutation,
    resolvers::budgets::BudgetMutation,
);

/// Every subscription.
pub type Subscription = resolvers::subscriptions::SubscriptionRoot;

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// Limits the schema itself enforces.
#[derive(Debug, Clone, Copy)]
pub struct SchemaLimits {
    pub max_depth: usize,
    pub max_complexity: usize,
}

impl Default for SchemaLimits {
    fn default() -> Self {
        Self {
            max_depth: 16,
            max_complexity: 10_000,
        }
    }
}

/// The schema's types. `DomainEvent` is returned by no field (the fields return the `Event`
/// union): register it, so the SDL has it as the contract does.
fn builder() -> async_graphql::SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .register_output_type::<types::event::DomainEvent>()
}

/// The schema over `services`.
pub fn build_schema(services: Services, limits: SchemaLimits) -> AppSchema {
    builder()
        .data(services)
        .limit_depth(limits.max_depth)
        .limit_complexity(limits.max_complexity)
        .extension(error::ErrorCodes)
        .extension(order::SelectionOrder)
        .finish()
}

/// The SDL of the schema (what `jobgraph schema` prints and `schema.graphql` holds).
pub fn sdl() -> String {
    builder().finish().sdl()
}
