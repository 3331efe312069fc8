//! Graceful-cancel deadlines (DESIGN.md §3): every tick, CANCELLING jobs whose grace period
//! (`--cancel-grace-seconds`) is over end CANCELLED ("cancel grace period over").

use crate::error::ServiceResult;
use crate::services::Services;
use crate::services::executor::SweepReport;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// One tick: one service call.
pub async fn tick(services: &Services, grace: Duration) -> ServiceResult<SweepReport> {
    services.executor.sweep_grace_periods(grace).await
}

pub async fn run(services: Services, grace: Duration, interval: Duration, stop: CancellationToken) {
    super::every("grace", interval, stop, || tick(&services, grace)).await;
}
