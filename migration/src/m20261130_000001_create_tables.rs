//! The whole model: jobs with their runs and labels, tasks with their labels, the job–task
//! links, the dependency edges, budgets and the event log.
//!
//! Timestamps are BIGINT microseconds since the epoch and money BIGINT nano-units: both compare,
//! sort and sum exactly and identically on SQLite and PostgreSQL (SQLite has no timestamp or
//! exact decimal type). Every index that serves a list starts with `tenant_id`.

// The identifier enums spell the column names, so `Event::EventType` is the column `event_type`.
#![allow(clippy::enum_variant_names)]

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Job {
    Table,
    Id,
    TenantId,
    Title,
    Description,
    Labels,
    Status,
    Priority,
    Version,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
    RunAt,
    Cron,
    StartedAt,
    FinishedAt,
    Result,
    Error,
    CancelReason,
    CancelRequestedAt,
    ExecutionContext,
    EstimatedCost,
    ActualCost,
    AssignedAgent,
    DelegationChain,
    CheckpointData,
    LastCompletedStep,
    TimeoutSeconds,
    PlanId,
    PlanStepIndex,
    RetryMaxAttempts,
    RetryInitialBackoffSeconds,
    RetryBackoffMultiplier,
    RetryMaxBackoffSeconds,
    Attempt,
    Series,
    LeaseExpiresAt,
    LeaseSeconds,
    IdempotencyKey,
}

#[derive(DeriveIden)]
enum JobRun {
    Table,
    Id,
    JobId,
    TenantId,
    Series,
    Attempt,
    Status,
    Agent,
    StartedAt,
    FinishedAt,
    Error,
    Result,
    Cost,
}

#[derive(DeriveIden)]
enum JobLabel {
    Table,
    JobId,
    Label,
    TenantId,
}

#[derive(DeriveIden)]
enum Task {
    Table,
    Id,
    TenantId,
    ParentId,
    Title,
    Description,
    Labels,
    Status,
    Priority,
    Version,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
    DueAt,
    StartedAt,
    CompletedAt,
    CancelReason,
    AssignedAgent,
    DelegationChain,
    ExecutionContext,
    EstimatedCost,
    ActualCost,
    CheckpointData,
    LastCompletedStep,
    TimeoutSeconds,
    PlanId,
    PlanStepIndex,
}

#[derive(DeriveIden)]
enum TaskLabel {
    Table,
    TaskId,
    Label,
    TenantId,
}

#[derive(DeriveIden)]
enum JobTask {
    Table,
    JobId,
    TaskId,
    TenantId,
    Role,
    CreatedAt,
}

#[derive(DeriveIden)]
enum JobDependency {
    Table,
    PredecessorId,
    SuccessorId,
    TenantId,
    DependencyType,
    CreatedAt,
}

