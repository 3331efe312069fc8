//! Event retention (DESIGN.md §7): every tick, prune each tenant's events older than
//! `--event-retention-seconds`, one tenant per transaction, by id.

use crate::error::ServiceResult;
use crate::services::Services;
use crate::services::events::PruneReport;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// One tick: one service call.
pub async fn tick(services: &Services, retention: Duration) -> ServiceResult<PruneReport> {
    services.events.prune(retention).await
}

/// Ticks every `interval` until aborted.
pub async fn run(
    services: Services,
    retention: Duration,
    interval: Duration,
    stop: CancellationToken,
) {
    super::every("prune", interval, stop, || tick(&services, retention)).await;
}
