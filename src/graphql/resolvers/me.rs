//! `me`.

use crate::graphql::context::actor;
use crate::graphql::types::actor::Actor;
use async_graphql::{Context, Object, Result};

#[derive(Default)]
pub struct MeQuery;

#[Object]
impl MeQuery {
    /// The caller, as its token describes it.
    async fn me(&self, ctx: &Context<'_>) -> Result<Actor> {
        Ok(Actor(actor(ctx)?.clone()))
    }
}