#[derive(DeriveIden)]
enum TaskDependency {
    Table,
    PredecessorId,
    SuccessorId,
    TenantId,
    DependencyType,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Budget {
    Table,
    Id,
    TenantId,
    Scope,
    PlanId,
    LimitAmount,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Event {
    Table,
    Id,
    TenantId,
    EventType,
    ActorId,
    JobId,
    TaskId,
    PlanId,
    Assignee,
    LinkedJobIds,
    Details,
    Snapshot,
    OccurredAt,
}

fn index(
    name: &str,
    table: impl IntoIden + 'static,
    cols: &[&'static str],
) -> IndexCreateStatement {
    let mut stmt = Index::create();
    stmt.name(name).table(table);
    for col in cols {
        stmt.col(Alias::new(*col));
    }
    stmt.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Job::Table)
                    .col(pk_uuid(Job::Id))
                    .col(string_len(Job::TenantId, 200))
                    .col(string_len(Job::Title, 1000))
                    .col(text_null(Job::Description))
                    .col(json_binary(Job::Labels))
                    .col(string_len(Job::Status, 16))
                    .col(integer(Job::Priority))
                    .col(integer(Job::Version))
                    .col(string_len(Job::CreatedBy, 200))
                    .col(big_integer(Job::CreatedAt))
                    .col(big_integer(Job::UpdatedAt))
                    .col(big_integer_null(Job::RunAt))
                    .col(string_len_null(Job::Cron, 200))
                    .col(big_integer_null(Job::StartedAt))
                    .col(big_integer_null(Job::FinishedAt))
                    .col(json_binary_null(Job::Result))
                    .col(text_null(Job::Error))
                    .col(text_null(Job::CancelReason))
                    .col(big_integer_null(Job::CancelRequestedAt))
                    .col(json_binary(Job::ExecutionContext))
                    .col(big_integer_null(Job::EstimatedCost))
                    .col(big_integer(Job::ActualCost))
                    .col(string_len_null(Job::AssignedAgent, 200))
                    .col(json_binary(Job::DelegationChain))
                    .col(json_binary_null(Job::CheckpointData))
                    .col(integer_null(Job::LastCompletedStep))
                    .col(integer_null(Job::TimeoutSeconds))
                    .col(uuid_null(Job::PlanId))
                    .col(integer_null(Job::PlanStepIndex))
                    .col(integer(Job::RetryMaxAttempts))
                    .col(integer(Job::RetryInitialBackoffSeconds))
                    .col(double(Job::RetryBackoffMultiplier))
                    .col(integer(Job::RetryMaxBackoffSeconds))
                    .col(integer(Job::Attempt))
                    .col(integer(Job::Series))
                    .col(big_integer_null(Job::LeaseExpiresAt))
                    .col(integer_null(Job::LeaseSeconds))
                    .col(string_len_null(Job::IdempotencyKey, 200))
                    .to_owned(),
            )
            .await?;
        // Idempotency keys are unique per tenant; NULLs do not collide on either backend.
        manager
            .create_index(
                index(
                    "ux_job_tenant_idempotency",
                    Job::Table,
                    &["tenant_id", "idempotency_key"],
                )
                .unique()
                .to_owned(),
            )
            .await?;
        for (name, cols) in [
            (
                "ix_job_tenant_created",
                &["tenant_id", "created_at", "id"][..],
            ),
            (
                "ix_job_tenant_updated",
                &["tenant_id", "updated_at", "id"][..],
            ),
            (
                "ix_job_tenant_priority",
                &["tenant_id", "priority", "id"][..],
            ),
            ("ix_job_tenant_run_at", &["tenant_id", "run_at", "id"][..]),
            (
                "ix_job_tenant_status_created",
                &["tenant_id", "status", "created_at", "id"][..],
            ),
            (
                "ix_job_tenant_plan",
                &["tenant_id", "plan_id", "plan_step_index"][..],
            ),
            (
                "ix_job_tenant_assignee",
                &["tenant_id", "assigned_agent", "created_at"][..],
            ),
            (
                "ix_job_tenant_creator",
                &["tenant_id", "created_by", "created_at"][..],
            ),
        ] {
            manager.create_index(index(name, Job::Table, cols)).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(JobRun::Table)
                    .col(pk_uuid(JobRun::Id))
                    .col(uuid(JobRun::JobId))
                    .col(string_len(JobRun::TenantId, 200))
                    .col(integer(JobRun::Series))
                    .col(integer(JobRun::Attempt))
                    .col(string_len(JobRun::Status, 16))
                    .col(string_len_null(JobRun::Agent, 200))
                    .col(big_integer(JobRun::StartedAt))
                    .col(big_integer_null(JobRun::FinishedAt))
                    .col(text_null(JobRun::Error))
                    .col(json_binary_null(JobRun::Result))
                    .col(big_integer(JobRun::Cost))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_job_run_job")
                            .from(JobRun::Table, JobRun::JobId)
                            .to(Job::Table, Job::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_job_run_job",
                JobRun::Table,
                &["job_id", "series", "attempt"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(JobLabel::Table)
                    .col(uuid(JobLabel::JobId))
                    .col(string_len(JobLabel::Label, 200))
                    .col(string_len(JobLabel::TenantId, 200))
                    .primary_key(Index::create().col(JobLabel::JobId).col(JobLabel::Label))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_job_label_job")
                            .from(JobLabel::Table, JobLabel::JobId)
                            .to(Job::Table, Job::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_job_label_tenant_label",
                JobLabel::Table,
                &["tenant_id", "label", "job_id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Task::Table)
                    .col(pk_uuid(Task::Id))
                    .col(string_len(Task::TenantId, 200))
                    .col(uuid_null(Task::ParentId))
                    .col(string_len(Task::Title, 1000))
                    .col(text_null(Task::Description))
                    .col(json_binary(Task::Labels))
                    .col(string_len(Task::Status, 16))
                    .col(integer(Task::Priority))
                    .col(integer(Task::Version))
                    .col(string_len(Task::CreatedBy, 200))
                    .col(big_integer(Task::CreatedAt))
                    .col(big_integer(Task::UpdatedAt))
                    .col(big_integer_null(Task::DueAt))
                    .col(big_integer_null(Task::StartedAt))
                    .col(big_integer_null(Task::CompletedAt))
                    .col(text_null(Task::CancelReason))
                    .col(string_len_null(Task::AssignedAgent, 200))
                    .col(json_binary(Task::DelegationChain))
                    .col(json_binary(Task::ExecutionContext))
                    .col(big_integer_null(Task::EstimatedCost))
                    .col(big_integer(Task::ActualCost))
                    .col(json_binary_null(Task::CheckpointData))
                    .col(integer_null(Task::LastCompletedStep))
                    .col(integer_null(Task::TimeoutSeconds))
                    .col(uuid_null(Task::PlanId))
                    .col(integer_null(Task::PlanStepIndex))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_task_parent")
                            .from(Task::Table, Task::ParentId)
                            .to(Task::Table, Task::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            (
                "ix_task_tenant_created",
                &["tenant_id", "created_at", "id"][..],
            ),
            (
                "ix_task_tenant_updated",
                &["tenant_id", "updated_at", "id"][..],
            ),
            (
                "ix_task_tenant_priority",
                &["tenant_id", "priority", "id"][..],
            ),
            ("ix_task_tenant_due_at", &["tenant_id", "due_at", "id"][..]),
            (
                "ix_task_tenant_status_created",
                &["tenant_id", "status", "created_at", "id"][..],
            ),
            (
                "ix_task_tenant_parent",
                &["tenant_id", "parent_id", "created_at"][..],
            ),
            ("ix_task_parent", &["parent_id"][..]),
            (
                "ix_task_tenant_plan",
                &["tenant_id", "plan_id", "plan_step_index"][..],
            ),
            (
                "ix_task_tenant_assignee",
                &["tenant_id", "assigned_agent", "created_at"][..],
            ),
            (
                "ix_task_tenant_creator",
                &["tenant_id", "created_by", "created_at"][..],
            ),
        ] {
            manager.create_index(index(name, Task::Table, cols)).await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(TaskLabel::Table)
                    .col(uuid(TaskLabel::TaskId))
                    .col(string_len(TaskLabel::Label, 200))
                    .col(string_len(TaskLabel::TenantId, 200))
                    .primary_key(Index::create().col(TaskLabel::TaskId).col(TaskLabel::Label))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_task_label_task")
                            .from(TaskLabel::Table, TaskLabel::TaskId)
                            .to(Task::Table, Task::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_task_label_tenant_label",
                TaskLabel::Table,
                &["tenant_id", "label", "task_id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(JobTask::Table)
                    .col(uuid(JobTask::JobId))
                    .col(uuid(JobTask::TaskId))
                    .col(string_len(JobTask::TenantId, 200))
                    .col(string_len(JobTask::Role, 16))
                    .col(big_integer(JobTask::CreatedAt))
                    .primary_key(Index::create().col(JobTask::JobId).col(JobTask::TaskId))
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_job_task_job")
                            .from(JobTask::Table, JobTask::JobId)
                            .to(Job::Table, Job::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_job_task_task")
                            .from(JobTask::Table, JobTask::TaskId)
                            .to(Task::Table, Task::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_job_task_task",
                JobTask::Table,
                &["task_id", "job_id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(JobDependency::Table)
                    .col(uuid(JobDependency::PredecessorId))
                    .col(uuid(JobDependency::SuccessorId))
                    .col(string_len(JobDependency::TenantId, 200))
                    .col(string_len(JobDependency::DependencyType, 20))
                    .col(big_integer(JobDependency::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(JobDependency::PredecessorId)
                            .col(JobDependency::SuccessorId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_job_dependency_predecessor")
                            .from(JobDependency::Table, JobDependency::PredecessorId)
                            .to(Job::Table, Job::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_job_dependency_successor")
                            .from(JobDependency::Table, JobDependency::SuccessorId)
                            .to(Job::Table, Job::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_job_dependency_successor",
                JobDependency::Table,
                &["successor_id", "predecessor_id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(TaskDependency::Table)
                    .col(uuid(TaskDependency::PredecessorId))
                    .col(uuid(TaskDependency::SuccessorId))
                    .col(string_len(TaskDependency::TenantId, 200))
                    .col(string_len(TaskDependency::DependencyType, 20))
                    .col(big_integer(TaskDependency::CreatedAt))
                    .primary_key(
                        Index::create()
                            .col(TaskDependency::PredecessorId)
                            .col(TaskDependency::SuccessorId),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_task_dependency_predecessor")
                            .from(TaskDependency::Table, TaskDependency::PredecessorId)
                            .to(Task::Table, Task::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_task_dependency_successor")
                            .from(TaskDependency::Table, TaskDependency::SuccessorId)
                            .to(Task::Table, Task::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "ix_task_dependency_successor",
                TaskDependency::Table,
                &["successor_id", "predecessor_id"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Budget::Table)
                    .col(pk_uuid(Budget::Id))
                    .col(string_len(Budget::TenantId, 200))
                    .col(string_len(Budget::Scope, 64))
                    .col(uuid_null(Budget::PlanId))
                    .col(big_integer(Budget::LimitAmount))
                    .col(big_integer(Budget::CreatedAt))
                    .col(big_integer(Budget::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "ux_budget_tenant_scope",
                    Budget::Table,
                    &["tenant_id", "scope"],
                )
                .unique()
                .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Event::Table)
                    .col(big_pk_auto(Event::Id))
                    .col(string_len(Event::TenantId, 200))
                    .col(string_len(Event::EventType, 64))
                    .col(string_len(Event::ActorId, 200))
                    .col(uuid_null(Event::JobId))
                    .col(uuid_null(Event::TaskId))
                    .col(uuid_null(Event::PlanId))
                    .col(string_len_null(Event::Assignee, 200))
                    .col(json_binary_null(Event::LinkedJobIds))
                    .col(json_binary(Event::Details))
                    .col(json_binary(Event::Snapshot))
                    .col(big_integer(Event::OccurredAt))
                    .to_owned(),
            )
            .await?;
        for (name, cols) in [
            ("ix_event_tenant_id", &["tenant_id", "id"][..]),
            ("ix_event_tenant_job", &["tenant_id", "job_id", "id"][..]),
            ("ix_event_tenant_task", &["tenant_id", "task_id", "id"][..]),
        ] {
            manager
                .create_index(index(name, Event::Table, cols))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Event::Table.into_iden(),
            Budget::Table.into_iden(),
            TaskDependency::Table.into_iden(),
            JobDependency::Table.into_iden(),
            JobTask::Table.into_iden(),
            TaskLabel::Table.into_iden(),
            Task::Table.into_iden(),
            JobLabel::Table.into_iden(),
            JobRun::Table.into_iden(),
            Job::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
