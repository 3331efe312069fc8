//! The caller, as its verified token describes it.

/// A role a token grants. An actor's rights are the union of its roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Admin,
    Member,
    Agent,
    Viewer,
}

impl Role {
    /// The name tokens and the API use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "ADMIN",
            Self::Member => "MEMBER",
            Self::Agent => "AGENT",
            Self::Viewer => "VIEWER",
        }
    }

    /// Parses a role name exactly as `as_str` gives it.
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Admin, Self::Member, Self::Agent, Self::Viewer]
            .into_iter()
            .find(|r| r.as_str() == name)
    }
}

/// The verified caller: an id, the one tenant it acts in, and its roles (never empty).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub id: String,
    pub tenant: String,
    pub roles: Vec<Role>,
}

/// The id background loops act as.
pub const SYSTEM_ACTOR: &str = "system";

impl Actor {
    pub fn new(id: impl Into<String>, tenant: impl Into<String>, roles: Vec<Role>) -> Self {
        Self {
            id: id.into(),
            tenant: tenant.into(),
            roles,
        }
    }

    /// True when any of the actor's roles is `role`.
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn is_admin(&self) -> bool {
        self.has(Role::Admin)
    }

    /// MEMBER, AGENT or ADMIN: may create and act on what it owns.
    pub fn is_writer(&self) -> bool {
        self.has(Role::Admin) || self.has(Role::Member) || self.has(Role::Agent)
    }

    /// The tenant's background actor (`system`, acting as ADMIN).
    pub fn system(tenant: impl Into<String>) -> Self {
        Self::new(SYSTEM_ACTOR, tenant, vec![Role::Admin])
    }
}
