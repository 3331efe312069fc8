//! Keyset pagination shared by every list (DESIGN.md §9).
//!
//! A page is `ORDER BY <field> <dir> [nulls last], id <dir> LIMIT n+1`, starting strictly after
//! the cursor's (value, id): the same index range scan on page 1 and on page 10,000. A cursor
//! records the list and ordering it came from, so one from another ordering is refused rather
//! than misread.

use crate::error::{ServiceError, ServiceResult};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};
use sea_orm::{ColumnTrait, Condition, EntityTrait, Order, QueryOrder, Select};
use uuid::Uuid;

/// Largest and default page size.
pub const MAX_PAGE: i32 = 200;
pub const DEFAULT_PAGE: i32 = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortDirection {
    Asc,
    Desc,
}

impl SortDirection {
    fn tag(self) -> &'static str {
        match self {
            Self::Asc => "asc",
            Self::Desc => "desc",
        }
    }
    fn order(self) -> Order {
        match self {
            Self::Asc => Order::Asc,
            Self::Desc => Order::Desc,
        }
    }
}

/// One ordering of one list: its column, whether it may be null, its direction, and a tag
/// naming both (`job:created_at:desc`) that cursors carry.
#[derive(Debug, Clone, Copy)]
pub struct Ordering<C: ColumnTrait> {
    pub list: &'static str,
    pub field: &'static str,
    pub column: C,
    pub id_column: C,
    pub nullable: bool,
    pub direction: SortDirection,
}

/// The position of a row in an ordering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub value: Option<i64>,
    pub id: Uuid,
}

/// A page of rows with their cursors.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<(String, T)>,
    pub has_next_page: bool,
    pub has_previous_page: bool,
}

impl<C: ColumnTrait> Ordering<C> {
    fn tag(&self) -> String {
        format!("{}:{}:{}", self.list, self.field, self.direction.tag())
    }

    /// The cursor of a row at `pos`.
    pub fn cursor(&self, pos: &Position) -> String {
        let value = pos.value.map_or_else(|| "~".to_string(), |v| v.to_string());
        URL_SAFE_NO_PAD.encode(format!("{}|{value}|{}", self.tag(), pos.id))
    }

    /// Reads a cursor given as the argument `field`.
    pub fn decode(&self, field: &str, cursor: &str) -> ServiceResult<Position> {
        let malformed = || {
            ServiceError::bad_input(field, format!("`{field}` is not a cursor this list issued"))
        };
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| malformed())?;
        let text = String::from_utf8(bytes).map_err(|_| malformed())?;
        let mut parts = text.split('|');
        let (Some(tag), Some(value), Some(id), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed());
        };
        if tag != self.tag() {
            return Err(ServiceError::bad_input(
                field,
                format!("`{field}` belongs to another ordering or list; start again without it"),
            ));
        }
        let value = match value {
            "~" if self.nullable => None,
            v => Some(v.parse::<i64>().map_err(|_| malformed())?),
        };
        let id = Uuid::parse_str(id).map_err(|_| malformed())?;
        Ok(Position { value, id })
    }

    /// The rows strictly after `pos` (nulls last in both directions).
    pub fn after(&self, pos: &Position) -> Condition {
        let beyond = |a: Expr, b: Expr| -> SimpleExpr {
            match self.direction {
                SortDirection::Asc => a.gt(b),
                SortDirection::Desc => a.lt(b),
            }
        };
        let id_beyond = beyond(Expr::col(self.id_column), Expr::val(pos.id));
        match pos.value {
            Some(v) => {
                let mut any = Condition::any()
                    .add(beyond(Expr::col(self.column), Expr::val(v)))
                    .add(Condition::all().add(self.column.eq(v)).add(id_beyond));
                if self.nullable {
                    any = any.add(self.column.is_null());
                }
                any
            }
            None => Condition::all().add(self.column.is_null()).add(id_beyond),
        }
    }

    /// Orders `query` by this ordering, then by id.
    pub fn apply<E: EntityTrait<Column = C>>(&self, mut query: Select<E>) -> Select<E> {
        if self.nullable {
            query = query.order_by(Expr::col(self.column).is_null(), Order::Asc);
        }
        query
            .order_by(self.column, self.direction.order())
            .order_by(self.id_column, self.direction.order())
    }
}

/// A page size within 1..=200 (default 20), given as the argument `field`.
pub fn page_size(field: &str, first: Option<i32>) -> ServiceResult<u64> {
    let n = first.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&n) {
        return Err(ServiceError::bad_input(
            field,
            format!("`{field}` must be between 1 and {MAX_PAGE}"),
        ));
    }
    Ok(n as u64)
}

/// Cuts the `limit + 1` rows a page query fetched to `limit`, with their cursors.
pub fn page<T>(
    mut rows: Vec<T>,
    limit: u64,
    had_cursor: bool,
    cursor_of: impl Fn(&T) -> String,
) -> Page<T> {
    let has_next_page = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let items = rows.into_iter().map(|row| (cursor_of(&row), row)).collect();
    Page {
        items,
        has_next_page,
        has_previous_page: had_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use entity::job;

    fn ordering(nullable: bool, direction: SortDirection) -> Ordering<job::Column> {
        Ordering {
            list: "job",
            field: "run_at",
            column: job::Column::RunAt,
            id_column: job::Column::Id,
            nullable,
            direction,
        }
    }

    #[test]
    fn cursors_round_trip_and_know_their_ordering() {
        let asc = ordering(true, SortDirection::Asc);
        let pos = Position {
            value: None,
            id: Uuid::now_v7(),
        };
        let c = asc.cursor(&pos);
        assert_eq!(asc.decode("after", &c).unwrap(), pos);
        let desc = ordering(true, SortDirection::Desc);
        assert!(
            matches!(desc.decode("after", &c), Err(ServiceError::BadInput { ref field, .. }) if field == "after")
        );
        assert!(asc.decode("before", "not base64!").is_err());
        assert!(
            asc.decode("after", &URL_SAFE_NO_PAD.encode("job:run_at:asc|x|y"))
                .is_err()
        );
        let not_null = ordering(false, SortDirection::Asc);
        let c = not_null.cursor(&Position {
            value: Some(5),
            id: pos.id,
        });
        assert_eq!(not_null.decode("after", &c).unwrap().value, Some(5));
    }

    #[test]
    fn page_sizes() {
        assert_eq!(page_size("first", None).unwrap(), 20);
        assert_eq!(page_size("first", Some(200)).unwrap(), 200);
        assert!(page_size("first", Some(0)).is_err());
        assert!(page_size("first", Some(201)).is_err());
    }
}
