//! Anthropic Messages requests encoded from the IR.

use super::super::{DEFAULT_MAX_TOKENS, STRUCTURED_OUTPUTS_BETA};
use crate::ir::{Effort, ImageSource, OutputFormat, Part, Request, Role, Thinking, ToolChoice};
use serde_json::{json, Map, Value};

/// Encodes the IR as an Anthropic request for `model`; returns the body and any beta it needs.
pub fn encode(req: &Request, model: &str) -> (Value, Option<&'static str>) {
    let mut out = Map::new();
    out.insert("model".into(), json!(model));
    let mut system: Vec<Value> = req
        .system
        .iter()
        .map(|b| text_block(&b.text, b.cache.as_ref()))
        .collect();
    // Anthropic has no system turns mid-conversation: their text joins the system prompt.
    for m in req.messages.iter().filter(|m| m.role == Role::System) {
        for p in &m.content {
            if let Part::Text { text, cache } = p {
                system.push(text_block(text, cache.as_ref()));
            }
        }
    }
    let mut messages: Vec<(Role, Vec<Value>)> = Vec::new();
    for m in req.messages.iter().filter(|m| m.role != Role::System) {
        let blocks: Vec<Value> = m.content.iter().filter_map(encode_part).collect();
        if blocks.is_empty() {
            continue;
        }
        // Consecutive turns of one role merge, so parallel tool results land in one message.
        match messages.last_mut() {
            Some((role, prev)) if *role == m.role => prev.extend(blocks),
            _ => messages.push((m.role, blocks)),
        }
    }
    // Anthropic refuses reasoning while a tool is forced; the forced call is what the client
    // asked for explicitly, so reasoning gives way.
    let forced = matches!(req.tool_choice, Some(ToolChoice::Any | ToolChoice::Tool(_)));
    let thinking = encode_thinking(req).filter(|_| !forced);
    let max_tokens = match (req.max_tokens, thinking) {
        (Some(n), _) => n,
        (None, Some(budget)) => budget + DEFAULT_MAX_TOKENS,
        (None, None) => DEFAULT_MAX_TOKENS,
    };
    out.insert("max_tokens".into(), json!(max_tokens));
    if !system.is_empty() {
        out.insert("system".into(), Value::Array(system));
    }
    let messages: Vec<Value> = messages
        .into_iter()
        .map(|(role, content)| {
            let role = if role == Role::Assistant {
                "assistant"
            } else {
                "user"
            };
            json!({"role": role, "content": content})
        })
        .collect();
    out.insert("messages".into(), Value::Array(messages));
    match (req.thinking.filter(|_| !forced), thinking) {
        (Some(Thinking::Adaptive(_)), _) => {
            out.insert("thinking".into(), json!({"type": "adaptive"}));
            if let Some(Thinking::Adaptive(Some(e))) = req.thinking {
                out.insert("output_config".into(), json!({"effort": e.as_str()}));
            }
        }
        // The budget must stay below max_tokens; one that cannot reach Anthropic's minimum of
        // 1,024 leaves reasoning off rather than failing the request.
        (_, Some(budget)) => {
            let budget = budget.min(max_tokens.saturating_sub(1));
            if budget >= 1024 {
                out.insert(
                    "thinking".into(),
                    json!({"type": "enabled", "budget_tokens": budget}),
                );
            }
        }
        _ => {}
    }
    let thinking_on = out.contains_key("thinking");
    // Anthropic rejects temperature and top_k changes while thinking.
    if let Some(t) = req.temperature.filter(|_| !thinking_on) {
        // OpenAI's range is 0..2, Anthropic's 0..1.
        out.insert("temperature".into(), json!(t.clamp(0.0, 1.0)));
    }
    if let Some(p) = req.top_p {
        out.insert("top_p".into(), json!(p));
    }
    if let Some(k) = req.top_k.filter(|_| !thinking_on) {
        out.insert("top_k".into(), json!(k));
    }
    if !req.stop.is_empty() {
        out.insert("stop_sequences".into(), json!(req.stop));
    }
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut tool = json!({"name": t.name, "input_schema": object_schema(&t.schema)});
                if let Some(d) = &t.description {
                    tool["description"] = json!(d);
                }
                if let Some(c) = &t.cache {
                    tool["cache_control"] = c.clone();
                }
                tool
            })
            .collect();
        out.insert("tools".into(), Value::Array(tools));
    }
    let mut choice = match &req.tool_choice {
        Some(ToolChoice::Auto) => Some(json!({"type": "auto"})),
        Some(ToolChoice::Any) => Some(json!({"type": "any"})),
        Some(ToolChoice::None) => Some(json!({"type": "none"})),
        Some(ToolChoice::Tool(name)) => Some(json!({"type": "tool", "name": name})),
        None if req.parallel_tool_calls == Some(false) && !req.tools.is_empty() => {
            Some(json!({"type": "auto"}))
        }
        None => None,
    };
    if let Some(c) = choice.as_mut().filter(|c| c["type"] != "none") {
        if req.parallel_tool_calls == Some(false) {
            c["disable_parallel_tool_use"] = json!(true);
        }
    }
    if let Some(c) = choice {
        out.insert("tool_choice".into(), c);
    }
    let mut beta = None;
    if let Some(OutputFormat::JsonSchema { schema, .. }) = &req.output {
        out.insert(
            "output_format".into(),
            json!({"type": "json_schema", "schema": schema}),
        );
        beta = Some(STRUCTURED_OUTPUTS_BETA);
    }
    if let Some(user) = &req.user {
        out.insert("metadata".into(), json!({"user_id": user}));
    }
    if req.stream {
        out.insert("stream".into(), json!(true));
    }
    (Value::Object(out), beta)
}

