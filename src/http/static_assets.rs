//! The pages and files served as they are: GraphiQL at `/`.

use async_graphql::http::GraphiQLSource;
use axum::response::Html;

pub(super) async fn graphiql() -> Html<String> {
    Html(
        GraphiQLSource::build()
            .endpoint("/graphql")
            .title("jobgraph")
            .finish(),
    )
}
