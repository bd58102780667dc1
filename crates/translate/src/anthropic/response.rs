//! Anthropic Messages responses: decoded into the IR and encoded from it.

use super::usage::{self, UsageOut};
use crate::error::TranslateError;
use crate::field::{self, loose};
use crate::ir::{ImageSource, Part, Response, StopReason};
use serde::Serialize;
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

/// An IR response as the body Anthropic would send, in Anthropic's field order; serialize it
/// (`serde_json::to_vec`). Borrowed from the response: nothing is copied to build it.
#[derive(Debug, Serialize)]
pub struct Message<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: Vec<Block<'a>>,
    stop_reason: Option<&'static str>,
    stop_sequence: Option<&'a str>,
    usage: UsageOut,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text {
        text: &'a str,
    },
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    RedactedThinking {
        data: &'a str,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: &'a Value,
    },
}

/// Encodes an IR response as the body Anthropic would send, naming `model`.
pub fn encode<'a>(resp: &'a Response, model: &'a str) -> Message<'a> {
    let content = resp
        .content
        .iter()
        .filter_map(|p| match p {
            Part::Text { text, .. } => Some(Block::Text { text }),
            Part::Thinking { text, signature } => Some(Block::Thinking {
                thinking: text,
                signature: signature.as_deref().unwrap_or(""),
            }),
            Part::RedactedThinking { data } => Some(Block::RedactedThinking { data }),
            Part::ToolUse { id, name, input } => Some(Block::ToolUse { id, name, input }),
            Part::Image(ImageSource::Base64 { .. } | ImageSource::Url { .. })
            | Part::ToolResult { .. } => None,
        })
        .collect();
    Message {
        id: resp.id.as_deref().unwrap_or("msg_bytespike"),
        kind: "message",
        role: "assistant",
        model,
        content,
        stop_reason: resp.stop.map(encode_stop),
        stop_sequence: resp.stop_sequence.as_deref(),
        usage: UsageOut::from(&resp.usage),
    }
}
