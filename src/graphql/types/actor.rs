//! `Actor`: the caller, as its verified token describes it.

use super::enums::Role;
use async_graphql::Object;

/// Who is calling: taken from the verified bearer token.
pub struct Actor(pub crate::auth::Actor);

#[Object(name = "Actor")]
impl Actor {
    /// The token's `sub`.
    async fn id(&self) -> &str {
        &self.0.id
    }
    /// The token's `tenant`: every read and write is confined to it.
    async fn tenant_id(&self) -> &str {
        &self.0.tenant
    }
    /// The token's roles; rights are their union.
    async fn roles(&self) -> Vec<Role> {
        self.0.roles.iter().map(|r| (*r).into()).collect()
    }
}
