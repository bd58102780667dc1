//! OpenAI chat.completion.chunk streams: an incremental decoder to IR events and an encoder.

use super::usage;
use super::view::{Chunk, Message};
use crate::ir::{BlockStart, Delta, StopReason, StreamEvent};
use crate::lenient::{self, Obj};
use crate::stream::{cut, malformed, BlockKind, Blocks, Decode, Encode, SseInput};
use bytespike_protocol::{Dialect, ErrorKind, GatewayError, Usage};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::borrow::Cow;

/// The IR stop reason for an OpenAI `finish_reason`.
pub(crate) fn decode_finish(reason: &str) -> StopReason {
    match reason {
        "length" => StopReason::MaxTokens,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "content_filter" => StopReason::Refusal,
        _ => StopReason::EndTurn,
    }
}

/// The OpenAI `finish_reason` for an IR stop reason.
pub(crate) fn encode_finish(reason: StopReason) -> &'static str {
    match reason {
        StopReason::EndTurn | StopReason::StopSequence | StopReason::Pause => "stop",
        StopReason::MaxTokens => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::Refusal => "content_filter",
    }
}

/// Decodes an OpenAI chunk stream, or (fed one body) a whole chat.completion.
#[derive(Debug, Default)]
pub struct Decoder {
    sse: SseInput,
    blocks: Blocks,
    /// Vendor tool-call index and id of every call seen.
    call_ids: Vec<(u64, String)>,
    usage: Option<Usage>,
    stop: Option<StopReason>,
    started: bool,
    done: bool,
}

impl Decoder {
    /// Handles one chunk, or (`whole`) a whole body, whose choice holds `message`, not `delta`.
    pub(crate) fn chunk(&mut self, chunk: Chunk, whole: bool, out: &mut Vec<StreamEvent>) {
        if let Obj(Some(err)) = chunk.error {
            let body = Value::Object(Map::from_iter([("error".to_string(), Value::Object(err))]));
            let (kind, message) = super::error::decode(&body).unwrap_or((None, String::new()));
            out.push(StreamEvent::Error(GatewayError::new(
                kind.unwrap_or(ErrorKind::Upstream),
                message,
            )));
            self.done = true;
            return;
        }
        if !self.started {
            self.started = true;
            out.push(StreamEvent::MessageStart {
                id: chunk.id.0.map(Cow::into_owned),
                usage: Usage::default(),
            });
        }
        if let Obj(Some(u)) = &chunk.usage {
            self.usage = Some(usage::decode(u));
        }
        let choice = chunk
            .choices
            .0
            .into_iter()
            .find(|c| c.index.0.unwrap_or(0) == 0);
        let Some(choice) = choice else { return };
        let delta = if whole { choice.message } else { choice.delta };
        if let Obj(Some(delta)) = delta {
            self.delta(delta, out);
        }
        if let Some(reason) = choice.finish_reason.get() {
            self.blocks.close(out);
            self.stop = Some(decode_finish(reason));
        }
    }

