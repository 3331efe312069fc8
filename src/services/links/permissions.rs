//! Who may link and unlink jobs and tasks: the right to modify both ends (DESIGN.md §2, *).

use crate::auth::Actor;
use crate::services::access;

/// linkTask / unlinkTask: own* job and own* task (ADMIN: any).
pub fn can_link(actor: &Actor, job_owned: bool, task_owned: bool) -> bool {
    access::may_act_on(actor, job_owned) && access::may_act_on(actor, task_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role::{self, *};

    fn actor(role: Role) -> Actor {
        Actor::new("me", "t", vec![role])
    }

    #[test]
    fn row_links_need_both_ends() {
        assert!(!can_link(&actor(Viewer), true, true));
        for role in [Member, Agent] {
            assert!(can_link(&actor(role), true, true));
            assert!(!can_link(&actor(role), true, false));
            assert!(!can_link(&actor(role), false, true));
        }
        assert!(can_link(&actor(Admin), false, false));
    }
}
