//! OpenAI Responses API: request parsing, the response object, and its typed SSE events.

use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::body::sse_event;
use crate::directive::Directives;
use crate::record::now_ms;
use crate::scenario::{content_text, get_path, pieces, Exchange, Reply, Stop, ToolDef};

const TEXT_PARTS: &[&str] = &["input_text", "output_text", "text"];

/// Reads the parts of a Responses request the fake acts on; `Err` is a 400 message.
pub fn parse(req: &Value) -> Result<Exchange, String> {
    let model = req
        .get("model")
        .and_then(Value::as_str)
        .ok_or("Missing required parameter: 'model'.")?;
    let input = req
        .get("input")
        .ok_or("Missing required parameter: 'input'.")?;
    let (directive_text, tool_result) = match input {
        Value::String(s) => (s.clone(), None),
        Value::Array(items) => {
            let text = items
                .iter()
                .rev()
                .find(|i| i.get("role").and_then(Value::as_str) == Some("user"))
                .and_then(|i| i.get("content"))
                .map(|c| content_text(c, TEXT_PARTS))
                .unwrap_or_default();
            let results: Vec<String> = items
                .iter()
                .rev()
                .take_while(|i| {
                    i.get("type").and_then(Value::as_str) == Some("function_call_output")
                })
                .map(|i| {
                    i.get("output")
                        .map_or(String::new(), |o| content_text(o, TEXT_PARTS))
                })
                .collect();
            let result = (!results.is_empty())
                .then(|| results.into_iter().rev().collect::<Vec<_>>().join("\n"));
            (text, result)
        }
        _ => return Err("Invalid type for 'input': expected a string or an array.".into()),
    };
    let tools = req
        .get("tools")
        .and_then(Value::as_array)
        .map(|tools| {
            tools
                .iter()
                .filter(|t| t.get("type").and_then(Value::as_str) == Some("function"))
                .filter_map(|t| {
                    Some(ToolDef {
                        name: t.get("name")?.as_str()?.to_owned(),
                        schema: t.get("parameters").cloned().unwrap_or(json!({})),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let forced_tool = match req.get("tool_choice") {
        Some(Value::String(s)) if s == "required" => Some(None),
        Some(choice @ Value::Object(_)) => choice
            .get("name")
            .and_then(Value::as_str)
            .map(|n| Some(n.to_owned())),
        _ => None,
    };
    let effort = get_path(req, &["reasoning", "effort"]).and_then(Value::as_str);
    let json_schema = match get_path(req, &["text", "format", "type"]).and_then(Value::as_str) {
        Some("json_schema") => Some(
            get_path(req, &["text", "format", "schema"])
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
    let mut echo = Map::new();
    for key in [
        "instructions",
        "tools",
        "tool_choice",
        "reasoning",
        "text",
        "max_output_tokens",
        "metadata",
    ] {
        if let Some(v) = req.get(key) {
            echo.insert(key.to_owned(), v.clone());
        }
    }
    Ok(Exchange {
        protocol: "openai-responses",
        model: model.to_owned(),
        stream: req.get("stream").and_then(Value::as_bool).unwrap_or(false),
        directives,
        tools,
        forced_tool,
        tool_result,
        thinking: effort.is_some_and(|e| e != "none"),
        reasoning_summary: get_path(req, &["reasoning", "summary"]).is_some_and(Value::is_string),
        json_schema,
        max_tokens: req.get("max_output_tokens").and_then(Value::as_u64),
        cached,
        echo: Value::Object(echo),
        ..Exchange::default()
    })
}

fn usage(reply: &Reply) -> Value {
    let u = reply.usage;
    json!({
        "input_tokens": u.input,
        "input_tokens_details": {"cached_tokens": u.cached},
        "output_tokens": u.output,
        "output_tokens_details": {"reasoning_tokens": u.reasoning},
        "total_tokens": u.input + u.output,
    })
}

/// The response object in a given state; `output` and `usage` are filled in when done.
fn response(ex: &Exchange, name: &str, status: &str, output: Vec<Value>, usage: Value) -> Value {
    let echo = |key: &str, default: Value| ex.echo.get(key).cloned().unwrap_or(default);
    let incomplete = (status == "incomplete").then(|| json!({"reason": "max_output_tokens"}));
    json!({
        "id": format!("resp_{name}_{}", ex.token),
        "object": "response",
        "created_at": now_ms() / 1000,
        "status": status,
        "error": null,
        "incomplete_details": incomplete,
        "instructions": echo("instructions", Value::Null),
        "max_output_tokens": echo("max_output_tokens", Value::Null),
        "model": ex.model,
        "output": output,
        "parallel_tool_calls": true,
        "previous_response_id": null,
        "reasoning": echo("reasoning", json!({"effort": null, "summary": null})),
        "store": true,
        "temperature": 1.0,
        "text": echo("text", json!({"format": {"type": "text"}})),
        "tool_choice": echo("tool_choice", json!("auto")),
        "tools": echo("tools", json!([])),
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": null,
        "metadata": echo("metadata", json!({})),
    })
}

fn final_status(reply: &Reply) -> &'static str {
    if reply.stop == Stop::MaxTokens {
        "incomplete"
    } else {
        "completed"
    }
}

fn reasoning_item(ex: &Exchange, summary: Vec<Value>) -> Value {
    json!({"id": ex.id("rs_", 0), "type": "reasoning", "summary": summary})
}

fn message_item(ex: &Exchange, status: &str, content: Vec<Value>) -> Value {
    json!({"id": ex.id("msg_", 0), "type": "message", "status": status, "role": "assistant",
        "content": content})
}

fn text_part(text: &str) -> Value {
    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
}

fn call_item(ex: &Exchange, i: usize, name: &str, args: &str, status: &str) -> Value {
    json!({"id": ex.id("fc_", i), "type": "function_call", "status": status,
        "call_id": ex.id("call_", i), "name": name, "arguments": args})
}

fn output(ex: &Exchange, reply: &Reply) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(thinking) = &reply.thinking {
        let summary = if ex.reasoning_summary {
            vec![json!({"type": "summary_text", "text": thinking})]
        } else {
            vec![]
        };
        out.push(reasoning_item(ex, summary));
    }
    if reply.tool_calls.is_empty() || !reply.text.is_empty() {
        let status = final_status(reply);
        out.push(message_item(ex, status, vec![text_part(&reply.text)]));
    }
    for (i, c) in reply.tool_calls.iter().enumerate() {
        let args = c.arguments.to_string();
        out.push(call_item(ex, i, &c.name, &args, "completed"));
    }
    out
}

/// The non-streaming response object.
pub fn render(ex: &Exchange, reply: &Reply, name: &str) -> Value {
    response(
        ex,
        name,
        final_status(reply),
        output(ex, reply),
        usage(reply),
    )
}

/// The SSE frames of a streaming response, each event carrying its `sequence_number`.
pub fn frames(ex: &Exchange, reply: &Reply, name: &str) -> Vec<Bytes> {
    let mut events: Vec<(&str, Value)> = Vec::new();
    let initial = response(ex, name, "in_progress", vec![], Value::Null);
    events.push(("response.created", json!({"response": initial})));
    events.push(("response.in_progress", json!({"response": initial})));
    let final_items = output(ex, reply);
    for (oi, item) in final_items.iter().enumerate() {
        let item_id = item["id"].clone();
        let mut added = item.clone();
        match item["type"].as_str() {
            Some("reasoning") => added["summary"] = json!([]),
            Some("message") => {
                added["status"] = json!("in_progress");
                added["content"] = json!([]);
            }
            _ => {
                added["status"] = json!("in_progress");
                added["arguments"] = json!("");
            }
        }
        events.push((
            "response.output_item.added",
            json!({"output_index": oi, "item": added}),
        ));
        let at = json!({"item_id": item_id, "output_index": oi});
        let with = |extra: Value| {
            let mut v = at.clone();
            if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
                v.extend(extra.clone());
            }
            v
        };
        match item["type"].as_str() {
            Some("reasoning") => {
                if let Some(text) = item["summary"][0]["text"].as_str() {
                    let part = json!({"type": "summary_text", "text": ""});
                    let idx = json!({"summary_index": 0});
                    events.push((
                        "response.reasoning_summary_part.added",
                        with(json!({"summary_index": 0, "part": part})),
                    ));
                    for p in pieces(text) {
                        let mut e = with(idx.clone());
                        e["delta"] = json!(p);
                        events.push(("response.reasoning_summary_text.delta", e));
                    }
                    let mut e = with(idx.clone());
                    e["text"] = json!(text);
                    events.push(("response.reasoning_summary_text.done", e));
                    let done = json!({"type": "summary_text", "text": text});
                    events.push((
                        "response.reasoning_summary_part.done",
                        with(json!({"summary_index": 0, "part": done})),
                    ));
                }
            }
            Some("message") => {
                let idx = json!({"content_index": 0});
                events.push((
                    "response.content_part.added",
                    with(json!({"content_index": 0, "part": text_part("")})),
                ));
                for p in pieces(&reply.text) {
                    let delta = json!({"content_index": 0, "delta": p, "logprobs": []});
                    events.push(("response.output_text.delta", with(delta)));
                }
                let mut e = with(idx);
                e["text"] = json!(reply.text);
                e["logprobs"] = json!([]);
                events.push(("response.output_text.done", e));
                events.push((
                    "response.content_part.done",
                    with(json!({"content_index": 0, "part": text_part(&reply.text)})),
                ));
            }
            _ => {
                let args = item["arguments"].clone();
                events.push((
                    "response.function_call_arguments.delta",
                    with(json!({"delta": args})),
                ));
                events.push((
                    "response.function_call_arguments.done",
                    with(json!({"arguments": args, "name": item["name"]})),
                ));
            }
        }
        events.push((
            "response.output_item.done",
            json!({"output_index": oi, "item": item}),
        ));
    }
    let status = final_status(reply);
    let done = response(ex, name, status, final_items, usage(reply));
    let last = if status == "completed" {
        "response.completed"
    } else {
        "response.incomplete"
    };
    events.push((last, json!({"response": done})));
    events
        .into_iter()
        .enumerate()
        .map(|(seq, (kind, mut data))| {
            data["type"] = json!(kind);
            data["sequence_number"] = json!(seq);
            sse_event(kind, &data)
        })
        .collect()
}

/// The `response.failed` event sent in place of frame `seq`.
pub fn stream_error(ex: &Exchange, name: &str, seq: usize) -> Bytes {
    let mut failed = response(ex, name, "failed", vec![], Value::Null);
    failed["error"] = json!({"code": "server_error", "message": "The model failed to generate \
        a response."});
    sse_event(
        "response.failed",
        &json!({"type": "response.failed", "sequence_number": seq, "response": failed}),
    )
}
