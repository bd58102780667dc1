//! Anthropic Messages responses: decoded into the IR and encoded from it.

use super::usage;
use crate::error::TranslateError;
use crate::field::{self, loose};
use crate::ir::{ImageSource, Part, Response, StopReason};
use serde_json::{json, Value};

/// The IR stop reason for an Anthropic `stop_reason`.
pub(crate) fn decode_stop(reason: &str) -> Option<StopReason> {
    Some(match reason {
        "end_turn" => StopReason::EndTurn,
        "max_tokens" | "model_context_window_exceeded" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        "tool_use" => StopReason::ToolUse,
        "refusal" => StopReason::Refusal,
        "pause_turn" => StopReason::Pause,
        _ => return None,
    })
}

/// The Anthropic `stop_reason` for an IR stop reason.
pub(crate) fn encode_stop(reason: StopReason) -> &'static str {
    match reason {
        StopReason::EndTurn => "end_turn",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::ToolUse => "tool_use",
        StopReason::Refusal => "refusal",
        StopReason::Pause => "pause_turn",
    }
}

/// Decodes an Anthropic response body.
pub fn decode(body: &[u8]) -> Result<Response, TranslateError> {
    let obj = field::parse_object(body)?;
    let mut resp = Response {
        id: field::opt_str(&obj, "id", "")?.map(str::to_string),
        stop: field::opt_str(&obj, "stop_reason", "")?.and_then(decode_stop),
        stop_sequence: field::opt_str(&obj, "stop_sequence", "")?.map(str::to_string),
        ..Response::default()
    };
    if let Some(u) = loose::obj(&obj, "usage") {
        usage::apply(u, &mut resp.usage);
    }
    for b in loose::array(&obj, "content") {
        let Some(b) = b.as_object() else { continue };
        let part = match loose::str(b, "type") {
            "text" => Part::text(loose::str(b, "text")),
            "thinking" => Part::Thinking {
                text: loose::str(b, "thinking").to_string(),
                signature: b
                    .get("signature")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            },
            "redacted_thinking" => Part::RedactedThinking {
                data: loose::str(b, "data").to_string(),
            },
            "tool_use" => Part::ToolUse {
                id: loose::str(b, "id").to_string(),
                name: loose::str(b, "name").to_string(),
                input: b.get("input").cloned().unwrap_or_else(|| json!({})),
            },
            _ => continue,
        };
        resp.content.push(part);
    }
    Ok(resp)
}

/// Encodes an IR response as the body Anthropic would send, naming `model`.
pub fn encode(resp: &Response, model: &str) -> Value {
    let content: Vec<Value> = resp
        .content
        .iter()
        .filter_map(|p| match p {
            Part::Text { text, .. } => Some(json!({"type": "text", "text": text})),
            Part::Thinking { text, signature } => Some(json!({
                "type": "thinking", "thinking": text, "signature": signature.as_deref().unwrap_or(""),
            })),
            Part::RedactedThinking { data } => Some(json!({"type": "redacted_thinking", "data": data})),
            Part::ToolUse { id, name, input } => Some(json!({"type": "tool_use", "id": id, "name": name, "input": input})),
            Part::Image(ImageSource::Base64 { .. } | ImageSource::Url { .. }) | Part::ToolResult { .. } => None,
        })
        .collect();
    json!({
        "id": resp.id.clone().unwrap_or_else(|| "msg_bytespike".to_string()),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": resp.stop.map(encode_stop),
        "stop_sequence": resp.stop_sequence,
        "usage": usage::encode(&resp.usage),
    })
}
