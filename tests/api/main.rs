//! The API test suite: one binary (every file in tests/ links everything, so one is faster).
//! Each `backend_tests!` test runs on SQLite, and on PostgreSQL when JOBGRAPH_TEST_POSTGRES_URL
//! is set.

mod harness;

mod auth;
mod budgets;
mod cli;
mod concurrency;
mod cost;
mod db_faults;
mod deadlocks;
mod errors;
mod events;
mod execution;
mod executor;
mod fair_claims;
mod graph;
mod jobs;
mod lists;
mod liveness;
mod metrics;
mod order;
mod over_http;
mod schema;
mod statements;
mod subscriptions;
mod tasks;
mod transitions;
mod usage;
mod validation;
mod ws_client;
