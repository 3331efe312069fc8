//! Lease expiry (DESIGN.md §3): every tick, claimed attempts whose lease passed without a
//! heartbeat end "lease expired" (a retry, or FAILED; a CANCELLING job ends CANCELLED).

use crate::error::ServiceResult;
use crate::services::Services;
use crate::services::executor::SweepReport;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// One tick: one service call.
pub async fn tick(services: &Services) -> ServiceResult<SweepReport> {
    services.executor.sweep_leases().await
}

pub async fn run(services: Services, interval: Duration, stop: CancellationToken) {
    super::every("leases", interval, stop, || tick(&services)).await;
}