/// The token budget to ask for, if reasoning is on.
fn encode_thinking(req: &Request) -> Option<u64> {
    match req.thinking? {
        Thinking::Budget(b) => Some(b),
        Thinking::Effort(e) => Some(e.budget()),
        Thinking::Adaptive(e) => Some(e.unwrap_or(Effort::Medium).budget()),
        Thinking::Disabled => None,
    }
}

/// Anthropic requires an object schema; a tool without one takes no arguments.
fn object_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(o) if o.contains_key("type") => schema.clone(),
        Value::Object(o) => {
            let mut o = o.clone();
            o.insert("type".into(), json!("object"));
            Value::Object(o)
        }
        _ => json!({"type": "object", "properties": {}}),
    }
}

fn text_block(text: &str, cache: Option<&Value>) -> Value {
    let mut b = json!({"type": "text", "text": text});
    if let Some(c) = cache {
        b["cache_control"] = c.clone();
    }
    b
}

fn encode_part(part: &Part) -> Option<Value> {
    Some(match part {
        // Anthropic rejects empty text blocks.
        Part::Text { text, .. } if text.is_empty() => return None,
        Part::Text { text, cache } => text_block(text, cache.as_ref()),
        Part::Image(ImageSource::Base64 { media_type, data }) => {
            json!({"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}})
        }
        Part::Image(ImageSource::Url { url }) => {
            json!({"type": "image", "source": {"type": "url", "url": url}})
        }
        Part::ToolUse { id, name, input } => {
            let input = match input {
                Value::Object(_) => input.clone(),
                other => json!({"arguments": other}),
            };
            json!({"type": "tool_use", "id": id, "name": name, "input": input})
        }
        Part::ToolResult {
            tool_use_id,
            content,
            is_error,
        } => {
            let content: Vec<Value> = content.iter().filter_map(encode_part).collect();
            let mut b =
                json!({"type": "tool_result", "tool_use_id": tool_use_id, "content": content});
            if *is_error {
                b["is_error"] = json!(true);
            }
            b
        }
        // Anthropic verifies thinking it gets back; reasoning unsigned or signed by another
        // vendor cannot pass and is left out.
        Part::Thinking {
            text,
            signature: Some(sig),
        } if !sig.starts_with(crate::gemini::SIGNATURE_PREFIX) => {
            json!({"type": "thinking", "thinking": text, "signature": sig})
        }
        Part::Thinking { .. } => return None,
        Part::RedactedThinking { data } => json!({"type": "redacted_thinking", "data": data}),
    })
}
