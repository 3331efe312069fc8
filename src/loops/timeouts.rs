//! Timeouts (DESIGN.md §3): every tick, attempts older than their job's `timeoutSeconds` end
//! TIMED_OUT, or retry while attempts are left.

use crate::error::ServiceResult;
use crate::services::Services;
use crate::services::executor::SweepReport;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// One tick: one service call.
pub async fn tick(services: &Services) -> ServiceResult<SweepReport> {
    services.executor.sweep_timeouts().await
}

pub async fn run(services: Services, interval: Duration, stop: CancellationToken) {
    super::every("timeouts", interval, stop, || tick(&services)).await;
}
