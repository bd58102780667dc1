//! Gemini `generateContent` / `streamGenerateContent`: request parsing, responses (SSE or an
//! incrementally written JSON array), and Google's error shape.

use bytes::Bytes;
use serde_json::{json, Value};

use crate::directive::Directives;
use crate::scenario::{pieces, Exchange, Reply, Stop, ToolDef};

/// A field by its camelCase name or the snake_case spelling, which Google's API also accepts
/// (and its Python SDK sends).
fn field<'a>(v: &'a Value, camel: &str) -> Option<&'a Value> {
    v.get(camel).or_else(|| {
        let mut snake = String::with_capacity(camel.len() + 4);
        for c in camel.chars() {
            if c.is_ascii_uppercase() {
                snake.push('_');
            }
            snake.push(c.to_ascii_lowercase());
        }
        v.get(snake)
    })
}

/// Follows camelCase `path`, accepting snake_case at each step.
fn field_path<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, key| field(v, key))
}

fn parts_text(content: &Value) -> String {
    content
        .get("parts")
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .filter(|p| p.get("thought").and_then(Value::as_bool) != Some(true))
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<String>()
        })
        .unwrap_or_default()
}

/// Reads the parts of a request the fake acts on; the model comes from the path.
pub fn parse(req: &Value, model: &str) -> Result<Exchange, String> {
    let contents = req
        .get("contents")
        .and_then(Value::as_array)
        .ok_or("* GenerateContentRequest.contents: contents is not specified")?;
    let is_user = |c: &&Value| c.get("role").and_then(Value::as_str).unwrap_or("user") == "user";
    let directive_text = contents
        .iter()
        .rev()
        .find(is_user)
        .map(parts_text)
        .unwrap_or_default();
    let tool_result = contents
        .last()
        .and_then(|c| c.get("parts"))
        .and_then(Value::as_array)
        .and_then(|parts| {
            let results: Vec<String> = parts
                .iter()
                .filter_map(|p| field(p, "functionResponse"))
                .map(|r| {
                    let resp = r.get("response").unwrap_or(&Value::Null);
                    ["result", "output", "content"]
                        .iter()
                        .find_map(|k| resp.get(*k).and_then(Value::as_str))
                        .map_or_else(|| resp.to_string(), str::to_owned)
                })
                .collect();
            (!results.is_empty()).then(|| results.join("\n"))
        });
    let tools = req
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| field(t, "functionDeclarations").and_then(Value::as_array))
        .flatten()
        .filter_map(|f| {
            Some(ToolDef {
                name: f.get("name")?.as_str()?.to_owned(),
                schema: field(f, "parametersJsonSchema")
                    .or_else(|| f.get("parameters"))
                    .cloned()
                    .unwrap_or(json!({})),
            })
        })
        .collect();
    let calling = field_path(req, &["toolConfig", "functionCallingConfig"]);
    let forced_tool = match calling.and_then(|c| c.get("mode")).and_then(Value::as_str) {
        Some("ANY") => Some(
            calling
                .and_then(|c| field(c, "allowedFunctionNames"))
                .and_then(|n| n.get(0))
                .and_then(Value::as_str)
                .map(str::to_owned),
        ),
        _ => None,
    };
    let config = field(req, "generationConfig").unwrap_or(&Value::Null);
    let thinking = field_path(config, &["thinkingConfig", "includeThoughts"])
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let json_schema = (field(config, "responseMimeType").and_then(Value::as_str)
        == Some("application/json"))
    .then(|| {
        field(config, "responseJsonSchema")
            .or_else(|| field(config, "responseSchema"))
            .cloned()
            .unwrap_or(json!({}))
    });
    let directives = Directives::parse(&directive_text);
    Ok(Exchange {
        protocol: "gemini",
        model: model.to_owned(),
        cached: directives.cached,
        directives,
        tools,
        forced_tool,
        tool_result,
        thinking,
        json_schema,
        max_tokens: field(config, "maxOutputTokens").and_then(Value::as_u64),
        ..Exchange::default()
    })
}

fn usage(reply: &Reply) -> Value {
    let u = reply.usage;
    let mut m = json!({
        "promptTokenCount": u.input,
        "candidatesTokenCount": u.output - u.reasoning,
        "totalTokenCount": u.input + u.output,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": u.input}],
    });
    if u.reasoning > 0 {
        m["thoughtsTokenCount"] = json!(u.reasoning);
    }
    if u.cached > 0 {
        m["cachedContentTokenCount"] = json!(u.cached);
    }
    m
}

