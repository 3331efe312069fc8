//! What a resolver finds in its context: the services (schema data) and, per request, the
//! verified actor and the DataLoaders built for it.

use crate::auth::Actor;
use crate::error::ServiceError;
use crate::graphql::error::to_gql;
use crate::graphql::loaders::RunsLoader;
use crate::services::Services;
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Request};

/// The caller. Every request the HTTP layer lets through carries one.
pub fn actor<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Actor> {
    ctx.data_opt::<Actor>()
        .ok_or_else(|| to_gql(ServiceError::Unauthenticated("missing bearer token".into())))
}

/// The service layer.
pub fn services<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Services> {
    ctx.data_opt::<Services>().ok_or_else(|| {
        to_gql(ServiceError::Internal(
            "the schema was built without services".into(),
        ))
    })
}

/// Attaches the actor and its per-request loaders to a request. Loaders are built per request so
/// that they only ever load rows of the actor's tenant and never share a cache across callers.
pub fn for_actor(request: Request, services: &Services, actor: Actor) -> Request {
    let runs = DataLoader::new(
        RunsLoader::new(services.clone(), actor.clone()),
        tokio::spawn,
    );
    request.data(actor).data(runs)
}
