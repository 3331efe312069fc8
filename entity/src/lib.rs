//! SeaORM entities of jobgraph: one module per table, rows only.
//!
//! Conventions every table follows (see the `migration` crate for the DDL):
//! - timestamps are `BIGINT` microseconds since the Unix epoch (UTC), so they compare, sort and
//!   round-trip identically on SQLite and PostgreSQL;
//! - money is `BIGINT` nano-units (10^-9), so sums are exact on both backends;
//! - ids are UUIDs (v7), except the event id, a global increasing integer.
//!
//! This crate knows nothing of GraphQL or of the services; it may import SeaORM and serde only.

pub mod budget;
pub mod concurrency_limit;
pub mod event;
pub mod event_watermark;
pub mod job;
pub mod job_dependency;
pub mod job_label;
pub mod job_run;
pub mod job_task;
pub mod status;
pub mod task;
pub mod task_dependency;
pub mod task_label;
pub mod usage_daily;
pub mod usage_record;
