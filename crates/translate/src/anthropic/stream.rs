//! Anthropic Messages streams: an incremental decoder to IR events and an encoder from them.

use super::response::{decode_stop, encode_stop};
use super::view::Event;
use super::{error, usage};
use crate::field::loose;
use crate::ir::{BlockStart, Delta, StreamEvent};
use crate::lenient::{self, Obj};
use crate::stream::{cut, malformed, Decode, Encode, SseInput};
use bytespike_protocol::{Dialect, ErrorKind, GatewayError, Usage};
use serde::Serialize;
use serde_json::{json, Map, Value};

/// Decodes an Anthropic event stream.
#[derive(Debug, Default)]
pub struct Decoder {
    sse: SseInput,
    usage: Usage,
    seen_usage: bool,
    /// Blocks of kinds other vendors cannot show (server tool results); their events are skipped.
    skipped: Vec<u64>,
    done: bool,
}

impl Decoder {
    fn frame(&mut self, data: &[u8], out: &mut Vec<StreamEvent>) {
        let Ok(Some(ev)) = lenient::from_slice::<Event>(data) else {
            out.push(malformed("an event is not a JSON object"));
            self.done = true;
            return;
        };
        let index = ev.index.0;
        if index.is_some_and(|i| self.skipped.contains(&i)) {
            return;
        }
        let index = index.map_or(0, |i| i as usize);
        match ev.kind.or_empty() {
            "message_start" => {
                let msg = ev.message.0.as_ref();
                if let Some(Obj(Some(u))) = msg.map(|m| &m.usage) {
                    usage::apply_view(u, &mut self.usage);
                    self.seen_usage = true;
                }
                out.push(StreamEvent::MessageStart {
                    id: msg.and_then(|m| m.id.get()).map(str::to_string),
                    usage: self.usage,
                });
            }
            "content_block_start" => {
                let Obj(Some(block)) = &ev.content_block else {
                    return self.skip(index);
                };
                self.block_start(index, block, out);
            }
            "content_block_delta" => {
                let Obj(Some(d)) = ev.delta else {
                    return;
                };
                let delta = match d.kind.or_empty() {
                    "text_delta" => Delta::Text(d.text.into_string()),
                    "thinking_delta" => Delta::Thinking(d.thinking.into_string()),
                    "signature_delta" => Delta::Signature(d.signature.into_string()),
                    "input_json_delta" => Delta::InputJson(d.partial_json.into_string()),
                    _ => return,
                };
                out.push(StreamEvent::BlockDelta { index, delta });
            }
            "content_block_stop" => out.push(StreamEvent::BlockStop { index }),
            "message_delta" => {
                if let Obj(Some(u)) = &ev.usage {
                    usage::apply_view(u, &mut self.usage);
                    self.seen_usage = true;
                }
                let d = ev.delta.0.as_ref();
                out.push(StreamEvent::MessageDelta {
                    stop: d.and_then(|d| d.stop_reason.get()).and_then(decode_stop),
                    stop_sequence: d.and_then(|d| d.stop_sequence.get()).map(str::to_string),
                    usage: self.usage,
                });
            }
            "message_stop" => {
                out.push(StreamEvent::MessageStop);
                self.done = true;
            }
            "error" => {
                let body = ev
                    .error
                    .0
                    .map(|err| {
                        Value::Object(Map::from_iter([("error".into(), Value::Object(err))]))
                    })
                    .unwrap_or_default();
                let (kind, message) = error::decode(&body).unwrap_or((None, String::new()));
                out.push(StreamEvent::Error(GatewayError::new(
                    kind.unwrap_or(ErrorKind::Upstream),
                    message,
                )));
                self.done = true;
            }
            _ => {}
        }
    }

    fn skip(&mut self, index: usize) {
        self.skipped.push(index as u64);
    }

