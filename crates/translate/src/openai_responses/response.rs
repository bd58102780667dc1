//! Whole Responses `response` objects encoded from IR responses.

use super::stream::Encoder;
use super::Echo;
use crate::ir::{BlockStart, Delta, Part, Response, StreamEvent};
use crate::openai_chat::request::arguments_text;
use crate::stream::Encode;
use serde_json::Value;

/// Encodes an IR response as the body the Responses API would send, naming `model` and
/// repeating `echo`; built by the stream encoder so both forms agree item for item.
pub fn encode(resp: &Response, model: &str, created: u64, echo: &Echo) -> Value {
    let mut encoder = Encoder::silent(model, created, echo.clone());
    let mut sink = Vec::new();
    for event in events(resp) {
        encoder.encode(event, &mut sink);
    }
    encoder.into_response()
}

/// The stream events that would have produced `resp`.
fn events(resp: &Response) -> Vec<StreamEvent> {
    let mut events = vec![StreamEvent::MessageStart {
        id: resp.id.clone(),
        usage: resp.usage,
    }];
    for (index, part) in resp.content.iter().enumerate() {
        let (block, deltas) = match part {
            Part::Text { text, .. } => (BlockStart::Text, vec![Delta::Text(text.clone())]),
            Part::Thinking { text, signature } => {
                let mut d = vec![Delta::Thinking(text.clone())];
                d.extend(signature.clone().map(Delta::Signature));
                (BlockStart::Thinking, d)
            }
            Part::RedactedThinking { data } => (
                BlockStart::RedactedThinking { data: data.clone() },
                Vec::new(),
            ),
            Part::ToolUse { id, name, input } => (
                BlockStart::ToolUse {
                    id: id.clone(),
                    name: name.clone(),
                },
                vec![Delta::InputJson(arguments_text(input))],
            ),
            Part::Image(_) | Part::ToolResult { .. } => continue,
        };
        events.push(StreamEvent::BlockStart { index, block });
        events.extend(
            deltas
                .into_iter()
                .map(|delta| StreamEvent::BlockDelta { index, delta }),
        );
        events.push(StreamEvent::BlockStop { index });
    }
    events.push(StreamEvent::MessageDelta {
        stop: resp.stop,
        stop_sequence: resp.stop_sequence.clone(),
        usage: resp.usage,
    });
    events.push(StreamEvent::MessageStop);
    events
}
