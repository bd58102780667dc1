//! What the decoder reads of a chat.completion or a chat.completion.chunk: the same fields,
//! with `message` in a whole body where a chunk has `delta`.

use crate::lenient::{List, Num, Obj, Text};
use serde::Deserialize;
use serde_json::{Map, Value};

/// A chat.completion or one chunk of a stream.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Chunk<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    /// Rare (an error mid-stream), so it is built as JSON only when present.
    pub error: Obj<Map<String, Value>>,
    pub usage: Obj<UsageView>,
    #[serde(borrow)]
    pub choices: List<Choice<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Choice<'a> {
    pub index: Num,
    #[serde(borrow)]
    pub message: Obj<Message<'a>>,
    #[serde(borrow)]
    pub delta: Obj<Message<'a>>,
    #[serde(borrow)]
    pub finish_reason: Text<'a>,
}

/// A whole body's `message` or a chunk's `delta`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Message<'a> {
    #[serde(borrow)]
    pub reasoning_content: Text<'a>,
    #[serde(borrow)]
    pub reasoning: Text<'a>,
    #[serde(borrow)]
    pub thinking_blocks: List<ThinkingBlock<'a>>,
    #[serde(borrow)]
    pub content: Text<'a>,
    #[serde(borrow)]
    pub refusal: Text<'a>,
    #[serde(borrow)]
    pub tool_calls: List<ToolCall<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ThinkingBlock<'a> {
    #[serde(borrow)]
    pub thinking: Text<'a>,
    #[serde(borrow)]
    pub signature: Text<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ToolCall<'a> {
    pub index: Num,
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow)]
    pub function: Obj<Function<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Function<'a> {
    #[serde(borrow)]
    pub name: Text<'a>,
    #[serde(borrow)]
    pub arguments: Text<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct UsageView {
    pub prompt_tokens: Num,
    pub completion_tokens: Num,
    pub prompt_tokens_details: Obj<TokenDetails>,
    pub completion_tokens_details: Obj<TokenDetails>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct TokenDetails {
    pub cached_tokens: Num,
    pub reasoning_tokens: Num,
}