    fn delta(&mut self, d: Message, out: &mut Vec<StreamEvent>) {
        // DeepSeek and most compatible servers say `reasoning_content`; some say `reasoning`.
        let reasoning = d.reasoning_content.into_non_empty();
        if let Some(r) = reasoning.or_else(|| d.reasoning.into_non_empty()) {
            self.blocks.push(Delta::Thinking(r), out);
        }
        for b in &d.thinking_blocks.0 {
            if let Some(sig) = b.signature.non_empty() {
                match self.blocks.open() {
                    Some((index, BlockKind::Thinking)) => out.push(StreamEvent::BlockDelta {
                        index,
                        delta: Delta::Signature(sig.to_string()),
                    }),
                    _ => {
                        let index =
                            self.blocks
                                .start(BlockKind::Thinking, BlockStart::Thinking, out);
                        if let Some(text) = b.thinking.non_empty() {
                            out.push(StreamEvent::BlockDelta {
                                index,
                                delta: Delta::Thinking(text.to_string()),
                            });
                        }
                        out.push(StreamEvent::BlockDelta {
                            index,
                            delta: Delta::Signature(sig.to_string()),
                        });
                    }
                }
            }
        }
        if let Some(t) = d.content.into_non_empty() {
            self.blocks.push(Delta::Text(t), out);
        }
        if let Some(t) = d.refusal.into_non_empty() {
            self.blocks.push(Delta::Text(t), out);
            self.stop = Some(StopReason::Refusal);
        }
        for (pos, call) in d.tool_calls.0.into_iter().enumerate() {
            let key = call.index.0.unwrap_or(pos as u64);
            let f = call.function.0.as_ref();
            let args = f.map_or("", |f| f.arguments.or_empty());
            let id = call.id.non_empty();
            let known = self.blocks.tool(key).filter(|_| {
                // Some servers repeat the id in every delta of a call; a new id is a new call.
                id.is_none_or(|id| self.call_ids.iter().any(|(k, i)| *k == key && i == id))
            });
            let index = match known {
                Some(index) => index,
                None => {
                    let id = id.map_or_else(
                        || format!("call_{}", self.blocks.tool_count()),
                        str::to_string,
                    );
                    self.call_ids.push((key, id.clone()));
                    let name = f.map_or("", |f| f.name.or_empty()).to_string();
                    self.blocks
                        .start(BlockKind::Tool(key), BlockStart::ToolUse { id, name }, out)
                }
            };
            if !args.is_empty() {
                // Arguments for a call whose block was closed by another call's start still go to
                // their own index; event consumers accumulate by index.
                out.push(StreamEvent::BlockDelta {
                    index,
                    delta: Delta::InputJson(args.to_string()),
                });
            }
        }
    }

    /// Ends the response: closes blocks and emits the stop reason and usage.
    pub(crate) fn complete(&mut self, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        self.blocks.close(out);
        if !self.started {
            out.push(StreamEvent::MessageStart {
                id: None,
                usage: Usage::default(),
            });
        }
        let stop = self.stop.unwrap_or(StopReason::EndTurn);
        out.push(StreamEvent::MessageDelta {
            stop: Some(stop),
            stop_sequence: None,
            usage: self.usage.unwrap_or_default(),
        });
        out.push(StreamEvent::MessageStop);
        self.done = true;
    }

    fn frame(&mut self, data: &[u8], out: &mut Vec<StreamEvent>) {
        if data == b"[DONE]" {
            return self.complete(out);
        }
        match lenient::from_slice::<Chunk>(data) {
            Ok(Some(chunk)) => self.chunk(chunk, false, out),
            _ => {
                out.push(malformed("a chunk is not a JSON object"));
                self.done = true;
            }
        }
    }
}

impl Decode for Decoder {
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        let mut sse = std::mem::take(&mut self.sse);
        let sane = sse.feed(chunk, |_, data| {
            if !self.done && !data.is_empty() {
                self.frame(data, out);
            }
        });
        self.sse = sse;
        if !sane && !self.done {
            out.push(malformed("a chunk never ended"));
            self.done = true;
        }
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        // Some compatible servers end without `[DONE]`; a finish_reason already seen means the
        // response itself is whole.
        if self.stop.is_some() && self.sse.pending().iter().all(u8::is_ascii_whitespace) {
            self.complete(out);
        } else if !self.done {
            out.push(cut());
            self.done = true;
        }
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }
}

/// One chat.completion.chunk with a single choice, in OpenAI's field order.
#[derive(Serialize)]
struct ChunkOut<'a, D> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [ChoiceOut<'a, D>; 1],
}

#[derive(Serialize)]
struct ChoiceOut<'a, D> {
    index: u32,
    delta: D,
    logprobs: Option<()>,
    finish_reason: Option<&'a str>,
}

#[derive(Serialize)]
struct TextDelta<'a> {
    content: &'a str,
}

#[derive(Serialize)]
struct ReasoningDelta<'a> {
    reasoning_content: &'a str,
}

/// Encodes IR events as an OpenAI chunk stream.
#[derive(Debug)]
pub struct Encoder {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    started: bool,
    /// Per tool block: IR index, OpenAI tool-call index, whether arguments were sent.
    tools: Vec<(usize, usize, bool)>,
    usage: Usage,
    finished: bool,
    done: bool,
}

impl Encoder {
    /// An encoder naming `model`, stamping `created`; the usage chunk only if `include_usage`.
    pub fn new(model: &str, created: u64, include_usage: bool) -> Self {
        Encoder {
            id: String::new(),
            created,
            model: model.to_string(),
            include_usage,
            started: false,
            tools: Vec::new(),
            usage: Usage::default(),
            finished: false,
            done: false,
        }
    }

