//! Reading wire JSON with errors that name the offending field by its path.

use crate::error::TranslateError;
use serde_json::{Map, Value};

/// A JSON object.
pub(crate) type Obj = Map<String, Value>;

/// Parses a body as a JSON object.
pub(crate) fn parse_object(body: &[u8]) -> Result<Obj, TranslateError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(TranslateError::invalid("body", "must be a JSON object")),
        Err(e) => Err(TranslateError::Json(e.to_string())),
    }
}

fn wrong(path: Path<'_>, key: &str, want: &str) -> TranslateError {
    TranslateError::invalid(path.key(key), format!("must be {want}"))
}

/// Where a field sits in a request body (`messages[3].content`), for error messages.
///
/// Decoders descend into every message and content block, so the path is built as a chain of
/// borrowed links on the stack and only rendered when an error names it: rendered eagerly,
/// two strings a message and one a block cost about 1,100 instructions each (callgrind, W2),
/// a sixth of decoding a small request and a quarter of translating a 60-message conversation.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Path<'a> {
    /// A path given as text; `""` is the body itself.
    Text(&'a str),
    /// `parent.key`.
    Key(&'a Path<'a>, &'a str),
    /// `parent[index]`.
    Index(&'a Path<'a>, usize),
}

impl<'a> Path<'a> {
    /// The body itself.
    pub(crate) const ROOT: Path<'static> = Path::Text("");

    /// `self.key`, or `key` at the top level.
    pub(crate) fn key<'b>(&'b self, key: &'b str) -> Path<'b> {
        Path::Key(self, key)
    }

    /// `self[index]`.
    pub(crate) fn index(&self, index: usize) -> Path<'_> {
        Path::Index(self, index)
    }

    fn is_root(&self) -> bool {
        matches!(self, Path::Text(""))
    }
}

impl<'a> From<&'a str> for Path<'a> {
    fn from(text: &'a str) -> Self {
        Path::Text(text)
    }
}

impl From<Path<'_>> for String {
    fn from(path: Path<'_>) -> Self {
        path.to_string()
    }
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Text(text) => f.write_str(text),
            Path::Key(parent, key) if parent.is_root() => f.write_str(key),
            Path::Key(parent, key) => write!(f, "{parent}.{key}"),
            Path::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

/// The value at `key`, treating `null` as absent.
pub(crate) fn get<'a>(obj: &'a Obj, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// An optional string field.
pub(crate) fn opt_str<'a, 'p>(
    obj: &'a Obj,
    key: &str,
    path: impl Into<Path<'p>>,
) -> Result<Option<&'a str>, TranslateError> {
    match get(obj, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(wrong(path.into(), key, "a string")),
    }
}

/// A required string field.
pub(crate) fn req_str<'a, 'p>(
    obj: &'a Obj,
    key: &str,
    path: impl Into<Path<'p>>,
) -> Result<&'a str, TranslateError> {
    let path = path.into();
    opt_str(obj, key, path)?.ok_or_else(|| TranslateError::invalid(path.key(key), "is required"))
}

/// An optional non-negative integer field.
pub(crate) fn opt_u64<'p>(
    obj: &Obj,
    key: &str,
    path: impl Into<Path<'p>>,
) -> Result<Option<u64>, TranslateError> {
    match get(obj, key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| {
                v.as_f64()
                    .filter(|f| *f >= 0.0 && f.fract() == 0.0)
                    .map(|f| f as u64)
            })
            .map(Some)
            .ok_or_else(|| wrong(path.into(), key, "a non-negative integer")),
    }
}

/// An optional number field.
pub(crate) fn opt_f64<'p>(
    obj: &Obj,
    key: &str,
    path: impl Into<Path<'p>>,
) -> Result<Option<f64>, TranslateError> {
    match get(obj, key) {
        None => Ok(None),
        Some(v) => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| wrong(path.into(), key, "a number")),
    }
}

