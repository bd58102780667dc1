//! Errors of the limiter.

/// Why a limiter call failed (a rejection is not an error: see [`crate::Admission`]).
#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    /// The limits given are unusable.
    #[error("invalid limits: {0}")]
    InvalidLimits(String),
    /// The shared store is unreachable and the policy is fail-closed; render as 503.
    #[error("limit store unavailable: {0}")]
    Unavailable(String),
    /// The shared store answered something unexpected.
    #[error("limit store error: {0}")]
    Store(String),
    /// The store connection settings are unusable.
    #[error("limit store configuration: {0}")]
    Config(String),
}

impl LimitError {
    /// Low-cardinality label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            LimitError::InvalidLimits(_) => "invalid_limits",
            LimitError::Unavailable(_) => "unavailable",
            LimitError::Store(_) => "store",
            LimitError::Config(_) => "config",
        }
    }
}