    fn emit(&self, delta: impl Serialize, finish: Option<&str>, out: &mut Vec<u8>) {
        let chunk = ChunkOut {
            id: &self.id,
            object: "chat.completion.chunk",
            created: self.created,
            model: &self.model,
            choices: [ChoiceOut {
                index: 0,
                delta,
                logprobs: None,
                finish_reason: finish,
            }],
        };
        Self::data(&chunk, out);
    }

    fn data(value: &impl Serialize, out: &mut Vec<u8>) {
        out.extend_from_slice(b"data: ");
        // Writing JSON into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, value);
        out.extend_from_slice(b"\n\n");
    }

    fn start(&mut self, id: Option<String>, out: &mut Vec<u8>) {
        self.started = true;
        self.id = id.unwrap_or_else(|| format!("chatcmpl-{}", self.created));
        self.emit(json!({"role": "assistant", "content": ""}), None, out);
    }

    fn tool(&mut self, index: usize) -> Option<&mut (usize, usize, bool)> {
        self.tools.iter_mut().rev().find(|t| t.0 == index)
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
            self.start(None, out);
        }
        match event {
            StreamEvent::MessageStart { id, .. } => {
                if !self.started {
                    self.start(id, out);
                }
            }
            StreamEvent::BlockStart {
                index,
                block: BlockStart::ToolUse { id, name },
            } => {
                let n = self.tools.len();
                self.tools.push((index, n, false));
                let call = json!({"index": n, "id": id, "type": "function", "function": {"name": name, "arguments": ""}});
                self.emit(json!({"tool_calls": [call]}), None, out);
            }
            StreamEvent::BlockStart { .. } => {}
            StreamEvent::BlockDelta { index, delta } => {
                let delta = match delta {
                    // Text and reasoning are one chunk per upstream frame: written from the IR
                    // delta without building a `Value`.
                    Delta::Text(content) => {
                        return self.emit(TextDelta { content: &content }, None, out)
                    }
                    Delta::Thinking(reasoning_content) => {
                        return self.emit(
                            ReasoningDelta {
                                reasoning_content: &reasoning_content,
                            },
                            None,
                            out,
                        )
                    }
                    // Not part of OpenAI's schema; the `thinking_blocks` convention lets a
                    // client hand the signature back on its next turn.
                    Delta::Signature(s) => {
                        json!({"thinking_blocks": [{"type": "thinking", "thinking": "", "signature": s}]})
                    }
                    Delta::InputJson(j) => {
                        let Some(tool) = self.tool(index).filter(|_| !j.is_empty()) else {
                            return;
                        };
                        tool.2 = true;
                        json!({"tool_calls": [{"index": tool.1, "function": {"arguments": j}}]})
                    }
                };
                self.emit(delta, None, out);
            }
            StreamEvent::BlockStop { index } => {
                // A call without arguments still needs valid JSON arguments.
                if let Some(tool) = self.tool(index).filter(|t| !t.2) {
                    tool.2 = true;
                    let n = tool.1;
                    self.emit(
                        json!({"tool_calls": [{"index": n, "function": {"arguments": "{}"}}]}),
                        None,
                        out,
                    );
                }
            }
            StreamEvent::MessageDelta { stop, usage, .. } => {
                self.usage = usage;
                self.finished = true;
                self.emit(
                    json!({}),
                    Some(encode_finish(stop.unwrap_or(StopReason::EndTurn))),
                    out,
                );
            }
            StreamEvent::MessageStop => {
                if !self.finished {
                    self.finished = true;
                    self.emit(json!({}), Some("stop"), out);
                }
                if self.include_usage {
                    let chunk = json!({
                        "id": self.id, "object": "chat.completion.chunk", "created": self.created,
                        "model": self.model, "choices": [], "usage": usage::encode(&self.usage),
                    });
                    Self::data(&chunk, out);
                }
                out.extend_from_slice(b"data: [DONE]\n\n");
                self.done = true;
            }
            StreamEvent::Error(e) => {
                // No `[DONE]` after an error: a client that ignores the error frame still sees
                // the stream end without its terminator.
                out.extend_from_slice(&e.render_stream_event(Dialect::OpenAiChat));
                self.done = true;
            }
        }
    }
}
