//! What the stream decoder reads of an Anthropic event: one view for every event type, since
//! the type is only known once the event is read.

use crate::lenient::{Num, Obj, Text};
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Event<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Text<'a>,
    pub index: Num,
    /// `message_start`.
    #[serde(borrow)]
    pub message: Obj<MessageStart<'a>>,
    /// `content_block_start`: once per block, so it is built as JSON (a tool's `input` is
    /// carried whole).
    pub content_block: Obj<Map<String, Value>>,
    /// `content_block_delta` (the event of every frame) and `message_delta`.
    #[serde(borrow)]
    pub delta: Obj<EventDelta<'a>>,
    /// `message_delta`.
    pub usage: Obj<UsageView>,
    /// `error`.
    pub error: Obj<Map<String, Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct MessageStart<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    pub usage: Obj<UsageView>,
}

/// A block delta's fields and a message delta's, side by side.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct EventDelta<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Text<'a>,
    #[serde(borrow)]
    pub text: Text<'a>,
    #[serde(borrow)]
    pub thinking: Text<'a>,
    #[serde(borrow)]
    pub signature: Text<'a>,
    #[serde(borrow)]
    pub partial_json: Text<'a>,
    #[serde(borrow)]
    pub stop_reason: Text<'a>,
    #[serde(borrow)]
    pub stop_sequence: Text<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct UsageView {
    pub input_tokens: Num,
    pub output_tokens: Num,
    pub cache_read_input_tokens: Num,
    pub cache_creation_input_tokens: Num,
}