    fn block_start(&mut self, index: usize, block: &crate::field::Obj, out: &mut Vec<StreamEvent>) {
        let text_delta = |key: &str, wrap: fn(String) -> Delta, out: &mut Vec<StreamEvent>| {
            let s = loose::str(block, key);
            if !s.is_empty() {
                out.push(StreamEvent::BlockDelta {
                    index,
                    delta: wrap(s.to_string()),
                });
            }
        };
        match loose::str(block, "type") {
            "text" => {
                out.push(StreamEvent::BlockStart {
                    index,
                    block: BlockStart::Text,
                });
                text_delta("text", Delta::Text, out);
            }
            "thinking" => {
                out.push(StreamEvent::BlockStart {
                    index,
                    block: BlockStart::Thinking,
                });
                text_delta("thinking", Delta::Thinking, out);
                text_delta("signature", Delta::Signature, out);
            }
            "redacted_thinking" => {
                let data = loose::str(block, "data").to_string();
                out.push(StreamEvent::BlockStart {
                    index,
                    block: BlockStart::RedactedThinking { data },
                });
            }
            "tool_use" => {
                let (id, name) = (
                    loose::str(block, "id").to_string(),
                    loose::str(block, "name").to_string(),
                );
                out.push(StreamEvent::BlockStart {
                    index,
                    block: BlockStart::ToolUse { id, name },
                });
                if let Some(input) = block
                    .get("input")
                    .filter(|i| i.as_object().is_some_and(|o| !o.is_empty()))
                {
                    out.push(StreamEvent::BlockDelta {
                        index,
                        delta: Delta::InputJson(input.to_string()),
                    });
                }
            }
            _ => self.skip(index),
        }
    }
}

impl Decode for Decoder {
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        // The input is taken out for the call so frames can be handled with `self` borrowed.
        let mut sse = std::mem::take(&mut self.sse);
        let sane = sse.feed(chunk, |_, data| {
            if !self.done && !data.is_empty() {
                self.frame(data, out);
            }
        });
        self.sse = sse;
        if !sane && !self.done {
            out.push(malformed("an event never ended"));
            self.done = true;
        }
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.done {
            out.push(cut());
            self.done = true;
        }
    }

    fn usage(&self) -> Option<Usage> {
        self.seen_usage.then_some(self.usage)
    }
}

/// Encodes IR events as an Anthropic event stream.
#[derive(Debug)]
pub struct Encoder {
    model: String,
    started: bool,
    /// IR block index to client block index, for every block opened.
    map: Vec<(usize, usize)>,
    open: Vec<usize>,
    delta_sent: bool,
    done: bool,
}

/// A `content_block_delta` event, the one sent per upstream frame: written straight from the
/// IR delta, in Anthropic's field order, instead of through a `Value` built for each frame.
#[derive(Serialize)]
struct BlockDeltaEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    index: usize,
    delta: DeltaOut<'a>,
}

/// The `delta` of a `content_block_delta`, tagged `text_delta`, `thinking_delta`, ...
#[derive(Serialize)]
#[serde(tag = "type")]
enum DeltaOut<'a> {
    #[serde(rename = "text_delta")]
    Text { text: &'a str },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: &'a str },
    #[serde(rename = "signature_delta")]
    Signature { signature: &'a str },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: &'a str },
}

impl Encoder {
    /// An encoder whose `message_start` names `model`.
    pub fn new(model: &str) -> Self {
        Encoder {
            model: model.to_string(),
            started: false,
            map: Vec::new(),
            open: Vec::new(),
            delta_sent: false,
            done: false,
        }
    }

    fn emit(out: &mut Vec<u8>, name: &str, data: &impl Serialize) {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\ndata: ");
        // Writing JSON into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, data);
        out.extend_from_slice(b"\n\n");
    }

