//! The one place errors become GraphQL errors (DESIGN.md §8).
//!
//! `to_gql` turns a `ServiceError` into an error with `extensions.code` and its keys; INTERNAL
//! detail is logged here and never sent. `ErrorCodes` gives the errors async-graphql raises
//! itself (syntax, validation, coercion, depth, complexity) their code, where responses leave
//! the schema, so no error reaches a client without one.

use crate::error::ServiceError;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest,
    NextRequest,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{
    ErrorExtensions, Request, Response, ServerError, ServerResult, Value, Variables,
};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Put into a request's data by the HTTP edge; set once execution begins. A response whose
/// request never got that far failed to parse, validate or coerce its variables: a request
/// error, which GraphQL over HTTP answers 400 without `data` (DESIGN.md §11). It also keeps
/// the operation the document selected, for metrics and traces.
#[derive(Debug, Clone, Default)]
pub struct Executed(Arc<ExecutedState>);

#[derive(Debug, Default)]
struct ExecutedState {
    started: AtomicBool,
    operation: std::sync::OnceLock<Operation>,
}

/// The operation a request runs: its type and its name, if it has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub kind: OperationType,
    pub name: Option<String>,
}

impl Operation {
    /// `query`, `mutation` or `subscription`.
    pub fn kind_label(&self) -> &'static str {
        match self.kind {
            OperationType::Query => "query",
            OperationType::Mutation => "mutation",
            OperationType::Subscription => "subscription",
        }
    }
}

impl Executed {
    /// Whether execution began.
    pub fn started(&self) -> bool {
        self.0.started.load(Ordering::Acquire)
    }

    /// The operation, once the query parsed and one was selected.
    pub fn operation(&self) -> Option<&Operation> {
        self.0.operation.get()
    }
}

/// The operation `name` selects in `doc` (a named one is keyed by its name; an anonymous one
/// is the document's only operation).
fn operation_of(doc: &ExecutableDocument, name: Option<&str>) -> Option<Operation> {
    use async_graphql::parser::types::DocumentOperations;
    match &doc.operations {
        DocumentOperations::Single(op) => Some(Operation {
            kind: op.node.ty,
            name: None,
        }),
        DocumentOperations::Multiple(ops) => {
            let (key, op) = match name {
                Some(name) => ops.get_key_value(name)?,
                None if ops.len() == 1 => ops.iter().next()?,
                None => return None,
            };
            Some(Operation {
                kind: op.node.ty,
                name: Some(key.to_string()),
            })
        }
    }
}

/// A `ServiceError` as the client sees it.
pub fn to_gql(err: ServiceError) -> async_graphql::Error {
    match &err {
        ServiceError::Internal(detail) => tracing::error!(%detail, "internal error"),
        ServiceError::Contention(detail) => tracing::warn!(%detail, "database contention"),
        _ => {}
    }
    let code = err.code();
    let extensions = err.extensions();
    async_graphql::Error::new(err.to_string()).extend_with(|_, ext| {
        ext.set("code", code);
        for (key, value) in extensions {
            ext.set(key, Value::from_json(value).unwrap_or(Value::Null));
        }
    })
}

/// The code an error async-graphql raised itself gets.
pub fn code_for_library_error(message: &str) -> &'static str {
    // The first two are the configured limits; the others are the parser's and the
    // validator's own recursion guards, which fire first on very deep queries.
    const TOO_COMPLEX: [&str; 4] = [
        "Query is nested too deep",
        "Query is too complex",
        "The recursion depth of the query cannot be greater than",
        "recursion limit exceeded",
    ];
    if TOO_COMPLEX.iter().any(|prefix| message.starts_with(prefix)) {
        "QUERY_TOO_COMPLEX"
    } else {
        "BAD_USER_INPUT"
    }
}

/// Adds `extensions.code` to every error of a response that has none.
pub fn add_missing_codes(mut response: Response) -> Response {
    for error in &mut response.errors {
        let has_code = error
            .extensions
            .as_ref()
            .is_some_and(|e| e.get("code").is_some());
        if !has_code {
            let code = code_for_library_error(&error.message);
            error
                .extensions
                .get_or_insert_with(Default::default)
                .set("code", code);
        }
    }
    response
}

