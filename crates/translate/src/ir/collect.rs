//! Folds a sequence of stream events into a complete response.

use super::{BlockStart, Delta, Part, Response, StreamEvent};
use bytespike_protocol::GatewayError;
use serde_json::Value;

/// Builds a `Response` from stream events.
#[derive(Debug, Default)]
pub struct Collector {
    response: Response,
    /// Per open block: its IR index, its part position, and tool arguments gathered so far.
    blocks: Vec<(usize, usize, String)>,
    error: Option<GatewayError>,
}

impl Collector {
    /// Takes in one event.
    pub fn push(&mut self, event: StreamEvent) {
        let resp = &mut self.response;
        match event {
            StreamEvent::MessageStart { id, usage } => {
                resp.id = id;
                resp.usage = usage;
            }
            StreamEvent::BlockStart { index, block } => {
                let part = match block {
                    BlockStart::Text => Part::text(""),
                    BlockStart::Thinking => Part::Thinking {
                        text: String::new(),
                        signature: None,
                    },
                    BlockStart::RedactedThinking { data } => Part::RedactedThinking { data },
                    BlockStart::ToolUse { id, name } => Part::ToolUse {
                        id,
                        name,
                        input: Value::Null,
                    },
                };
                self.blocks.push((index, resp.content.len(), String::new()));
                resp.content.push(part);
            }
            StreamEvent::BlockDelta { index, delta } => {
                let Some((_, pos, args)) = self.blocks.iter_mut().find(|b| b.0 == index) else {
                    return;
                };
                match (&mut resp.content[*pos], delta) {
                    (Part::Text { text, .. }, Delta::Text(t)) => text.push_str(&t),
                    (Part::Thinking { text, .. }, Delta::Thinking(t)) => text.push_str(&t),
                    (Part::Thinking { signature, .. }, Delta::Signature(s)) => {
                        signature.get_or_insert_with(String::new).push_str(&s)
                    }
                    (Part::ToolUse { .. }, Delta::InputJson(j)) => args.push_str(&j),
                    _ => {}
                }
            }
            StreamEvent::BlockStop { index } => self.settle(index),
            StreamEvent::MessageDelta {
                stop,
                stop_sequence,
                usage,
            } => {
                resp.stop = stop;
                resp.stop_sequence = stop_sequence;
                resp.usage = usage;
            }
            StreamEvent::MessageStop => {}
            StreamEvent::Error(e) => self.error = Some(e),
        }
    }

    /// Parses a finished tool call's arguments; unparseable text is kept as a string.
    fn settle(&mut self, index: usize) {
        let Some(at) = self.blocks.iter().position(|b| b.0 == index) else {
            return;
        };
        let (_, pos, args) = self.blocks.swap_remove(at);
        if let Part::ToolUse { input, .. } = &mut self.response.content[pos] {
            *input = if args.trim().is_empty() {
                Value::Object(Default::default())
            } else {
                serde_json::from_str(&args).unwrap_or(Value::String(args))
            };
        }
    }

    /// The response, or the error the events ended with.
    pub fn finish(mut self) -> Result<Response, GatewayError> {
        let open: Vec<usize> = self.blocks.iter().map(|b| b.0).collect();
        for index in open {
            self.settle(index);
        }
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.response),
        }
    }
}