    fn start(&mut self, id: Option<String>, usage: &Usage, out: &mut Vec<u8>) {
        self.started = true;
        let mut u = super::usage::encode(usage);
        u["output_tokens"] = json!(usage.output_tokens);
        let msg = json!({
            "id": id.unwrap_or_else(|| "msg_bytespike".into()),
            "type": "message", "role": "assistant", "model": self.model, "content": [],
            "stop_reason": null, "stop_sequence": null, "usage": u,
        });
        Self::emit(
            out,
            "message_start",
            &json!({"type": "message_start", "message": msg}),
        );
    }

    fn close_all(&mut self, out: &mut Vec<u8>) {
        for index in std::mem::take(&mut self.open) {
            Self::emit(
                out,
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            );
        }
    }

    fn client_index(&self, index: usize) -> Option<usize> {
        self.map
            .iter()
            .rev()
            .find(|(ir, _)| *ir == index)
            .map(|(_, c)| *c)
    }
}

impl Encode for Encoder {
    fn encode(&mut self, event: StreamEvent, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        if !self.started
            && !matches!(
                event,
                StreamEvent::MessageStart { .. } | StreamEvent::Error(_)
            )
        {
            self.start(None, &Usage::default(), out);
        }
        match event {
            StreamEvent::MessageStart { id, usage } => {
                if !self.started {
                    self.start(id, &usage, out);
                }
            }
            StreamEvent::BlockStart { index, block } => {
                let client = self.map.len();
                self.map.push((index, client));
                self.open.push(client);
                let block = match block {
                    BlockStart::Text => json!({"type": "text", "text": ""}),
                    BlockStart::Thinking => {
                        json!({"type": "thinking", "thinking": "", "signature": ""})
                    }
                    BlockStart::RedactedThinking { data } => {
                        json!({"type": "redacted_thinking", "data": data})
                    }
                    BlockStart::ToolUse { id, name } => {
                        json!({"type": "tool_use", "id": id, "name": name, "input": {}})
                    }
                };
                let ev =
                    json!({"type": "content_block_start", "index": client, "content_block": block});
                Self::emit(out, "content_block_start", &ev);
            }
            StreamEvent::BlockDelta { index, delta } => {
                let Some(client) = self.client_index(index).filter(|c| self.open.contains(c))
                else {
                    return;
                };
                let delta = match &delta {
                    Delta::Text(text) => DeltaOut::Text { text },
                    Delta::Thinking(thinking) => DeltaOut::Thinking { thinking },
                    Delta::Signature(signature) => DeltaOut::Signature { signature },
                    Delta::InputJson(partial_json) => DeltaOut::InputJson { partial_json },
                };
                let ev = BlockDeltaEvent {
                    kind: "content_block_delta",
                    index: client,
                    delta,
                };
                Self::emit(out, "content_block_delta", &ev);
            }
            StreamEvent::BlockStop { index } => {
                let Some(client) = self.client_index(index) else {
                    return;
                };
                if let Some(pos) = self.open.iter().position(|c| *c == client) {
                    self.open.remove(pos);
                    Self::emit(
                        out,
                        "content_block_stop",
                        &json!({"type": "content_block_stop", "index": client}),
                    );
                }
            }
            StreamEvent::MessageDelta {
                stop,
                stop_sequence,
                usage,
            } => {
                self.close_all(out);
                self.delta_sent = true;
                let ev = json!({
                    "type": "message_delta",
                    "delta": {"stop_reason": encode_stop(stop.unwrap_or(crate::ir::StopReason::EndTurn)), "stop_sequence": stop_sequence},
                    "usage": super::usage::encode(&usage),
                });
                Self::emit(out, "message_delta", &ev);
            }
            StreamEvent::MessageStop => {
                if !self.delta_sent {
                    self.encode(
                        StreamEvent::MessageDelta {
                            stop: None,
                            stop_sequence: None,
                            usage: Usage::default(),
                        },
                        out,
                    );
                }
                Self::emit(out, "message_stop", &json!({"type": "message_stop"}));
                self.done = true;
            }
            StreamEvent::Error(e) => {
                out.extend_from_slice(&e.render_stream_event(Dialect::Anthropic));
                self.done = true;
            }
        }
    }
}
