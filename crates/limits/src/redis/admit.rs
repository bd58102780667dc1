//! Admission against the shared budget: from this replica's lease, with a round trip, or on the
//! shadow budget while Redis is away.

use crate::admission::{to_ms, Admission, AdmitRequest, Origin};
use crate::error::LimitError;
use crate::limiter::Limiter;
use crate::limits::{KeyId, KeyLimits};
use crate::redis::lease::LeaseTable;
use crate::redis::script::{self, CheckArgs, KeyNames, LeaseAsk};
use crate::redis::{AdmissionMode, CallError, FailurePolicy, RedisLimiter};
use crate::window::report;

impl RedisLimiter {
    pub(crate) async fn admit_shared(
        &self,
        req: AdmitRequest<'_>,
    ) -> Result<Admission, LimitError> {
        let limits = req.limits.normalised()?;
        if limits.is_unlimited() {
            // Nothing to hold: the in-process path answers without a round trip.
            self.core.metrics.admitted(Origin::Untracked);
            return self.shadow.admit(req).await;
        }
        let now_ms = to_ms(req.now);
        // In-flight counts must be exact across replicas, so max_concurrent keys never lease.
        let mut ask = None;
        if self.core.config.admission == AdmissionMode::Lease && limits.max_concurrent.is_none() {
            let mut carved = self.carve(&req, &limits, now_ms);
            if matches!(carved, Err(None)) {
                self.await_lease_change(&req).await;
                carved = self.carve(&req, &limits, now_ms);
            }
            match carved {
                Ok(admission) => {
                    self.core.metrics.admitted(Origin::Shared);
                    return Ok(admission);
                }
                Err(a) => ask = a,
            }
        }
        let args = CheckArgs {
            reserve: true,
            limits: &limits,
            request_id: req.request_id,
            estimated: req.estimated_input_tokens,
            now_ms,
            reservation_ttl_ms: self.core.config.reservation_ttl.as_millis() as u64,
            lease: ask.as_ref().map(|a| LeaseAsk {
                id: &a.id,
                slots: a.slots,
                must_exist: a.must_exist,
                ttl_ms: self.core.config.lease_ttl.as_millis() as u64,
                max_slots: self.core.config.lease_max_slots,
                divisor: self.core.config.lease_divisor,
                min_slots: self.core.config.lease_min_slots,
            }),
        };
        let names = KeyNames::new(req.key);
        let inv = script::check(&self.core.script, &names, &self.core.ledger, &args);
        let mut pending_ask = ask.is_some().then(|| AskInFlight {
            leases: &self.core.leases,
            key: req.key,
        });
        let result = self.core.run("admit", &inv, Some(now_ms)).await;
        let parsed = match &result {
            Ok(reply) => Some(script::parse_check(reply, &limits, now_ms)),
            Err(_) => None,
        };
        if let Some(ask) = &ask {
            let answer = match &parsed {
                Some(Ok(Ok((sums, lease)))) => Some((sums, *lease)),
                _ => None,
            };
            self.after_round_trip(&req, &limits, ask, now_ms, answer);
            if let Some(ask) = pending_ask.take() {
                ask.answered();
            }
        }
        match result {
            Ok(_) => {}
            Err(CallError::Store(e)) => return Err(LimitError::Store(e)),
            Err(CallError::Down(e)) => {
                if self.core.config.policy == FailurePolicy::FailClosed {
                    return Err(LimitError::Unavailable(e));
                }
                let shadow_limits = self.shadow_limits(&limits);
                let admission = self
                    .shadow
                    .admit(AdmitRequest {
                        limits: &shadow_limits,
                        ..req
                    })
                    .await?;
                match &admission {
                    Admission::Admitted { .. } => self.core.metrics.admitted(Origin::Shadow),
                    Admission::Rejected(r) => self.core.metrics.rejected(r),
                }
                return Ok(admission);
            }
        };
        match parsed.expect("parsed when Redis answered")? {
            Ok((sums, _)) => {
                self.core.metrics.admitted(Origin::Shared);
                Ok(Admission::Admitted {
                    reservation: req.reservation(&limits, now_ms, Origin::Shared, None),
                    windows: report(&limits, &sums),
                })
            }
            Err(rejection) => {
                self.core.metrics.rejected(&rejection);
                Ok(Admission::Rejected(rejection))
            }
        }
    }

    /// Waits (once, at most the call timeout) for the key's lease grant or refill in flight.
    ///
    /// A round trip started now would queue in Redis behind that change anyway, and usually
    /// finds slots when it lands. Without the wait, every request arriving while a lease is
    /// empty made its own admission round trip: under load that added Redis work exactly when
    /// Redis was already slow to answer the refill, and the leases stayed empty.
    async fn await_lease_change(&self, req: &AdmitRequest<'_>) {
        let Some(changed) = self.core.leases.change_in_flight(req.key) else {
            return;
        };
        let notified = changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        // Registered first, then checked again: an answer landing in between is not missed.
        if self.core.leases.change_in_flight(req.key).is_some() {
            self.core.metrics.waited_for_lease();
            let _ = tokio::time::timeout(self.core.config.timeout, notified).await;
        }
    }

    /// The shadow budget: every cap divided among the replicas, never below one.
    pub(crate) fn shadow_limits(&self, limits: &KeyLimits) -> KeyLimits {
        let n = u64::from(self.core.config.replicas);
        let share = |cap: u64| if cap == 0 { 0 } else { (cap / n).max(1) };
        let mut out = limits.clone();
        for w in &mut out.windows {
            for cap in [
                &mut w.requests,
                &mut w.tokens,
                &mut w.input_tokens,
                &mut w.output_tokens,
                &mut w.cost_micros,
            ] {
                *cap = cap.map(share);
            }
        }
        out.max_concurrent = out
            .max_concurrent
            .map(|c| u32::try_from(share(u64::from(c))).unwrap_or(c));
        out
    }
}

/// A round trip that asked to grow the key's lease: if the admission is dropped before the
/// answer, the key must not stay marked busy, or every later request would wait for a change
/// that never lands.
struct AskInFlight<'a> {
    leases: &'a LeaseTable,
    key: &'a KeyId,
}

impl AskInFlight<'_> {
    /// The answer was recorded (which cleared the mark): nothing is left to undo.
    fn answered(self) {
        std::mem::forget(self);
    }
}

impl Drop for AskInFlight<'_> {
    fn drop(&mut self) {
        self.leases.abandon(self.key);
    }
}
