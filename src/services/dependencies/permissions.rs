//! Who may add and remove dependency edges: the right to modify both ends (DESIGN.md §2, *).

use crate::auth::Actor;
use crate::services::access;

/// add/remove Job/Task dependency: own* predecessor and own* successor (ADMIN: any).
pub fn can_edit_edge(actor: &Actor, predecessor_owned: bool, successor_owned: bool) -> bool {
    access::may_act_on(actor, predecessor_owned) && access::may_act_on(actor, successor_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role::{self, *};

    fn actor(role: Role) -> Actor {
        Actor::new("me", "t", vec![role])
    }

    #[test]
    fn row_dependencies_need_both_ends() {
        assert!(!can_edit_edge(&actor(Viewer), true, true));
        for role in [Member, Agent] {
            assert!(can_edit_edge(&actor(role), true, true));
            assert!(!can_edit_edge(&actor(role), false, true));
            assert!(!can_edit_edge(&actor(role), true, false));
        }
        assert!(can_edit_edge(&actor(Admin), false, false));
    }
}
