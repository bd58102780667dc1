//! Gemini `generateContent` requests encoded from the IR.

use super::schema;
use crate::ir::{ImageSource, Message, OutputFormat, Part, Request, Role, Thinking, ToolChoice};
use serde_json::{json, Map, Value};

/// The thought signature Gemini accepts on a function call that no Gemini model produced.
pub const UNSIGNED_CALL: &str = "skip_thought_signature_validator";

/// Encodes the IR as a Gemini request body (the model goes in the path, not the body).
pub fn encode(req: &Request) -> Value {
    let mut out = Map::new();
    let mut system: Vec<Value> = req.system.iter().map(|b| json!({"text": b.text})).collect();
    // Gemini has no system turns mid-conversation: their text joins the system instruction.
    for m in req.messages.iter().filter(|m| m.role == Role::System) {
        system.extend(m.content.iter().filter_map(|p| match p {
            Part::Text { text, .. } => Some(json!({"text": text})),
            _ => None,
        }));
    }
    if !system.is_empty() {
        out.insert("systemInstruction".into(), json!({"parts": system}));
    }
    let mut contents: Vec<Value> = Vec::new();
    for m in req.messages.iter().filter(|m| m.role != Role::System) {
        let parts = encode_parts(m, &req.messages);
        if parts.is_empty() {
            continue;
        }
        let role = if m.role == Role::Assistant {
            "model"
        } else {
            "user"
        };
        match contents.last_mut() {
            Some(prev) if prev["role"] == role => {
                if let Some(p) = prev["parts"].as_array_mut() {
                    p.extend(parts);
                }
            }
            _ => contents.push(json!({"role": role, "parts": parts})),
        }
    }
    out.insert("contents".into(), Value::Array(contents));
    if !req.tools.is_empty() {
        let decls: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut d = json!({"name": t.name});
                if let Some(desc) = &t.description {
                    d["description"] = json!(desc);
                }
                if let Some(p) = schema::clean(&t.schema) {
                    d["parameters"] = p;
                }
                d
            })
            .collect();
        out.insert("tools".into(), json!([{"functionDeclarations": decls}]));
    }
    if let Some(tc) = &req.tool_choice {
        let config = match tc {
            ToolChoice::Auto => json!({"mode": "AUTO"}),
            ToolChoice::Any => json!({"mode": "ANY"}),
            ToolChoice::None => json!({"mode": "NONE"}),
            ToolChoice::Tool(name) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
        };
        out.insert(
            "toolConfig".into(),
            json!({"functionCallingConfig": config}),
        );
    }
    let mut gen = Map::new();
    if let Some(t) = req.temperature {
        gen.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        gen.insert("topP".into(), json!(p));
    }
    if let Some(k) = req.top_k {
        gen.insert("topK".into(), json!(k));
    }
    if let Some(n) = req.max_tokens {
        gen.insert("maxOutputTokens".into(), json!(n));
    }
    if !req.stop.is_empty() {
        gen.insert("stopSequences".into(), json!(req.stop));
    }
    let thinking = match req.thinking {
        Some(Thinking::Budget(b)) => Some(json!({"thinkingBudget": b, "includeThoughts": true})),
        Some(Thinking::Effort(e)) => {
            Some(json!({"thinkingBudget": e.budget(), "includeThoughts": true}))
        }
        Some(Thinking::Adaptive(Some(e))) => {
            Some(json!({"thinkingBudget": e.budget(), "includeThoughts": true}))
        }
        // -1 is Gemini's dynamic thinking: the model decides, as Anthropic's adaptive does.
        Some(Thinking::Adaptive(None)) => {
            Some(json!({"thinkingBudget": -1, "includeThoughts": true}))
        }
        Some(Thinking::Disabled) => Some(json!({"thinkingBudget": 0})),
        None => None,
    };
    if let Some(t) = thinking {
        gen.insert("thinkingConfig".into(), t);
    }
    match &req.output {
        Some(OutputFormat::JsonSchema { schema, .. }) => {
            gen.insert("responseMimeType".into(), json!("application/json"));
            let mut schema = schema.clone();
            if let Some(o) = schema.as_object_mut() {
                o.remove("$schema");
            }
            gen.insert("responseJsonSchema".into(), schema);
        }
        Some(OutputFormat::JsonObject) => {
            gen.insert("responseMimeType".into(), json!("application/json"));
        }
        None => {}
    }
    if !gen.is_empty() {
        out.insert("generationConfig".into(), Value::Object(gen));
    }
    Value::Object(out)
}

