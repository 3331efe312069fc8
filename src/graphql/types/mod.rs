//! GraphQL output and input types. Outputs wrap the services' types; inputs convert into the
//! services' commands. Every `///` here becomes the SDL description a client reads.

pub mod actor;
pub mod concurrency;
pub mod enums;
pub mod event;
pub mod event_inputs;
pub mod execution;
pub mod graph;
pub mod job;
pub mod job_inputs;
pub mod plan;
pub mod stats;
pub mod task;
pub mod task_inputs;
pub mod usage;
