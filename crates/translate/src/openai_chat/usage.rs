//! OpenAI usage objects to and from the normalised `Usage`.

use super::view::UsageView;
use bytespike_protocol::Usage;
use serde_json::{json, Value};

/// Reads an OpenAI usage object: prompt tokens include cached ones, which are split out.
pub(crate) fn decode(u: &UsageView) -> Usage {
    let cached = u
        .prompt_tokens_details
        .0
        .as_ref()
        .and_then(|d| d.cached_tokens.0)
        .unwrap_or(0);
    let reasoning = u
        .completion_tokens_details
        .0
        .as_ref()
        .and_then(|d| d.reasoning_tokens.0)
        .unwrap_or(0);
    Usage {
        input_tokens: u.prompt_tokens.0.unwrap_or(0).saturating_sub(cached),
        output_tokens: u.completion_tokens.0.unwrap_or(0),
        cache_read_tokens: cached,
        cache_write_tokens: 0,
        reasoning_tokens: reasoning,
    }
}

/// The usage object OpenAI would send; cache writes have no field and count as prompt tokens.
pub(crate) fn encode(usage: &Usage) -> Value {
    let prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens;
    json!({
        "prompt_tokens": prompt,
        "completion_tokens": usage.output_tokens,
        "total_tokens": prompt + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    })
}
