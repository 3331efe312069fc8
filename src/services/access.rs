//! The building blocks of every permission policy (DESIGN.md §2): ownership and the role rows.
//! Pure functions; each area's `permissions` module states its rows with them.

use crate::auth::{Actor, Role};
use crate::error::{ServiceError, ServiceResult};

/// Who a record belongs to: its creator and its current assignee.
#[derive(Debug, Clone, Copy)]
pub struct Owners<'a> {
    pub created_by: &'a str,
    pub assigned_agent: Option<&'a str>,
}

impl Owners<'_> {
    /// *own(actor, x)*: the actor created it or is its assignee (ids compared exactly).
    pub fn owned_by(&self, actor: &Actor) -> bool {
        actor.id == self.created_by || self.assigned_agent == Some(actor.id.as_str())
    }
}

/// Every authenticated actor may read, list, see stats and subscribe in its tenant.
pub fn may_read(actor: &Actor) -> bool {
    !actor.roles.is_empty()
}

/// MEMBER, AGENT and ADMIN may create.
pub fn may_create(actor: &Actor) -> bool {
    actor.is_writer()
}

/// ADMIN always; MEMBER and AGENT on what they own (`owned` is own*, computed by the caller).
pub fn may_act_on(actor: &Actor, owned: bool) -> bool {
    actor.is_admin() || ((actor.has(Role::Member) || actor.has(Role::Agent)) && owned)
}

/// Pick-up: a writer takes an unassigned record for itself.
pub fn may_pick_up(actor: &Actor, currently_assigned: Option<&str>, to: &str) -> bool {
    actor.is_writer() && currently_assigned.is_none() && to == actor.id
}

/// ADMIN always; MEMBER only on what it created. AGENT never.
pub fn may_delete(actor: &Actor, created_by: &str) -> bool {
    actor.is_admin() || (actor.has(Role::Member) && actor.id == created_by)
}

/// Turns a refused check into FORBIDDEN with a message saying what would be needed.
pub fn require(allowed: bool, what: &str) -> ServiceResult<()> {
    if allowed {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(format!(
            "your roles do not allow you to {what}"
        )))
    }
}
