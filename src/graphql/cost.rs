//! What a query may cost (DESIGN.md §9), counted by async-graphql before any resolver runs.
//!
//! Each field costs 1, times the product of the list sizes above it: a connection multiplies
//! what is under it by its page size (`first`/`last`, default 20), `claimJobs` by its `limit`,
//! and an unpaginated domain list (a job's tasks, a task's subtasks, dependencies, runs, a
//! delegation chain, a plan's members) by [`UNPAGINATED`]. Introspection fields keep the
//! library's flat count. The fields say which rule is theirs with
//! `#[graphql(complexity = "cost::…")]`.
//!
//! The arithmetic saturates at [`CAP`], far above any configured limit and far below
//! `usize::MAX`: async-graphql adds sibling costs with a plain `+`, so a cost that saturated at
//! `usize::MAX` could wrap around to a small number in a release build.

/// A dashboard's page: 50 jobs with their tasks. It costs 6,201 (the README shows it; the
/// tests and `bench_order` run it).
pub const DASHBOARD_QUERY: &str = "query Dashboard {
  jobs(first: 50) {
    totalCount
    pageInfo { hasNextPage endCursor }
    nodes {
      id title status priority priorityLevel labels createdAt updatedAt
      assignedAgent actualCost attempt blocked
      progress { total completed cancelled open ratio }
      tasks { role task { id title status priority assignedAgent updatedAt blocked labels } }
    }
  }
}";

/// The size an unpaginated list is counted at.
pub const UNPAGINATED: usize = 10;

/// The page size a connection is counted at when neither `first` nor `last` is given.
pub const DEFAULT_PAGE: usize = 20;

/// The largest page a connection serves; a larger `first` is refused by the resolver with
/// BAD_USER_INPUT naming it, so it is counted as this.
pub const MAX_PAGE: usize = 200;

/// Where costs stop growing: 2^40, so even a million sibling fields at the cap cannot overflow
/// the library's sums.
pub const CAP: usize = 1 << 40;

/// The cost of a field returning `size` copies of what its selection costs.
pub fn times(size: usize, child_complexity: usize) -> usize {
    size.saturating_mul(child_complexity)
        .saturating_add(1)
        .min(CAP)
}

/// A connection: `first` or `last` (both given is refused by the resolver; the larger counts).
pub fn page(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    let size = match (first, last) {
        (None, None) => DEFAULT_PAGE,
        (a, b) => a.unwrap_or(0).max(b.unwrap_or(0)).clamp(1, MAX_PAGE as i32) as usize,
    };
    times(size, child_complexity)
}

/// A connection that pages forward only.
pub fn forward(first: Option<i32>, child_complexity: usize) -> usize {
    page(first, None, child_complexity)
}

/// A list sized by an argument such as claimJobs' `limit` (clamped to 1..=`max`, where the
/// resolver refuses anything outside).
pub fn sized(size: Option<i32>, default: usize, max: usize, child_complexity: usize) -> usize {
    let size = size.map_or(default, |n| n.clamp(1, max as i32) as usize);
    times(size, child_complexity)
}

/// An unpaginated domain list.
pub fn list(child_complexity: usize) -> usize {
    times(UNPAGINATED, child_complexity)
}

/// The complexity and depth async-graphql counts for a request, measured on a schema with no
/// limits and no data (nothing it runs can read or change anything). For tests and tools.
pub async fn measure(
    query: &str,
    variables: serde_json::Value,
) -> Result<(usize, usize), Vec<String>> {
    use std::sync::OnceLock;
    static SCHEMA: OnceLock<super::AppSchema> = OnceLock::new();
    let schema = SCHEMA.get_or_init(|| {
        super::builder()
            .extension(async_graphql::extensions::Analyzer)
            .finish()
    });
    let request = async_graphql::Request::new(query)
        .variables(async_graphql::Variables::from_json(variables));
    let response = schema.execute(request).await;
    let analyzer = response
        .extensions
        .get("analyzer")
        .and_then(|v| v.clone().into_json().ok());
    match analyzer {
        Some(a) => Ok((
            a["complexity"].as_u64().unwrap_or(0) as usize,
            a["depth"].as_u64().unwrap_or(0) as usize,
        )),
        None => Err(response.errors.into_iter().map(|e| e.message).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_multiply_and_saturate() {
        assert_eq!(page(None, None, 3), 61);
        assert_eq!(page(Some(50), None, 2), 101);
        assert_eq!(page(None, Some(5), 2), 11);
        assert_eq!(
            page(Some(1_000_000), None, 1),
            201,
            "counted at the largest page"
        );
        // A size below 1 is refused by the resolver, but counted as 1: a zero would make
        // everything under it free to validate.
        assert_eq!(page(Some(-4), None, 7), 8);
        assert_eq!(page(Some(0), None, 7), 8);
        assert_eq!(list(4), 41);
        assert_eq!(sized(Some(10), 1, 100, 5), 51);
        assert_eq!(sized(None, 1, 100, 5), 6);
        assert_eq!(times(usize::MAX, usize::MAX), CAP);
        assert_eq!(times(200, CAP), CAP);
        // Siblings at the cap still sum without overflow.
        assert!(CAP.checked_mul(1 << 20).is_some());
    }
}
