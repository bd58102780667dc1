//! OpenAI Chat Completions requests encoded from the IR.

use crate::ir::{
    Effort, ImageSource, Message, OutputFormat, Part, Request, Role, Thinking, ToolChoice,
};
use serde_json::{json, Map, Value};

/// Encodes the IR as an OpenAI Chat Completions request for `model`.
pub fn encode(req: &Request, model: &str) -> Value {
    let mut out = Map::new();
    out.insert("model".into(), json!(model));
    let mut messages = Vec::new();
    if !req.system.is_empty() {
        let text: Vec<&str> = req.system.iter().map(|b| b.text.as_str()).collect();
        messages.push(json!({"role": "system", "content": text.join("\n\n")}));
    }
    for m in &req.messages {
        encode_message(m, &mut messages);
    }
    out.insert("messages".into(), Value::Array(messages));
    if let Some(n) = req.max_tokens {
        out.insert("max_completion_tokens".into(), json!(n));
    }
    if let Some(t) = req.temperature {
        out.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        out.insert("top_p".into(), json!(p));
    }
    if !req.stop.is_empty() {
        out.insert("stop".into(), json!(req.stop));
    }
    let effort = match req.thinking {
        Some(Thinking::Budget(b)) => Some(Effort::for_budget(b)),
        Some(Thinking::Effort(e)) => Some(e),
        Some(Thinking::Adaptive(e)) => Some(e.unwrap_or(Effort::Medium)),
        Some(Thinking::Disabled) | None => None,
    };
    if let Some(e) = effort {
        out.insert("reasoning_effort".into(), json!(e.as_str()));
    }
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut f = json!({"name": t.name, "parameters": t.schema});
                if let Some(d) = &t.description {
                    f["description"] = json!(d);
                }
                json!({"type": "function", "function": f})
            })
            .collect();
        out.insert("tools".into(), Value::Array(tools));
        if req.parallel_tool_calls == Some(false) {
            out.insert("parallel_tool_calls".into(), json!(false));
        }
    }
    if let Some(tc) = &req.tool_choice {
        let tc = match tc {
            ToolChoice::Auto => json!("auto"),
            ToolChoice::Any => json!("required"),
            ToolChoice::None => json!("none"),
            ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
        };
        out.insert("tool_choice".into(), tc);
    }
    match &req.output {
        Some(OutputFormat::JsonSchema {
            name,
            schema,
            strict,
        }) => {
            let mut js = json!({"name": name.as_deref().unwrap_or("output"), "schema": schema});
            if let Some(s) = strict {
                js["strict"] = json!(s);
            }
            out.insert(
                "response_format".into(),
                json!({"type": "json_schema", "json_schema": js}),
            );
        }
        Some(OutputFormat::JsonObject) => {
            out.insert("response_format".into(), json!({"type": "json_object"}));
        }
        None => {}
    }
    if let Some(u) = &req.user {
        out.insert("user".into(), json!(u));
    }
    if req.stream {
        out.insert("stream".into(), json!(true));
        // Usage is always asked for: the gateway bills it whether or not the client wants it.
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
    Value::Object(out)
}

fn encode_message(m: &Message, out: &mut Vec<Value>) {
    match m.role {
        Role::System => {
            let text: Vec<&str> = m.content.iter().filter_map(text_of).collect();
            out.push(json!({"role": "system", "content": text.join("\n\n")}));
        }
        Role::User => {
            let mut rest = Vec::new();
            for p in &m.content {
                match p {
                    Part::ToolResult {
                        tool_use_id,
                        content,
                        is_error,
                    } => {
                        let mut text: Vec<&str> = content.iter().filter_map(text_of).collect();
                        if text.is_empty() && *is_error {
                            text.push("error");
                        }
                        out.push(json!({"role": "tool", "tool_call_id": tool_use_id, "content": text.join("\n")}));
                        // Tool messages carry text only; images a tool returned follow as user content.
                        rest.extend(
                            content
                                .iter()
                                .filter(|p| matches!(p, Part::Image(_)))
                                .cloned(),
                        );
                    }
                    other => rest.push(other.clone()),
                }
            }
            let parts: Vec<Value> = rest.iter().filter_map(encode_user_part).collect();
            if parts.is_empty() {
                return;
            }
            let content = match parts.as_slice() {
                [only] if only["type"] == "text" => only["text"].clone(),
                _ => Value::Array(parts),
            };
            out.push(json!({"role": "user", "content": content}));
        }
        Role::Assistant => {
            let text: String = m.content.iter().filter_map(text_of).collect();
            let reasoning: String = m
                .content
                .iter()
                .filter_map(|p| match p {
                    Part::Thinking { text, .. } => Some(text.as_str()),
                    _ => None,
                })
                .collect();
            let calls: Vec<Value> = m
                .content
                .iter()
                .filter_map(|p| match p {
                    Part::ToolUse { id, name, input } => Some(json!({
                        "id": id, "type": "function",
                        "function": {"name": name, "arguments": arguments_text(input)},
                    })),
                    _ => None,
                })
                .collect();
            let mut msg = json!({"role": "assistant", "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) }});
            if !reasoning.is_empty() {
                msg["reasoning_content"] = json!(reasoning);
            }
            if !calls.is_empty() {
                msg["tool_calls"] = Value::Array(calls);
            }
            out.push(msg);
        }
    }
}

/// Tool arguments as OpenAI's JSON text.
pub(crate) fn arguments_text(input: &Value) -> String {
    match input {
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    }
}

fn text_of(p: &Part) -> Option<&str> {
    match p {
        Part::Text { text, .. } => Some(text),
        _ => None,
    }
}

fn encode_user_part(p: &Part) -> Option<Value> {
    Some(match p {
        Part::Text { text, .. } => json!({"type": "text", "text": text}),
        Part::Image(ImageSource::Url { url }) => {
            json!({"type": "image_url", "image_url": {"url": url}})
        }
        Part::Image(ImageSource::Base64 { media_type, data }) => {
            json!({"type": "image_url", "image_url": {"url": format!("data:{media_type};base64,{data}")}})
        }
        _ => return None,
    })
}
