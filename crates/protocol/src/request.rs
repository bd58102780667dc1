//! The few top-level fields of a request body the gateway acts on, read in one validating pass.
//!
//! Passthrough forwards the body as the client sent it, unknown fields and all; only the spans
//! of `model` (and, for OpenAI streams, `stream_options`) are located so they can be spliced.

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

/// Why a request body cannot be routed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Not JSON, or JSON whose top level is not an object.
    #[error("request body is not valid JSON: {0}")]
    Malformed(String),
    /// No `model` field, or one that is not a non-empty string.
    #[error("request body has no `model` string")]
    MissingModel,
    /// `model` given twice: a parser upstream could pick the other one.
    #[error("request body names `model` more than once")]
    DuplicateModel,
}

/// What the gateway reads from a JSON request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestEnvelope {
    /// The model the client asked for.
    pub model: String,
    /// Byte range of the `model` value (with its quotes) in the body.
    pub model_span: Range<usize>,
    /// `stream: true` was sent.
    pub stream: bool,
    /// Byte range of the `stream_options` value, when present.
    pub stream_options_span: Option<Range<usize>>,
    /// `stream_options.include_usage` was set to true.
    pub include_usage: bool,
}

impl RequestEnvelope {
    /// Parses and validates `body`, reading only what routing needs.
    pub fn parse(body: &[u8]) -> Result<RequestEnvelope, RequestError> {
        // JSON must be UTF-8, and skipped values are not checked by the parser: check it all
        // here, so invalid bytes never reach an upstream. Parsing the checked text as a `str`
        // spares the parser checking each string again.
        let text = std::str::from_utf8(body).map_err(|e| {
            RequestError::Malformed(format!("invalid UTF-8 at byte {}", e.valid_up_to()))
        })?;
        let mut de = serde_json::Deserializer::from_str(text);
        let fields = de
            .deserialize_map(TopLevel)
            .map_err(|e| RequestError::Malformed(e.to_string()))?;
        de.end()
            .map_err(|e| RequestError::Malformed(e.to_string()))?;
        if fields.duplicate_model {
            return Err(RequestError::DuplicateModel);
        }
        let raw_model = fields.model.ok_or(RequestError::MissingModel)?;
        let model: Cow<str> =
            serde_json::from_str(raw_model.get()).map_err(|_| RequestError::MissingModel)?;
        if model.is_empty() {
            return Err(RequestError::MissingModel);
        }
        let span_of = |raw: &RawValue| {
            let start = raw.get().as_ptr() as usize - body.as_ptr() as usize;
            start..start + raw.get().len()
        };
        let include_usage = fields.stream_options.is_some_and(|raw| {
            serde_json::from_str::<StreamOptions>(raw.get())
                .is_ok_and(|o| o.include_usage == Some(true))
        });
        Ok(RequestEnvelope {
            model: model.into_owned(),
            model_span: span_of(raw_model),
            stream: fields.stream.unwrap_or(false),
            stream_options_span: fields.stream_options.map(span_of),
            include_usage,
        })
    }

    /// The body with `model` replaced by `upstream_model`; the rest is byte-for-byte the same.
    pub fn with_model(&self, body: &[u8], upstream_model: &str) -> Vec<u8> {
        let span = &self.model_span;
        // Room for the quotes; escapes, rare in model names, grow it.
        let mut out = Vec::with_capacity(body.len() - span.len() + upstream_model.len() + 2);
        out.extend_from_slice(&body[..span.start]);
        serde_json::to_writer(&mut out, upstream_model).expect("a string always serialises");
        out.extend_from_slice(&body[span.end..]);
        out
    }

