//! Anthropic usage objects to and from the normalised `Usage`.

use super::view::UsageView;
use crate::field::{loose, Obj};
use bytespike_protocol::Usage;
use serde::Serialize;
use serde_json::{json, Value};

/// Folds an Anthropic usage object into `usage`; absent fields keep their values.
pub(crate) fn apply(obj: &Obj, usage: &mut Usage) {
    let set = |slot: &mut u64, key: &str| {
        if let Some(v) = loose::u64(obj, key) {
            *slot = v;
        }
    };
    set(&mut usage.input_tokens, "input_tokens");
    set(&mut usage.output_tokens, "output_tokens");
    set(&mut usage.cache_read_tokens, "cache_read_input_tokens");
    set(&mut usage.cache_write_tokens, "cache_creation_input_tokens");
}

/// Folds a usage view of a stream event into `usage`; absent fields keep their values.
pub(crate) fn apply_view(view: &UsageView, usage: &mut Usage) {
    for (slot, field) in [
        (&mut usage.input_tokens, view.input_tokens),
        (&mut usage.output_tokens, view.output_tokens),
        (&mut usage.cache_read_tokens, view.cache_read_input_tokens),
        (
            &mut usage.cache_write_tokens,
            view.cache_creation_input_tokens,
        ),
    ] {
        if let Some(v) = field.0 {
            *slot = v;
        }
    }
}

/// The usage object Anthropic would send.
pub(crate) fn encode(usage: &Usage) -> Value {
    json!({
        "input_tokens": usage.input_tokens,
        "cache_creation_input_tokens": usage.cache_write_tokens,
        "cache_read_input_tokens": usage.cache_read_tokens,
        "output_tokens": usage.output_tokens,
    })
}

/// The usage object Anthropic would send, serialized in place.
#[derive(Debug, Serialize)]
pub(crate) struct UsageOut {
    input_tokens: u64,
    cache_creation_input_tokens: u64,
    cache_read_input_tokens: u64,
    output_tokens: u64,
}

impl From<&Usage> for UsageOut {
    fn from(usage: &Usage) -> Self {
        UsageOut {
            input_tokens: usage.input_tokens,
            cache_creation_input_tokens: usage.cache_write_tokens,
            cache_read_input_tokens: usage.cache_read_tokens,
            output_tokens: usage.output_tokens,
        }
    }
}
