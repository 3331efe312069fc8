//! The service layer: every read and write of jobgraph's records. A method takes the `Actor`
//! first, checks tenant, permission, input and state in the order of DESIGN.md §2, and does all
//! of its writes (record, events, cascades) in one transaction.
//!
//! The only layer that builds SeaORM queries or opens transactions. May import: entity, sea_orm,
//! domain, auth, error; never async-graphql or axum.

pub mod access;
pub mod budgets;
pub mod concurrency;
pub mod delegation;
pub mod dependencies;
pub mod events;
pub mod execution;
pub mod executor;
pub mod jobs;
pub mod links;
pub mod paging;
pub mod sql;
pub mod stats;
pub mod tasks;
pub mod tx;
pub mod update;
pub mod usage;
pub mod validate;
pub mod view;

use crate::domain::time::Clock;
use crate::events::EventBus;
use sea_orm::DatabaseConnection;
use std::sync::Arc;

/// A field of an update command: absent, explicitly null, or a new value.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Patch<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Patch<T> {
    pub fn is_keep(&self) -> bool {
        matches!(self, Self::Keep)
    }
}

/// Limits the services enforce (DESIGN.md §9, §11).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest JSON value (compact UTF-8) an input may carry.
    pub max_json_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_json_bytes: 1_048_576,
        }
    }
}

/// Everything the API layer needs from the services.
#[derive(Clone)]
pub struct Services {
    pub jobs: jobs::JobService,
    pub tasks: tasks::TaskService,
    pub execution: execution::ExecutionService,
    pub executor: executor::ExecutorService,
    pub links: links::LinkService,
    pub dependencies: dependencies::DependencyService,
    pub budgets: budgets::BudgetService,
    pub concurrency: concurrency::ConcurrencyService,
    pub usage: usage::UsageService,
    pub events: events::EventService,
    clock: Clock,
    bus: Arc<dyn EventBus>,
    db: DatabaseConnection,
}

impl Services {
    /// The services over `db`, reading `clock`, handing committed events to `bus`.
    pub fn new(
        db: DatabaseConnection,
        limits: Limits,
        clock: Clock,
        bus: Arc<dyn EventBus>,
    ) -> Self {
        Self {
            jobs: jobs::JobService::new(db.clone(), limits.clone(), clock.clone(), bus.clone()),
            tasks: tasks::TaskService::new(db.clone(), limits.clone(), clock.clone(), bus.clone()),
            execution: execution::ExecutionService::new(
                db.clone(),
                limits.clone(),
                clock.clone(),
                bus.clone(),
            ),
            executor: executor::ExecutorService::new(
                db.clone(),
                limits,
                clock.clone(),
                bus.clone(),
            ),
            links: links::LinkService::new(db.clone(), clock.clone(), bus.clone()),
            dependencies: dependencies::DependencyService::new(
                db.clone(),
                clock.clone(),
                bus.clone(),
            ),
            budgets: budgets::BudgetService::new(db.clone(), clock.clone()),
            concurrency: concurrency::ConcurrencyService::new(db.clone(), clock.clone()),
            usage: usage::UsageService::new(db.clone()),
            events: events::EventService::new(db.clone(), clock.clone(), bus.clone()),
            clock,
            bus,
            db,
        }
    }

    /// The bus the services hand committed events to.
    pub fn bus(&self) -> &Arc<dyn EventBus> {
        &self.bus
    }

    /// The clock the services read.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// True when the database answers (for `/readyz`).
    pub async fn ping(&self) -> bool {
        self.db.ping().await.is_ok()
    }

    /// The database pool's connections: (in use, idle).
    pub fn pool_connections(&self) -> (u32, u32) {
        crate::db::pool_connections(&self.db)
    }
}
