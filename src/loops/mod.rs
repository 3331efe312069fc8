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

/// Starts every loop the settings turn on. Aborting the handles stops them.
pub fn spawn(services: Services, settings: LoopSettings) -> Vec<JoinHandle<()>> {
    let every = settings.sweep_interval;
    let mut handles = vec![
        tokio::spawn(timeouts::run(services.clone(), every)),
        tokio::spawn(leases::run(services.clone(), every)),
        tokio::spawn(grace::run(services.clone(), settings.cancel_grace, every)),
        tokio::spawn(cron::run(services.clone(), every)),
    ];
    if let Some(retention) = settings.event_retention {
        handles.push(tokio::spawn(prune::run(
            services,
            retention,
            settings.sweep_interval,
        )));
    }
    handles
}

/// Runs `tick` every `interval` until aborted; a failed tick is logged and the next one runs.
async fn every<F, Fut, T, E>(name: &'static str, interval: Duration, mut tick: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
    T: std::fmt::Debug,
    E: std::fmt::Display,
{
    let mut timer = tokio::time::interval(interval);
    // A slow tick (a large backlog, a busy database) delays the next rather than bunching them.
    timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        timer.tick().await;
        match tick().await {
            Ok(outcome) => tracing::trace!(loop = name, ?outcome, "tick"),
            Err(err) => {
                tracing::warn!(loop = name, error = %err, "tick failed; retrying at the next one")
            }
        }
    }
}
