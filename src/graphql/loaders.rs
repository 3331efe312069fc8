//! DataLoaders: nested fields load for a whole page in one statement (DESIGN.md §10).

use crate::auth::Actor;
use crate::graphql::error::to_gql;
use crate::services::Services;
use crate::services::jobs::JobRun;
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
