//! One key's counters, reservations and settled markers, with the same rules as the Redis script.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use crate::admission::Rejection;
use crate::limits::{KeyLimits, Metric};
use crate::usage::{reserved_amounts, Amounts};
use crate::window::{bucket_expiry, bucket_index, frees_at_ms, scan};

use super::markers::SettledMarkers;

/// Per window: used amounts and reset instants, as the report needs them.
pub(crate) type WindowSums = Vec<(Amounts, [u64; 5])>;

/// A reservation as the store keeps it.
#[derive(Debug, Clone)]
struct Held {
    admitted_at_ms: u64,
    estimated: u64,
    windows_ms: Vec<u64>,
    expires_at_ms: u64,
}

/// Everything stored for one key.
#[derive(Debug, Default)]
pub(crate) struct KeyState {
    windows: HashMap<u64, BTreeMap<u64, Amounts>>,
    held: HashMap<String, Held>,
    /// Reservations by expiry, so purging touches only the expired ones.
    held_expiry: BTreeSet<(u64, String)>,
    /// Request ids already settled, so a second settlement changes nothing.
    settled: SettledMarkers,
}

impl KeyState {
    /// True when nothing is stored, so the key can be forgotten.
    pub(crate) fn is_empty(&self) -> bool {
        self.held.is_empty()
            && self.settled.is_empty()
            && self.windows.values().all(|b| b.is_empty())
    }

    /// Requests in flight.
    pub(crate) fn in_flight(&self) -> usize {
        self.held.len()
    }

    /// Adds (or, with `negative`, removes) amounts in the bucket of `at_ms`, unless it already expired.
    fn apply(
        &mut self,
        window_ms: u64,
        at_ms: u64,
        amounts: &Amounts,
        negative: bool,
        now_ms: u64,
    ) {
        let idx = bucket_index(at_ms, window_ms);
        // An expired bucket no longer counts; writing to it would only resurrect garbage.
        if bucket_expiry(idx, window_ms) <= now_ms {
            return;
        }
        let bucket = self
            .windows
            .entry(window_ms)
            .or_default()
            .entry(idx)
            .or_default();
        for (slot, a) in bucket.iter_mut().zip(amounts) {
            *slot = if negative {
                slot.saturating_sub(*a)
            } else {
                slot.saturating_add(*a)
            };
        }
    }

    fn undo(&mut self, held: &Held, now_ms: u64) {
        let amounts = reserved_amounts(held.estimated);
        for w in &held.windows_ms {
            self.apply(*w, held.admitted_at_ms, &amounts, true, now_ms);
        }
    }

    /// Frees expired reservations and forgets expired settled markers.
    pub(crate) fn purge(&mut self, now_ms: u64) {
        while let Some((expiry, id)) = self.held_expiry.first().cloned() {
            if expiry > now_ms {
                break;
            }
            self.held_expiry.pop_first();
            if let Some(held) = self.held.remove(&id) {
                self.undo(&held, now_ms);
            }
        }
        self.settled.purge(now_ms);
    }

    /// Removes a held reservation and its amounts, if still held.
    fn drop_held(&mut self, request_id: &str, now_ms: u64) {
        if let Some(held) = self.held.remove(request_id) {
            self.held_expiry
                .remove(&(held.expires_at_ms, request_id.to_string()));
            self.undo(&held, now_ms);
        }
    }

    fn sums(&mut self, limits: &KeyLimits, now_ms: u64) -> Vec<crate::window::WindowState> {
        limits
            .windows
            .iter()
            .map(|w| {
                let window_ms = w.window.as_millis() as u64;
                scan(
                    self.windows.entry(window_ms).or_default(),
                    window_ms,
                    now_ms,
                )
            })
            .collect()
    }

    /// Usage of every window of `limits` (normalised) at `now_ms`.
    pub(crate) fn usage(&mut self, limits: &KeyLimits, now_ms: u64) -> WindowSums {
        self.purge(now_ms);
        self.sums(limits, now_ms)
            .into_iter()
            .map(|s| (s.used, s.resets_at_ms))
            .collect()
    }

