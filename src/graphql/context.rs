//! What a resolver finds in its context: the services (schema data) and, per request, the
//! verified actor and the DataLoaders built for it.

use crate::auth::Actor;
use crate::error::ServiceError;
use crate::graphql::error::to_gql;
use crate::graphql::loaders::{
    JobBlockedLoader, JobEdgesLoader, JobEventsLoader, JobLinksLoader, JobLoader, ProgressLoader,
    RunsLoader, SubtasksLoader, TaskBlockedLoader, TaskEdgesLoader, TaskEventsLoader,
    TaskLinksLoader, TaskLoader, UsageLoader,
};
use crate::services::Services;
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, Request};
use std::time::Duration;

/// The id of the last event a subscription delivered: the socket layer reads it after each
/// response of a subscription whose responses it shares among several subscribers, so it can
/// tell each where to resume.
#[derive(Debug, Clone, Default)]
pub struct LastEventId(std::sync::Arc<std::sync::atomic::AtomicI64>);

impl LastEventId {
    pub fn set(&self, id: i64) {
        self.0.store(id, std::sync::atomic::Ordering::Release);
    }
    pub fn get(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }
}

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

/// How long a DataLoader gathers keys before it loads them. Keys asked for in one pass over a
/// level of the response land in one batch as long as the pass takes less than this: well
/// under a millisecond for a page of 200 in a release build.
pub const LOADER_BATCH_WINDOW: Duration = Duration::from_millis(2);

/// Attaches the actor and its per-request loaders to a request. Loaders are built per request so
/// that they only ever load rows of the actor's tenant and never share a cache across callers.
pub fn for_actor(request: Request, services: &Services, actor: Actor) -> Request {
    for_actor_with_window(request, services, actor, LOADER_BATCH_WINDOW)
}

/// `for_actor` with another batch window (tests that count statements widen it, so that a
/// slow debug build under load still gathers a whole level into one batch).
pub fn for_actor_with_window(
    request: Request,
    services: &Services,
    actor: Actor,
    window: Duration,
) -> Request {
    macro_rules! loader {
        ($kind:ident) => {
            DataLoader::new($kind::new(services.clone(), actor.clone()), tokio::spawn).delay(window)
        };
    }
    request
        .data(loader!(RunsLoader))
        .data(loader!(TaskLoader))
        .data(loader!(SubtasksLoader))
        .data(loader!(JobLoader))
        .data(loader!(JobLinksLoader))
        .data(loader!(TaskLinksLoader))
        .data(loader!(ProgressLoader))
        .data(loader!(JobBlockedLoader))
        .data(loader!(TaskBlockedLoader))
        .data(loader!(JobEdgesLoader))
        .data(loader!(TaskEdgesLoader))
        .data(loader!(JobEventsLoader))
        .data(loader!(TaskEventsLoader))
        .data(loader!(UsageLoader))
        .data(actor)
}
