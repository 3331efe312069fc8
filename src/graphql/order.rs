//! Response keys in selection order (GraphQL spec §7.2.2 "Serialized Map Ordering").
//!
//! async-graphql 7.2 resolves an object's fields concurrently and inserts each result as it
//! completes (its issue #612), so `{ role job { id } task { id } }` can answer `role, task, job`
//! when `job` waits on a DataLoader. This extension keeps the document it parsed and, after
//! execution (and for each response of a subscription), puts every object's keys back in the
//! order the selection sets give: fields first by their first appearance, fragments and inline
//! fragments expanded where they stand, aliases as their response keys. Objects already in
//! order, the common case, are left untouched; only those out of order are rebuilt.
//!
//! The order is built once per request from the document (an [`Order`] tree), then applied to
//! every element of every list under it, so a page of 200 objects costs one plan.

use crate::graphql::error::OperationName;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextRequest,
    NextSubscribe,
};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, FragmentDefinition, OperationDefinition, Selection,
    SelectionSet,
};
use async_graphql::{Name, Positioned, Request, Response, ServerResult, Value, Variables};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How deep fragment spreads are followed while building the order (field nesting is bounded
/// by the depth limit; this bounds chains of fragments spreading fragments).
const MAX_FRAGMENT_HOPS: usize = 64;

/// The schema extension.
pub struct SelectionOrder;

impl ExtensionFactory for SelectionOrder {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OrderExtension::default())
    }
}

#[derive(Default)]
struct OrderExtension {
    operation_name: OperationName,
    /// The order of the parsed operation, shared with a subscription's stream.
    order: Arc<Mutex<Option<Arc<Order>>>>,
}

/// The keys of one object in selection order, with the order of what is under each.
#[derive(Debug, Default, PartialEq)]
pub struct Order {
    keys: Vec<(Name, Order)>,
}

impl Order {
    /// The order of the operation `name` selects in `doc` (None when it selects none).
    pub fn of(doc: &ExecutableDocument, name: Option<&str>) -> Option<Self> {
        let op = selected(doc, name)?;
        Some(Self::build(&[&op.node.selection_set.node], &doc.fragments))
    }

    fn build(
        sets: &[&SelectionSet],
        fragments: &HashMap<Name, Positioned<FragmentDefinition>>,
    ) -> Self {
        let mut keys: Vec<(&Name, Vec<&SelectionSet>)> = Vec::new();
        for set in sets {
            collect(set, fragments, &mut keys, 0);
        }
        Self {
            keys: keys
                .into_iter()
                .map(|(key, children)| {
                    let order = if children.is_empty() {
                        Order::default()
                    } else {
                        Self::build(&children, fragments)
                    };
                    (key.clone(), order)
                })
                .collect(),
        }
    }

    /// Puts `value`'s keys (and those of everything under it) in this order.
    pub fn apply(&self, value: &mut Value) {
        match value {
            Value::Object(map) if !self.keys.is_empty() => {
                let position = |key: &Name| self.keys.iter().position(|(k, _)| k == key);
                let mut last = None;
                let in_order = map.keys().all(|key| {
                    let p = position(key);
                    let ok = p.is_some() && p > last;
                    last = p;
                    ok
                });
                if !in_order {
                    let mut old = std::mem::take(map);
                    for (key, _) in &self.keys {
                        if let Some((k, v)) = old.swap_remove_entry(key) {
                            map.insert(k, v);
                        }
                    }
                    // Keys the document does not name (none in practice) keep their place last.
                    map.extend(old);
                }
                for (key, order) in &self.keys {
                    if !order.keys.is_empty()
                        && let Some(child) = map.get_mut(key)
                    {
                        order.apply(child);
                    }
                }
            }
            Value::List(items) => {
                for item in items {
                    self.apply(item);
                }
            }
            _ => {}
        }
    }
}

/// The operation a request runs, when the document and the name select one.
pub fn selected<'d>(
    doc: &'d ExecutableDocument,
    name: Option<&str>,
) -> Option<&'d Positioned<OperationDefinition>> {
    match (&doc.operations, name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next(),
        _ => None,
    }
}

