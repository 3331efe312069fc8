//! Who may do what to a job (DESIGN.md §2). Pure functions over (actor, job), tested row by row.

use crate::auth::{Actor, Role};
use crate::services::access::{self, Owners};

/// read, list, stats, subscribe: every role.
pub fn can_read(actor: &Actor) -> bool {
    access::may_read(actor)
}

/// createJob: MEMBER, AGENT, ADMIN.
pub fn can_create(actor: &Actor) -> bool {
    access::may_create(actor)
}

/// update, lifecycle, context, checkpoint, cost, links and dependencies of a job.
pub fn can_modify(actor: &Actor, job: Owners<'_>) -> bool {
    access::may_act_on(actor, job.owned_by(actor))
}

/// delegateJob: as `can_modify`, or a pick-up of an unassigned job by its new assignee.
pub fn can_delegate(actor: &Actor, job: Owners<'_>, to: &str) -> bool {
    can_modify(actor, job) || access::may_pick_up(actor, job.assigned_agent, to)
}

/// deleteJob: ADMIN, or the MEMBER who created it.
pub fn can_delete(actor: &Actor, job: Owners<'_>) -> bool {
    access::may_delete(actor, job.created_by)
}

/// claimJobs: an AGENT for itself; an ADMIN for anyone.
pub fn can_claim(actor: &Actor, for_agent: &str) -> bool {
    actor.is_admin() || (actor.has(Role::Agent) && for_agent == actor.id)
}

/// heartbeatJob: the job's assignedAgent (holding AGENT), or an ADMIN.
pub fn can_heartbeat(actor: &Actor, job: Owners<'_>) -> bool {
    actor.is_admin() || (actor.has(Role::Agent) && job.assigned_agent == Some(actor.id.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(role: Role) -> Actor {
        Actor::new("me", "t", vec![role])
    }
    const MINE: Owners<'static> = Owners {
        created_by: "me",
        assigned_agent: None,
    };
    const ASSIGNED: Owners<'static> = Owners {
        created_by: "other",
        assigned_agent: Some("me"),
    };
    const THEIRS: Owners<'static> = Owners {
        created_by: "other",
        assigned_agent: Some("someone"),
    };
    const UNASSIGNED: Owners<'static> = Owners {
        created_by: "other",
        assigned_agent: None,
    };
    use Role::*;

    #[test]
    fn row_read_list_stats_subscribe() {
        for role in [Viewer, Member, Agent, Admin] {
            assert!(can_read(&actor(role)), "{role:?}");
        }
    }

    #[test]
    fn row_create() {
        assert!(!can_create(&actor(Viewer)));
        assert!(can_create(&actor(Member)));
        assert!(can_create(&actor(Agent)));
        assert!(can_create(&actor(Admin)));
    }

    #[test]
    fn row_update_lifecycle_context_checkpoint_cost_links_dependencies() {
        for owners in [MINE, ASSIGNED, THEIRS] {
            assert!(!can_modify(&actor(Viewer), owners));
            assert!(can_modify(&actor(Admin), owners));
        }
        for role in [Member, Agent] {
            assert!(can_modify(&actor(role), MINE), "{role:?} creator");
            assert!(can_modify(&actor(role), ASSIGNED), "{role:?} assignee");
            assert!(!can_modify(&actor(role), THEIRS), "{role:?} stranger");
        }
    }

    #[test]
    fn row_pick_up() {
        for role in [Member, Agent, Admin] {
            assert!(can_delegate(&actor(role), UNASSIGNED, "me"), "{role:?}");
        }
        assert!(!can_delegate(&actor(Viewer), UNASSIGNED, "me"));
        // Not a pick-up: to someone else, or a record already assigned.
        assert!(!can_delegate(&actor(Member), UNASSIGNED, "bob"));
        assert!(!can_delegate(&actor(Agent), THEIRS, "me"));
        // Owners delegate as part of the update row.
        assert!(can_delegate(&actor(Member), MINE, "bob"));
    }

    #[test]
    fn row_delete() {
        assert!(!can_delete(&actor(Viewer), MINE));
        assert!(can_delete(&actor(Member), MINE));
        assert!(
            !can_delete(&actor(Member), ASSIGNED),
            "own means creator here"
        );
        assert!(!can_delete(&actor(Agent), MINE));
        assert!(can_delete(&actor(Admin), THEIRS));
    }

    #[test]
    fn row_claim() {
        assert!(!can_claim(&actor(Viewer), "me"));
        assert!(!can_claim(&actor(Member), "me"));
        assert!(can_claim(&actor(Agent), "me"));
        assert!(!can_claim(&actor(Agent), "bob"));
        assert!(can_claim(&actor(Admin), "bob"));
    }

    #[test]
    fn row_heartbeat() {
        assert!(!can_heartbeat(&actor(Viewer), ASSIGNED));
        assert!(!can_heartbeat(&actor(Member), ASSIGNED));
        assert!(can_heartbeat(&actor(Agent), ASSIGNED));
        assert!(
            !can_heartbeat(&actor(Agent), MINE),
            "the creator is not the assignee"
        );
        assert!(can_heartbeat(&actor(Admin), THEIRS));
    }

    #[test]
    fn roles_are_a_union() {
        let viewer_agent = Actor::new("me", "t", vec![Viewer, Agent]);
        assert!(can_create(&viewer_agent));
        assert!(can_modify(&viewer_agent, ASSIGNED));
    }
}
