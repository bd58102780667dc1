//! Stream events in vendor-neutral form, shaped after Anthropic's (the richest) event model.

use super::response::StopReason;
use bytespike_protocol::{GatewayError, Usage};

/// One event of a streamed response.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    /// The response begins; usage holds what is known so far (usually input only).
    MessageStart {
        /// The upstream's response id.
        id: Option<String>,
        /// Usage known at the start.
        usage: Usage,
    },
    /// A content block opens at `index` (indices increase from 0 within a response).
    BlockStart {
        /// Block index.
        index: usize,
        /// What the block holds.
        block: BlockStart,
    },
    /// More content for the open block at `index`.
    BlockDelta {
        /// Block index.
        index: usize,
        /// The increment.
        delta: Delta,
    },
    /// The block at `index` is complete.
    BlockStop {
        /// Block index.
        index: usize,
    },
    /// Final stop reason and cumulative usage.
    MessageDelta {
        /// Why generation stopped.
        stop: Option<StopReason>,
        /// The stop sequence matched, when known.
        stop_sequence: Option<String>,
        /// Usage so far (cumulative).
        usage: Usage,
    },
    /// The response is complete.
    MessageStop,
    /// The stream failed; nothing follows.
    Error(GatewayError),
}

/// The kind of a content block and what is known when it opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockStart {
    /// Text.
    Text,
    /// Visible reasoning.
    Thinking,
    /// Encrypted reasoning, complete at start.
    RedactedThinking {
        /// The opaque payload.
        data: String,
    },
    /// A tool call; arguments follow as partial JSON.
    ToolUse {
        /// Call id.
        id: String,
        /// Tool name.
        name: String,
    },
}

/// An increment of a content block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delta {
    /// More text.
    Text(String),
    /// More reasoning text.
    Thinking(String),
    /// The reasoning block's signature.
    Signature(String),
    /// More of a tool call's JSON arguments.
    InputJson(String),
}
