//! The event log as its readers see it (DESIGN.md §7): which events a reader wants (`filter`)
//! and the reads and pruning of the table (`store`). The bus that fans committed events out to
//! subscribers, and the replay-then-live stream functions, live here too.
//!
//! Below the services: may import entity, sea_orm, sqlx (the LISTEN connection), tokio and
//! serde_json; never the services, GraphQL or HTTP. Every read is within one tenant.

pub mod bus;
pub mod filter;
pub mod hub;
pub mod postgres;
pub mod store;
pub mod stream;

pub use bus::{EventBus, LocalBus};
pub use filter::{EventFilter, TypePattern};
pub use hub::{Hub, LiveEvents};
pub use postgres::PostgresBus;

use std::sync::Arc;

/// The bus for `db`: PostgreSQL's whenever the database is PostgreSQL (replicas started alike
/// must hear each other), else the in-process one. `buffer`: events of room per subscriber.
pub fn bus_for(db: &sea_orm::DatabaseConnection, buffer: usize) -> Arc<dyn EventBus> {
    let hub = Hub::new(db.clone(), buffer);
    match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => Arc::new(PostgresBus::start(db, hub)),
        _ => Arc::new(LocalBus::new(hub)),
    }
}
