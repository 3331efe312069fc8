//! The roots, split per area and merged. A resolver parses its arguments, calls one service
//! method with the actor, and maps the error; nothing here touches the database.

pub mod budgets;
pub mod events;
pub mod execution;
pub mod executor;
pub mod graph;
pub mod jobs;
pub mod me;
pub mod subscriptions;
pub mod tasks;
