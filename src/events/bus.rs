//! The event bus (DESIGN.md §1, §7): the commit seam tells it that a tenant committed events,
//! and subscribers get the live events of their tenant. Services never publish before commit
//! and never know which bus runs.
//!
//! Two implementations share the per-tenant fan-out of `hub`:
//! - `LocalBus` (SQLite, one process): commits that carry events pass one at a time through an
//!   in-process lock held from the commit to the hand-over, so the committed rows reach the
//!   feeds in commit order, straight from the commit, without reading them back (SQLite has a
//!   single writer anyway, so the lock queues nobody who was not already queued);
//! - `PostgresBus` (PostgreSQL, any number of replicas): every committing transaction also
//!   NOTIFYs the tenant (inside the transaction, so the news is sent only if it commits), and one
//!   dedicated LISTEN connection per replica pokes the feeds; after that connection drops, it
//!   reconnects with backoff and every feed reads again from its own mark, so nothing is lost.

use super::filter::EventFilter;
use super::hub::{Hub, LiveEvents};
use entity::event;
use sea_orm::{DatabaseTransaction, DbErr};
use std::sync::Arc;

/// Where the committed events of every tenant go.
#[async_trait::async_trait]
pub trait EventBus: Send + Sync + 'static {
    /// Commits `tx`, which stored `events` of `tenant`, then hands them on: the one commit
    /// seam, so nothing reaches a subscriber before its commit.
    async fn commit(
        &self,
        tx: DatabaseTransaction,
        tenant: &str,
        events: Vec<event::Model>,
    ) -> Result<(), DbErr>;

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
    /// Held from a commit to its hand-over: the hand-overs keep the commits' order.
    in_order: tokio::sync::Mutex<()>,
}

impl LocalBus {
    pub fn new(hub: Arc<Hub>) -> Self {
        Self {
            hub,
            in_order: tokio::sync::Mutex::new(()),
        }
    }
}

#[async_trait::async_trait]
impl EventBus for LocalBus {
    async fn commit(
        &self,
        tx: DatabaseTransaction,
        tenant: &str,
        events: Vec<event::Model>,
    ) -> Result<(), DbErr> {
        let _order = self.in_order.lock().await;
        tx.commit().await?;
        self.hub.publish(tenant, events);
        Ok(())
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
