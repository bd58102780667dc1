//! Real usage of one request and how it turns into counted amounts.

use serde::{Deserialize, Serialize};

/// Counted amounts of one request or bucket, indexed by [`crate::Metric::index`].
pub(crate) type Amounts = [u64; 5];

/// Token counts and cost of one finished request, as reported by the upstream and priced by the caller.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Uncached input tokens.
    pub input_tokens: u64,
    /// Output tokens, reasoning included.
    pub output_tokens: u64,
    /// Input tokens read from the prompt cache.
    pub cache_read_tokens: u64,
    /// Input tokens written to the prompt cache.
    pub cache_write_tokens: u64,
    /// Reasoning tokens (already part of `output_tokens`; recorded in the ledger only).
    pub reasoning_tokens: u64,
    /// Cost in micro-dollars, cache reads included.
    pub cost_micros: u64,
}

impl Usage {
    /// Input-side tokens that count: input + cache writes + cache reads scaled by `weight_permille`.
    pub fn counted_input_tokens(&self, cache_read_weight_permille: u32) -> u64 {
        // Widened so that huge counts times the weight cannot overflow before dividing.
        let weighted =
            (u128::from(self.cache_read_tokens) * u128::from(cache_read_weight_permille)) / 1000;
        self.input_tokens
            .saturating_add(self.cache_write_tokens)
            .saturating_add(u64::try_from(weighted).unwrap_or(u64::MAX))
    }

    /// The amounts one settled request adds: one request, its tokens and its cost.
    pub(crate) fn amounts(&self, cache_read_weight_permille: u32) -> Amounts {
        let input = self.counted_input_tokens(cache_read_weight_permille);
        [
            1,
            input.saturating_add(self.output_tokens),
            input,
            self.output_tokens,
            self.cost_micros,
        ]
    }
}

/// The amounts an admission reserves: one request and the estimated input tokens.
pub(crate) fn reserved_amounts(estimated_input_tokens: u64) -> Amounts {
    [1, estimated_input_tokens, estimated_input_tokens, 0, 0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_reads_are_weighted_in_tokens_but_not_in_cost() {
        let u = Usage {
            input_tokens: 100,
            output_tokens: 50,
            cache_read_tokens: 1000,
            cache_write_tokens: 10,
            reasoning_tokens: 20,
            cost_micros: 999,
        };
        assert_eq!(u.amounts(0), [1, 160, 110, 50, 999]);
        assert_eq!(u.amounts(100), [1, 260, 210, 50, 999]);
        assert_eq!(u.amounts(1000), [1, 1160, 1110, 50, 999]);
    }
}
