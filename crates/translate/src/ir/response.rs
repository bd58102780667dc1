//! A complete (non-streamed) model response in vendor-neutral form.

use super::request::Part;
use bytespike_protocol::Usage;

/// One model response.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Response {
    /// The upstream's response id, when it gave one.
    pub id: Option<String>,
    /// Generated content in order.
    pub content: Vec<Part>,
    /// Why generation stopped.
    pub stop: Option<StopReason>,
    /// The stop sequence matched, when the vendor says.
    pub stop_sequence: Option<String>,
    /// Tokens used.
    pub usage: Usage,
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Natural end of the turn.
    EndTurn,
    /// The output token limit was reached.
    MaxTokens,
    /// A stop sequence matched.
    StopSequence,
    /// The model called tools and waits for results.
    ToolUse,
    /// The model or a safety filter refused.
    Refusal,
    /// A long-running turn paused (Anthropic `pause_turn`).
    Pause,
}
