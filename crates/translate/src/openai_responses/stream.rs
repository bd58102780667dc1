//! IR stream events encoded as the Responses API's typed SSE events.
//!
//! Each IR block becomes one output item: text a `message` with one `output_text` part,
//! reasoning a `reasoning` item, a tool call a `function_call` item. Items open with
//! `response.output_item.added` and close with `response.output_item.done`; one is open at a
//! time and output indices count items in order. The same encoder, run without output, builds
//! the whole-body response, so both forms carry the same items and ids.

use super::object::{self, Ids};
use super::{reasoning, Echo};
use crate::ir::{BlockStart, Delta, Part, StopReason, StreamEvent};
use crate::stream::Encode;
use bytespike_protocol::{GatewayError, Usage};
use serde::Serialize;
use serde_json::{json, Map, Value};

fn write_event(ty: &str, data: &impl Serialize, out: &mut Vec<u8>) {
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(ty.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    // Writing JSON into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, data);
    out.extend_from_slice(b"\n\n");
}

/// The three delta events, one per upstream frame: text, reasoning summary and call
/// arguments, written straight from the IR delta in the Responses API's field order.
#[derive(Serialize)]
struct DeltaEvent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    sequence_number: u64,
    item_id: &'a str,
    output_index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    content_index: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    summary_index: Option<u32>,
    delta: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    logprobs: Option<[(); 0]>,
}

/// Encodes IR events as a Responses event stream.
#[derive(Debug)]
pub struct Encoder {
    model: String,
    created: u64,
    echo: Echo,
    ids: Ids,
    id: String,
    seq: u64,
    /// When false, events are built but not written (the whole-body form).
    write: bool,
    started: bool,
    done: bool,
    output: Vec<Value>,
    open: Option<Open>,
    usage: Usage,
    stop: Option<StopReason>,
    /// The response object of the terminal event.
    last: Option<Map<String, Value>>,
}

/// The output item being streamed.
#[derive(Debug)]
struct Open {
    block: usize,
    index: usize,
    id: String,
    kind: Kind,
    /// Text, reasoning text or arguments so far.
    text: String,
    signature: String,
    /// Whether a reasoning summary part was opened.
    summary: bool,
}

#[derive(Debug)]
enum Kind {
    Message,
    Reasoning,
    Call { call_id: String, name: String },
}

impl Encoder {
    /// An encoder naming `model`, stamping `created`, repeating `echo` in the response object.
    pub fn new(model: &str, created: u64, echo: Echo) -> Self {
        Encoder {
            model: model.to_string(),
            created,
            echo,
            ids: Ids::default(),
            id: String::new(),
            seq: 0,
            write: true,
            started: false,
            done: false,
            output: Vec::new(),
            open: None,
            usage: Usage::default(),
            stop: None,
            last: None,
        }
    }

    /// An encoder that writes nothing, for building a whole response.
    pub(crate) fn silent(model: &str, created: u64, echo: Echo) -> Self {
        Encoder {
            write: false,
            ..Encoder::new(model, created, echo)
        }
    }

    fn emit(&mut self, ty: &str, mut data: Value, out: &mut Vec<u8>) {
        data["type"] = json!(ty);
        data["sequence_number"] = json!(self.seq);
        self.seq += 1;
        if self.write {
            write_event(ty, &data, out);
        }
    }

    /// The response object as it stands, with `status`.
    pub(crate) fn response(&self, status: &str) -> Map<String, Value> {
        let mut obj = object::base(&self.id, self.created, &self.model, &self.echo, status);
        obj.insert("output".into(), Value::Array(self.output.clone()));
        obj
    }

    fn start(&mut self, upstream_id: Option<&str>, out: &mut Vec<u8>) {
        self.started = true;
        self.ids = Ids::new(upstream_id, self.created);
        self.id = self.ids.response();
        let resp = Value::Object(self.response("in_progress"));
        self.emit("response.created", json!({"response": resp}), out);
        let resp = Value::Object(self.response("in_progress"));
        self.emit("response.in_progress", json!({"response": resp}), out);
    }