/// Adds the response keys of `set` to `keys` in order, merging repeats, fragments expanded.
fn collect<'d>(
    set: &'d SelectionSet,
    fragments: &'d HashMap<Name, Positioned<FragmentDefinition>>,
    keys: &mut Vec<(&'d Name, Vec<&'d SelectionSet>)>,
    hops: usize,
) {
    for selection in &set.items {
        match &selection.node {
            Selection::Field(field) => {
                let key = &field.node.response_key().node;
                let children = &field.node.selection_set.node;
                let slot = match keys.iter().position(|(k, _)| *k == key) {
                    Some(i) => i,
                    None => {
                        keys.push((key, Vec::new()));
                        keys.len() - 1
                    }
                };
                if !children.items.is_empty() {
                    keys[slot].1.push(children);
                }
            }
            Selection::FragmentSpread(spread) => {
                if hops < MAX_FRAGMENT_HOPS
                    && let Some(fragment) = fragments.get(&spread.node.fragment_name.node)
                {
                    collect(&fragment.node.selection_set.node, fragments, keys, hops + 1);
                }
            }
            Selection::InlineFragment(inline) => {
                collect(&inline.node.selection_set.node, fragments, keys, hops);
            }
        }
    }
}

fn reorder(order: &Mutex<Option<Arc<Order>>>, mut response: Response) -> Response {
    let order = order.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(order) = order {
        order.apply(&mut response.data);
    }
    response
}

#[async_trait::async_trait]
impl Extension for OrderExtension {
    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        reorder(&self.order, next.run(ctx).await)
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, Response> {
        let order = self.order.clone();
        next.run(ctx, stream)
            .map(move |response| reorder(&order, response))
            .boxed()
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
        let order = Order::of(&doc, name.as_deref()).map(Arc::new);
        *self.order.lock().unwrap_or_else(|e| e.into_inner()) = order;
        Ok(doc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::parser::parse_query;
    use serde_json::json;

    fn ordered(query: &str, data: serde_json::Value) -> String {
        let doc = parse_query(query).unwrap();
        let mut value = Value::from_json(data).unwrap();
        Order::of(&doc, None).unwrap().apply(&mut value);
        serde_json::to_string(&value).unwrap()
    }

    #[test]
    fn keys_follow_the_document() {
        assert_eq!(
            ordered(
                "{ a { role job { id } task { id title } } }",
                json!({"a": {"task": {"title": "t", "id": 2}, "role": "R", "job": {"id": 1}}})
            ),
            r#"{"a":{"role":"R","job":{"id":1},"task":{"id":2,"title":"t"}}}"#
        );
    }

    #[test]
    fn lists_aliases_fragments_and_repeats() {
        let query = "query { x: jobs { nodes { ...F b: title ... on Job { c } id } } }
                     fragment F on Job { a id }";
        let data = json!({"x": {"nodes": [
            {"c": 3, "b": "t", "id": 1, "a": 0},
            {"id": 2, "c": 3, "a": 0, "b": "u"},
        ]}});
        assert_eq!(
            ordered(query, data),
            r#"{"x":{"nodes":[{"a":0,"id":1,"b":"t","c":3},{"a":0,"id":2,"b":"u","c":3}]}}"#
        );
        // A field selected twice merges its selections, in order of appearance.
        let query = "{ job { tasks { role } } job { tasks { task { id } role } id } }";
        let data = json!({"job": {"id": 1, "tasks": [{"task": {"id": 2}, "role": "P"}]}});
        assert_eq!(
            ordered(query, data),
            r#"{"job":{"tasks":[{"role":"P","task":{"id":2}}],"id":1}}"#
        );
    }

    #[test]
    fn null_and_scalars_are_left_alone() {
        assert_eq!(ordered("{ a { b } }", json!({"a": null})), r#"{"a":null}"#);
        assert_eq!(ordered("{ a }", json!({"a": [1, 2]})), r#"{"a":[1,2]}"#);
    }
}
