//! Redis reachability, and the settlements and releases waiting for it to come back.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::admission::Reservation;
use crate::ledger::Settlement;

/// Reachability of Redis, for readiness probes and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// Whether the last Redis call succeeded.
    pub reachable: bool,
    /// The last Redis failure, if any since start.
    pub last_error: Option<String>,
    /// Settlements and releases buffered for replay.
    pub pending: usize,
    /// Settlements dropped because the buffer was full.
    pub dropped_settlements: u64,
}

/// A write that could not reach Redis, kept with its original time so its replay lands where it
/// would have.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum PendingOp {
    Settle {
        reservation: Reservation,
        settlement: Box<Settlement>,
        now_ms: u64,
    },
    Release {
        reservation: Reservation,
        now_ms: u64,
    },
}

struct State {
    reachable: bool,
    last_error: Option<String>,
    retry_at_ms: u64,
    queue: VecDeque<PendingOp>,
}

/// Tracks failures and holds the replay buffer.
pub(crate) struct Outage {
    state: Mutex<State>,
    dropped: AtomicU64,
    capacity: usize,
}

impl Outage {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            state: Mutex::new(State {
                reachable: true,
                last_error: None,
                retry_at_ms: 0,
                queue: VecDeque::new(),
            }),
            dropped: AtomicU64::new(0),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a call at `now_ms` should try Redis; after a failure only once the probe interval passed,
    /// so an outage costs each request nothing instead of a timeout.
    pub(crate) fn should_try(&self, now_ms: u64) -> bool {
        let s = self.lock();
        s.reachable || now_ms >= s.retry_at_ms
    }

    pub(crate) fn failed(&self, error: String, now_ms: u64, probe_interval_ms: u64) {
        let mut s = self.lock();
        s.reachable = false;
        s.last_error = Some(error);
        s.retry_at_ms = now_ms.saturating_add(probe_interval_ms);
    }

    pub(crate) fn succeeded(&self) {
        self.lock().reachable = true;
    }

    /// Buffers an op; false (and a drop counted) if the buffer is full.
    pub(crate) fn push(&self, op: PendingOp) -> bool {
        let mut s = self.lock();
        if s.queue.len() >= self.capacity {
            drop(s);
            if matches!(op, PendingOp::Settle { .. }) {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            return false;
        }
        s.queue.push_back(op);
        true
    }

    pub(crate) fn pop(&self) -> Option<PendingOp> {
        self.lock().queue.pop_front()
    }

    /// Puts back an op whose replay failed, keeping the original order.
    pub(crate) fn unpop(&self, op: PendingOp) {
        self.lock().queue.push_front(op);
    }

    pub(crate) fn is_idle(&self) -> bool {
        self.lock().queue.is_empty()
    }

    pub(crate) fn health(&self) -> Health {
        let s = self.lock();
        Health {
            reachable: s.reachable,
            last_error: s.last_error.clone(),
            pending: s.queue.len(),
            dropped_settlements: self.dropped.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reservation(id: &str) -> Reservation {
        Reservation {
            key: crate::KeyId::new("n", "k"),
            request_id: id.into(),
            admitted_at_ms: 0,
            estimated_input_tokens: 0,
            windows_ms: vec![],
            cache_read_weight_permille: 0,
            origin: crate::Origin::Shared,
            lease: None,
        }
    }

    #[test]
    fn probes_again_only_after_the_interval_and_counts_dropped_settlements() {
        let outage = Outage::new(1);
        assert!(outage.should_try(0));
        outage.failed("down".into(), 100, 50);
        assert!(!outage.should_try(149));
        assert!(outage.should_try(150));
        let release = |id: &str| PendingOp::Release {
            reservation: reservation(id),
            now_ms: 1,
        };
        assert!(outage.push(release("a")));
        // A full buffer refuses more; only lost settlements are counted.
        assert!(!outage.push(release("b")));
        let settle = PendingOp::Settle {
            reservation: reservation("c"),
            settlement: Box::default(),
            now_ms: 3,
        };
        assert!(!outage.push(settle));
        let h = outage.health();
        assert_eq!(
            (h.reachable, h.pending, h.dropped_settlements),
            (false, 1, 1)
        );
        outage.succeeded();
        assert!(outage.health().reachable);
        assert_eq!(outage.pop(), Some(release("a")));
        assert!(outage.is_idle());
    }
}