    /// The body with `model` replaced and `stream_options.include_usage` forced on, so that an
    /// OpenAI stream reports the usage the gateway bills. Other stream options are kept.
    pub fn with_model_and_usage(&self, body: &[u8], upstream_model: &str) -> Vec<u8> {
        let with_model = self.with_model(body, upstream_model);
        // Offsets after the model value move by the length difference of the splice.
        let shift = |pos: usize| {
            if pos > self.model_span.start {
                (pos + with_model.len()).saturating_sub(body.len())
            } else {
                pos
            }
        };
        match &self.stream_options_span {
            Some(span) => {
                let mut options: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_slice(&body[span.clone()]).unwrap_or_default();
                options.insert("include_usage".into(), serde_json::Value::Bool(true));
                let value = serde_json::Value::Object(options).to_string();
                splice(
                    &with_model,
                    &(shift(span.start)..shift(span.end)),
                    value.as_bytes(),
                )
            }
            None => {
                // The body is a JSON object, so it opens with `{` after optional whitespace.
                let open = with_model.iter().position(|&b| b == b'{').unwrap_or(0) + 1;
                let mut out = Vec::with_capacity(with_model.len() + 40);
                out.extend_from_slice(&with_model[..open]);
                out.extend_from_slice(br#""stream_options":{"include_usage":true},"#);
                out.extend_from_slice(&with_model[open..]);
                out
            }
        }
    }
}

fn splice(body: &[u8], span: &Range<usize>, replacement: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() - span.len() + replacement.len());
    out.extend_from_slice(&body[..span.start]);
    out.extend_from_slice(replacement);
    out.extend_from_slice(&body[span.end..]);
    out
}

#[derive(serde::Deserialize)]
struct StreamOptions {
    include_usage: Option<bool>,
}

#[derive(Default)]
struct Fields<'a> {
    model: Option<&'a RawValue>,
    duplicate_model: bool,
    stream: Option<bool>,
    stream_options: Option<&'a RawValue>,
}

struct TopLevel;

impl<'de> Visitor<'de> for TopLevel {
    type Value = Fields<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
        let mut fields = Fields::default();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Model => {
                    fields.duplicate_model |= fields.model.is_some();
                    fields.model = Some(map.next_value()?);
                }
                Key::Stream => {
                    // A non-boolean `stream` is the upstream's to reject; routing treats it as off.
                    let raw: &RawValue = map.next_value()?;
                    fields.stream = Some(raw.get() == "true");
                }
                Key::StreamOptions => fields.stream_options = Some(map.next_value()?),
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(fields)
    }
}

/// A top-level key, told apart as it is read: keys are compared where they lie in the body
/// (or, escaped, in the parser's scratch buffer) and never copied.
enum Key {
    Model,
    Stream,
    StreamOptions,
    Other,
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_identifier(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = Key;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
        Ok(match key {
            "model" => Key::Model,
            "stream" => Key::Stream,
            "stream_options" => Key::StreamOptions,
            _ => Key::Other,
        })
    }
}