fn encode_parts(m: &Message, history: &[Message]) -> Vec<Value> {
    let mut parts = Vec::new();
    // A signature decoded from a thought part sits on that reasoning; one decoded from another
    // part (a function call, text) came as reasoning without text, and goes back on the part
    // that follows it.
    let mut pending: Option<&str> = None;
    let mut signed_call = false;
    for p in &m.content {
        let mut part = match p {
            Part::Text { text, .. } if text.is_empty() => continue,
            Part::Text { text, .. } => json!({"text": text}),
            Part::Image(ImageSource::Base64 { media_type, data }) => {
                json!({"inlineData": {"mimeType": media_type, "data": data}})
            }
            Part::Image(ImageSource::Url { url }) => {
                json!({"fileData": {"mimeType": mime_for_url(url), "fileUri": url}})
            }
            Part::ToolUse { name, input, .. } => {
                let args = if input.is_object() {
                    input.clone()
                } else {
                    json!({"arguments": input})
                };
                json!({"functionCall": {"name": name, "args": args}})
            }
            Part::ToolResult {
                tool_use_id,
                content,
                is_error,
            } => {
                let text: Vec<&str> = content
                    .iter()
                    .filter_map(|p| match p {
                        Part::Text { text, .. } => Some(text.as_str()),
                        _ => None,
                    })
                    .collect();
                let key = if *is_error { "error" } else { "result" };
                let name = tool_name(tool_use_id, history).unwrap_or(tool_use_id);
                json!({"functionResponse": {"name": name, "response": {key: text.join("\n")}}})
            }
            Part::Thinking { text, signature } if text.is_empty() => {
                pending = native(signature.as_deref()).or(pending);
                continue;
            }
            Part::Thinking { text, signature } => {
                let mut part = json!({"text": text, "thought": true});
                if let Some(s) = native(signature.as_deref()) {
                    part["thoughtSignature"] = json!(s);
                }
                parts.push(part);
                continue;
            }
            Part::RedactedThinking { .. } => continue,
        };
        if let Some(s) = pending.take() {
            part["thoughtSignature"] = json!(s);
        } else if part.get("functionCall").is_some() && !signed_call {
            // Gemini 3 wants the first call of a model turn signed; a call that came from
            // another vendor has no signature, and this value is Gemini's documented way to
            // say so.
            part["thoughtSignature"] = json!(UNSIGNED_CALL);
        }
        if part.get("functionCall").is_some() {
            signed_call = true;
        }
        parts.push(part);
    }
    parts
}

/// A signature Gemini issued, without its mark; another vendor's signature is no use here.
fn native(signature: Option<&str>) -> Option<&str> {
    signature?.strip_prefix(super::SIGNATURE_PREFIX)
}

/// Gemini answers calls by function name: find the name of the call with this id.
fn tool_name<'a>(id: &str, history: &'a [Message]) -> Option<&'a str> {
    history
        .iter()
        .flat_map(|m| &m.content)
        .find_map(|p| match p {
            Part::ToolUse { id: call, name, .. } if call == id => Some(name.as_str()),
            _ => None,
        })
}

/// Gemini needs a MIME type with a file URI; guess it from the extension.
fn mime_for_url(url: &str) -> &'static str {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .to_ascii_lowercase();
    match path.rsplit('.').next() {
        Some("png") => "image/png",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("pdf") => "application/pdf",
        _ => "image/jpeg",
    }
}
