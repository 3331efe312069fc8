//! DataLoaders: nested fields load for a whole page in one statement (DESIGN.md §10).

use crate::auth::Actor;
use crate::graphql::error::to_gql;
use crate::services::Services;
use crate::services::jobs::JobRun;
use crate::services::usage::{Owner, Usage};
use async_graphql::dataloader::Loader;
use std::collections::HashMap;
use uuid::Uuid;

/// `Job.runs` for many jobs at once.
pub struct RunsLoader {
    services: Services,
    actor: Actor,
}

impl RunsLoader {
    pub fn new(services: Services, actor: Actor) -> Self {
        Self { services, actor }
    }
}

impl Loader<Uuid> for RunsLoader {
    type Value = Vec<JobRun>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        self.services
            .jobs
            .runs_for_jobs(&self.actor, keys)
            .await
            .map_err(to_gql)
    }
}

/// `Task.parent` (and any task by id) for many ids at once.
pub struct TaskLoader {
    services: Services,
    actor: Actor,
}

impl TaskLoader {
    pub fn new(services: Services, actor: Actor) -> Self {
        Self { services, actor }
    }
}

impl Loader<Uuid> for TaskLoader {
    type Value = crate::services::tasks::Task;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        self.services
            .tasks
            .by_ids(&self.actor, keys)
            .await
            .map_err(to_gql)
    }
}

/// `Task.subtasks` for many parents at once.
pub struct SubtasksLoader {
    services: Services,
    actor: Actor,
}

impl SubtasksLoader {
    pub fn new(services: Services, actor: Actor) -> Self {
        Self { services, actor }
    }
}

impl Loader<Uuid> for SubtasksLoader {
    type Value = Vec<crate::services::tasks::Task>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Self::Value>, Self::Error> {
        self.services
            .tasks
            .children_of(&self.actor, keys)
            .await
            .map_err(to_gql)
    }
}

