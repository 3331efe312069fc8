//! The background loops (DESIGN.md §1): each a tokio interval whose tick is one service call
//! acting as `system`, safe to run in every replica at once. One file per loop.
//!
//! May import: services, domain; never GraphQL or HTTP.

pub mod cron;
pub mod grace;
pub mod leases;
pub mod prune;
pub mod timeouts;

use crate::services::Services;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What the loops need to know.
#[derive(Debug, Clone, Copy)]
pub struct LoopSettings {
    /// How often each loop ticks.
    pub sweep_interval: Duration,
    /// How long events are kept; `None` keeps them all.
    pub event_retention: Option<Duration>,
    /// How long a graceful cancel waits for the worker before the job is CANCELLED.
    pub cancel_grace: Duration,
}

/// What a tick did, for `/metrics`: how many things it acted on.
pub trait Acted {
    fn acted(&self) -> u64;
}

impl Acted for crate::services::executor::SweepReport {
    fn acted(&self) -> u64 {
        self.jobs as u64
    }
}

impl Acted for crate::services::events::PruneReport {
    fn acted(&self) -> u64 {
        self.events
    }
}

/// Starts every loop the settings turn on. Each stops at its next tick once `stop` is
/// cancelled (a tick under way finishes first); the handles end then.
pub fn spawn(
    services: Services,
    settings: LoopSettings,
    stop: &CancellationToken,
) -> Vec<JoinHandle<()>> {
    let every = settings.sweep_interval;
    let mut handles = vec![
        tokio::spawn(timeouts::run(services.clone(), every, stop.clone())),
        tokio::spawn(leases::run(services.clone(), every, stop.clone())),
        tokio::spawn(grace::run(
            services.clone(),
            settings.cancel_grace,
            every,
            stop.clone(),
        )),
        tokio::spawn(cron::run(services.clone(), every, stop.clone())),
    ];
    if let Some(retention) = settings.event_retention {
        handles.push(tokio::spawn(prune::run(
            services,
            retention,
            settings.sweep_interval,
            stop.clone(),
        )));
    }
    handles
}

/// Runs `tick` every `interval` until `stop`; a failed tick is logged and the next one runs.
async fn every<F, Fut, T, E>(
    name: &'static str,
    interval: Duration,
    stop: CancellationToken,
    mut tick: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    T: std::fmt::Debug + Acted,
    E: std::fmt::Display,
{
    let mut timer = tokio::time::interval(interval);
    // A slow tick (a large backlog, a busy database) delays the next rather than bunching them.
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            _ = timer.tick() => {}
        }
        match tick().await {
            Ok(outcome) => {
                crate::metrics::loop_tick(name, Ok(outcome.acted()));
                tracing::trace!(loop = name, ?outcome, "tick");
            }
            Err(err) => {
                crate::metrics::loop_tick(name, Err(()));
                tracing::warn!(loop = name, error = %err, "tick failed; retrying at the next one")
            }
        }
    }
    tracing::debug!(loop = name, "stopped");
}
