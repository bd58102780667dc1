//! Hooks through which the limiter reports what it does, for whatever metrics system the caller uses.

use std::time::Duration;

use crate::admission::{Origin, Rejection};
use crate::limiter::SettleOutcome;

/// Receives limiter events; every method defaults to doing nothing.
pub trait LimiterMetrics: Send + Sync {
    /// A request was admitted; `origin` tells which budget it was held in.
    fn admitted(&self, _origin: Origin) {}
    /// A request was rejected.
    fn rejected(&self, _rejection: &Rejection) {}
    /// A reservation was released.
    fn released(&self) {}
    /// A settlement finished (live, not replayed).
    fn settled(&self, _outcome: SettleOutcome) {}
    /// A request found its key's lease used up while a refill was on its way, and waited for
    /// the refill instead of making a round trip of its own.
    fn waited_for_lease(&self) {}
    /// A buffered settlement was replayed into Redis.
    fn settlement_replayed(&self, _outcome: SettleOutcome) {}
    /// A settlement could not be buffered (queue full) and is lost for the shared budget.
    fn settlement_dropped(&self) {}
    /// One Redis round trip ended; `op` is `admit`, `usage`, `settle`, `release` or `ping`.
    fn redis_round_trip(&self, _op: &'static str, _latency: Duration, _ok: bool) {}
    /// One pipeline of `size` settlements and releases went to Redis (one write, one read); each
    /// member still reports its own [`LimiterMetrics::redis_round_trip`].
    fn redis_batch(&self, _size: usize) {}
}

/// Metrics hooks that discard everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoMetrics;

impl LimiterMetrics for NoMetrics {}