    fn open(&mut self, block: usize, start: BlockStart, out: &mut Vec<u8>) {
        self.close(out);
        let index = self.output.len();
        let (kind, prefix) = match start {
            BlockStart::Text => (Kind::Message, "msg"),
            BlockStart::Thinking => (Kind::Reasoning, "rs"),
            BlockStart::ToolUse { id, name } => (Kind::Call { call_id: id, name }, "fc"),
            BlockStart::RedactedThinking { data } => {
                // Complete at start: added and done at once.
                let id = self.ids.item("rs", index);
                let mut item = json!({"id": id, "type": "reasoning", "summary": []});
                if let Some(sealed) = reasoning::seal(&Part::RedactedThinking { data }) {
                    item["encrypted_content"] = json!(sealed);
                }
                self.emit("response.output_item.added", json!({"output_index": index, "item": {"id": id, "type": "reasoning", "summary": []}}), out);
                self.emit(
                    "response.output_item.done",
                    json!({"output_index": index, "item": item}),
                    out,
                );
                self.output.push(item);
                return;
            }
        };
        let id = self.ids.item(prefix, index);
        let item = match &kind {
            Kind::Message => {
                json!({"id": id, "type": "message", "status": "in_progress", "role": "assistant", "content": []})
            }
            Kind::Reasoning => json!({"id": id, "type": "reasoning", "summary": []}),
            Kind::Call { call_id, name } => json!({
                "id": id, "type": "function_call", "status": "in_progress",
                "call_id": call_id, "name": name, "arguments": "",
            }),
        };
        self.emit(
            "response.output_item.added",
            json!({"output_index": index, "item": item}),
            out,
        );
        if let Kind::Message = kind {
            let part = json!({"type": "output_text", "text": "", "annotations": []});
            self.emit(
                "response.content_part.added",
                json!({"item_id": id, "output_index": index, "content_index": 0, "part": part}),
                out,
            );
        }
        self.open = Some(Open {
            block,
            index,
            id,
            kind,
            text: String::new(),
            signature: String::new(),
            summary: false,
        });
    }

