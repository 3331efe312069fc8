//! Cron (DESIGN.md §3): every tick, cron jobs whose series ended SUCCEEDED, FAILED or
//! TIMED_OUT are SCHEDULED at their next occurrence (a new series, the checkpoint cleared).

use crate::error::ServiceResult;
use crate::services::Services;
use crate::services::executor::SweepReport;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// One tick: one service call.
pub async fn tick(services: &Services) -> ServiceResult<SweepReport> {
    services.executor.sweep_cron().await
}

pub async fn run(services: Services, interval: Duration, stop: CancellationToken) {
    super::every("cron", interval, stop, || tick(&services)).await;
}
