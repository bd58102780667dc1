//! Settlements and releases against Redis, buffered while it is away, and their replay.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use redis::ScriptInvocation;

use crate::admission::Reservation;
use crate::ledger::{LedgerRecord, Settlement};
use crate::limiter::SettleOutcome;
use crate::redis::batch::Batched;
use crate::redis::call::CallError;
use crate::redis::outage::PendingOp;
use crate::redis::script::{self, KeyNames, SettleArgs, SettleCall};
use crate::redis::{Core, RedisLimiter};
use crate::window::settled_marker_ttl_ms;

impl RedisLimiter {
    /// Replays buffered settlements and releases until the buffer is empty or Redis fails again;
    /// returns how many were replayed. Call it periodically: settlements also trigger it.
    pub async fn replay_pending(&self) -> usize {
        self.replay(usize::MAX).await
    }

    pub(crate) async fn replay(&self, max: usize) -> usize {
        if self.core.outage.is_idle() || self.replaying.swap(true, Ordering::AcqRel) {
            return 0;
        }
        let mut done = 0;
        while done < max {
            let Some(op) = self.core.outage.pop() else {
                break;
            };
            let result = match &op {
                PendingOp::Settle {
                    reservation,
                    settlement,
                    now_ms,
                } => self
                    .settle_shared(reservation, settlement, *now_ms, false)
                    .await
                    .map(|outcome| self.core.metrics.settlement_replayed(outcome)),
                PendingOp::Release {
                    reservation,
                    now_ms,
                } => self.release_shared(reservation, *now_ms, false).await,
            };
            match result {
                Ok(()) => done += 1,
                Err(CallError::Down(_)) => {
                    self.core.outage.unpop(op);
                    break;
                }
                Err(CallError::Store(e)) => {
                    // Replaying it again would fail the same way; keeping it would block the rest.
                    tracing::error!(error = %e, "dropping a buffered limiter write Redis rejected");
                    if matches!(op, PendingOp::Settle { .. }) {
                        self.core.metrics.settlement_dropped();
                    }
                }
            }
        }
        self.replaying.store(false, Ordering::Release);
        done
    }

    pub(crate) async fn settle_shared(
        &self,
        reservation: &Reservation,
        settlement: &Settlement,
        now_ms: u64,
        live: bool,
    ) -> Result<SettleOutcome, CallError> {
        let amounts = settlement
            .usage
            .amounts(reservation.cache_read_weight_permille);
        let record = LedgerRecord::new(reservation, settlement);
        let args = SettleArgs {
            request_id: &reservation.request_id,
            admitted_at_ms: reservation.admitted_at_ms,
            windows_ms: &reservation.windows_ms,
            amounts: &amounts,
            now_ms,
            marker_ttl_ms: settled_marker_ttl_ms(
                self.core.config.reservation_ttl.as_millis() as u64,
                self.core.config.replay_horizon.as_millis() as u64,
            ),
            ledger_maxlen: self.core.config.ledger_maxlen,
            record: &record,
            lease: reservation.lease.as_deref(),
            estimated: reservation.estimated_input_tokens,
        };
        let names = KeyNames::new(&reservation.key);
        let call = SettleCall::new(&names, &self.core.ledger, &args);
        let reply = if live {
            let tag = call.tag.clone();
            self.core
                .run_batched("settle", Batched::Settle(Arc::new(call)), tag, now_ms)
                .await?
        } else {
            let eval = call.lone(self.core.script.get_hash());
            self.core.run_eval("settle", &eval, None).await?
        };
        match reply.first() {
            Some(1) => Ok(SettleOutcome::Settled),
            Some(0) => Ok(SettleOutcome::Duplicate),
            _ => Err(CallError::Store(format!(
                "unexpected settle reply {reply:?}"
            ))),
        }
    }

    pub(crate) async fn release_shared(
        &self,
        reservation: &Reservation,
        now_ms: u64,
        live: bool,
    ) -> Result<(), CallError> {
        let names = KeyNames::new(&reservation.key);
        let inv = script::release(
            &self.core.script,
            &names,
            &self.core.ledger,
            &reservation.request_id,
            now_ms,
        );
        self.core
            .write("release", &inv, &names, now_ms, live)
            .await
            .map(|_| ())
    }
}

impl Core {
    /// Live writes share pipelines; replays go one by one, as the buffer's order and the
    /// stop-at-first-failure rule need.
    async fn write(
        &self,
        op: &'static str,
        inv: &ScriptInvocation<'_>,
        names: &KeyNames,
        now_ms: u64,
        live: bool,
    ) -> Result<Vec<i64>, CallError> {
        if live {
            self.run_batched(op, Batched::Script(inv), names.tag().to_string(), now_ms)
                .await
        } else {
            self.run(op, inv, None).await
        }
    }
}
