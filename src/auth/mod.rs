//! Who is calling: the `Actor` taken from a verified token, and the tokens themselves.
//! Permission policies live beside each service (`services/<area>/permissions.rs`).
//!
//! May import: jsonwebtoken, serde, rand; nothing of GraphQL, HTTP or the database.

pub mod actor;
pub mod token;

pub use actor::{Actor, Role};
pub use token::{Claims, TokenError, TokenKeys};
