//! `ConcurrencyLimit` and `AgentHeartbeat`: the limits claims and starts respect, and what one
//! heartbeat for all of an agent's leases did.

use crate::graphql::scalars::Uuid;
use crate::services::{concurrency, executor};
use async_graphql::Object;

/// A key's concurrency limit with how many of its jobs run now.
pub struct ConcurrencyLimit(pub concurrency::ConcurrencyLimit);

#[Object(name = "ConcurrencyLimit")]
impl ConcurrencyLimit {
    async fn key(&self) -> &str {
        &self.0.key
    }
    /// At most this many jobs with the key are RUNNING or CANCELLING at once.
    async fn limit(&self) -> i32 {
        self.0.limit
    }
    /// How many are now.
    async fn running(&self) -> i32 {
        i32::try_from(self.0.running).unwrap_or(i32::MAX)
    }
}

/// What heartbeatAgent did.
pub struct AgentHeartbeat(pub executor::AgentHeartbeat);

#[Object(name = "AgentHeartbeat")]
impl AgentHeartbeat {
    /// How many of the caller's leases were extended.
    async fn extended(&self) -> i32 {
        i32::try_from(self.0.extended).unwrap_or(i32::MAX)
    }
    /// The caller's jobs that are CANCELLING: stop them.
    async fn cancelling(&self) -> Vec<Uuid> {
        self.0.cancelling.iter().copied().map(Uuid::from).collect()
    }
}