    fn delta(&mut self, block: usize, delta: Delta, out: &mut Vec<u8>) {
        let summary_wanted = self.echo.summary;
        let Some(open) = self.open.as_mut().filter(|o| o.block == block) else {
            return;
        };
        let index = open.index;
        let (kind, text, content_index, summary_index) = match (&open.kind, delta) {
            (Kind::Message, Delta::Text(t)) => ("response.output_text.delta", t, Some(0), None),
            (Kind::Reasoning, Delta::Thinking(t)) => {
                if !summary_wanted || t.is_empty() {
                    open.text.push_str(&t);
                    return;
                }
                if !std::mem::replace(&mut open.summary, true) {
                    let id = open.id.clone();
                    let part = json!({"type": "summary_text", "text": ""});
                    self.emit("response.reasoning_summary_part.added", json!({"item_id": id, "output_index": index, "summary_index": 0, "part": part}), out);
                }
                ("response.reasoning_summary_text.delta", t, None, Some(0))
            }
            (Kind::Reasoning, Delta::Signature(s)) => {
                open.signature.push_str(&s);
                return;
            }
            (Kind::Call { .. }, Delta::InputJson(j)) if !j.is_empty() => {
                ("response.function_call_arguments.delta", j, None, None)
            }
            _ => return,
        };
        // The open item is borrowed again: the summary part above may have been emitted.
        let Some(open) = self.open.as_mut() else {
            return;
        };
        open.text.push_str(&text);
        let event = DeltaEvent {
            kind,
            sequence_number: self.seq,
            item_id: &open.id,
            output_index: index,
            content_index,
            summary_index,
            delta: &text,
            logprobs: content_index.map(|_| []),
        };
        self.seq += 1;
        if self.write {
            write_event(kind, &event, out);
        }
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        let Some(open) = self.open.take() else { return };
        let (id, index, text) = (open.id, open.index, open.text);
        let item = match open.kind {
            Kind::Message => {
                let part = json!({"type": "output_text", "text": text, "annotations": []});
                self.emit("response.output_text.done", json!({"item_id": id, "output_index": index, "content_index": 0, "text": text, "logprobs": []}), out);
                self.emit(
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "part": part}),
                    out,
                );
                json!({"id": id, "type": "message", "status": "completed", "role": "assistant", "content": [part]})
            }
            Kind::Reasoning => {
                let mut summary = Vec::new();
                if open.summary {
                    let part = json!({"type": "summary_text", "text": text});
                    self.emit("response.reasoning_summary_text.done", json!({"item_id": id, "output_index": index, "summary_index": 0, "text": text}), out);
                    self.emit("response.reasoning_summary_part.done", json!({"item_id": id, "output_index": index, "summary_index": 0, "part": part}), out);
                    summary.push(part);
                }
                let mut item = json!({"id": id, "type": "reasoning", "summary": summary});
                let signature = (!open.signature.is_empty()).then_some(open.signature);
                if let Some(sealed) = reasoning::seal(&Part::Thinking { text, signature }) {
                    item["encrypted_content"] = json!(sealed);
                }
                item
            }
            Kind::Call { call_id, name } => {
                // A call without arguments still needs valid JSON arguments.
                let args = if text.trim().is_empty() {
                    "{}".to_string()
                } else {
                    text
                };
                self.emit(
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": index, "arguments": args}),
                    out,
                );
                json!({"id": id, "type": "function_call", "status": "completed", "call_id": call_id, "name": name, "arguments": args})
            }
        };
        self.emit(
            "response.output_item.done",
            json!({"output_index": index, "item": item}),
            out,
        );
        self.output.push(item);
    }

    /// The final response object (after a terminal event): completed, incomplete or failed.
    fn terminal(&mut self, out: &mut Vec<u8>) {
        self.close(out);
        let mut resp = self.response("completed");
        let status = object::finish(&mut resp, self.stop);
        resp.insert("usage".into(), object::usage(&self.usage));
        let name = if status == "incomplete" {
            "response.incomplete"
        } else {
            "response.completed"
        };
        self.last = Some(resp.clone());
        self.emit(name, json!({"response": resp}), out);
        self.done = true;
    }

    fn fail(&mut self, err: &GatewayError, out: &mut Vec<u8>) {
        // The item cut short is not finished; the failed response lists the finished ones.
        self.open = None;
        self.emit("error", object::error_event(err), out);
        let mut resp = self.response("failed");
        object::fail(&mut resp, err);
        resp.insert("usage".into(), object::usage(&self.usage));
        self.last = Some(resp.clone());
        self.emit("response.failed", json!({"response": resp}), out);
        self.done = true;
    }

    /// The response object the terminal event carried, or the one standing so far.
    pub(crate) fn into_response(mut self) -> Value {
        let last = self.last.take();
        Value::Object(last.unwrap_or_else(|| self.response("in_progress")))
    }
}

impl Encode for Encoder {
    fn encode(&mut self, event: StreamEvent, out: &mut Vec<u8>) {
        if self.done {
            return;
        }
        if !self.started {
            let id = match &event {
                StreamEvent::MessageStart { id, .. } => id.clone(),
                _ => None,
            };
            self.start(id.as_deref(), out);
        }
        match event {
            StreamEvent::MessageStart { usage, .. } => self.usage = usage,
            StreamEvent::BlockStart { index, block } => self.open(index, block, out),
            StreamEvent::BlockDelta { index, delta } => self.delta(index, delta, out),
            StreamEvent::BlockStop { index } => {
                if self.open.as_ref().is_some_and(|o| o.block == index) {
                    self.close(out);
                }
            }
            StreamEvent::MessageDelta { stop, usage, .. } => {
                self.stop = stop;
                self.usage = usage;
            }
            StreamEvent::MessageStop => self.terminal(out),
            StreamEvent::Error(e) => self.fail(&e, out),
        }
    }
}
