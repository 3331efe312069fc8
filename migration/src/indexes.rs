//! Indexes written as SQL (partial and expression indexes, which the schema builder cannot
//! spell the same way on both backends): each `(name, "table (columns) [WHERE …]")`.

use sea_orm_migration::prelude::*;

/// Creates each index as written.
pub async fn create(manager: &SchemaManager<'_>, indexes: &[(&str, &str)]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for (name, on) in indexes {
        db.execute_unprepared(&format!("CREATE INDEX {name} ON {on}"))
            .await?;
    }
    Ok(())
}

/// Drops each index by name.
pub async fn drop(manager: &SchemaManager<'_>, indexes: &[(&str, &str)]) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for (name, _) in indexes {
        db.execute_unprepared(&format!("DROP INDEX {name}")).await?;
    }
    Ok(())
}
