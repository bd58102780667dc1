//! What the decoder reads of a Gemini GenerateContentResponse, whole or one chunk of a stream.

use crate::lenient::{Bool, List, Num, Obj, Text};
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::{Map, Value};

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Chunk<'a> {
    /// Rare, and of any shape: built as JSON only when present.
    pub error: Option<Value>,
    pub usage_metadata: Obj<UsageView>,
    #[serde(borrow)]
    pub response_id: Text<'a>,
    #[serde(borrow)]
    pub candidates: List<Candidate<'a>>,
    pub prompt_feedback: Obj<PromptFeedback>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct PromptFeedback {
    pub block_reason: Option<IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Candidate<'a> {
    #[serde(borrow)]
    pub content: Obj<Content<'a>>,
    #[serde(borrow)]
    pub finish_reason: Text<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Content<'a> {
    #[serde(borrow)]
    pub parts: List<Part<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct Part<'a> {
    #[serde(borrow)]
    pub text: Text<'a>,
    pub thought: Bool,
    #[serde(borrow)]
    pub thought_signature: Text<'a>,
    #[serde(borrow)]
    pub function_call: Obj<FunctionCall<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct FunctionCall<'a> {
    #[serde(borrow)]
    pub id: Text<'a>,
    #[serde(borrow)]
    pub name: Text<'a>,
    /// Carried whole to the client as the call's arguments.
    pub args: Obj<Map<String, Value>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct UsageView {
    pub prompt_token_count: Num,
    pub candidates_token_count: Num,
    pub cached_content_token_count: Num,
    pub thoughts_token_count: Num,
}