fn finish_reason(stop: Stop) -> &'static str {
    match stop {
        Stop::MaxTokens => "MAX_TOKENS",
        _ => "STOP",
    }
}

fn chunk(ex: &Exchange, name: &str, parts: Vec<Value>, last: Option<&Reply>) -> Value {
    let mut candidate = json!({"content": {"parts": parts, "role": "model"}, "index": 0});
    let usage = match last {
        Some(reply) => {
            candidate["finishReason"] = json!(finish_reason(reply.stop));
            usage(reply)
        }
        None => Value::Null,
    };
    let mut out = json!({"candidates": [candidate], "modelVersion": ex.model,
        "responseId": format!("{name}-{}", ex.token)});
    if !usage.is_null() {
        out["usageMetadata"] = usage;
    }
    out
}

fn call_parts(reply: &Reply) -> Vec<Value> {
    reply
        .tool_calls
        .iter()
        .map(|c| json!({"functionCall": {"name": c.name, "args": c.arguments}}))
        .collect()
}

/// The non-streaming `GenerateContentResponse`.
pub fn render(ex: &Exchange, reply: &Reply, name: &str) -> Value {
    let mut parts = Vec::new();
    if let Some(thinking) = &reply.thinking {
        parts.push(json!({"text": thinking, "thought": true}));
    }
    if !reply.text.is_empty() || reply.tool_calls.is_empty() {
        parts.push(json!({"text": reply.text}));
    }
    parts.extend(call_parts(reply));
    chunk(ex, name, parts, Some(reply))
}

/// Stream chunks, a word per chunk; the last carries `finishReason` and full usage.
pub fn frames(ex: &Exchange, reply: &Reply, name: &str) -> Vec<Bytes> {
    let mut groups: Vec<Vec<Value>> = Vec::new();
    if let Some(thinking) = &reply.thinking {
        groups.extend(
            pieces(thinking)
                .into_iter()
                .map(|p| vec![json!({"text": p, "thought": true})]),
        );
    }
    groups.extend(
        pieces(&reply.text)
            .into_iter()
            .map(|p| vec![json!({"text": p})]),
    );
    // Gemini sends parallel function calls together in one chunk.
    if !reply.tool_calls.is_empty() {
        groups.push(call_parts(reply));
    }
    if groups.is_empty() {
        groups.push(vec![json!({"text": ""})]);
    }
    let n = groups.len();
    let chunks: Vec<Value> = groups
        .into_iter()
        .enumerate()
        .map(|(i, parts)| chunk(ex, name, parts, (i + 1 == n).then_some(reply)))
        .collect();
    let mut out: Vec<Bytes> = chunks
        .iter()
        .enumerate()
        .map(|(i, c)| frame(ex.sse, i, c))
        .collect();
    if !ex.sse {
        out.push(Bytes::from_static(b"]"));
    }
    out
}

/// One chunk as an SSE event, or as an element of the streamed JSON array.
fn frame(sse: bool, index: usize, value: &Value) -> Bytes {
    match (sse, index) {
        (true, _) => Bytes::from(format!("data: {value}\r\n\r\n")),
        (false, 0) => Bytes::from(format!("[{value}")),
        (false, _) => Bytes::from(format!(",\r\n{value}")),
    }
}

/// The error chunk sent in place of frame `index`; an array stream is closed after it.
pub fn stream_error(ex: &Exchange, index: usize) -> Bytes {
    let err = error_body(500, "An internal error has occurred.");
    let mut bytes = frame(ex.sse, index, &err).to_vec();
    if !ex.sse {
        bytes.push(b']');
    }
    Bytes::from(bytes)
}

/// Google's error body for a status.
pub fn error_body(status: u16, message: &str) -> Value {
    let kind = match status {
        400 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        _ => "INTERNAL",
    };
    json!({"error": {"code": status, "message": message, "status": kind}})
}

/// `GET /v1beta/models` in Gemini's shape.
pub fn models() -> Value {
    let models: Vec<Value> = ["gemini-2.5-pro", "gemini-2.5-flash"]
        .iter()
        .map(|id| {
            json!({"name": format!("models/{id}"), "displayName": id,
            "supportedGenerationMethods": ["generateContent", "countTokens"]})
        })
        .collect();
    json!({"models": models})
}
