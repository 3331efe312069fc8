//! Event retention (DESIGN.md §7): every tick, prune each tenant's events older than
//! `--event-retention-seconds`, one tenant per transaction, by id.

use crate::error::ServiceResult;
use crate::services::Services;
use crate::services::events::PruneReport;
use std::time::Duration;

/// One tick: one service call.
pub async fn tick(services: &Services, retention: Duration) -> ServiceResult<PruneReport> {
    services.events.prune(retention).await
}

/// Ticks every `interval` until aborted.
pub async fn run(services: Services, retention: Duration, interval: Duration) {
    super::every("prune", interval, || tick(&services, retention)).await;
}
