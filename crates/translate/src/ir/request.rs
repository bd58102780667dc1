//! A chat request in vendor-neutral form.

use super::thinking::Effort;
use serde_json::Value;

/// One chat request as the gateway understands it, whatever protocol it came in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Request {
    /// Model id as the client sent it.
    pub model: String,
    /// Leading system instructions.
    pub system: Vec<SystemBlock>,
    /// The conversation, oldest first.
    pub messages: Vec<Message>,
    /// Tools the model may call.
    pub tools: Vec<Tool>,
    /// How the model must use the tools.
    pub tool_choice: Option<ToolChoice>,
    /// `Some(false)` when the client forbade parallel tool calls.
    pub parallel_tool_calls: Option<bool>,
    /// Sampling temperature.
    pub temperature: Option<f64>,
    /// Nucleus sampling.
    pub top_p: Option<f64>,
    /// Top-k sampling.
    pub top_k: Option<u64>,
    /// Maximum output tokens, reasoning included.
    pub max_tokens: Option<u64>,
    /// Stop sequences.
    pub stop: Vec<String>,
    /// Reasoning configuration.
    pub thinking: Option<Thinking>,
    /// Structured output constraint.
    pub output: Option<OutputFormat>,
    /// End-user id for abuse tracking.
    pub user: Option<String>,
    /// Whether the client asked for a stream.
    pub stream: bool,
    /// Whether the client asked for usage in its stream (OpenAI `stream_options.include_usage`).
    pub include_usage: bool,
}

/// A system text block; `cache` keeps an Anthropic `cache_control` hint where one was given.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemBlock {
    /// The instruction text.
    pub text: String,
    /// The prompt-cache hint, verbatim.
    pub cache: Option<Value>,
}

/// Who speaks a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The user (tool results included).
    User,
    /// The model.
    Assistant,
    /// An instruction placed in the middle of the conversation (OpenAI `system`/`developer`).
    System,
}

/// One turn of the conversation.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The speaker.
    pub role: Role,
    /// The content, in order.
    pub content: Vec<Part>,
}

/// One piece of message content.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Plain text, with an optional cache hint.
    Text {
        /// The text.
        text: String,
        /// Anthropic `cache_control`, verbatim.
        cache: Option<Value>,
    },
    /// An image.
    Image(ImageSource),
    /// A call of a tool by the model.
    ToolUse {
        /// Call id, matched by the result.
        id: String,
        /// Tool name.
        name: String,
        /// Arguments (a JSON object).
        input: Value,
    },
    /// The outcome of a tool call.
    ToolResult {
        /// The id of the call answered.
        tool_use_id: String,
        /// Text and images returned by the tool.
        content: Vec<Part>,
        /// Whether the tool failed.
        is_error: bool,
    },
    /// Visible reasoning.
    Thinking {
        /// The reasoning text.
        text: String,
        /// The vendor's opaque signature over it.
        signature: Option<String>,
    },
    /// Encrypted reasoning (Anthropic `redacted_thinking`).
    RedactedThinking {
        /// The opaque payload.
        data: String,
    },
}

/// Where an image's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// Inline base64 data.
    Base64 {
        /// MIME type such as `image/png`.
        media_type: String,
        /// Base64 text without a data-URL prefix.
        data: String,
    },
    /// A URL the vendor fetches.
    Url {
        /// The URL.
        url: String,
    },
}

impl ImageSource {
    /// An image given by URL, the way OpenAI clients send it: a `data:` URL carries the image
    /// inline (base64), anything else is fetched by the vendor.
    pub fn from_url(url: &str) -> ImageSource {
        match crate::field::split_data_url(url) {
            Some((media_type, data)) => ImageSource::Base64 {
                media_type: media_type.to_string(),
                data: data.to_string(),
            },
            None => ImageSource::Url {
                url: url.to_string(),
            },
        }
    }
}

impl Part {
    /// A text part without a cache hint.
    pub fn text(text: impl Into<String>) -> Part {
        Part::Text {
            text: text.into(),
            cache: None,
        }
    }
}

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct Tool {
    /// Function name.
    pub name: String,
    /// What it does.
    pub description: Option<String>,
    /// JSON Schema of its arguments.
    pub schema: Value,
    /// Anthropic `cache_control` on the tool, verbatim.
    pub cache: Option<Value>,
}

/// How the model must use the tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides.
    Auto,
    /// The model must call some tool (OpenAI `required`).
    Any,
    /// The model must call this tool.
    Tool(String),
    /// The model must not call tools.
    None,
}

/// Reasoning configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Thinking {
    /// Reasoning with a token budget.
    Budget(u64),
    /// The model decides how much to reason, optionally steered by an effort.
    Adaptive(Option<Effort>),
    /// Reasoning at a named effort.
    Effort(Effort),
    /// Reasoning explicitly off.
    Disabled,
}

/// A structured output constraint.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputFormat {
    /// Output must match this JSON Schema.
    JsonSchema {
        /// Schema name (OpenAI requires one).
        name: Option<String>,
        /// The schema.
        schema: Value,
        /// Whether the schema must be followed exactly.
        strict: Option<bool>,
    },
    /// Output must be some JSON object.
    JsonObject,
}
