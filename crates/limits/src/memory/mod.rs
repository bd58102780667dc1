//! The in-process backend: one replica's limits in a sharded map, same rules as Redis.

mod markers;
mod state;

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::admission::{to_ms, Admission, AdmitRequest, Origin, Reservation, WindowUsage};
use crate::error::LimitError;
use crate::ledger::Settlement;
use crate::limiter::{Limiter, SettleOutcome};
use crate::limits::{KeyId, KeyLimits};
use crate::metrics::{LimiterMetrics, NoMetrics};
use crate::window::{report, settled_marker_ttl_ms};

use state::SettleInput;
pub(crate) use state::{KeyState, WindowSums};

const SHARDS: usize = 32;

/// Settings of the in-process backend.
#[derive(Clone, Debug)]
pub struct MemoryConfig {
    /// How long a reservation lives without settlement or release before it is purged.
    pub reservation_ttl: Duration,
    /// How late a settlement may be replayed and still be recognised as a duplicate.
    pub replay_horizon: Duration,
}

impl Default for MemoryConfig {
    fn default() -> Self {
        Self {
            reservation_ttl: Duration::from_secs(15 * 60),
            replay_horizon: Duration::from_secs(60 * 60),
        }
    }
}

/// Limits held in this process only: for a single replica, local runs, and the shadow budget.
pub struct MemoryLimiter {
    shards: Box<[Mutex<HashMap<KeyId, KeyState>>]>,
    config: MemoryConfig,
    metrics: Arc<dyn LimiterMetrics>,
    origin: Origin,
}

impl MemoryLimiter {
    /// An empty limiter.
    pub fn new(config: MemoryConfig) -> Self {
        Self::with_origin(config, Origin::Local)
    }

    pub(crate) fn with_origin(config: MemoryConfig, origin: Origin) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            config,
            metrics: Arc::new(NoMetrics),
            origin,
        }
    }

    /// Reports events to `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<dyn LimiterMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Requests of `key` in flight.
    pub fn in_flight(&self, key: &KeyId) -> usize {
        self.shard(key).get(key).map_or(0, KeyState::in_flight)
    }

    fn shard(&self, key: &KeyId) -> MutexGuard<'_, HashMap<KeyId, KeyState>> {
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        lock(&self.shards[(h.finish() as usize) % SHARDS])
    }

    /// Runs `f` on the key's state, forgetting the key once nothing is stored for it.
    fn with_key<T>(&self, key: &KeyId, f: impl FnOnce(&mut KeyState) -> T) -> T {
        let mut shard = self.shard(key);
        let state = shard.entry(key.clone()).or_default();
        let out = f(state);
        if state.is_empty() {
            shard.remove(key);
        }
        out
    }

    fn ms(d: Duration) -> u64 {
        u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
    }
}

/// Locks a mutex, recovering from poisoning since every update leaves the state consistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[async_trait]
impl Limiter for MemoryLimiter {
    fn tracks_unlimited(&self) -> bool {
        // In process a key without limits counts nowhere and no ledger is kept.
        false
    }

    fn untracked_admitted(&self) {
        self.metrics.admitted(Origin::Untracked);
    }

    fn untracked_ended(&self, served: bool) {
        if served {
            self.metrics.settled(SettleOutcome::Settled);
        } else {
            self.metrics.released();
        }
    }

    async fn admit(&self, req: AdmitRequest<'_>) -> Result<Admission, LimitError> {
        let limits = req.limits.normalised()?;
        let now_ms = to_ms(req.now);
        let mut reservation = req.reservation(&limits, now_ms, self.origin, None);
        if limits.is_unlimited() {
            reservation.origin = Origin::Untracked;
            self.metrics.admitted(Origin::Untracked);
            return Ok(Admission::Admitted {
                reservation,
                windows: Vec::new(),
            });
        }
        let ttl = Self::ms(self.config.reservation_ttl);
        let outcome = self.with_key(req.key, |s| {
            s.admit(
                &limits,
                req.request_id,
                req.estimated_input_tokens,
                now_ms,
                ttl,
            )
        });
        match outcome {
            Ok(sums) => {
                self.metrics.admitted(self.origin);
                Ok(Admission::Admitted {
                    reservation,
                    windows: report(&limits, &sums),
                })
            }
            Err(rejection) => {
                self.metrics.rejected(&rejection);
                Ok(Admission::Rejected(rejection))
            }
        }
    }

