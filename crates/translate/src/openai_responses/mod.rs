//! OpenAI Responses (`/v1/responses`): requests decoded into the IR, responses and stream
//! events encoded from it.
//!
//! The gateway keeps no state. A request that builds on stored state (`previous_response_id`,
//! `conversation`, `background`, `item_reference` items) is refused with a 400 that says to
//! send the whole input with `store: false`, as Codex does. `store: true` (the API's default)
//! is accepted, since the request does not depend on it, and the response says `store: false`:
//! nothing was stored, and a client that relies on the flag learns so at once.
//!
//! Upstreams answer through the IR; the response object repeats the request's settings
//! (instructions, tools, tool_choice, text, reasoning, ...) from an [`Echo`] taken when the
//! request was decoded, as the API does. Reasoning comes back as `reasoning` items whose
//! `encrypted_content` carries the exact reasoning and its signature (see `reasoning`), with
//! `summary_text` parts when the request asked for a summary.

pub mod request;
pub mod response;
pub mod stream;

mod object;
mod reasoning;

use serde_json::{Map, Value};

/// Request fields a Responses client expects repeated in its response object, and whether it
/// asked for reasoning summaries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Echo {
    fields: Map<String, Value>,
    summary: bool,
}

/// The request fields the response object repeats, as the API does.
const ECHOED: &[&str] = &[
    "instructions",
    "max_output_tokens",
    "max_tool_calls",
    "metadata",
    "parallel_tool_calls",
    "prompt_cache_key",
    "reasoning",
    "safety_identifier",
    "temperature",
    "text",
    "tool_choice",
    "tools",
    "top_logprobs",
    "top_p",
    "truncation",
    "user",
];

#[cfg(test)]
mod tests;
