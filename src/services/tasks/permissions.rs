//! Who may do what to a task (DESIGN.md §2). A task is also owned by whoever owns a job that
//! links it as PRIMARY: the service computes `owned` with that rule and passes it in.

use crate::auth::Actor;
use crate::services::access::{self, Owners};

/// read, list, stats, subscribe: every role.
pub fn can_read(actor: &Actor) -> bool {
    access::may_read(actor)
}

/// createTask: MEMBER, AGENT, ADMIN.
pub fn can_create(actor: &Actor) -> bool {
    access::may_create(actor)
}

/// createTask with `jobId` / createSubtask: MEMBER and AGENT on a job or parent they own*; ADMIN.
pub fn can_create_under(actor: &Actor, target_owned: bool) -> bool {
    access::may_create(actor) && access::may_act_on(actor, target_owned)
}

/// update, lifecycle, context, checkpoint, cost: own* (creator, assignee or PRIMARY job owner).
pub fn can_modify(actor: &Actor, owned: bool) -> bool {
    access::may_act_on(actor, owned)
}

/// assignTask: as `can_modify`, or a pick-up of an unassigned task by its new assignee.
pub fn can_assign(actor: &Actor, owned: bool, current: Option<&str>, to: &str) -> bool {
    can_modify(actor, owned) || access::may_pick_up(actor, current, to)
}

/// deleteTask: ADMIN, or the MEMBER who created it.
pub fn can_delete(actor: &Actor, task: Owners<'_>) -> bool {
    access::may_delete(actor, task.created_by)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role::{self, *};

    fn actor(role: Role) -> Actor {
        Actor::new("me", "t", vec![role])
    }

    #[test]
    fn row_read() {
        for role in [Viewer, Member, Agent, Admin] {
            assert!(can_read(&actor(role)));
        }
    }

    #[test]
    fn row_create() {
        assert!(!can_create(&actor(Viewer)));
        for role in [Member, Agent, Admin] {
            assert!(can_create(&actor(role)));
        }
    }

    #[test]
    fn row_create_with_job_or_under_parent() {
        assert!(!can_create_under(&actor(Viewer), true));
        for role in [Member, Agent] {
            assert!(can_create_under(&actor(role), true));
            assert!(!can_create_under(&actor(role), false));
        }
        assert!(can_create_under(&actor(Admin), false));
    }

    #[test]
    fn row_update_and_lifecycle() {
        assert!(!can_modify(&actor(Viewer), true));
        for role in [Member, Agent] {
            assert!(can_modify(&actor(role), true));
            assert!(!can_modify(&actor(role), false));
        }
        assert!(can_modify(&actor(Admin), false));
    }

    #[test]
    fn row_pick_up() {
        for role in [Member, Agent, Admin] {
            assert!(can_assign(&actor(role), false, None, "me"));
        }
        assert!(!can_assign(&actor(Viewer), false, None, "me"));
        assert!(!can_assign(&actor(Member), false, Some("bob"), "me"));
        assert!(!can_assign(&actor(Member), false, None, "bob"));
    }

    #[test]
    fn row_delete() {
        let mine = Owners {
            created_by: "me",
            assigned_agent: None,
        };
        let assigned = Owners {
            created_by: "x",
            assigned_agent: Some("me"),
        };
        assert!(!can_delete(&actor(Viewer), mine));
        assert!(can_delete(&actor(Member), mine));
        assert!(!can_delete(&actor(Member), assigned));
        assert!(!can_delete(&actor(Agent), mine));
        assert!(can_delete(&actor(Admin), assigned));
    }
}
