//! OpenAI usage objects to and from the normalised `Usage`.

use crate::field::{loose, Obj};
use bytespike_protocol::Usage;
use serde_json::{json, Value};

/// Reads an OpenAI usage object: prompt tokens include cached ones, which are split out.
pub(crate) fn decode(obj: &Obj) -> Usage {
    let cached = loose::obj(obj, "prompt_tokens_details")
        .and_then(|d| loose::u64(d, "cached_tokens"))
        .unwrap_or(0);
    let reasoning = loose::obj(obj, "completion_tokens_details")
        .and_then(|d| loose::u64(d, "reasoning_tokens"))
        .unwrap_or(0);
    Usage {
        input_tokens: loose::u64(obj, "prompt_tokens")
            .unwrap_or(0)
            .saturating_sub(cached),
        output_tokens: loose::u64(obj, "completion_tokens").unwrap_or(0),
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
