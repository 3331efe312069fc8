//! The event log as its readers see it (DESIGN.md §7): which events a reader wants (`filter`)
//! and the reads and pruning of the table (`store`). The bus that fans committed events out to
//! subscribers, and the replay-then-live stream functions, live here too.
//!
//! Below the services: may import entity, sea_orm and serde_json; never the services, GraphQL
//! or HTTP. Every read is within one tenant.

pub mod filter;
pub mod store;

pub use filter::{EventFilter, TypePattern};
