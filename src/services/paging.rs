//! Keyset pagination shared by every list (DESIGN.md §9).
//!
//! A page is `ORDER BY <field> <dir>, id <dir> LIMIT n+1` starting strictly after the cursor's
//! (value, id): the same index range scan on page 1 and on page 10,000. Paging back reads the
//! same range in the other direction. Nulls sort last in both directions; a nullable ordering
//! reads the valued rows and the null rows as two range scans instead of sorting on
//! `IS NULL`, which no index serves. A cursor
//! records the list and ordering it came from, so one from another ordering is refused rather
//! than misread.

use crate::error::{ServiceError, ServiceResult};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, Order, QueryFilter, QueryOrder,
    QuerySelect, Select,
};
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

/// The paging arguments of a connection field.
#[derive(Debug, Clone, Copy, Default)]
pub struct PageArgs<'a> {
    pub first: Option<i32>,
    pub after: Option<&'a str>,
    pub last: Option<i32>,
    pub before: Option<&'a str>,
}

/// One of the (at most two) index range scans a page reads: the rows whose value is set, and,
/// for a nullable column, the rows whose value is null (which sort last in both directions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment {
    Valued,
    Null,
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

    /// `a` comes after `b` in this ordering (`forward`) or before it (`!forward`).
    fn past(&self, forward: bool, a: Expr, b: Expr) -> SimpleExpr {
        match (self.direction, forward) {
            (SortDirection::Asc, true) | (SortDirection::Desc, false) => a.gt(b),
            (SortDirection::Asc, false) | (SortDirection::Desc, true) => a.lt(b),
        }
    }

    /// The rows of `segment` strictly past `pos`, going `forward` (after it) or back (before
    /// it); `None` when no row of the segment is.
    fn bound(&self, segment: Segment, pos: &Position, forward: bool) -> Option<Condition> {
        let id_past = self.past(forward, Expr::col(self.id_column), Expr::val(pos.id));
        match (segment, pos.value) {
            (Segment::Valued, Some(v)) => Some(
                Condition::any()
                    .add(self.past(forward, Expr::col(self.column), Expr::val(v)))
                    .add(Condition::all().add(self.column.eq(v)).add(id_past)),
            ),
            // The cursor is among the nulls, which sort after every value.
            (Segment::Valued, None) => (!forward).then(Condition::all),
            (Segment::Null, Some(_)) => forward.then(Condition::all),
            (Segment::Null, None) => Some(Condition::all().add(id_past)),
        }
    }

    /// The query of one segment within the window, ordered for reading `forward` or back.
    fn segment_query<E: EntityTrait<Column = C>>(
        &self,
        base: &Select<E>,
        segment: Segment,
        after: Option<&Position>,
        before: Option<&Position>,
        forward: bool,
    ) -> Option<Select<E>> {
        let mut query = base.clone();
        if self.nullable {
            query = query.filter(match segment {
                Segment::Valued => self.column.is_not_null(),
                Segment::Null => self.column.is_null(),
            });
        }
        if let Some(pos) = after {
            query = query.filter(self.bound(segment, pos, true)?);
        }
        if let Some(pos) = before {
            query = query.filter(self.bound(segment, pos, false)?);
        }
        let order = if forward {
            self.direction.order()
        } else {
            self.direction.reversed().order()
        };
        if segment == Segment::Valued {
            query = query.order_by(self.column, order.clone());
        }
        Some(query.order_by(self.id_column, order))
    }

    /// One page of `base` in this ordering: `first` rows after `after`, or the `last` rows
    /// before `before` (a window when both cursors are given). Each segment is one index range
    /// scan, so a page costs the same wherever it starts.
    pub async fn fetch<E, D>(
        &self,
        db: &D,
        base: Select<E>,
        args: PageArgs<'_>,
        value_of: impl Fn(&E::Model) -> Option<i64>,
        id_of: impl Fn(&E::Model) -> Uuid,
    ) -> ServiceResult<Page<E::Model>>
    where
        E: EntityTrait<Column = C>,
        D: ConnectionTrait,
    {
        if args.first.is_some() && args.last.is_some() {
            return Err(ServiceError::bad_input(
                "last",
                "give `first` or `last`, not both: page forward with first/after, back with last/before",
            ));
        }
        let forward = args.last.is_none() && !(args.first.is_none() && args.before.is_some());
        let limit = if forward {
            page_size("first", args.first)?
        } else {
            page_size("last", args.last)?
        };
        let after = args.after.map(|c| self.decode("after", c)).transpose()?;
        let before = args.before.map(|c| self.decode("before", c)).transpose()?;
        let segments: &[Segment] = match (self.nullable, forward) {
            (false, _) => &[Segment::Valued],
            (true, true) => &[Segment::Valued, Segment::Null],
            (true, false) => &[Segment::Null, Segment::Valued],
        };
        let mut rows: Vec<E::Model> = Vec::new();
        for segment in segments {
            let want = limit + 1 - rows.len() as u64;
            if want == 0 {
                break;
            }
            if let Some(query) =
                self.segment_query(&base, *segment, after.as_ref(), before.as_ref(), forward)
            {
                rows.extend(query.limit(want).all(db).await?);
            }
        }
        let more = rows.len() as u64 > limit;
        rows.truncate(limit as usize);
        if !forward {
            rows.reverse();
        }
        let items = rows
            .into_iter()
            .map(|row| {
                let pos = Position {
                    value: value_of(&row),
                    id: id_of(&row),
                };
                (self.cursor(&pos), row)
            })
            .collect();
        Ok(if forward {
            Page {
                items,
                has_next_page: more,
                has_previous_page: after.is_some(),
            }
        } else {
            Page {
                items,
                has_next_page: before.is_some(),
                has_previous_page: more,
            }
        })
    }
}

