//! Hand-written statements, for the few queries SeaORM's builder cannot say (recursive walks,
//! LATERAL heads, `UPDATE … RETURNING` over a locked subquery).
//!
//! `Sql` binds values in the order they appear in the text: SQLite's `?` placeholders are
//! positional, PostgreSQL's are numbered, and one builder writes both.

use sea_orm::{ConnectionTrait, DbBackend, Statement};

/// A statement under construction.
pub struct Sql {
    postgres: bool,
    text: String,
    values: Vec<sea_orm::Value>,
}

impl Sql {
    pub fn new(postgres: bool) -> Self {
        Self {
            postgres,
            text: String::with_capacity(1024),
            values: Vec::new(),
        }
    }

    /// Appends literal SQL.
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder for `value`.
    pub fn bind(&mut self, value: impl Into<sea_orm::Value>) -> &mut Self {
        self.values.push(value.into());
        if self.postgres {
            let n = self.values.len();
            self.text.push_str(&format!("${n}"));
        } else {
            self.text.push('?');
        }
        self
    }

    /// The statement for `conn`'s backend.
    pub fn statement(self, conn: &impl ConnectionTrait) -> Statement {
        let backend: DbBackend = conn.get_database_backend();
        Statement::from_sql_and_values(backend, self.text, self.values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_follow_the_backend() {
        let mut pg = Sql::new(true);
        pg.push("a = ").bind(1).push(" AND b = ").bind("x");
        assert_eq!(pg.text, "a = $1 AND b = $2");
        let mut lite = Sql::new(false);
        lite.push("a = ").bind(1).push(" AND b = ").bind("x");
        assert_eq!(lite.text, "a = ? AND b = ?");
        assert_eq!(lite.values.len(), 2);
    }
}
