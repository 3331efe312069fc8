//! RFC 7396 JSON Merge Patch, as a pure function.
//!
//! A patch that is an object is applied member by member: a `null` member removes that name
//! from the target, any other member is merged (recursively) into the target's value of that
//! name; a target that is not an object is first replaced by `{}`. A patch that is not an
//! object replaces the target outright. Arrays are values like any other: never merged.

use serde_json::{Map, Value};

/// `target` with `patch` applied as an RFC 7396 merge patch.
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    let mut out = target.clone();
    apply(&mut out, patch);
    out
}

/// Applies `patch` to `target` in place (RFC 7396 §2's `MergePatch(Target, Patch)`).
pub fn apply(target: &mut Value, patch: &Value) {
    let Value::Object(members) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(map) = target else {
        unreachable!("the target was just made an object");
    };
    for (name, value) in members {
        if value.is_null() {
            map.remove(name);
        } else {
            apply(map.entry(name.clone()).or_insert(Value::Null), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Every example of RFC 7396 Appendix A, in its order: (original, patch, result).
    #[test]
    fn rfc7396_appendix_a() {
        let cases = [
            (json!({"a": "b"}), json!({"a": "c"}), json!({"a": "c"})),
            (
                json!({"a": "b"}),
                json!({"b": "c"}),
                json!({"a": "b", "b": "c"}),
            ),
            (json!({"a": "b"}), json!({"a": null}), json!({})),
            (
                json!({"a": "b", "b": "c"}),
                json!({"a": null}),
                json!({"b": "c"}),
            ),
            (json!({"a": ["b"]}), json!({"a": "c"}), json!({"a": "c"})),
            (json!({"a": "c"}), json!({"a": ["b"]}), json!({"a": ["b"]})),
            (
                json!({"a": {"b": "c"}}),
                json!({"a": {"b": "d", "c": null}}),
                json!({"a": {"b": "d"}}),
            ),
            (
                json!({"a": [{"b": "c"}]}),
                json!({"a": [1]}),
                json!({"a": [1]}),
            ),
            (json!(["a", "b"]), json!(["c", "d"]), json!(["c", "d"])),
            (json!({"a": "b"}), json!(["c"]), json!(["c"])),
            (json!({"a": "foo"}), json!(null), json!(null)),
            (json!({"a": "foo"}), json!("bar"), json!("bar")),
            (
                json!({"e": null}),
                json!({"a": 1}),
                json!({"e": null, "a": 1}),
            ),
            (
                json!([1, 2]),
                json!({"a": "b", "c": null}),
                json!({"a": "b"}),
            ),
            (
                json!({}),
                json!({"a": {"bb": {"ccc": null}}}),
                json!({"a": {"bb": {}}}),
            ),
        ];
        for (i, (original, patch, result)) in cases.iter().enumerate() {
            assert_eq!(
                &merge_patch(original, patch),
                result,
                "Appendix A example {}: {original} + {patch}",
                i + 1
            );
        }
    }

    #[test]
    fn leaves_the_target_alone_and_is_idempotent() {
        let original = json!({"a": {"b": 1}, "keep": [1, 2]});
        let patch = json!({"a": {"c": 2}, "gone": null});
        let once = merge_patch(&original, &patch);
        assert_eq!(original, json!({"a": {"b": 1}, "keep": [1, 2]}));
        assert_eq!(once, json!({"a": {"b": 1, "c": 2}, "keep": [1, 2]}));
        assert_eq!(
            merge_patch(&once, &patch),
            once,
            "a merge patch is idempotent"
        );
    }

    #[test]
    fn empty_patch_changes_nothing_and_scalars_become_objects() {
        let original = json!({"a": 1});
        assert_eq!(merge_patch(&original, &json!({})), original);
        assert_eq!(merge_patch(&json!("x"), &json!({})), json!({}));
        assert_eq!(
            merge_patch(&json!({"a": 5}), &json!({"a": {"b": null, "c": 1}})),
            json!({"a": {"c": 1}})
        );
    }
}
