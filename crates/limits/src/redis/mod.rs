//! The Redis backend: one budget shared by every replica, with a policy for when Redis is away.

mod call;
mod config;
mod connection;
mod outage;
mod script;
mod writes;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use async_trait::async_trait;
use redis::Script;

use crate::admission::{to_ms, Admission, AdmitRequest, Origin, Reservation, WindowUsage};
use crate::error::LimitError;
use crate::ledger::Settlement;
use crate::limiter::{Limiter, SettleOutcome};
use crate::limits::{KeyId, KeyLimits};
use crate::memory::{MemoryConfig, MemoryLimiter};
use crate::metrics::{LimiterMetrics, NoMetrics};
use crate::window::report;

pub use config::{FailurePolicy, RedisConfig, RedisTarget};
pub use outage::Health;
pub use script::LedgerStreams;

use call::CallError;
use connection::Connector;
use outage::{Outage, PendingOp};
use script::{CheckArgs, KeyNames};

/// Buffered ops replayed after one successful settlement, so replay never stalls one caller long.
const REPLAY_BATCH: usize = 64;

/// Limits in Redis (standalone or cluster), shared by every replica.
pub struct RedisLimiter {
    connector: Connector,
    script: Script,
    config: RedisConfig,
    ledger: LedgerStreams,
    shadow: MemoryLimiter,
    outage: Outage,
    replaying: AtomicBool,
    metrics: Arc<dyn LimiterMetrics>,
}

impl RedisLimiter {
    /// Prepares the limiter without connecting (Redis may be down at start); call inside Tokio.
    pub fn new(config: RedisConfig) -> Result<Self, LimitError> {
        if config.replicas == 0 {
            return Err(LimitError::Config("replicas must be at least 1".into()));
        }
        let ledger = config.ledger_streams()?;
        let shadow = MemoryLimiter::with_origin(
            MemoryConfig {
                reservation_ttl: config.reservation_ttl,
                replay_horizon: config.replay_horizon,
                ledger_capacity: 0,
            },
            Origin::Shadow,
        );
        Ok(Self {
            connector: Connector::new(
                &config.target,
                config.timeout,
                config.tls_root_ca_pem.as_deref(),
            )?,
            script: script::script(),
            outage: Outage::new(config.pending_capacity),
            config,
            ledger,
            shadow,
            replaying: AtomicBool::new(false),
            metrics: Arc::new(NoMetrics),
        })
    }

    /// Reports events to `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<dyn LimiterMetrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// Reachability and replay-buffer state.
    pub fn health(&self) -> Health {
        self.outage.health()
    }

    /// Checks that Redis answers, updating [`RedisLimiter::health`].
    pub async fn ping(&self) -> Result<(), LimitError> {
        let cmd = redis::cmd("PING");
        let started = Instant::now();
        let result = self
            .bounded(async {
                let mut conn = self.connector.get().await?;
                cmd.query_async::<String>(&mut conn).await
            })
            .await;
        self.observe("ping", started, &result, None);
        result.map(|_| ()).map_err(|e| match e {
            CallError::Down(e) => LimitError::Unavailable(e),
            CallError::Store(e) => LimitError::Store(e),
        })
    }

