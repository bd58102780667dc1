//! What a key is allowed: its identity, its rolling windows and their caps.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::LimitError;

/// The identity of an API key as the limiter sees it: its namespace and name, never its secret.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KeyId {
    /// Namespace of the `ApiKey` object.
    pub namespace: String,
    /// Name of the `ApiKey` object.
    pub name: String,
}

impl KeyId {
    /// Builds a key id from its namespace and name.
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// One quantity a window can cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Requests admitted.
    Requests,
    /// Input + cache writes + weighted cache reads + output tokens.
    Tokens,
    /// Input + cache writes + weighted cache reads.
    InputTokens,
    /// Output tokens (reasoning tokens included, as vendors bill them).
    OutputTokens,
    /// Cost in micro-dollars.
    CostMicros,
}

impl Metric {
    /// Every metric, in the order used by amounts arrays and the Redis script.
    pub const ALL: [Metric; 5] = [
        Metric::Requests,
        Metric::Tokens,
        Metric::InputTokens,
        Metric::OutputTokens,
        Metric::CostMicros,
    ];

    /// Position of this metric in an amounts array.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Stable lower-case name, for headers, logs and metric labels.
    pub const fn as_str(self) -> &'static str {
        match self {
            Metric::Requests => "requests",
            Metric::Tokens => "tokens",
            Metric::InputTokens => "input_tokens",
            Metric::OutputTokens => "output_tokens",
            Metric::CostMicros => "cost_micros",
        }
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Caps over one rolling window; a `None` cap leaves that metric unlimited.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowLimit {
    /// Length of the rolling window.
    pub window: Duration,
    /// Maximum requests in the window.
    pub requests: Option<u64>,
    /// Maximum tokens (input side + output) in the window.
    pub tokens: Option<u64>,
    /// Maximum input-side tokens in the window.
    pub input_tokens: Option<u64>,
    /// Maximum output tokens in the window.
    pub output_tokens: Option<u64>,
    /// Maximum cost in micro-dollars in the window.
    pub cost_micros: Option<u64>,
}

impl WindowLimit {
    /// A window of the given length with no caps yet.
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            ..Self::default()
        }
    }

    /// The caps as an array indexed by [`Metric::index`].
    pub fn caps(&self) -> [Option<u64>; 5] {
        [
            self.requests,
            self.tokens,
            self.input_tokens,
            self.output_tokens,
            self.cost_micros,
        ]
    }

    /// The cap on one metric.
    pub fn cap(&self, metric: Metric) -> Option<u64> {
        self.caps()[metric.index()]
    }

    fn cap_mut(&mut self, metric: Metric) -> &mut Option<u64> {
        match metric {
            Metric::Requests => &mut self.requests,
            Metric::Tokens => &mut self.tokens,
            Metric::InputTokens => &mut self.input_tokens,
            Metric::OutputTokens => &mut self.output_tokens,
            Metric::CostMicros => &mut self.cost_micros,
        }
    }
}

/// Everything the limiter enforces for one key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyLimits {
    /// Rolling windows; windows of equal length are merged, keeping the smaller cap of each metric.
    pub windows: Vec<WindowLimit>,
    /// Maximum requests in flight (admitted, not yet settled or released).
    pub max_concurrent: Option<u32>,
    /// Weight of cache-read tokens in token counts, in thousandths (0 = free, 1000 = full).
    pub cache_read_weight_permille: u32,
}

impl KeyLimits {
    /// True when nothing is enforced, so admission needs no shared state at all.
    pub fn is_unlimited(&self) -> bool {
        self.max_concurrent.is_none() && self.windows.is_empty()
    }

    /// Validated copy with windows sorted by length and equal lengths merged.
    pub fn normalised(&self) -> Result<KeyLimits, LimitError> {
        let mut windows: Vec<WindowLimit> = Vec::with_capacity(self.windows.len());
        for w in &self.windows {
            if w.window.as_millis() == 0 {
                return Err(LimitError::InvalidLimits(
                    "a window must be at least one millisecond long".into(),
                ));
            }
            let window = Duration::from_millis(w.window.as_millis() as u64);
            match windows.iter_mut().find(|x| x.window == window) {
                Some(existing) => {
                    for m in Metric::ALL {
                        let merged = match (existing.cap(m), w.cap(m)) {
                            (Some(a), Some(b)) => Some(a.min(b)),
                            (a, b) => a.or(b),
                        };
                        *existing.cap_mut(m) = merged;
                    }
                }
                None => windows.push(WindowLimit {
                    window,
                    ..w.clone()
                }),
            }
        }
        windows.sort_by_key(|w| w.window);
        Ok(KeyLimits {
            windows,
            max_concurrent: self.max_concurrent,
            cache_read_weight_permille: self.cache_read_weight_permille,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_merges_equal_windows_keeping_the_smaller_cap() {
        let limits = KeyLimits {
            windows: vec![
                WindowLimit {
                    requests: Some(10),
                    tokens: Some(500),
                    ..WindowLimit::new(Duration::from_secs(3600))
                },
                WindowLimit {
                    requests: Some(5),
                    ..WindowLimit::new(Duration::from_secs(60))
                },
                WindowLimit {
                    tokens: Some(100),
                    cost_micros: Some(7),
                    ..WindowLimit::new(Duration::from_secs(3600))
                },
            ],
            ..KeyLimits::default()
        };
        let n = limits.normalised().unwrap();
        assert_eq!(n.windows.len(), 2);
        assert_eq!(n.windows[0].window, Duration::from_secs(60));
        assert_eq!(n.windows[1].requests, Some(10));
        assert_eq!(n.windows[1].tokens, Some(100));
        assert_eq!(n.windows[1].cost_micros, Some(7));
    }

    #[test]
    fn zero_length_window_is_rejected() {
        let limits = KeyLimits {
            windows: vec![WindowLimit::new(Duration::ZERO)],
            ..KeyLimits::default()
        };
        assert!(matches!(
            limits.normalised(),
            Err(LimitError::InvalidLimits(_))
        ));
    }
}