impl<'de> de::Deserialize<'de> for Fields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(TopLevel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_model_and_stream_and_keeps_everything_else() {
        let body = br#" {"max_tokens":5,"model" : "claude-3-5-sonnet-20241022","stream":true,"future_field":{"x":[1,2]}}"#;
        let env = RequestEnvelope::parse(body).unwrap();
        assert_eq!(env.model, "claude-3-5-sonnet-20241022");
        assert!(env.stream);
        let out = env.with_model(body, "claude-sonnet-4-6");
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            r#" {"max_tokens":5,"model" : "claude-sonnet-4-6","stream":true,"future_field":{"x":[1,2]}}"#
        );
    }

    #[test]
    fn escaped_model_names_are_decoded_and_reencoded() {
        let body = br#"{"model":"a\"b\u00e9"}"#;
        let env = RequestEnvelope::parse(body).unwrap();
        assert_eq!(env.model, "a\"b\u{e9}");
        let out = env.with_model(body, "x\"y");
        assert_eq!(&out[..], br#"{"model":"x\"y"}"#);
    }

    #[test]
    fn keys_written_with_escapes_are_the_keys_they_spell() {
        // A parser upstream decodes `mod\u0065l` to `model`: so must routing, or the two could
        // read different models from one body.
        let body = br#"{"mod\u0065l":"m","str\u0065am":true}"#;
        let env = RequestEnvelope::parse(body).unwrap();
        assert_eq!(env.model, "m");
        assert!(env.stream);
        assert_eq!(
            RequestEnvelope::parse(br#"{"model":"a","mod\u0065l":"b"}"#),
            Err(RequestError::DuplicateModel)
        );
    }

    #[test]
    fn rejects_bad_bodies() {
        assert!(matches!(
            RequestEnvelope::parse(b"{\"model\":"),
            Err(RequestError::Malformed(_))
        ));
        assert!(matches!(
            RequestEnvelope::parse(b"[1]"),
            Err(RequestError::Malformed(_))
        ));
        assert!(matches!(
            RequestEnvelope::parse(b"{} trailing"),
            Err(RequestError::Malformed(_))
        ));
        assert_eq!(
            RequestEnvelope::parse(b"{\"messages\":[]}"),
            Err(RequestError::MissingModel)
        );
        assert_eq!(
            RequestEnvelope::parse(b"{\"model\":7}"),
            Err(RequestError::MissingModel)
        );
        assert_eq!(
            RequestEnvelope::parse(b"{\"model\":\"\"}"),
            Err(RequestError::MissingModel)
        );
        assert_eq!(
            RequestEnvelope::parse(br#"{"model":"a","model":"b"}"#),
            Err(RequestError::DuplicateModel)
        );
        // Invalid UTF-8 anywhere, in the model or in a value the parser skips, is refused.
        for body in [
            &b"\xff\xfe"[..],
            b"{\"model\":\"m\xff\"}",
            b"{\"model\":\"m\",\"messages\":[{\"content\":\"\xc3(\"}]}",
            b"{\"model\":\"m\",\"\xed\xa0\x80\":1}",
        ] {
            assert!(
                matches!(
                    RequestEnvelope::parse(body),
                    Err(RequestError::Malformed(_))
                ),
                "{body:?}"
            );
        }
    }

    #[test]
    fn deep_nesting_in_unknown_fields_is_skipped_without_recursion() {
        // Unknown fields are skipped, not built, so depth costs no stack here; translation,
        // which does build values, is bounded by serde_json's recursion limit instead.
        let deep = format!(
            "{{\"model\":\"m\",\"x\":{}{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(RequestEnvelope::parse(deep.as_bytes()).unwrap().model, "m");
        let unbalanced = format!("{{\"model\":\"m\",\"x\":{}}}", "[".repeat(100_000));
        assert!(matches!(
            RequestEnvelope::parse(unbalanced.as_bytes()),
            Err(RequestError::Malformed(_))
        ));
    }

    #[test]
    fn include_usage_is_added_or_merged() {
        let body = br#"{"model":"gpt-4o","stream":true,"messages":[]}"#;
        let env = RequestEnvelope::parse(body).unwrap();
        assert!(!env.include_usage);
        let out = env.with_model_and_usage(body, "gpt-5-4");
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["model"], "gpt-5-4");
        assert_eq!(v["stream_options"]["include_usage"], true);

        let body =
            br#"{"stream_options":{"include_usage":false,"x":1},"model":"gpt-4o","stream":true}"#;
        let env = RequestEnvelope::parse(body).unwrap();
        let out = env.with_model_and_usage(body, "a-much-longer-upstream-model-name");
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(
            v["stream_options"],
            serde_json::json!({"include_usage": true, "x": 1})
        );
        assert_eq!(v["model"], "a-much-longer-upstream-model-name");

        let body = br#"{"model":"gpt-4o","stream_options":{"include_usage":true},"stream":true}"#;
        assert!(RequestEnvelope::parse(body).unwrap().include_usage);
    }
}
