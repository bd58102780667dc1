//! The admission exchange: what the proxy asks, what it gets back, and the reservation it holds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::limits::{KeyId, KeyLimits, Metric};

/// One request asking to be admitted.
#[derive(Clone, Copy, Debug)]
pub struct AdmitRequest<'a> {
    /// The key the request authenticated with.
    pub key: &'a KeyId,
    /// The key's limits as of the current config snapshot.
    pub limits: &'a KeyLimits,
    /// Unique id of the request; settlement is idempotent on it.
    pub request_id: &'a str,
    /// Input tokens to reserve until the real count is known.
    pub estimated_input_tokens: u64,
    /// The current time.
    pub now: SystemTime,
}

impl AdmitRequest<'_> {
    /// The reservation this request holds once admitted under `limits` (normalised) at `now_ms`.
    pub(crate) fn reservation(
        &self,
        limits: &KeyLimits,
        now_ms: u64,
        origin: Origin,
        lease: Option<String>,
    ) -> Reservation {
        Reservation {
            key: self.key.clone(),
            request_id: self.request_id.to_string(),
            admitted_at_ms: now_ms,
            estimated_input_tokens: self.estimated_input_tokens,
            windows_ms: limits
                .windows
                .iter()
                .map(|w| u64::try_from(w.window.as_millis()).unwrap_or(u64::MAX))
                .collect(),
            cache_read_weight_permille: limits.cache_read_weight_permille,
            origin,
            lease,
        }
    }
}

/// The answer to an admission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Admitted: settle or release the reservation when the request ends.
    Admitted {
        /// The held reservation.
        reservation: Reservation,
        /// Every window and metric of the key, after the reservation.
        windows: Vec<WindowUsage>,
    },
    /// Rejected: nothing was reserved.
    Rejected(Rejection),
}

/// Why a request was turned away.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// A window's metric is at or over its cap.
    OverLimit {
        /// Length of the exhausted window.
        window: Duration,
        /// The exhausted metric.
        metric: Metric,
        /// The cap.
        limit: u64,
        /// The amount counted in the window, reservations included.
        used: u64,
        /// Wait until enough old buckets roll out to get under the cap; `None` if never (a zero cap).
        retry_after: Option<Duration>,
    },
    /// The key already has `max_concurrent` requests in flight.
    TooManyConcurrent {
        /// The cap.
        limit: u32,
        /// Requests in flight.
        in_flight: u64,
    },
}

impl Rejection {
    /// The wait before retrying can succeed, when it can be known.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Rejection::OverLimit { retry_after, .. } => *retry_after,
            // In-flight requests end at times nobody can predict.
            Rejection::TooManyConcurrent { .. } => None,
        }
    }

    /// Low-cardinality label for metrics.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Rejection::OverLimit { .. } => "over_limit",
            Rejection::TooManyConcurrent { .. } => "too_many_concurrent",
        }
    }
}

/// Where a reservation is held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// In the shared Redis budget.
    Shared,
    /// In this replica's shadow budget, while Redis was unreachable.
    Shadow,
    /// In the in-process backend.
    Local,
    /// Nowhere: the key has no limits, so there is nothing to hold.
    Untracked,
}

/// A held admission; self-contained so a settlement can be replayed later from a buffer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Reservation {
    /// The key it counts against.
    pub key: KeyId,
    /// The request it belongs to.
    pub request_id: String,
    /// Admission time, in milliseconds since the Unix epoch.
    pub admitted_at_ms: u64,
    /// Input tokens reserved.
    pub estimated_input_tokens: u64,
    /// Lengths of the windows it was counted in, in milliseconds.
    pub windows_ms: Vec<u64>,
    /// Cache-read weight in force at admission, so settlement counts tokens the same way.
    pub cache_read_weight_permille: u32,
    /// Where it is held.
    pub origin: Origin,
    /// The lease of this replica it was carved from, if admitted without a round trip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<String>,
}

/// One window and metric of a key at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowUsage {
    /// Length of the window.
    pub window: Duration,
    /// The metric.
    pub metric: Metric,
    /// Amount counted, reservations included.
    pub used: u64,
    /// The cap, if any.
    pub limit: Option<u64>,
    /// `limit - used`, floored at zero, if capped.
    pub remaining: Option<u64>,
    /// When everything counted now has rolled out (the window is back to its full budget).
    pub resets_at: SystemTime,
}

impl WindowUsage {
    /// Remaining share of the cap in `[0, 1]`, if capped; a zero cap counts as exhausted.
    pub fn remaining_fraction(&self) -> Option<f64> {
        let limit = self.limit?;
        let remaining = self.remaining.unwrap_or(0);
        Some(if limit == 0 {
            0.0
        } else {
            remaining as f64 / limit as f64
        })
    }
}

/// The capped window and metric with the smallest remaining fraction, for response headers.
pub fn tightest(windows: &[WindowUsage]) -> Option<&WindowUsage> {
    windows
        .iter()
        .filter_map(|w| w.remaining_fraction().map(|f| (f, w)))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, w)| w)
}

/// Milliseconds since the Unix epoch, zero before it.
pub(crate) fn to_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The instant `ms` milliseconds after the Unix epoch.
pub(crate) fn from_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(metric: Metric, used: u64, limit: Option<u64>) -> WindowUsage {
        WindowUsage {
            window: Duration::from_secs(60),
            metric,
            used,
            limit,
            remaining: limit.map(|l| l.saturating_sub(used)),
            resets_at: UNIX_EPOCH,
        }
    }

    #[test]
    fn reservation_survives_serialisation_for_replay() {
        let r = Reservation {
            key: KeyId::new("team-a", "ci"),
            request_id: "req-9".into(),
            admitted_at_ms: 1_700_000_000_000,
            estimated_input_tokens: 1234,
            windows_ms: vec![18_000_000, 86_400_000],
            cache_read_weight_permille: 100,
            origin: Origin::Shadow,
            lease: None,
        };
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.contains("\"origin\":\"shadow\""), "{json}");
        assert_eq!(serde_json::from_str::<Reservation>(&json).unwrap(), r);
    }

    #[test]
    fn tightest_is_the_smallest_remaining_fraction() {
        let all = [
            usage(Metric::Requests, 90, None),
            usage(Metric::Requests, 5, Some(10)),
            usage(Metric::Tokens, 800, Some(1000)),
            usage(Metric::CostMicros, 10, Some(100)),
        ];
        assert_eq!(tightest(&all).unwrap().metric, Metric::Tokens);
        assert!(tightest(&all[..1]).is_none());
    }
}
