//! Deterministic sample values built from a JSON schema, for tool arguments and JSON replies.

use serde_json::{Map, Value};

/// Builds a value for `schema`: objects get their `required` properties (all properties when
/// none are required), strings `"sample"`, numbers `1`, booleans `true`, arrays `[]`, enums
/// their first value. Nested objects recurse so strict structured-output schemas validate; an
/// object without properties is `{}`. Gemini's upper-case type names are accepted.
pub fn sample(schema: &Value) -> Value {
    sample_depth(schema, 0)
}

fn sample_depth(schema: &Value, depth: usize) -> Value {
    // Recursive schemas ($ref loops are not followed, but deep nesting is) stop somewhere.
    if depth > 16 {
        return Value::Null;
    }
    let Some(obj) = schema.as_object() else {
        return Value::Object(Map::new());
    };
    if let Some(first) = obj
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if let Some(c) = obj.get("const") {
        return c.clone();
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = obj
            .get(key)
            .and_then(Value::as_array)
            .and_then(|v| v.first())
        {
            return sample_depth(first, depth + 1);
        }
    }
    match type_name(obj).as_deref() {
        Some("string") => Value::from("sample"),
        Some("number") | Some("integer") => Value::from(1),
        Some("boolean") => Value::Bool(true),
        Some("array") => Value::Array(Vec::new()),
        Some("null") => Value::Null,
        _ => sample_object(obj, depth),
    }
}

fn type_name(obj: &Map<String, Value>) -> Option<String> {
    match obj.get("type")? {
        Value::String(s) => Some(s.to_ascii_lowercase()),
        // `["string", "null"]`: the first non-null type is the interesting one.
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| !t.eq_ignore_ascii_case("null"))
            .map(str::to_ascii_lowercase),
        _ => None,
    }
}

fn sample_object(obj: &Map<String, Value>, depth: usize) -> Value {
    let mut out = Map::new();
    let Some(props) = obj.get("properties").and_then(Value::as_object) else {
        return Value::Object(out);
    };
    let required: Vec<&str> = obj
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (name, prop) in props {
        if required.is_empty() || required.contains(&name.as_str()) {
            out.insert(name.clone(), sample_depth(prop, depth + 1));
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn required_properties_only() {
        let schema = json!({"type": "object", "properties": {
            "city": {"type": "string"}, "days": {"type": "integer"},
            "unit": {"type": "string", "enum": ["c", "f"]}, "extra": {"type": "boolean"}
        }, "required": ["city", "days", "unit"]});
        assert_eq!(
            sample(&schema),
            json!({"city": "sample", "days": 1, "unit": "c"})
        );
    }

    #[test]
    fn all_properties_when_none_required_and_gemini_types() {
        let schema = json!({"type": "OBJECT", "properties": {
            "a": {"type": "ARRAY"}, "b": {"type": "NUMBER"}, "c": {"type": ["boolean", "null"]},
            "d": {"type": "object"}
        }});
        assert_eq!(
            sample(&schema),
            json!({"a": [], "b": 1, "c": true, "d": {}})
        );
    }
}
