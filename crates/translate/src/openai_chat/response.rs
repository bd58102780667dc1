//! OpenAI chat.completion bodies: decoded into the IR and encoded from it.

use super::request::arguments_text;
use super::stream::{encode_finish, Decoder};
use super::usage;
use super::view::Chunk;
use crate::error::unreadable;
use crate::ir::{Collector, Part, Response, StreamEvent};
use crate::lenient;
use bytespike_protocol::GatewayError;
use serde_json::{json, Value};

/// Decodes an OpenAI chat.completion body, through the same logic as its stream.
pub fn decode(body: &[u8]) -> Result<Response, GatewayError> {
    let chunk = lenient::parse_body::<Chunk>(body).map_err(|e| unreadable(&e))?;
    let mut decoder = Decoder::default();
    let mut events = Vec::new();
    decoder.chunk(chunk, true, &mut events);
    decoder.complete(&mut events);
    let mut collector = Collector::default();
    events
        .into_iter()
        .for_each(|e: StreamEvent| collector.push(e));
    collector.finish()
}

/// Encodes an IR response as the body OpenAI would send, naming `model`.
pub fn encode(resp: &Response, model: &str, created: u64) -> Value {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut thinking_blocks = Vec::new();
    let mut calls = Vec::new();
    for p in &resp.content {
        match p {
            Part::Text { text: t, .. } => text.push_str(t),
            Part::Thinking { text: t, signature } => {
                reasoning.push_str(t);
                if let Some(sig) = signature {
                    thinking_blocks.push(json!({"type": "thinking", "thinking": t, "signature": sig}));
                }
            }
            Part::RedactedThinking { data } => thinking_blocks.push(json!({"type": "redacted_thinking", "data": data})),
            Part::ToolUse { id, name, input } => calls.push(json!({
                "id": id, "type": "function", "function": {"name": name, "arguments": arguments_text(input)},
            })),
            Part::Image(_) | Part::ToolResult { .. } => {}
        }
    }
    let mut message = json!({
        "role": "assistant",
        "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) },
        "refusal": null,
    });
    if !reasoning.is_empty() {
        message["reasoning_content"] = json!(reasoning);
    }
    if !thinking_blocks.is_empty() {
        message["thinking_blocks"] = Value::Array(thinking_blocks);
    }
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    let finish = resp.stop.map(encode_finish).unwrap_or("stop");
    json!({
        "id": resp.id.clone().unwrap_or_else(|| format!("chatcmpl-{created}")),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
        "usage": usage::encode(&resp.usage),
    })
}
