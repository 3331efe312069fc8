//! Who may touch a job's or task's execution state (context, checkpoints, costs): the
//! update row of DESIGN.md §2, own* or ADMIN. A heartbeat's checkpoint follows `jobs::can_heartbeat`.

use crate::auth::Actor;
use crate::services::access;

/// updateExecutionContext, saveCheckpoint, recordJobCost and their task twins.
pub fn can_execute(actor: &Actor, owned: bool) -> bool {
    access::may_act_on(actor, owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role::{self, *};

    #[test]
    fn row_context_checkpoint_cost() {
        let a = |r: Role| Actor::new("me", "t", vec![r]);
        assert!(!can_execute(&a(Viewer), true));
        assert!(can_execute(&a(Member), true));
        assert!(!can_execute(&a(Member), false));
        assert!(can_execute(&a(Agent), true));
        assert!(!can_execute(&a(Agent), false));
        assert!(can_execute(&a(Admin), false));
    }
}
