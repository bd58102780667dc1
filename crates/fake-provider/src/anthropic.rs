//! Anthropic Messages API: request parsing, JSON and SSE responses, errors.

use bytes::Bytes;
use serde_json::{json, Value};

use crate::body::sse_event;
use crate::scenario::{content_text, get_path, pieces, Exchange, Reply, Stop, ToolDef};

/// Reasoning signature; clients only carry it back, so any opaque string serves.
const SIGNATURE: &str = "EqQBCkYIBxgCKkBmYWtlLXNpZ25hdHVyZS1mb3ItdGVzdHM=";

/// Reads the parts of a Messages request the fake acts on; `Err` is a 400 message.
pub fn parse(req: &Value) -> Result<Exchange, String> {
    let model = req
        .get("model")
        .and_then(Value::as_str)
        .ok_or("model: Field required")?;
    let max_tokens = req
        .get("max_tokens")
        .and_then(Value::as_u64)
        .ok_or("max_tokens: Field required")?;
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("messages: Field required")?;
    let last_user = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"));
    let directive_text = last_user
        .and_then(|m| m.get("content"))
        .map(|c| content_text(c, &["text"]))
        .unwrap_or_default();
    let tool_result = messages
        .last()
        .and_then(|m| m.get("content"))
        .and_then(Value::as_array)
        .and_then(|blocks| {
            let results: Vec<String> = blocks
                .iter()
                .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
                .map(|b| {
                    b.get("content")
                        .map_or(String::new(), |c| content_text(c, &["text"]))
                })
                .collect();
            (!results.is_empty()).then(|| results.join("\n"))
        });
    let tools = req
        .get("tools")
        .and_then(Value::as_array)
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| {
                    Some(ToolDef {
                        name: t.get("name")?.as_str()?.to_owned(),
                        schema: t.get("input_schema").cloned().unwrap_or(json!({})),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let forced_tool = match get_path(req, &["tool_choice", "type"]).and_then(Value::as_str) {
        Some("any") => Some(None),
        Some("tool") => Some(
            get_path(req, &["tool_choice", "name"])
                .and_then(Value::as_str)
                .map(str::to_owned),
        ),
        _ => None,
    };
    let thinking = matches!(
        get_path(req, &["thinking", "type"]).and_then(Value::as_str),
        Some("enabled") | Some("adaptive")
    );
    let json_schema = [
        get_path(req, &["output_format"]),
        get_path(req, &["output_config", "format"]),
    ]
    .into_iter()
    .flatten()
    .find(|f| f.get("type").and_then(Value::as_str) == Some("json_schema"))
    .map(|f| f.get("schema").cloned().unwrap_or(json!({})));
    let directives = crate::directive::Directives::parse(&directive_text);
    let mut cache = if has_cache_control(req) {
        (100, 50)
    } else {
        (0, 0)
    };
    if let Some(n) = directives.cached {
        cache.0 = n;
    }
    Ok(Exchange {
        protocol: "anthropic",
        model: model.to_owned(),
        stream: req.get("stream").and_then(Value::as_bool).unwrap_or(false),
        directives,
        tools,
        forced_tool,
        tool_result,
        thinking,
        json_schema,
        max_tokens: Some(max_tokens),
        anthropic_cache: cache,
        ..Exchange::default()
    })
}

fn has_cache_control(v: &Value) -> bool {
    match v {
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k == "cache_control" || has_cache_control(v)),
        Value::Array(items) => items.iter().any(has_cache_control),
        _ => false,
    }
}

fn usage(ex: &Exchange, reply: &Reply, output: u64) -> Value {
    json!({
        "input_tokens": reply.usage.input,
        "cache_creation_input_tokens": ex.anthropic_cache.1,
        "cache_read_input_tokens": ex.anthropic_cache.0,
        "output_tokens": output,
    })
}

fn stop_reason(stop: Stop) -> &'static str {
    match stop {
        Stop::EndTurn => "end_turn",
        Stop::ToolUse => "tool_use",
        Stop::MaxTokens => "max_tokens",
    }
}

fn message(ex: &Exchange, name: &str, content: Vec<Value>, stop: Value, usage: Value) -> Value {
    json!({
        "id": format!("msg_{name}_{}", ex.token),
        "type": "message",
        "role": "assistant",
        "model": ex.model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": null,
        "usage": usage,
    })
}

/// The non-streaming response body.
pub fn render(ex: &Exchange, reply: &Reply, name: &str) -> Value {
    let mut content = Vec::new();
    if let Some(thinking) = &reply.thinking {
        content.push(json!({"type": "thinking", "thinking": thinking, "signature": SIGNATURE}));
    }
    if reply.tool_calls.is_empty() || !reply.text.is_empty() {
        content.push(json!({"type": "text", "text": reply.text}));
    }
    for (i, call) in reply.tool_calls.iter().enumerate() {
        content.push(
            json!({"type": "tool_use", "id": ex.id("toolu_01", i), "name": call.name,
            "input": call.arguments}),
        );
    }
    let usage = usage(ex, reply, reply.usage.output);
    message(ex, name, content, json!(stop_reason(reply.stop)), usage)
}

/// The SSE frames of a streaming response, one event per frame.
pub fn frames(ex: &Exchange, reply: &Reply, name: &str) -> Vec<Bytes> {
    // message_start reports input usage and a placeholder output count, as the real API does.
    let start = message(ex, name, vec![], Value::Null, usage(ex, reply, 1));
    let mut out = vec![
        sse_event(
            "message_start",
            &json!({"type": "message_start", "message": start}),
        ),
        sse_event("ping", &json!({"type": "ping"})),
    ];
    let mut index = 0;
    let mut block = |out: &mut Vec<Bytes>, start: Value, deltas: Vec<Value>| {
        out.push(sse_event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": start}),
        ));
        for delta in deltas {
            out.push(sse_event(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": index, "delta": delta}),
            ));
        }
        out.push(sse_event(
            "content_block_stop",
            &json!({"type": "content_block_stop", "index": index}),
        ));
        index += 1;
    };
    if let Some(thinking) = &reply.thinking {
        let mut deltas: Vec<Value> = pieces(thinking)
            .into_iter()
            .map(|p| json!({"type": "thinking_delta", "thinking": p}))
            .collect();
        deltas.push(json!({"type": "signature_delta", "signature": SIGNATURE}));
        block(
            &mut out,
            json!({"type": "thinking", "thinking": "", "signature": ""}),
            deltas,
        );
    }
    if reply.tool_calls.is_empty() || !reply.text.is_empty() {
        let deltas = pieces(&reply.text)
            .into_iter()
            .map(|p| json!({"type": "text_delta", "text": p}))
            .collect();
        block(&mut out, json!({"type": "text", "text": ""}), deltas);
    }
    for (i, call) in reply.tool_calls.iter().enumerate() {
        let args = call.arguments.to_string();
        // Split the arguments in two so clients exercise partial-JSON accumulation.
        let mid = args.len() / 2;
        let mid = (mid..args.len())
            .find(|&m| args.is_char_boundary(m))
            .unwrap_or(args.len());
        let deltas = [&args[..mid], &args[mid..]]
            .into_iter()
            .map(|p| json!({"type": "input_json_delta", "partial_json": p}))
            .collect();
        block(
            &mut out,
            json!({"type": "tool_use", "id": ex.id("toolu_01", i), "name": call.name, "input": {}}),
            deltas,
        );
    }
    out.push(sse_event(
        "message_delta",
        &json!({"type": "message_delta",
            "delta": {"stop_reason": stop_reason(reply.stop), "stop_sequence": null},
            "usage": {"output_tokens": reply.usage.output}}),
    ));
    out.push(sse_event("message_stop", &json!({"type": "message_stop"})));
    out
}

/// The in-stream error event.
pub fn stream_error() -> Bytes {
    sse_event(
        "error",
        &json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    )
}

/// The error type Anthropic uses for a status.
pub fn error_type(status: u16) -> &'static str {
    match status {
        400 => "invalid_request_error",
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        _ => "api_error",
    }
}

/// The error body for a status, with the request id Anthropic also puts in `request-id`.
pub fn error_body(status: u16, message: &str, request_id: &str) -> Value {
    json!({"type": "error", "error": {"type": error_type(status), "message": message},
        "request_id": request_id})
}

/// `GET /v1/models` in Anthropic's shape.
pub fn models() -> Value {
    let ids = ["claude-sonnet-4-6", "claude-opus-4-1", "claude-haiku-4-5"];
    let data: Vec<Value> = ids
        .iter()
        .map(|id| {
            json!({"type": "model", "id": id, "display_name": id,
            "created_at": "2025-01-01T00:00:00Z"})
        })
        .collect();
    json!({"data": data, "has_more": false, "first_id": ids[0], "last_id": ids[ids.len() - 1]})
}
