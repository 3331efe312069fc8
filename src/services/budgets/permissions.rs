//! Who may set budgets: ADMIN only (DESIGN.md §2). Reading a budget is a read.

use crate::auth::Actor;
use crate::services::access;

/// setBudget: ADMIN.
pub fn can_set_budget(actor: &Actor) -> bool {
    actor.is_admin()
}

/// budget(planId): every role.
pub fn can_read(actor: &Actor) -> bool {
    access::may_read(actor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role::{self, *};

    #[test]
    fn row_set_budget() {
        for (role, allowed) in [
            (Viewer, false),
            (Member, false),
            (Agent, false),
            (Admin, true),
        ] {
            let actor = Actor::new("me", "t", vec![role as Role]);
            assert_eq!(can_set_budget(&actor), allowed, "{role:?}");
            assert!(can_read(&actor));
        }
    }
}