    async fn settle(
        &self,
        reservation: &Reservation,
        settlement: &Settlement,
        now: SystemTime,
    ) -> Result<SettleOutcome, LimitError> {
        if reservation.origin == Origin::Untracked {
            // A key without limits counts nowhere in process and its caller settles each
            // request once, so there is nothing to add to and no duplicate to catch; a marker
            // per request would only cost a hash, a lock and a few bytes per key.
            self.metrics.settled(SettleOutcome::Settled);
            return Ok(SettleOutcome::Settled);
        }
        let amounts = settlement
            .usage
            .amounts(reservation.cache_read_weight_permille);
        let marker_ttl_ms = settled_marker_ttl_ms(
            Self::ms(self.config.reservation_ttl),
            Self::ms(self.config.replay_horizon),
        );
        let fresh = self.with_key(&reservation.key, |s| {
            s.settle(SettleInput {
                request_id: &reservation.request_id,
                admitted_at_ms: reservation.admitted_at_ms,
                windows_ms: &reservation.windows_ms,
                amounts: &amounts,
                now_ms: to_ms(now),
                marker_ttl_ms,
            })
        });
        // The ledger is Redis's: in process there is no one to read it, so no record is kept.
        let outcome = if fresh {
            SettleOutcome::Settled
        } else {
            SettleOutcome::Duplicate
        };
        self.metrics.settled(outcome);
        Ok(outcome)
    }

    async fn release(&self, reservation: &Reservation, now: SystemTime) -> Result<(), LimitError> {
        if reservation.origin != Origin::Untracked {
            self.with_key(&reservation.key, |s| {
                s.release(&reservation.request_id, to_ms(now))
            });
        }
        self.metrics.released();
        Ok(())
    }

    async fn usage(
        &self,
        key: &KeyId,
        limits: &KeyLimits,
        now: SystemTime,
    ) -> Result<Vec<WindowUsage>, LimitError> {
        let limits = limits.normalised()?;
        if limits.windows.is_empty() {
            return Ok(Vec::new());
        }
        let sums = self.with_key(key, |s| s.usage(&limits, to_ms(now)));
        Ok(report(&limits, &sums))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limits::WindowLimit;

    fn keys_held(limiter: &MemoryLimiter) -> usize {
        limiter.shards.iter().map(|s| lock(s).len()).sum()
    }

    async fn admit_and_settle(limiter: &MemoryLimiter, key: &KeyId, limits: &KeyLimits) {
        let admission = limiter
            .admit(AdmitRequest {
                key,
                limits,
                request_id: "r1",
                estimated_input_tokens: 10,
                now: SystemTime::now(),
            })
            .await
            .unwrap();
        let Admission::Admitted { reservation, .. } = admission else {
            panic!("rejected: {admission:?}");
        };
        let settled = limiter
            .settle(&reservation, &Settlement::default(), SystemTime::now())
            .await
            .unwrap();
        assert_eq!(settled, SettleOutcome::Settled);
    }

    /// Every event the limiter reports, in order.
    #[derive(Default)]
    struct Recorded(Mutex<Vec<String>>);

    impl LimiterMetrics for Recorded {
        fn admitted(&self, origin: Origin) {
            lock(&self.0).push(format!("admitted {origin:?}"));
        }
        fn settled(&self, outcome: SettleOutcome) {
            lock(&self.0).push(format!("settled {outcome:?}"));
        }
        fn released(&self) {
            lock(&self.0).push("released".into());
        }
    }

    #[tokio::test]
    async fn an_untracked_request_counts_as_its_reservation_would_have() {
        let recorded = Arc::new(Recorded::default());
        let limiter = MemoryLimiter::new(MemoryConfig::default()).with_metrics(recorded.clone());
        assert!(
            !limiter.tracks_unlimited(),
            "nothing is kept for a key without limits"
        );
        let free = KeyId::new("team", "free");
        admit_and_settle(&limiter, &free, &KeyLimits::default()).await;
        let request = AdmitRequest {
            key: &free,
            limits: &KeyLimits::default(),
            request_id: "r2",
            estimated_input_tokens: 10,
            now: SystemTime::now(),
        };
        let Admission::Admitted { reservation, .. } = limiter.admit(request).await.unwrap() else {
            panic!("a key without limits is never rejected");
        };
        limiter
            .release(&reservation, SystemTime::now())
            .await
            .unwrap();
        let through_reservations = std::mem::take(&mut *lock(&recorded.0));

        limiter.untracked_admitted();
        limiter.untracked_ended(true);
        limiter.untracked_admitted();
        limiter.untracked_ended(false);
        assert_eq!(*lock(&recorded.0), through_reservations);
        assert_eq!(
            through_reservations,
            [
                "admitted Untracked",
                "settled Settled",
                "admitted Untracked",
                "released"
            ]
        );
        assert_eq!(keys_held(&limiter), 0);
    }

    #[tokio::test]
    async fn a_key_without_limits_leaves_no_state_behind_its_settlement() {
        let limiter = MemoryLimiter::new(MemoryConfig::default());
        admit_and_settle(&limiter, &KeyId::new("team", "free"), &KeyLimits::default()).await;
        assert_eq!(keys_held(&limiter), 0);
        // A key with limits keeps its counts (and settled marker): the check above can see state.
        let capped = KeyLimits {
            windows: vec![WindowLimit {
                requests: Some(10),
                ..WindowLimit::new(Duration::from_secs(3600))
            }],
            ..KeyLimits::default()
        };
        admit_and_settle(&limiter, &KeyId::new("team", "capped"), &capped).await;
        assert_eq!(keys_held(&limiter), 1);
    }
}