/// The schema extension that applies `add_missing_codes` to every response.
pub struct ErrorCodes;

impl ExtensionFactory for ErrorCodes {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ErrorCodesExtension::default())
    }
}

#[derive(Default)]
struct ErrorCodesExtension {
    /// The operation the request names, for the variable check after parsing.
    operation_name: OperationName,
}

/// The operation a request names, remembered by an extension in `prepare_request` for its
/// `parse_query` (which async-graphql hands only the query text and variables).
#[derive(Debug, Default)]
pub(crate) struct OperationName(std::sync::Mutex<Option<String>>);

impl OperationName {
    pub(crate) fn remember(&self, request: &Request) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = request.operation_name.clone();
    }

    pub(crate) fn get(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A non-null variable without a default that the request does not provide fails variable
/// coercion, a request error (the spec's CoerceVariableValues). async-graphql's validation
/// skips arguments whose variable is missing and fails later, during execution; this check
/// makes it fail before, like every other coercion failure.
fn check_required_variables(
    doc: &ExecutableDocument,
    name: Option<&str>,
    variables: &Variables,
) -> ServerResult<()> {
    let Some(op) = super::order::selected(doc, name) else {
        return Ok(());
    };
    for def in &op.node.variable_definitions {
        let def_node = &def.node;
        if !def_node.var_type.node.nullable
            && def_node.default_value.is_none()
            && !variables.contains_key(&def_node.name.node)
        {
            return Err(ServerError::new(
                format!(
                    "Variable `${}` of type `{}` is required and was not provided.",
                    def_node.name.node, def_node.var_type.node
                ),
                Some(def.pos),
            ));
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl Extension for ErrorCodesExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        add_missing_codes(next.run(ctx).await)
    }

    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        self.operation_name.remember(&request);
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        let name = self.operation_name.get();
        if let Some(executed) = ctx.data_opt::<Executed>()
            && let Some(operation) = operation_of(&doc, name.as_deref())
        {
            let _ = executed.0.operation.set(operation);
        }
        check_required_variables(&doc, name.as_deref(), variables)?;
        Ok(doc)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if let Some(executed) = ctx.data_opt::<Executed>() {
            executed.0.started.store(true, Ordering::Release);
        }
        next.run(ctx, operation_name).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(err: &async_graphql::Error) -> serde_json::Value {
        serde_json::to_value(err.extensions.as_ref().unwrap()).unwrap()
    }

    #[test]
    fn service_errors_carry_code_and_keys() {
        let e = to_gql(ServiceError::invalid_transition(
            "job", "RUNNING", "DELETED",
        ));
        assert_eq!(
            ext(&e),
            serde_json::json!({"code": "INVALID_TRANSITION", "from": "RUNNING", "to": "DELETED"})
        );
        let e = to_gql(ServiceError::bad_input("input.labels[3]", "bad"));
        assert_eq!(
            ext(&e),
            serde_json::json!({"code": "BAD_USER_INPUT", "field": "input.labels[3]"})
        );
        let e = to_gql(ServiceError::VersionConflict {
            expected: 1,
            actual: 2,
        });
        assert_eq!(ext(&e)["actualVersion"], 2);
    }

    #[test]
    fn internal_detail_is_not_shown() {
        let e = to_gql(ServiceError::Internal(
            "SELECT * FROM job: connection reset".into(),
        ));
        assert_eq!(e.message, "internal error");
        assert_eq!(ext(&e), serde_json::json!({"code": "INTERNAL"}));
    }

    #[test]
    fn library_errors_get_codes() {
        assert_eq!(
            code_for_library_error("Query is nested too deep."),
            "QUERY_TOO_COMPLEX"
        );
        assert_eq!(
            code_for_library_error("Query is too complex."),
            "QUERY_TOO_COMPLEX"
        );
        assert_eq!(
            code_for_library_error("The recursion depth of the query cannot be greater than `32`"),
            "QUERY_TOO_COMPLEX"
        );
        assert_eq!(
            code_for_library_error("recursion limit exceeded."),
            "QUERY_TOO_COMPLEX"
        );
        assert_eq!(
            code_for_library_error("Unknown field \"x\""),
            "BAD_USER_INPUT"
        );
    }
}
