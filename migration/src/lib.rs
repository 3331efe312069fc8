//! The schema of jobgraph as an ordered list of migrations. `jobgraph migrate` and the server's
//! start run them; nothing else changes the schema.

pub use sea_orm_migration::prelude::*;

mod indexes;
mod m20261130_000001_create_tables;
mod m20261130_000002_list_search_and_indexes;
mod m20261130_000003_ready_work_indexes;
mod m20261201_000001_event_retention;
mod m20261202_000001_concurrency_keys;
mod m20261202_000002_usage;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261130_000001_create_tables::Migration),
            Box::new(m20261130_000002_list_search_and_indexes::Migration),
            Box::new(m20261130_000003_ready_work_indexes::Migration),
            Box::new(m20261201_000001_event_retention::Migration),
            Box::new(m20261202_000001_concurrency_keys::Migration),
            Box::new(m20261202_000002_usage::Migration),
        ]
    }
}
