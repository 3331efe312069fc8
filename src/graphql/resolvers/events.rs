//! Event queries: `events` and `latestEventId`.

use crate::graphql::context::{actor, services};
use crate::graphql::error::to_gql;
use crate::graphql::types::event::{EventConnection, connection};
use crate::graphql::types::event_inputs::EventFilter;
use crate::services::events::read::page_args;
use async_graphql::{Context, Object, Result};

#[derive(Default)]
pub struct EventQuery;

#[Object]
impl EventQuery {
    /// The tenant's stored events, oldest first. Every edge's cursor is its event's id.
    #[graphql(complexity = "crate::graphql::cost::forward(first, child_complexity)")]
    async fn events(
        &self,
        ctx: &Context<'_>,
        filter: Option<EventFilter>,
        #[graphql(desc = "Page size, 1..200 (default 20).")] first: Option<i32>,
        #[graphql(desc = "An event id: only events after it (strictly).")] after: Option<String>,
    ) -> Result<EventConnection> {
        let args = page_args(first, after.as_deref()).map_err(to_gql)?;
        let page = services(ctx)?
            .events
            .list(actor(ctx)?, filter.unwrap_or_default().into(), args)
            .await
            .map_err(to_gql)?;
        Ok(connection(page))
    }

    /// The newest event id of the caller's tenant, null when it has none. Read it, load your data, then subscribe with after: it, and nothing is missed.
    async fn latest_event_id(&self, ctx: &Context<'_>) -> Result<Option<String>> {
        let id = services(ctx)?
            .events
            .latest_id(actor(ctx)?)
            .await
            .map_err(to_gql)?;
        Ok(id.map(|id| id.to_string()))
    }
}
