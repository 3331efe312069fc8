//! The event bus (DESIGN.md §1, §7): the commit seam tells it that a tenant committed events,
//! and subscribers get the live events of their tenant. Services never publish before commit
//! and never know which bus runs.
//!
//! Two implementations share the per-tenant fan-out of `hub`:
//! - `LocalBus` (SQLite, one process): a commit pokes the tenant's feed directly;
//! - `PostgresBus` (PostgreSQL, any number of replicas): every committing transaction also
//!   NOTIFYs the tenant (inside the transaction, so the news is sent only if it commits), and one
//!   dedicated LISTEN connection per replica pokes the feeds; after that connection drops, it
//!   reconnects with backoff and every feed reads again from its own mark, so nothing is lost.

use super::filter::EventFilter;
use super::hub::{Hub, LiveEvents};
use std::sync::Arc;

/// Where the committed events of every tenant go.
#[async_trait::async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// `tenant` has committed new events (called after the commit).
    fn committed(&self, tenant: &str);

    /// The live events of `tenant` that match `filter`, from now on (`LiveEvents::start` is
    /// the id after which they begin).
    async fn subscribe(
        &self,
        tenant: &str,
        filter: EventFilter,
    ) -> Result<LiveEvents, sea_orm::DbErr>;

    /// How many subscribers are listening (for metrics and tests).
    fn subscribers(&self) -> usize;

    /// Stops whatever the bus runs in the background (the LISTEN connection), at shutdown.
    fn stop(&self) {}
}

/// The in-process bus.
pub struct LocalBus {
    hub: Arc<Hub>,
}

impl LocalBus {
    pub fn new(hub: Arc<Hub>) -> Self {
        Self { hub }
    }
}

#[async_trait::async_trait]
impl EventBus for LocalBus {
    fn committed(&self, tenant: &str) {
        self.hub.poke(tenant);
    }

    async fn subscribe(
        &self,
        tenant: &str,
        filter: EventFilter,
    ) -> Result<LiveEvents, sea_orm::DbErr> {
        self.hub.subscribe(tenant, filter).await
    }

    fn subscribers(&self) -> usize {
        self.hub.subscribers()
    }
}
