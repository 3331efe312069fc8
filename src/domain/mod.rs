//! Value types shared by the services and the GraphQL layer: exact money, priorities, the
//! microsecond clock. Pure code; may import chrono, rust_decimal, serde and uuid only.

pub mod money;
pub mod priority;
pub mod time;