    /// Checks and reserves; on success returns the usage after the reservation.
    pub(crate) fn admit(
        &mut self,
        limits: &KeyLimits,
        request_id: &str,
        estimated: u64,
        now_ms: u64,
        reservation_ttl_ms: u64,
    ) -> Result<WindowSums, Rejection> {
        self.purge(now_ms);
        if self.held.contains_key(request_id) {
            // A retried admission of a request already holding a reservation holds it once.
            return Ok(self.usage(limits, now_ms));
        }
        if let Some(max) = limits.max_concurrent {
            if self.held.len() as u64 >= u64::from(max) {
                return Err(Rejection::TooManyConcurrent {
                    limit: max,
                    in_flight: self.held.len() as u64,
                });
            }
        }
        let states = self.sums(limits, now_ms);
        if let Some(rejection) = worst_violation(limits, &states, now_ms) {
            return Err(rejection);
        }
        let amounts = reserved_amounts(estimated);
        let windows_ms: Vec<u64> = limits
            .windows
            .iter()
            .map(|w| w.window.as_millis() as u64)
            .collect();
        for w in &windows_ms {
            self.apply(*w, now_ms, &amounts, false, now_ms);
        }
        let out = states
            .iter()
            .zip(&windows_ms)
            .map(|(s, w)| {
                let mut used = s.used;
                let mut resets = s.resets_at_ms;
                let expiry = bucket_expiry(bucket_index(now_ms, *w), *w);
                for (m, amount) in amounts.iter().enumerate() {
                    used[m] = used[m].saturating_add(*amount);
                    if *amount > 0 {
                        resets[m] = resets[m].max(expiry);
                    }
                }
                (used, resets)
            })
            .collect();
        let expires_at_ms = now_ms + reservation_ttl_ms;
        self.held_expiry
            .insert((expires_at_ms, request_id.to_string()));
        self.held.insert(
            request_id.to_string(),
            Held {
                admitted_at_ms: now_ms,
                estimated,
                windows_ms,
                expires_at_ms,
            },
        );
        Ok(out)
    }

    /// Replaces the reservation with `amounts`; false if this request id was already settled.
    pub(crate) fn settle(&mut self, settle: SettleInput<'_>) -> bool {
        let now_ms = settle.now_ms;
        self.purge(now_ms);
        if !self
            .settled
            .insert(settle.request_id, now_ms + settle.marker_ttl_ms)
        {
            return false;
        }
        self.drop_held(settle.request_id, now_ms);
        // The request counts when it was admitted; its tokens and cost when they were consumed.
        let request: Amounts = [1, 0, 0, 0, 0];
        let mut consumed = *settle.amounts;
        consumed[Metric::Requests.index()] = 0;
        let consumed_at = now_ms.max(settle.admitted_at_ms);
        for w in settle.windows_ms {
            self.apply(*w, settle.admitted_at_ms, &request, false, now_ms);
            self.apply(*w, consumed_at, &consumed, false, now_ms);
        }
        true
    }

    /// Removes the reservation of `request_id`, if still held.
    pub(crate) fn release(&mut self, request_id: &str, now_ms: u64) {
        self.purge(now_ms);
        self.drop_held(request_id, now_ms);
    }
}

/// Arguments of [`KeyState::settle`].
pub(crate) struct SettleInput<'a> {
    pub request_id: &'a str,
    pub admitted_at_ms: u64,
    pub windows_ms: &'a [u64],
    pub amounts: &'a Amounts,
    pub now_ms: u64,
    pub marker_ttl_ms: u64,
}

/// The exhausted window and metric that frees last (a zero cap never frees); ties go to the first.
pub(crate) fn worst_violation(
    limits: &KeyLimits,
    states: &[crate::window::WindowState],
    now_ms: u64,
) -> Option<Rejection> {
    let mut worst: Option<(Option<u64>, Rejection)> = None;
    for (limit, state) in limits.windows.iter().zip(states) {
        let window_ms = limit.window.as_millis() as u64;
        for metric in Metric::ALL {
            let Some(cap) = limit.cap(metric) else {
                continue;
            };
            let used = state.used[metric.index()];
            if used < cap {
                continue;
            }
            let frees = frees_at_ms(state, window_ms, metric.index(), cap, now_ms);
            let later = match (&worst, frees) {
                (None, _) => true,
                (Some((Some(_), _)), None) => true,
                (Some((Some(prev), _)), Some(f)) => f > *prev,
                (Some((None, _)), _) => false,
            };
            if later {
                let rejection = Rejection::OverLimit {
                    window: limit.window,
                    metric,
                    limit: cap,
                    used,
                    retry_after: frees.map(|f| Duration::from_millis(f.saturating_sub(now_ms))),
                };
                worst = Some((frees, rejection));
            }
        }
    }
    worst.map(|(_, r)| r)
}
