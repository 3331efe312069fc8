//! The inputs of the execution mutations: `ContextMode` and `CheckpointInput`.

use crate::services::execution;
use async_graphql::{Enum, InputObject};

/// How updateExecutionContext and updateTaskExecutionContext apply their patch.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
#[graphql(remote = "crate::services::execution::ContextMode")]
pub enum ContextMode {
    /// Apply the patch as an RFC 7396 JSON merge patch: a null member removes that key,
    /// objects merge recursively, anything else (arrays included) replaces.
    Merge,
    /// Swap the whole context for the patch.
    Replace,
}

/// A checkpoint: how far the work got, and what it needs to resume.
#[derive(InputObject, Clone, Debug)]
pub struct CheckpointInput {
    /// The last completed step, 0 or more. It never decreases: a lower step is refused, an
    /// equal one overwrites the checkpoint.
    pub step: i32,
    /// Data to resume from (at most the JSON size limit). Absent or null keeps the data saved
    /// before.
    pub data: Option<serde_json::Value>,
}

impl From<CheckpointInput> for execution::Checkpoint {
    fn from(c: CheckpointInput) -> Self {
        Self {
            step: c.step,
            data: c.data,
        }
    }
}
