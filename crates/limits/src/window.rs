//! Bucket arithmetic of a rolling window, shared by the in-process backend and mirrored in Lua.
//!
//! A window of length `W` is cut into buckets of `b = max(W / 60, 1 ms)`; bucket `i` holds what
//! happened in `[i*b, (i+1)*b)` and counts until `(i+1)*b + W`, its expiry. So an amount is never
//! forgotten before a full `W` has passed, and is forgotten at most one bucket after that.

use std::collections::BTreeMap;

use crate::admission::{from_ms, WindowUsage};
use crate::limits::{KeyLimits, Metric};
use crate::usage::Amounts;

/// Length of one bucket of a window, in milliseconds.
pub(crate) fn bucket_ms(window_ms: u64) -> u64 {
    (window_ms / 60).max(1)
}

/// Index of the bucket holding the instant `at_ms`.
pub(crate) fn bucket_index(at_ms: u64, window_ms: u64) -> u64 {
    at_ms / bucket_ms(window_ms)
}

/// First instant at which bucket `index` no longer counts.
pub(crate) fn bucket_expiry(index: u64, window_ms: u64) -> u64 {
    (index + 1) * bucket_ms(window_ms) + window_ms
}

/// What a window holds at one instant.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct WindowState {
    /// Sum of the live buckets.
    pub used: Amounts,
    /// Per metric, when the newest non-zero bucket expires (everything rolled out); `now` if none.
    pub resets_at_ms: [u64; 5],
    /// Live buckets, oldest first.
    pub live: Vec<(u64, Amounts)>,
}

/// Drops expired buckets and sums the rest.
pub(crate) fn scan(
    buckets: &mut BTreeMap<u64, Amounts>,
    window_ms: u64,
    now_ms: u64,
) -> WindowState {
    buckets.retain(|idx, _| bucket_expiry(*idx, window_ms) > now_ms);
    let mut state = WindowState {
        resets_at_ms: [now_ms; 5],
        ..WindowState::default()
    };
    for (idx, amounts) in buckets.iter() {
        let expiry = bucket_expiry(*idx, window_ms);
        for (m, amount) in amounts.iter().enumerate() {
            state.used[m] = state.used[m].saturating_add(*amount);
            if *amount > 0 {
                state.resets_at_ms[m] = state.resets_at_ms[m].max(expiry);
            }
        }
        state.live.push((*idx, *amounts));
    }
    state
}

/// Earliest instant at which `metric` drops below `limit` as buckets roll out; `None` if never.
pub(crate) fn frees_at_ms(
    state: &WindowState,
    window_ms: u64,
    metric: usize,
    limit: u64,
    now_ms: u64,
) -> Option<u64> {
    let mut remaining = state.used[metric];
    if remaining < limit {
        return Some(now_ms);
    }
    for (idx, amounts) in &state.live {
        remaining -= amounts[metric].min(remaining);
        if remaining < limit && amounts[metric] > 0 {
            return Some(bucket_expiry(*idx, window_ms));
        }
    }
    None
}

/// How long a settled marker lives: as long as a second settlement of the same request can
/// still arrive, which is a settlement buffered while the store was unreachable, replayed within
/// the replay horizon of its reservation's life. The windows do not matter: a marker kept for a
/// 7-day window would cost the store one key per request of the last week.
pub(crate) fn settled_marker_ttl_ms(reservation_ttl_ms: u64, replay_horizon_ms: u64) -> u64 {
    reservation_ttl_ms.saturating_add(replay_horizon_ms)
}

/// Turns per-window sums into the public per-window, per-metric report.
pub(crate) fn report(limits: &KeyLimits, states: &[(Amounts, [u64; 5])]) -> Vec<WindowUsage> {
    let mut out = Vec::with_capacity(limits.windows.len() * 5);
    for (limit, (used, resets)) in limits.windows.iter().zip(states) {
        for metric in Metric::ALL {
            let m = metric.index();
            let cap = limit.cap(metric);
            out.push(WindowUsage {
                window: limit.window,
                metric,
                used: used[m],
                limit: cap,
                remaining: cap.map(|c| c.saturating_sub(used[m])),
                resets_at: from_ms(resets[m]),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: u64 = 3_600_000;

    #[test]
    fn bucket_is_a_sixtieth_of_the_window() {
        assert_eq!(bucket_ms(5 * HOUR), 300_000);
        assert_eq!(bucket_ms(24 * HOUR), 24 * 60_000);
        assert_eq!(bucket_ms(30), 1);
    }

    #[test]
    fn an_amount_counts_for_at_least_a_window_and_at_most_a_bucket_more() {
        let w = HOUR;
        let b = bucket_ms(w);
        let t = 10 * b + 7;
        let mut buckets = BTreeMap::from([(bucket_index(t, w), [1, 0, 0, 0, 0])]);
        assert_eq!(scan(&mut buckets, w, t + w - 1).used[0], 1);
        assert_eq!(scan(&mut buckets, w, t + w + b).used[0], 0);
        assert!(buckets.is_empty());
    }

    #[test]
    fn frees_when_enough_old_buckets_roll_out() {
        let w = HOUR;
        let b = bucket_ms(w);
        let mut buckets = BTreeMap::from([
            (1, [3, 0, 0, 0, 0]),
            (2, [0, 9, 0, 0, 0]),
            (4, [2, 0, 0, 0, 0]),
            (5, [1, 0, 0, 0, 0]),
        ]);
        let now = 6 * b;
        let state = scan(&mut buckets, w, now);
        assert_eq!(state.used[0], 6);
        // Limit 6: dropping bucket 1 (3 requests) leaves 3 < 6.
        assert_eq!(frees_at_ms(&state, w, 0, 6, now), Some(2 * b + w));
        // Limit 2: must drop buckets 1 and 4, leaving 1; bucket 2 has no requests.
        assert_eq!(frees_at_ms(&state, w, 0, 2, now), Some(5 * b + w));
        assert_eq!(frees_at_ms(&state, w, 0, 7, now), Some(now));
        assert_eq!(frees_at_ms(&state, w, 0, 0, now), None);
        assert_eq!(state.resets_at_ms[0], 6 * b + w);
        assert_eq!(state.resets_at_ms[1], 3 * b + w);
        assert_eq!(state.resets_at_ms[4], now);
    }
}
