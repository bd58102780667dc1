//! JSON Schema reduced to the OpenAPI subset Gemini accepts for function parameters.

use serde_json::{Map, Value};

/// Keys Gemini's `Schema` understands; everything else is dropped.
const KEPT: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "items",
    "minItems",
    "maxItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "minimum",
    "maximum",
];

/// How many `$ref`s may be nested on one path before a cycle is cut off.
const MAX_DEPTH: usize = 8;
/// How many `$ref`s are inlined in all, so a schema of many self-references stays small.
const MAX_INLINED: usize = 256;

/// Cleans a JSON Schema for Gemini: local `$ref`s inlined, `oneOf` read as `anyOf`, `const`
/// as a one-value `enum`, `type: [T, "null"]` as `nullable`, unsupported formats and keys
/// dropped, `required` limited to declared properties. `None` when nothing is left to declare.
pub fn clean(schema: &Value) -> Option<Value> {
    let root = schema.as_object()?;
    let cleaned = Cleaner { root, inlined: 0 }.node(schema, 0);
    // Gemini rejects an object with no properties; such a tool takes no arguments.
    let empty = cleaned.get("type").and_then(Value::as_str) == Some("object")
        && cleaned
            .get("properties")
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty);
    (!empty).then_some(Value::Object(cleaned))
}

fn resolve<'a>(reference: &str, root: &'a Map<String, Value>) -> Option<&'a Value> {
    let path = reference.strip_prefix("#/")?;
    let mut node = root.get(path.split('/').next()?)?;
    for key in path.split('/').skip(1) {
        node = node.get(key)?;
    }
    Some(node)
}

struct Cleaner<'a> {
    root: &'a Map<String, Value>,
    inlined: usize,
}

impl Cleaner<'_> {
    fn node(&mut self, node: &Value, depth: usize) -> Map<String, Value> {
        let Some(obj) = node.as_object() else {
            return Map::new();
        };
        if let Some(target) = obj
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| resolve(r, self.root))
        {
            if depth >= MAX_DEPTH || self.inlined >= MAX_INLINED {
                return Map::new();
            }
            self.inlined += 1;
            let mut inlined = self.node(target, depth + 1);
            if let Some(d) = obj.get("description") {
                inlined.insert("description".into(), d.clone());
            }
            return inlined;
        }
        let mut out = Map::new();
        for (key, value) in obj {
            match key.as_str() {
                "type" => match value {
                    Value::Array(types) => {
                        let mut real = types.iter().filter(|t| t.as_str() != Some("null"));
                        if let Some(t) = real.next() {
                            out.insert("type".into(), t.clone());
                        }
                        if types.len() > 1 && types.iter().any(|t| t.as_str() == Some("null")) {
                            out.insert("nullable".into(), Value::Bool(true));
                        }
                    }
                    other => {
                        out.insert("type".into(), other.clone());
                    }
                },
                "properties" => {
                    let props: Map<String, Value> = value
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, v)| (k.clone(), Value::Object(self.node(v, depth))))
                        .collect();
                    out.insert(key.clone(), Value::Object(props));
                }
                "items" => {
                    out.insert(key.clone(), Value::Object(self.node(value, depth)));
                }
                "anyOf" | "oneOf" => {
                    let variants: Vec<Value> = value
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|v| Value::Object(self.node(v, depth)))
                        .collect();
                    out.insert("anyOf".into(), Value::Array(variants));
                }
                "const" => {
                    out.insert("enum".into(), Value::Array(vec![enum_value(value)]));
                }
                "enum" => {
                    let values = value
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(enum_value)
                        .collect();
                    out.insert(key.clone(), Value::Array(values));
                }
                "format" => {
                    if let Some(f) = value.as_str().filter(|f| {
                        matches!(
                            *f,
                            "enum" | "date-time" | "int32" | "int64" | "float" | "double"
                        )
                    }) {
                        out.insert(key.clone(), Value::String(f.to_string()));
                    }
                }
                k if KEPT.contains(&k) => {
                    out.insert(key.clone(), value.clone());
                }
                _ => {}
            }
        }
        if out.contains_key("enum") && !out.contains_key("type") {
            out.insert("type".into(), Value::String("string".into()));
        }
        // `required` may only name declared properties.
        if let Some(Value::Array(required)) = out.get("required") {
            let props = out.get("properties").and_then(Value::as_object);
            let kept: Vec<Value> = required
                .iter()
                .filter(|r| {
                    r.as_str()
                        .is_some_and(|r| props.is_some_and(|p| p.contains_key(r)))
                })
                .cloned()
                .collect();
            out.insert("required".into(), Value::Array(kept));
        }
        out
    }
}

/// Gemini enums are strings.
fn enum_value(v: &Value) -> Value {
    match v {
        Value::String(_) => v.clone(),
        other => Value::String(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn drops_unsupported_keys_and_formats() {
        let s = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object", "additionalProperties": false,
            "properties": {
                "when": {"type": "string", "format": "date-time"},
                "mail": {"type": "string", "format": "email", "examples": ["a@b"]},
                "n": {"type": ["integer", "null"], "exclusiveMinimum": 0},
            },
            "required": ["when", "ghost"],
        });
        assert_eq!(
            clean(&s).unwrap(),
            json!({
                "type": "object",
                "properties": {
                    "when": {"type": "string", "format": "date-time"},
                    "mail": {"type": "string"},
                    "n": {"type": "integer", "nullable": true},
                },
                "required": ["when"],
            })
        );
    }

    #[test]
    fn inlines_refs_and_rewrites_one_of_and_const() {
        let s = json!({
            "type": "object",
            "$defs": {"Unit": {"type": "string", "enum": ["c", "f"]}},
            "properties": {
                "unit": {"$ref": "#/$defs/Unit", "description": "which"},
                "mode": {"oneOf": [{"const": "a"}, {"const": 1}]},
            },
        });
        assert_eq!(
            clean(&s).unwrap(),
            json!({
                "type": "object",
                "properties": {
                    "unit": {"type": "string", "enum": ["c", "f"], "description": "which"},
                    "mode": {"anyOf": [{"type": "string", "enum": ["a"]}, {"type": "string", "enum": ["1"]}]},
                },
            })
        );
    }

    #[test]
    fn cyclic_refs_terminate_and_empty_objects_vanish() {
        let node = json!({"type": "object", "properties": {
            "a": {"$ref": "#/$defs/N"}, "b": {"$ref": "#/$defs/N"}, "c": {"$ref": "#/$defs/N"},
        }});
        let s = json!({"type": "object", "$defs": {"N": node}, "properties": {"root": {"$ref": "#/$defs/N"}}});
        let out = clean(&s).unwrap();
        assert!(out.to_string().len() < 100_000);
        assert!(out["properties"]["root"]["properties"]["a"]["properties"].is_object());
        assert_eq!(clean(&json!({"type": "object", "properties": {}})), None);
        assert_eq!(clean(&json!("nope")), None);
    }
}