/// An optional boolean field.
pub(crate) fn opt_bool<'p>(
    obj: &Obj,
    key: &str,
    path: impl Into<Path<'p>>,
) -> Result<Option<bool>, TranslateError> {
    match get(obj, key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(wrong(path.into(), key, "a boolean")),
    }
}

/// An optional array field.
pub(crate) fn opt_array<'a, 'p>(
    obj: &'a Obj,
    key: &str,
    path: impl Into<Path<'p>>,
) -> Result<Option<&'a Vec<Value>>, TranslateError> {
    match get(obj, key) {
        None => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(_) => Err(wrong(path.into(), key, "an array")),
    }
}

/// An optional object field.
pub(crate) fn opt_obj<'a, 'p>(
    obj: &'a Obj,
    key: &str,
    path: impl Into<Path<'p>>,
) -> Result<Option<&'a Obj>, TranslateError> {
    match get(obj, key) {
        None => Ok(None),
        Some(Value::Object(o)) => Ok(Some(o)),
        Some(_) => Err(wrong(path.into(), key, "an object")),
    }
}

/// An array element that must be an object.
pub(crate) fn as_obj<'a, 'p>(
    v: &'a Value,
    path: impl Into<Path<'p>>,
) -> Result<&'a Obj, TranslateError> {
    v.as_object()
        .ok_or_else(|| TranslateError::invalid(path.into(), "must be an object"))
}

/// Splits a `data:` URL into media type and base64 payload.
pub(crate) fn split_data_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("data:")?;
    let (meta, data) = rest.split_once(',')?;
    let media_type = meta.strip_suffix(";base64")?;
    Some((media_type, data))
}

/// Lenient readers for upstream output, where a missing field is not the client's fault.
pub(crate) mod loose {
    use super::Obj;
    use serde_json::Value;

    /// A string field, or `""`.
    pub(crate) fn str<'a>(obj: &'a Obj, key: &str) -> &'a str {
        obj.get(key).and_then(Value::as_str).unwrap_or("")
    }

    /// A non-negative integer field.
    pub(crate) fn u64(obj: &Obj, key: &str) -> Option<u64> {
        obj.get(key).and_then(Value::as_u64)
    }

    /// An object field.
    pub(crate) fn obj<'a>(obj: &'a Obj, key: &str) -> Option<&'a Obj> {
        obj.get(key).and_then(Value::as_object)
    }

    /// An array field, or empty.
    pub(crate) fn array<'a>(obj: &'a Obj, key: &str) -> &'a [Value] {
        obj.get(key)
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_urls_split() {
        assert_eq!(
            split_data_url("data:image/png;base64,AAAA"),
            Some(("image/png", "AAAA"))
        );
        assert_eq!(split_data_url("https://x/y.png"), None);
        assert_eq!(split_data_url("data:image/png,AAAA"), None);
    }

    #[test]
    fn paths_render_as_the_body_spells_them() {
        let messages = Path::ROOT.key("messages");
        let message = messages.index(3);
        let content = message.key("content");
        let block = content.index(0);
        assert_eq!(
            block.key("source").to_string(),
            "messages[3].content[0].source"
        );
        assert_eq!(Path::ROOT.key("model").to_string(), "model");
        assert_eq!(String::from(Path::ROOT.key("stop").index(1)), "stop[1]");
        let format = Path::from("output_config.format");
        assert_eq!(
            format.key("schema").to_string(),
            "output_config.format.schema"
        );
        let err = req_str(&Obj::new(), "type", block).unwrap_err();
        assert_eq!(err.to_string(), "messages[3].content[0].type: is required");
    }

    #[test]
    fn errors_name_the_path() {
        let obj = parse_object(br#"{"a":{"b":1}}"#).unwrap();
        let inner = opt_obj(&obj, "a", "").unwrap().unwrap();
        let err = req_str(inner, "b", "a").unwrap_err();
        assert_eq!(err.to_string(), "a.b: must be a string");
        assert!(parse_object(b"[1]").is_err());
    }
}
