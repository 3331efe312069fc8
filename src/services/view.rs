//! What the read views of jobs and tasks share (DESIGN.md §1, §7).
//!
//! A view is a record's typed fields, built from a live row or from an event's stored snapshot;
//! the GraphQL types wrap views, so both render through the same type. A snapshot is the view's
//! scalar fields serialised (API names, times in RFC 3339, money as text), kept small: at most
//! the last [`SNAPSHOT_CHAIN`] hand-overs, and no JSON value over [`MAX_STORED_JSON`] bytes (such
//! a value is left out and marked, and the reader resolves the record's current value instead).
//! The JSON documents a record carries (execution context, checkpoint) are never snapshotted:
//! they always resolve from the live record.

use serde_json::Value;

/// The hand-overs a snapshot keeps (the newest).
pub const SNAPSHOT_CHAIN: usize = 20;

/// The largest JSON value (compact UTF-8) an event row stores, in its snapshot or its details.
pub const MAX_STORED_JSON: usize = 64 * 1024;

/// The JSON documents of a live record. A view built from a snapshot has none: its reader loads
/// them from the record as it is now.
#[derive(Debug, Clone, PartialEq)]
pub struct Documents {
    /// Always a JSON object.
    pub execution_context: Value,
    pub checkpoint_data: Option<Value>,
}

/// `value` if it may be stored in an event row, else `None` (too large: resolve it live).
pub fn storable(value: &Option<Value>) -> Option<&Value> {
    value
        .as_ref()
        .filter(|v| crate::services::validate::compact_size(v) <= MAX_STORED_JSON)
}

/// The newest [`SNAPSHOT_CHAIN`] entries of a chain.
pub fn snapshot_chain<T: Clone>(chain: &[T]) -> Vec<T> {
    chain[chain.len().saturating_sub(SNAPSHOT_CHAIN)..].to_vec()
}

/// Serde for the stored enumerations, by their API names (`PENDING`, `IN_PROGRESS`…).
pub mod by_name {
    use serde::{Deserialize, Deserializer, Serializer};

    /// An enumeration spelled by its API name.
    pub trait Named: Sized + Copy {
        fn name(self) -> &'static str;
        fn from_name(name: &str) -> Option<Self>;
    }

    impl Named for entity::status::JobStatus {
        fn name(self) -> &'static str {
            self.as_str()
        }
        fn from_name(name: &str) -> Option<Self> {
            Self::parse(name)
        }
    }

    impl Named for entity::status::TaskStatus {
        fn name(self) -> &'static str {
            self.as_str()
        }
        fn from_name(name: &str) -> Option<Self> {
            Self::parse(name)
        }
    }

    pub fn serialize<T: Named, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(value.name())
    }

    pub fn deserialize<'de, T: Named, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
        let name = String::deserialize(d)?;
        T::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("`{name}` is not a known state")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn large_values_are_not_storable() {
        let small = Some(json!({"a": "b"}));
        assert!(storable(&small).is_some());
        let large = Some(json!("x".repeat(MAX_STORED_JSON)));
        assert!(storable(&large).is_none());
        assert!(storable(&None).is_none());
    }

    #[test]
    fn snapshots_keep_the_newest_hand_overs() {
        let chain: Vec<usize> = (0..25).collect();
        assert_eq!(snapshot_chain(&chain), (5..25).collect::<Vec<_>>());
        assert_eq!(snapshot_chain(&chain[..3]), vec![0, 1, 2]);
    }
}
