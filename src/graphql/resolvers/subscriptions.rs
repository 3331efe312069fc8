//! Subscriptions (DESIGN.md §7): `jobEvents`, `taskEvents` and `events`. Without `after` they
//! are live only; with `after`, the stored events after it come first, then the live ones, with
//! no gap and no repeat. A stream ends with EVENTS_PRUNED (a cursor below the watermark) or
//! SUBSCRIBER_LAGGING (`resumeAfter`: resubscribe after it and nothing is lost).

use crate::error::ServiceError;
use crate::graphql::context::{LastEventId, actor, services};
use crate::graphql::error::to_gql;
use crate::graphql::types::event::{Event, JobEvent, TaskEvent};
use crate::graphql::types::event_inputs::{EventFilter, JobEventFilter, TaskEventFilter};
use crate::services::events::read::parse_after;
use crate::services::events::{self, EventQuery, JobEventQuery, TaskEventQuery};
use async_graphql::{Context, Result, Subscription};
use futures_util::{Stream, StreamExt};

#[derive(Default)]
pub struct SubscriptionRoot;

/// The events of a checked filter, as GraphQL values, noting each id delivered (and, for
/// `/metrics`, each delivery and how long after its commit it left; an execution shared by
/// identical subscriptions counts once).
async fn subscribe<'a>(
    ctx: &Context<'a>,
    filter: crate::events::EventFilter,
    after: Option<String>,
) -> Result<impl Stream<Item = Result<Event>> + use<>> {
    let after = after
        .map(|a| parse_after("after", &a))
        .transpose()
        .map_err(to_gql)?;
    let services = services(ctx)?;
    let stream = services
        .events
        .subscribe(actor(ctx)?, filter, after)
        .await
        .map_err(to_gql)?;
    let clock = services.clock().clone();
    let noted = ctx.data_opt::<LastEventId>().cloned();
    Ok(stream.map(move |item| {
        let event: events::Event = item.map_err(to_gql)?;
        if let Some(noted) = &noted {
            noted.set(event.head.id);
        }
        let lag = clock
            .now_micros()
            .saturating_sub(event.head.occurred_at)
            .max(0);
        crate::metrics::event_delivered(std::time::Duration::from_micros(lag as u64));
        Ok(Event::from(event))
    }))
}

fn not_a(kind: &str) -> async_graphql::Error {
    to_gql(ServiceError::Internal(format!(
        "a {kind} subscription received another kind of event"
    )))
}

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Live job events of the caller's tenant. With `after`, stored events after that id come first, then live ones, with no gap and no repeat.
    async fn job_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<JobEventFilter>,
        #[graphql(desc = "An event id: replay the stored events after it first.")] after: Option<
            String,
        >,
    ) -> Result<impl Stream<Item = Result<JobEvent>> + use<>> {
        let filter = JobEventQuery::from(filter.unwrap_or_default())
            .checked()
            .map_err(to_gql)?;
        let events = subscribe(ctx, filter, after).await?;
        Ok(events.map(|e| match e? {
            Event::JobEvent(e) => Ok(e),
            Event::TaskEvent(_) => Err(not_a("job event")),
        }))
    }

    /// Live task events of the caller's tenant, with `after` as for jobEvents.
    async fn task_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<TaskEventFilter>,
        #[graphql(desc = "An event id: replay the stored events after it first.")] after: Option<
            String,
        >,
    ) -> Result<impl Stream<Item = Result<TaskEvent>> + use<>> {
        let filter = TaskEventQuery::from(filter.unwrap_or_default())
            .checked()
            .map_err(to_gql)?;
        let events = subscribe(ctx, filter, after).await?;
        Ok(events.map(|e| match e? {
            Event::TaskEvent(e) => Ok(e),
            Event::JobEvent(_) => Err(not_a("task event")),
        }))
    }

    /// Every live event of the caller's tenant that matches the filter, with `after` as for jobEvents.
    async fn events(
        &self,
        ctx: &Context<'_>,
        filter: Option<EventFilter>,
        #[graphql(desc = "An event id: replay the stored events after it first.")] after: Option<
            String,
        >,
    ) -> Result<impl Stream<Item = Result<Event>> + use<>> {
        let filter = EventQuery::from(filter.unwrap_or_default())
            .checked()
            .map_err(to_gql)?;
        subscribe(ctx, filter, after).await
    }
}
