//! Anthropic Messages: requests, responses, stream events and errors to and from the IR.

pub mod error;
pub mod request;
pub mod response;
pub mod stream;
mod usage;
mod view;

/// Output tokens asked of Anthropic when an OpenAI-style client set no limit: the largest
/// every Claude model accepts (claude-3-haiku caps at 4,096). With reasoning on, the thinking
/// budget is added on top.
pub const DEFAULT_MAX_TOKENS: u64 = 4096;

/// The beta that enables `output_format` (structured outputs).
pub const STRUCTURED_OUTPUTS_BETA: &str = "structured-outputs-2025-11-13";
