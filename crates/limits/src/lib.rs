//! Per-key rolling-window limits (requests, tokens, cost) with reservations, in Redis or in process.
#![doc = include_str!("../docs.md")]

mod admission;
mod error;
mod ledger;
mod limiter;
mod limits;
mod memory;
mod metrics;
mod redis;
mod usage;
mod window;

pub use admission::{
    tightest, Admission, AdmitRequest, Origin, Rejection, Reservation, WindowUsage,
};
pub use error::LimitError;
pub use ledger::{FieldValue, LedgerRecord, Settlement, LEDGER_VERSION};
pub use limiter::{Limiter, SettleOutcome};
pub use limits::{KeyId, KeyLimits, Metric, WindowLimit};
pub use memory::{MemoryConfig, MemoryLimiter};
pub use metrics::{LimiterMetrics, NoMetrics};
pub use redis::{
    AdmissionMode, FailurePolicy, Health, LedgerStreams, RedisConfig, RedisLimiter, RedisTarget,
};
pub use usage::Usage;
