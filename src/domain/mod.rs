//! Value types shared by the services and the GraphQL layer: exact money, priorities, the
//! microsecond clock. Pure code; may import chrono, rust_decimal, serde and uuid (and tokio's timers and watch channel, for
//! the clock's sleep).

pub mod money;
pub mod priority;
pub mod time;
