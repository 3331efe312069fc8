//! The PostgreSQL bus: each committing transaction NOTIFYs `jobgraph_events` with
//! `<newest id>:<tenant>` (a few bytes, well under PostgreSQL's 8000-byte payload limit), and
//! every replica keeps one LISTEN connection of its own, outside the request pool, whose
//! notifications poke the tenant's feed. Feeds read the table after their own per-tenant mark,
//! so a lost notification, or a LISTEN connection that dropped (reconnected with backoff, then
//! every feed re-read), loses nothing.

use super::bus::EventBus;
use super::filter::EventFilter;
use super::hub::{Hub, LiveEvents};
use sea_orm::DatabaseConnection;
use sqlx::postgres::{PgListener, PgPoolOptions};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// The NOTIFY channel.
pub const CHANNEL: &str = "jobgraph_events";

/// The NOTIFY payload of a commit of `tenant` whose newest event is `id`.
pub fn payload(tenant: &str, id: i64) -> String {
    format!("{id}:{tenant}")
}

/// The tenant a payload names.
fn tenant_of(payload: &str) -> Option<&str> {
    payload.split_once(':').map(|(_, tenant)| tenant)
}

pub struct PostgresBus {
    hub: Arc<Hub>,
    listener: tokio::task::JoinHandle<()>,
}

/// The `application_name` of every replica's LISTEN connection (an operator, or a test, finds
/// them by it in `pg_stat_activity`).
pub const LISTENER_NAME: &str = "jobgraph-listener";

impl PostgresBus {
    /// Starts the listener on a connection of its own (same server and credentials as `db`).
    pub fn start(db: &DatabaseConnection, hub: Arc<Hub>) -> Self {
        let options = db
            .get_postgres_connection_pool()
            .connect_options()
            .as_ref()
            .clone()
            .application_name(LISTENER_NAME);
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .min_connections(0)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_lazy_with(options);
        let listener = tokio::spawn(listen(pool, Arc::downgrade(&hub)));
        Self { hub, listener }
    }
}

impl Drop for PostgresBus {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

#[async_trait::async_trait]
impl EventBus for PostgresBus {
    async fn commit(
        &self,
        tx: sea_orm::DatabaseTransaction,
        tenant: &str,
        _events: Vec<entity::event::Model>,
    ) -> Result<(), sea_orm::DbErr> {
        // Commits of one tenant may finish in any order once their event lock is released, so
        // the feeds read the table after their mark rather than take these rows. The NOTIFY
        // sent in the transaction reaches this replica's listener too, and pokes the feed:
        // poking here as well would read the table twice per commit.
        let _ = tenant;
        tx.commit().await
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

    fn stop(&self) {
        self.listener.abort();
    }
}

/// Keeps a LISTEN connection up and turns its notifications into pokes.
async fn listen(pool: sqlx::PgPool, hub: Weak<Hub>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let mut listener = match connect(&pool).await {
            Ok(listener) => {
                backoff = Duration::from_millis(100);
                listener
            }
            Err(err) => {
                tracing::warn!(error = %err, retry_in_ms = backoff.as_millis() as u64, "the event listener cannot connect");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        // (Re)connected: whatever was committed while no one listened is in the table.
        let Some(h) = hub.upgrade() else { return };
        h.poke_all();
        drop(h);
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => {
                    let Some(hub) = hub.upgrade() else { return };
                    if let Some(tenant) = tenant_of(notification.payload()) {
                        hub.poke(tenant);
                    }
                }
                // The connection was lost and is back (LISTEN included): read again.
                Ok(None) => {
                    tracing::info!("the event listener reconnected");
                    let Some(hub) = hub.upgrade() else { return };
                    hub.poke_all();
                }
                Err(err) => {
                    tracing::warn!(error = %err, "the event listener lost its connection; reconnecting");
                    break;
                }
            }
        }
    }
}

async fn connect(pool: &sqlx::PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.ignore_pool_close_event(true);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_name_the_tenant() {
        assert_eq!(payload("acme", 42), "42:acme");
        assert_eq!(tenant_of(&payload("a:b", 7)), Some("a:b"));
        assert_eq!(tenant_of("garbage"), None);
    }
}
