//! The Responses `response` object: ids, what it repeats from the request, status and usage.

use super::Echo;
use crate::fnv::fnv;
use crate::ir::StopReason;
use bytespike_protocol::{Dialect, ErrorKind, GatewayError, Usage};
use serde_json::{json, Map, Value};

/// Ids of one response and its output items, stable for one upstream response.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ids {
    hash: u64,
}

impl Ids {
    /// Ids derived from the upstream's response id (or, lacking one, the creation time).
    pub(crate) fn new(upstream_id: Option<&str>, created: u64) -> Ids {
        let created = created.to_le_bytes();
        let id = upstream_id.unwrap_or("").as_bytes();
        Ids {
            hash: fnv(&[id, &created]),
        }
    }

    /// The response id, `resp_…`.
    pub(crate) fn response(&self) -> String {
        format!("resp_{:016x}", self.hash)
    }

    /// The id of the output item at `index`, with the API's prefix for its kind (`msg`, `rs`,
    /// `fc`).
    pub(crate) fn item(&self, prefix: &str, index: usize) -> String {
        format!("{prefix}_{:016x}{index:04x}", self.hash)
    }
}

/// The response object with `status`, before output and usage are set.
pub(crate) fn base(
    id: &str,
    created: u64,
    model: &str,
    echo: &Echo,
    status: &str,
) -> Map<String, Value> {
    let mut obj = json!({
        "id": id,
        "object": "response",
        "created_at": created,
        "status": status,
        "background": false,
        "error": null,
        "incomplete_details": null,
        "instructions": null,
        "max_output_tokens": null,
        "model": model,
        "output": [],
        "parallel_tool_calls": true,
        "previous_response_id": null,
        "reasoning": {"effort": null, "summary": null},
        // Nothing is stored, whatever the request asked: the response says so.
        "store": false,
        "temperature": null,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": null,
        "truncation": "disabled",
        "usage": null,
        "user": null,
        "metadata": {},
    });
    if let Value::Object(map) = &mut obj {
        for (k, v) in &echo.fields {
            // `null` in the request means the default, which the base already holds.
            if !v.is_null() {
                map.insert(k.clone(), v.clone());
            }
        }
        return std::mem::take(map);
    }
    Map::new()
}

/// Sets the status the stop reason calls for: `incomplete` (with its reason) when the output
/// was cut by the token limit or a filter, else `completed`.
pub(crate) fn finish(obj: &mut Map<String, Value>, stop: Option<StopReason>) -> &'static str {
    let (status, reason) = match stop {
        Some(StopReason::MaxTokens) => ("incomplete", Some("max_output_tokens")),
        Some(StopReason::Refusal) => ("incomplete", Some("content_filter")),
        _ => ("completed", None),
    };
    obj.insert("status".into(), json!(status));
    if let Some(reason) = reason {
        obj.insert("incomplete_details".into(), json!({"reason": reason}));
    }
    status
}

/// Marks the response failed with `err`, in the `ResponseError` shape.
pub(crate) fn fail(obj: &mut Map<String, Value>, err: &GatewayError) {
    let code = match err.kind {
        ErrorKind::RateLimited => "rate_limit_exceeded",
        ErrorKind::InvalidRequest => "invalid_prompt",
        _ => "server_error",
    };
    obj.insert("status".into(), json!("failed"));
    obj.insert(
        "error".into(),
        json!({"code": code, "message": err.message}),
    );
}

/// The `error` stream event's fields: the code and message the OpenAI error body would carry.
pub(crate) fn error_event(err: &GatewayError) -> Value {
    let (_, body) = err.render(Dialect::OpenAiResponses);
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    json!({
        "code": body["error"]["code"],
        "message": err.message,
        "param": null,
    })
}

/// The Responses usage object; `input_tokens` includes cached tokens, as OpenAI counts them.
pub(crate) fn usage(u: &Usage) -> Value {
    let input = u.input_tokens + u.cache_read_tokens + u.cache_write_tokens;
    json!({
        "input_tokens": input,
        "input_tokens_details": {
            "cached_tokens": u.cache_read_tokens,
            "cache_write_tokens": u.cache_write_tokens,
        },
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": u.reasoning_tokens},
        "total_tokens": input + u.output_tokens,
    })
}