    /// The shadow budget: every cap divided among the replicas, never below one.
    fn shadow_limits(&self, limits: &KeyLimits) -> KeyLimits {
        let n = u64::from(self.config.replicas);
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

#[async_trait]
impl Limiter for RedisLimiter {
    async fn admit(&self, req: AdmitRequest<'_>) -> Result<Admission, LimitError> {
        let limits = req.limits.normalised()?;
        if limits.is_unlimited() {
            // Nothing to hold: the in-process path answers without a round trip.
            self.metrics.admitted(Origin::Untracked);
            return self.shadow.admit(req).await;
        }
        let now_ms = to_ms(req.now);
        let args = CheckArgs {
            reserve: true,
            limits: &limits,
            request_id: req.request_id,
            estimated: req.estimated_input_tokens,
            now_ms,
            reservation_ttl_ms: self.config.reservation_ttl.as_millis() as u64,
        };
        let names = KeyNames::new(req.key);
        let inv = script::check(&self.script, &names, &self.ledger, &args);
        let reply = match self.run("admit", &inv, Some(now_ms)).await {
            Ok(reply) => reply,
            Err(CallError::Store(e)) => return Err(LimitError::Store(e)),
            Err(CallError::Down(e)) => {
                if self.config.policy == FailurePolicy::FailClosed {
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
                    Admission::Admitted { .. } => self.metrics.admitted(Origin::Shadow),
                    Admission::Rejected(r) => self.metrics.rejected(r),
                }
                return Ok(admission);
            }
        };
        match script::parse_check(&reply, &limits, now_ms)? {
            Ok(sums) => {
                self.metrics.admitted(Origin::Shared);
                Ok(Admission::Admitted {
                    reservation: Reservation {
                        key: req.key.clone(),
                        request_id: req.request_id.to_string(),
                        admitted_at_ms: now_ms,
                        estimated_input_tokens: req.estimated_input_tokens,
                        windows_ms: limits
                            .windows
                            .iter()
                            .map(|w| w.window.as_millis() as u64)
                            .collect(),
                        cache_read_weight_permille: limits.cache_read_weight_permille,
                        origin: Origin::Shared,
                    },
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
        if reservation.origin == Origin::Shadow {
            // Frees the shadow budget; the shared budget still learns of the usage below.
            self.shadow.settle(reservation, settlement, now).await?;
        }
        let now_ms = to_ms(now);
        let outcome = match self
            .settle_shared(reservation, settlement, now_ms, true)
            .await
        {
            Ok(outcome) => outcome,
            Err(CallError::Store(e)) => return Err(LimitError::Store(e)),
            // Whatever the policy, the request was served: its usage must reach the budget.
            Err(CallError::Down(_)) => {
                let queued = self.outage.push(PendingOp::Settle {
                    reservation: reservation.clone(),
                    settlement: Box::new(settlement.clone()),
                    now_ms,
                });
                if !queued {
                    self.metrics.settlement_dropped();
                }
                SettleOutcome::Deferred
            }
        };
        self.metrics.settled(outcome);
        if outcome != SettleOutcome::Deferred {
            self.replay(REPLAY_BATCH).await;
        }
        Ok(outcome)
    }

    async fn release(&self, reservation: &Reservation, now: SystemTime) -> Result<(), LimitError> {
        match reservation.origin {
            Origin::Untracked => {}
            Origin::Shadow => self.shadow.release(reservation, now).await?,
            Origin::Shared | Origin::Local => {
                let now_ms = to_ms(now);
                match self.release_shared(reservation, now_ms, true).await {
                    Ok(()) => {}
                    Err(CallError::Store(e)) => return Err(LimitError::Store(e)),
                    // Dropping it when the buffer is full is harmless: the reservation expires.
                    Err(CallError::Down(_)) => {
                        self.outage.push(PendingOp::Release {
                            reservation: reservation.clone(),
                            now_ms,
                        });
                    }
                }
            }
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
        let now_ms = to_ms(now);
        let args = CheckArgs {
            reserve: false,
            limits: &limits,
            request_id: "",
            estimated: 0,
            now_ms,
            reservation_ttl_ms: self.config.reservation_ttl.as_millis() as u64,
        };
        let names = KeyNames::new(key);
        let inv = script::check(&self.script, &names, &self.ledger, &args);
        match self.run("usage", &inv, Some(now_ms)).await {
            Ok(reply) => match script::parse_check(&reply, &limits, now_ms)? {
                Ok(sums) => Ok(report(&limits, &sums)),
                Err(_) => Err(LimitError::Store("usage read was rejected".into())),
            },
            Err(CallError::Store(e)) => Err(LimitError::Store(e)),
            Err(CallError::Down(e)) => match self.config.policy {
                FailurePolicy::FailClosed => Err(LimitError::Unavailable(e)),
                FailurePolicy::FailOpen => {
                    let shadow = self.shadow_limits(&limits);
                    self.shadow.usage(key, &shadow, now).await
                }
            },
        }
    }
}
