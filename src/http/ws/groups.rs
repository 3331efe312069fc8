//! Shared executions: identical live subscriptions (same tenant, actor, roles, document,
//! operation and variables, and no `after`) run once, and every member gets the same rendered
//! response. Ten thousand dashboards watching the same events cost one execution per event,
//! not ten thousand (DESIGN.md §7, "many subscribers, one event").
//!
//! A member whose socket cannot take the next message at once leaves the group with
//! SUBSCRIBER_LAGGING and `resumeAfter` (the last event it was sent), so one slow socket never
//! holds up the others, and its client resumes with `after` and loses nothing.

use super::protocol::{self, Protocol};
use crate::auth::Actor;
use crate::graphql::AppSchema;
use crate::graphql::context::{self, LastEventId};
use crate::services::Services;
use axum::extract::ws::Message;
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

/// What makes two subscriptions the same.
pub type GroupKey = String;

/// The key of a request by `actor`, or `None` when it cannot be shared: not a subscription,
/// or one that replays from a cursor (`after`), which each subscriber must read for itself.
pub fn key_of(actor: &Actor, request: &async_graphql::Request) -> Option<GroupKey> {
    use async_graphql::parser::types::{DocumentOperations, OperationType, Selection};
    let doc = async_graphql::parser::parse_query(&request.query).ok()?;
    let op = match (&doc.operations, request.operation_name.as_deref()) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name)?,
        (DocumentOperations::Multiple(_), None) => return None,
    };
    if op.node.ty != OperationType::Subscription {
        return None;
    }
    let replays = op
        .node
        .selection_set
        .node
        .items
        .iter()
        .any(|s| match &s.node {
            Selection::Field(f) => f
                .node
                .arguments
                .iter()
                .any(|(name, _)| name.node == "after"),
            // Fragments at the root could hide an `after`: do not share them.
            _ => true,
        });
    if replays {
        return None;
    }
    let mut roles: Vec<&str> = actor.roles.iter().map(|r| r.as_str()).collect();
    roles.sort_unstable();
    Some(
        serde_json::json!([
            actor.tenant,
            actor.id,
            roles,
            request.query,
            request.operation_name,
            serde_json::to_value(&request.variables).ok(),
        ])
        .to_string(),
    )
}

/// The shared executions of one server.
#[derive(Default)]
pub struct Groups {
    map: Mutex<HashMap<GroupKey, Arc<Group>>>,
    next_member: AtomicU64,
}

struct Group {
    members: Mutex<Members>,
    task: Mutex<Option<AbortHandle>>,
}

#[derive(Default)]
struct Members {
    list: Vec<Member>,
    /// Set when the group ended; a joiner that raced it starts a new one.
    closed: bool,
}

/// One subscriber of a group: where its messages go, under which id.
pub struct Member {
    pub sub_id: String,
    pub protocol: Protocol,
    pub out: mpsc::Sender<Message>,
    /// Told the sub id when the group ends for this member on its own.
    pub done: mpsc::Sender<String>,
    id: u64,
    last_sent: i64,
}

impl Member {
    pub fn new(
        sub_id: String,
        protocol: Protocol,
        out: mpsc::Sender<Message>,
        done: mpsc::Sender<String>,
    ) -> Self {
        Self {
            sub_id,
            protocol,
            out,
            done,
            id: 0,
            last_sent: 0,
        }
    }
}

/// A member's place in a group; dropping it leaves.
pub struct Membership {
    groups: Weak<Groups>,
    key: GroupKey,
    group: Weak<Group>,
    member: u64,
}

