//! OpenAI chat.completion.chunk streams: an incremental decoder to IR events and an encoder.

use super::usage;
use crate::field::{loose, Obj};
use crate::ir::{BlockStart, Delta, StopReason, StreamEvent};
use crate::stream::{cut, malformed, BlockKind, Blocks, Decode, Encode, SseInput};
use bytespike_protocol::{Dialect, ErrorKind, GatewayError, Usage};
use serde_json::{json, Value};

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
    /// Handles one chunk object; `key` is `delta` in a stream and `message` in a whole body.
    pub(crate) fn chunk(&mut self, chunk: &Obj, key: &str, out: &mut Vec<StreamEvent>) {
        if let Some(err) = loose::obj(chunk, "error") {
            let (kind, message) =
                super::error::decode(&json!({"error": err})).unwrap_or((None, String::new()));
            out.push(StreamEvent::Error(GatewayError::new(
                kind.unwrap_or(ErrorKind::Upstream),
                message,
            )));
            self.done = true;
            return;
        }
        if !self.started {
            self.started = true;
            let id = chunk.get("id").and_then(Value::as_str).map(str::to_string);
            out.push(StreamEvent::MessageStart {
                id,
                usage: Usage::default(),
            });
        }
        if let Some(u) = loose::obj(chunk, "usage") {
            self.usage = Some(usage::decode(u));
        }
        let choice = loose::array(chunk, "choices")
            .iter()
            .filter_map(Value::as_object)
            .find(|c| loose::u64(c, "index").unwrap_or(0) == 0);
        let Some(choice) = choice else { return };
        if let Some(delta) = loose::obj(choice, key) {
            self.delta(delta, out);
        }
        if let Some(reason) = choice.get("finish_reason").and_then(Value::as_str) {
            self.blocks.close(out);
            self.stop = Some(decode_finish(reason));
        }
    }

    fn delta(&mut self, d: &Obj, out: &mut Vec<StreamEvent>) {
        // DeepSeek and most compatible servers say `reasoning_content`; some say `reasoning`.
        for key in ["reasoning_content", "reasoning"] {
            if let Some(r) = d.get(key).and_then(Value::as_str).filter(|r| !r.is_empty()) {
                self.blocks.push(Delta::Thinking(r.to_string()), out);
                break;
            }
        }
        for b in loose::array(d, "thinking_blocks")
            .iter()
            .filter_map(Value::as_object)
        {
            if let Some(sig) = b
                .get("signature")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                match self.blocks.open() {
                    Some((index, BlockKind::Thinking)) => out.push(StreamEvent::BlockDelta {
                        index,
                        delta: Delta::Signature(sig.to_string()),
                    }),
                    _ => {
                        let index =
                            self.blocks
                                .start(BlockKind::Thinking, BlockStart::Thinking, out);
                        let text = loose::str(b, "thinking");
                        if !text.is_empty() {
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
        for key in ["content", "refusal"] {
            if let Some(t) = d.get(key).and_then(Value::as_str).filter(|t| !t.is_empty()) {
                self.blocks.push(Delta::Text(t.to_string()), out);
                if key == "refusal" {
                    self.stop = Some(StopReason::Refusal);
                }
            }
        }
        for (pos, call) in loose::array(d, "tool_calls")
            .iter()
            .filter_map(Value::as_object)
            .enumerate()
        {
            let key = loose::u64(call, "index").unwrap_or(pos as u64);
            let f = loose::obj(call, "function");
            let args = f.map_or("", |f| loose::str(f, "arguments"));
            let id = call
                .get("id")
                .and_then(Value::as_str)
                .filter(|id| !id.is_empty());
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
                    let name = f.map_or("", |f| loose::str(f, "name")).to_string();
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
        match serde_json::from_slice::<Value>(data) {
            Ok(Value::Object(chunk)) => self.chunk(&chunk, "delta", out),
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

    fn emit(&self, delta: Value, finish: Option<&str>, out: &mut Vec<u8>) {
        let chunk = json!({
            "id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        Self::data(&chunk, out);
    }

    fn data(value: &Value, out: &mut Vec<u8>) {
        out.extend_from_slice(b"data: ");
        // Writing a Value into a Vec cannot fail.
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
                    Delta::Text(t) => json!({"content": t}),
                    Delta::Thinking(t) => json!({"reasoning_content": t}),
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