impl SortDirection {
    fn reversed(self) -> Self {
        match self {
            Self::Asc => Self::Desc,
            Self::Desc => Self::Asc,
        }
    }
}

impl<T> Page<T> {
    /// The same page with each item converted.
    pub fn map<U>(self, f: impl Fn(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(|(c, t)| (c, f(t))).collect(),
            has_next_page: self.has_next_page,
            has_previous_page: self.has_previous_page,
        }
    }
}

/// `COUNT(*)` of a query's rows, as one plain statement.
pub async fn count<E: EntityTrait, D: ConnectionTrait>(
    db: &D,
    query: Select<E>,
) -> ServiceResult<i64> {
    let n: Option<i64> = query
        .select_only()
        .column_as(Expr::cust("COUNT(*)"), "n")
        .into_tuple()
        .one(db)
        .await?;
    Ok(n.unwrap_or(0))
}

/// A search term as a LIKE pattern over the lower-cased title: a literal substring, with
/// `\`, `%` and `_` escaped (the query says `ESCAPE '\'`).
pub fn contains_pattern(term: &str) -> String {
    let mut pattern = String::with_capacity(term.len() + 2);
    pattern.push('%');
    for c in term.to_lowercase().chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// Checks a search term: 1..200 characters.
pub fn search_term(field: &str, term: &str) -> ServiceResult<()> {
    crate::services::validate::no_nul(field, term)?;
    let n = term.chars().count();
    if n == 0 || n > 200 {
        return Err(ServiceError::bad_input(
            field,
            format!("`{field}` must be 1..200 characters"),
        ));
    }
    Ok(())
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
    fn search_patterns_are_literal() {
        assert_eq!(contains_pattern("Ab"), "%ab%");
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
        assert_eq!(contains_pattern("ÉCOLE"), "%école%");
    }

    #[test]
    fn page_sizes() {
        assert_eq!(page_size("first", None).unwrap(), 20);
        assert_eq!(page_size("first", Some(200)).unwrap(), 200);
        assert!(page_size("first", Some(0)).is_err());
        assert!(page_size("first", Some(201)).is_err());
    }
}