/// Builds a loader struct holding the services and the actor, with its `Loader` impl.
macro_rules! loader {
    ($(#[$doc:meta])* $name:ident, $key:ty => $value:ty, |$this:ident, $keys:ident| $body:expr) => {
        $(#[$doc])*
        pub struct $name {
            services: Services,
            actor: Actor,
        }

        impl $name {
            pub fn new(services: Services, actor: Actor) -> Self {
                Self { services, actor }
            }
        }

        impl Loader<$key> for $name {
            type Value = $value;
            type Error = async_graphql::Error;

            async fn load(&self, $keys: &[$key]) -> Result<HashMap<$key, Self::Value>, Self::Error> {
                let $this = self;
                $body.await.map_err(to_gql)
            }
        }
    };
}

loader!(
    /// Jobs by id (link ends, dependency ends).
    JobLoader, Uuid => crate::services::jobs::Job,
    |this, keys| this.services.jobs.by_ids(&this.actor, keys)
);

loader!(
    /// `Job.tasks`: every link of each job.
    JobLinksLoader, Uuid => Vec<crate::services::links::Link>,
    |this, keys| this.services.links.links_of(&this.actor, keys, true, None)
);

loader!(
    /// `Task.jobs`: every link of each task.
    TaskLinksLoader, Uuid => Vec<crate::services::links::Link>,
    |this, keys| this.services.links.links_of(&this.actor, keys, false, None)
);

loader!(
    /// `Job.progress`.
    ProgressLoader, Uuid => crate::services::links::Progress,
    |this, keys| this.services.links.progress_of(&this.actor, keys)
);

loader!(
    /// `Job.blocked`.
    JobBlockedLoader, Uuid => bool,
    |this, keys| this.services.dependencies.blocked_of(&this.actor, crate::services::dependencies::Kind::Job, keys)
);

loader!(
    /// `Task.blocked`.
    TaskBlockedLoader, Uuid => bool,
    |this, keys| this.services.dependencies.blocked_of(&this.actor, crate::services::dependencies::Kind::Task, keys)
);

/// Which edges of a record: into it (its dependencies) or out of it (its dependents).
pub type EdgeKey = (Uuid, bool);

async fn load_edges(
    services: &Services,
    actor: &Actor,
    kind: crate::services::dependencies::Kind,
    keys: &[EdgeKey],
) -> crate::error::ServiceResult<HashMap<EdgeKey, Vec<crate::services::dependencies::Edge>>> {
    let mut out = HashMap::new();
    for incoming in [true, false] {
        let ids: Vec<Uuid> = keys
            .iter()
            .filter(|k| k.1 == incoming)
            .map(|k| k.0)
            .collect();
        if ids.is_empty() {
            continue;
        }
        for (id, edges) in services
            .dependencies
            .edges_of(actor, kind, &ids, incoming)
            .await?
        {
            out.insert((id, incoming), edges);
        }
    }
    Ok(out)
}

loader!(
    /// `Job.dependencies` (incoming) and `Job.dependents`.
    JobEdgesLoader, EdgeKey => Vec<crate::services::dependencies::Edge>,
    |this, keys| load_edges(&this.services, &this.actor, crate::services::dependencies::Kind::Job, keys)
);

loader!(
    /// `Task.dependencies` (incoming) and `Task.dependents`.
    TaskEdgesLoader, EdgeKey => Vec<crate::services::dependencies::Edge>,
    |this, keys| load_edges(&this.services, &this.actor, crate::services::dependencies::Kind::Task, keys)
);

/// Which events of which record: `Job.events` / `Task.events` with their checked paging
/// arguments. Keys with the same arguments load together, in one statement.
pub type RecordEventsKey = (Uuid, crate::services::events::EventPageArgs);

async fn load_record_events(
    services: &Services,
    actor: &Actor,
    column: crate::events::store::RecordColumn,
    keys: &[RecordEventsKey],
) -> crate::error::ServiceResult<
    HashMap<RecordEventsKey, crate::services::paging::Page<crate::services::events::Event>>,
> {
    let mut groups: HashMap<crate::services::events::EventPageArgs, Vec<Uuid>> = HashMap::new();
    for (id, args) in keys {
        groups.entry(*args).or_default().push(*id);
    }
    let mut out = HashMap::new();
    for (args, ids) in groups {
        for (id, page) in services
            .events
            .of_records(actor, column, &ids, args)
            .await?
        {
            out.insert((id, args), page);
        }
    }
    Ok(out)
}

loader!(
    /// `Job.events`.
    JobEventsLoader, RecordEventsKey => crate::services::paging::Page<crate::services::events::Event>,
    |this, keys| load_record_events(&this.services, &this.actor, crate::events::store::RecordColumn::Job, keys)
);

loader!(
    /// `Task.events`.
    TaskEventsLoader, RecordEventsKey => crate::services::paging::Page<crate::services::events::Event>,
    |this, keys| load_record_events(&this.services, &this.actor, crate::events::store::RecordColumn::Task, keys)
);

/// `usage` of jobs, runs and tasks, many at once (one statement per kind in a batch).
pub struct UsageLoader {
    services: Services,
    actor: Actor,
}

impl UsageLoader {
    pub fn new(services: Services, actor: Actor) -> Self {
        Self { services, actor }
    }
}

impl Loader<(Owner, Uuid)> for UsageLoader {
    type Value = Usage;
    type Error = async_graphql::Error;

    async fn load(
        &self,
        keys: &[(Owner, Uuid)],
    ) -> Result<HashMap<(Owner, Uuid), Self::Value>, Self::Error> {
        let mut out = HashMap::new();
        for owner in [Owner::Job, Owner::Run, Owner::Task] {
            let ids: Vec<Uuid> = keys
                .iter()
                .filter(|(o, _)| *o == owner)
                .map(|(_, id)| *id)
                .collect();
            if ids.is_empty() {
                continue;
            }
            let found = self
                .services
                .usage
                .of(&self.actor, owner, &ids)
                .await
                .map_err(to_gql)?;
            out.extend(found.into_iter().map(|(id, u)| ((owner, id), u)));
        }
        Ok(out)
    }
}
