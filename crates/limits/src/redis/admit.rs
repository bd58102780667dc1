//! Admission against the shared budget: from this replica's lease, with a round trip, or on the
//! shadow budget while Redis is away.

use crate::admission::{to_ms, Admission, AdmitRequest, Origin};
use crate::error::LimitError;
use crate::limiter::Limiter;
use crate::limits::KeyLimits;
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
            match self.carve(&req, &limits, now_ms) {
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
