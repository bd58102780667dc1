//! OpenAI Chat Completions: request parsing, JSON and SSE responses, and OpenAI's error
//! shape (shared with the Responses API, embeddings and images).

use bytes::Bytes;
use serde_json::{json, Value};

use crate::body::sse_data;
use crate::directive::Directives;
use crate::record::now_ms;
use crate::scenario::{content_text, get_path, pieces, Exchange, Reply, Stop, ToolDef};

/// Reads the parts of a chat request the fake acts on; `Err` is a 400 message.
pub fn parse(req: &Value) -> Result<Exchange, String> {
    let model = req
        .get("model")
        .and_then(Value::as_str)
        .ok_or("you must provide a model parameter")?;
    let messages = req
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("Missing required parameter: 'messages'.")?;
    let role = |m: &Value| m.get("role").and_then(Value::as_str).map(str::to_owned);
    let directive_text = messages
        .iter()
        .rev()
        .find(|m| role(m).as_deref() == Some("user"))
        .and_then(|m| m.get("content"))
        .map(|c| content_text(c, &["text"]))
        .unwrap_or_default();
    // Parallel tool calls come back as several trailing `tool` messages.
    let results: Vec<String> = messages
        .iter()
        .rev()
        .take_while(|m| role(m).as_deref() == Some("tool"))
        .map(|m| {
            m.get("content")
                .map_or(String::new(), |c| content_text(c, &["text"]))
        })
        .collect();
    let tool_result =
        (!results.is_empty()).then(|| results.into_iter().rev().collect::<Vec<_>>().join("\n"));
    let tools = req
        .get("tools")
        .and_then(Value::as_array)
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| {
                    let f = t.get("function")?;
                    Some(ToolDef {
                        name: f.get("name")?.as_str()?.to_owned(),
                        schema: f.get("parameters").cloned().unwrap_or(json!({})),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let forced_tool = match req.get("tool_choice") {
        Some(Value::String(s)) if s == "required" => Some(None),
        Some(choice @ Value::Object(_)) => get_path(choice, &["function", "name"])
            .and_then(Value::as_str)
            .map(|n| Some(n.to_owned())),
        _ => None,
    };
    let thinking = req
        .get("reasoning_effort")
        .and_then(Value::as_str)
        .is_some_and(|e| e != "none");
    let json_schema = match get_path(req, &["response_format", "type"]).and_then(Value::as_str) {
        Some("json_schema") => Some(
            get_path(req, &["response_format", "json_schema", "schema"])
                .cloned()
                .unwrap_or(json!({})),
        ),
        Some("json_object") => Some(json!({})),
        _ => None,
    };
    let directives = Directives::parse(&directive_text);
    let cached = directives
        .cached
        .or_else(|| req.get("prompt_cache_key").map(|_| 100));
    Ok(Exchange {
        protocol: "openai-chat",
        model: model.to_owned(),
        stream: req.get("stream").and_then(Value::as_bool).unwrap_or(false),
        directives,
        tools,
        forced_tool,
        tool_result,
        thinking,
        json_schema,
        max_tokens: req
            .get("max_completion_tokens")
            .or_else(|| req.get("max_tokens"))
            .and_then(Value::as_u64),
        cached,
        include_usage: get_path(req, &["stream_options", "include_usage"])
            .and_then(Value::as_bool)
            .unwrap_or(false),
        ..Exchange::default()
    })
}

fn finish_reason(stop: Stop) -> &'static str {
    match stop {
        Stop::EndTurn => "stop",
        Stop::ToolUse => "tool_calls",
        Stop::MaxTokens => "length",
    }
}

fn usage(reply: &Reply) -> Value {
    let u = reply.usage;
    json!({
        "prompt_tokens": u.input,
        "completion_tokens": u.output,
        "total_tokens": u.input + u.output,
        "prompt_tokens_details": {"cached_tokens": u.cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": u.reasoning, "audio_tokens": 0,
            "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
    })
}

fn tool_calls(ex: &Exchange, reply: &Reply) -> Vec<Value> {
    reply
        .tool_calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            json!({"id": ex.id("call_", i), "type": "function",
                "function": {"name": c.name, "arguments": c.arguments.to_string()}})
        })
        .collect()
}

/// The non-streaming `chat.completion` body.
pub fn render(ex: &Exchange, reply: &Reply, name: &str) -> Value {
    let mut message = json!({"role": "assistant", "content": null, "refusal": null,
        "annotations": []});
    if !reply.text.is_empty() || reply.tool_calls.is_empty() {
        message["content"] = json!(reply.text);
    }
    if let Some(thinking) = &reply.thinking {
        message["reasoning_content"] = json!(thinking);
    }
    if !reply.tool_calls.is_empty() {
        message["tool_calls"] = json!(tool_calls(ex, reply));
    }
    json!({
        "id": format!("chatcmpl-{name}-{}", ex.token),
        "object": "chat.completion",
        "created": now_ms() / 1000,
        "model": ex.model,
        "choices": [{"index": 0, "message": message, "logprobs": null,
            "finish_reason": finish_reason(reply.stop)}],
        "usage": usage(reply),
        "service_tier": "default",
        "system_fingerprint": "fp_fake",
    })
}

/// The SSE frames of a streaming response, ending with `data: [DONE]`.
pub fn frames(ex: &Exchange, reply: &Reply, name: &str) -> Vec<Bytes> {
    let created = now_ms() / 1000;
    let chunk = |delta: Value, finish: Value| {
        let mut c = json!({
            "id": format!("chatcmpl-{name}-{}", ex.token),
            "object": "chat.completion.chunk",
            "created": created,
            "model": ex.model,
            "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if ex.include_usage {
            c["usage"] = Value::Null;
        }
        sse_data(&c)
    };
    let mut out = vec![chunk(
        json!({"role": "assistant", "content": "", "refusal": null}),
        Value::Null,
    )];
    if let Some(thinking) = &reply.thinking {
        for p in pieces(thinking) {
            out.push(chunk(json!({"reasoning_content": p}), Value::Null));
        }
    }
    for p in pieces(&reply.text) {
        out.push(chunk(json!({"content": p}), Value::Null));
    }
    for (i, call) in tool_calls(ex, reply).into_iter().enumerate() {
        let head = json!({"index": i, "id": call["id"], "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""}});
        out.push(chunk(json!({"tool_calls": [head]}), Value::Null));
        let args = json!({"index": i, "function": {"arguments": call["function"]["arguments"]}});
        out.push(chunk(json!({"tool_calls": [args]}), Value::Null));
    }
    out.push(chunk(json!({}), json!(finish_reason(reply.stop))));
    if ex.include_usage {
        let last = json!({
            "id": format!("chatcmpl-{name}-{}", ex.token),
            "object": "chat.completion.chunk",
            "created": created,
            "model": ex.model,
            "system_fingerprint": "fp_fake",
            "choices": [],
            "usage": usage(reply),
        });
        out.push(sse_data(&last));
    }
    out.push(Bytes::from_static(b"data: [DONE]\n\n"));
    out
}

/// The in-stream error frame; the stream then closes without `[DONE]`.
pub fn stream_error() -> Bytes {
    sse_data(
        &json!({"error": {"message": "The server had an error while processing your \
        request. Sorry about that!", "type": "server_error", "param": null, "code": null}}),
    )
}

/// OpenAI's error body for a status.
pub fn error_body(status: u16, message: &str) -> Value {
    let (kind, code) = match status {
        401 => ("invalid_request_error", json!("invalid_api_key")),
        403 => (
            "invalid_request_error",
            json!("unsupported_country_region_territory"),
        ),
        404 => ("invalid_request_error", json!("model_not_found")),
        429 => ("requests", json!("rate_limit_exceeded")),
        s if s >= 500 => ("server_error", Value::Null),
        _ => ("invalid_request_error", Value::Null),
    };
    json!({"error": {"message": message, "type": kind, "param": null, "code": code}})
}

/// `GET /v1/models` in OpenAI's shape.
pub fn models() -> Value {
    let data: Vec<Value> = ["gpt-4o", "gpt-4o-mini", "gpt-5", "text-embedding-3-small"]
        .iter()
        .map(|id| {
            json!({"id": id, "object": "model", "created": 1_700_000_000,
            "owned_by": "fake"})
        })
        .collect();
    json!({"object": "list", "data": data})
}