impl Drop for Membership {
    fn drop(&mut self) {
        if let (Some(groups), Some(group)) = (self.groups.upgrade(), self.group.upgrade()) {
            groups.leave(&self.key, &group, self.member);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What a group runs with.
pub struct Execution {
    pub schema: AppSchema,
    pub services: Services,
    pub actor: Actor,
    pub request: async_graphql::Request,
}

impl Groups {
    /// Adds `member` to the group of `key`, starting the group (running `execution`) if it has
    /// none.
    pub fn join(
        self: &Arc<Self>,
        key: GroupKey,
        mut member: Member,
        execution: Execution,
    ) -> Membership {
        member.id = self.next_member.fetch_add(1, Ordering::Relaxed) + 1;
        let member_id = member.id;
        let mut map = lock(&self.map);
        if let Some(group) = map.get(&key) {
            let mut members = lock(&group.members);
            if !members.closed {
                members.list.push(member);
                return Membership {
                    groups: Arc::downgrade(self),
                    key,
                    group: Arc::downgrade(group),
                    member: member_id,
                };
            }
        }
        let group = Arc::new(Group {
            members: Mutex::new(Members {
                list: vec![member],
                closed: false,
            }),
            task: Mutex::new(None),
        });
        map.insert(key.clone(), group.clone());
        let task = tokio::spawn(run(
            Arc::downgrade(self),
            key.clone(),
            group.clone(),
            execution,
        ));
        *lock(&group.task) = Some(task.abort_handle());
        Membership {
            groups: Arc::downgrade(self),
            key,
            group: Arc::downgrade(&group),
            member: member_id,
        }
    }

    /// How many shared executions run (for tests and metrics).
    pub fn len(&self) -> usize {
        lock(&self.map).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn leave(&self, key: &GroupKey, group: &Arc<Group>, member: u64) {
        let mut map = lock(&self.map);
        let mut members = lock(&group.members);
        members.list.retain(|m| m.id != member);
        if members.list.is_empty() && !members.closed {
            members.closed = true;
            if let Some(task) = lock(&group.task).take() {
                task.abort();
            }
            if map.get(key).is_some_and(|g| Arc::ptr_eq(g, group)) {
                map.remove(key);
            }
        }
    }

    /// The group ended on its own: forget it.
    fn ended(&self, key: &GroupKey, group: &Arc<Group>) {
        let mut map = lock(&self.map);
        lock(&group.members).closed = true;
        if map.get(key).is_some_and(|g| Arc::ptr_eq(g, group)) {
            map.remove(key);
        }
    }
}

/// Runs the shared execution and hands each response to every member.
async fn run(groups: Weak<Groups>, key: GroupKey, group: Arc<Group>, execution: Execution) {
    let noted = LastEventId::default();
    let request = context::for_actor(
        execution.request.data(noted.clone()),
        &execution.services,
        execution.actor,
    );
    let mut responses = execution.schema.execute_stream(request);
    let mut ended_with_error = false;
    while let Some(response) = responses.next().await {
        let id = noted.get();
        let rendered = super::render(response);
        let terminal = matches!(rendered, super::Rendered::Error(_));
        let mut lagging = Vec::new();
        {
            let mut members = lock(&group.members);
            let mut kept = Vec::with_capacity(members.list.len());
            for mut m in members.list.drain(..) {
                let text = match &rendered {
                    super::Rendered::Error(errors) => {
                        protocol::error(m.protocol, &m.sub_id, errors)
                    }
                    super::Rendered::Next(payload) => {
                        protocol::next(m.protocol, &m.sub_id, payload)
                    }
                };
                match m.out.try_send(Message::Text(text.into())) {
                    Ok(()) => {
                        m.last_sent = id;
                        kept.push(m);
                    }
                    Err(mpsc::error::TrySendError::Full(_)) => lagging.push(m),
                    Err(mpsc::error::TrySendError::Closed(_)) => {}
                }
            }
            members.list = kept;
        }
        for m in lagging {
            tokio::spawn(async move {
                let err = crate::error::ServiceError::SubscriberLagging {
                    resume_after: m.last_sent,
                };
                let errors = serde_json::json!([{
                    "message": err.to_string(),
                    "extensions": {"code": err.code(), "resumeAfter": m.last_sent.to_string()},
                }]);
                let text = protocol::error(m.protocol, &m.sub_id, &errors);
                let _ = m.out.send(Message::Text(text.into())).await;
                let _ = m.done.send(m.sub_id).await;
            });
        }
        if terminal {
            ended_with_error = true;
            break;
        }
    }
    let members = std::mem::take(&mut lock(&group.members).list);
    if let Some(groups) = groups.upgrade() {
        groups.ended(&key, &group);
    }
    for m in members {
        if !ended_with_error {
            let _ = m
                .out
                .send(Message::Text(protocol::complete(&m.sub_id).into()))
                .await;
        }
        let _ = m.done.send(m.sub_id).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    #[test]
    fn only_live_subscriptions_share() {
        let alice = Actor::new("alice", "t", vec![Role::Viewer, Role::Member]);
        let req = |q: &str| async_graphql::Request::new(q);
        let live = key_of(&alice, &req("subscription { jobEvents { id } }"));
        assert!(live.is_some());
        assert_eq!(
            live,
            key_of(
                &Actor::new("alice", "t", vec![Role::Member, Role::Viewer]),
                &req("subscription { jobEvents { id } }")
            )
        );
        assert_ne!(
            live,
            key_of(
                &Actor::new("bob", "t", vec![Role::Viewer, Role::Member]),
                &req("subscription { jobEvents { id } }")
            )
        );
        assert_ne!(
            live,
            key_of(&alice, &req("subscription { jobEvents { id type } }"))
        );
        assert_eq!(
            key_of(
                &alice,
                &req("subscription { jobEvents(after: \"1\") { id } }")
            ),
            None
        );
        assert_eq!(
            key_of(
                &alice,
                &req("subscription($a: String) { events(after: $a) { __typename } }")
            ),
            None
        );
        assert_eq!(key_of(&alice, &req("{ me { id } }")), None);
        assert_eq!(
            key_of(
                &alice,
                &req("subscription { ...F } fragment F on Subscription { jobEvents { id } }")
            ),
            None
        );
        let with_vars = req("subscription($f: JobEventFilter) { jobEvents(filter: $f) { id } }")
            .variables(async_graphql::Variables::from_json(
                serde_json::json!({"f": {"kinds": ["CREATED"]}}),
            ));
        let other_vars = req("subscription($f: JobEventFilter) { jobEvents(filter: $f) { id } }")
            .variables(async_graphql::Variables::from_json(
                serde_json::json!({"f": {"kinds": ["DELETED"]}}),
            ));
        assert_ne!(key_of(&alice, &with_vars), key_of(&alice, &other_vars));
    }
}
