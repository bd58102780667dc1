//! The Redis backend: one budget shared by every replica, with a policy for when Redis is away.

mod admit;
mod batch;
mod call;
mod config;
mod connection;
mod lease;
mod outage;
mod script;
mod writes;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};
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

pub use config::{AdmissionMode, FailurePolicy, RedisConfig, RedisTarget};
pub use outage::Health;
pub use script::LedgerStreams;

use batch::Batcher;
use call::CallError;
use connection::Connector;
use lease::LeaseTable;
use outage::{Outage, PendingOp};
use script::{CheckArgs, KeyNames, LeaseAsk};

/// Buffered ops replayed after one successful settlement, so replay never stalls one caller long.
const REPLAY_BATCH: usize = 64;

/// Limits in Redis (standalone or cluster), shared by every replica.
pub struct RedisLimiter {
    core: Arc<Core>,
    shadow: MemoryLimiter,
    replaying: AtomicBool,
}

/// What background lease work shares with the limiter.
pub(crate) struct Core {
    connector: Arc<Connector>,
    /// Queues settlements and releases into pipelines; started on first use, on the runtime of
    /// that use.
    batcher: OnceLock<Batcher>,
    /// Live settlements and releases between start and answer, batched or not.
    writes_in_flight: std::sync::atomic::AtomicUsize,
    script: Script,
    config: RedisConfig,
    ledger: LedgerStreams,
    outage: Outage,
    metrics: Arc<dyn LimiterMetrics>,
    leases: LeaseTable,
    /// The runtime the limiter was created in, which runs its background work.
    runtime: tokio::runtime::Handle,
}

impl RedisLimiter {
    /// Prepares the limiter without connecting (Redis may be down at start); call inside Tokio.
    pub fn new(config: RedisConfig) -> Result<Self, LimitError> {
        if config.replicas == 0 {
            return Err(LimitError::Config("replicas must be at least 1".into()));
        }
        let ledger = config.ledger_streams()?;
        config.check_lease()?;
        config.check_settle_linger()?;
        let shadow = MemoryLimiter::with_origin(
            MemoryConfig {
                reservation_ttl: config.reservation_ttl,
                replay_horizon: config.replay_horizon,
            },
            Origin::Shadow,
        );
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| LimitError::Config("the Redis limiter needs a Tokio runtime".into()))?;
        let core = Core {
            connector: Arc::new(Connector::new(
                &config.target,
                config.timeout,
                config.tls_root_ca_pem.as_deref(),
            )?),
            batcher: OnceLock::new(),
            writes_in_flight: Default::default(),
            script: script::script(),
            outage: Outage::new(config.pending_capacity),
            leases: LeaseTable::new(config.lease_ttl.as_millis() as u64, config.lease_max_slots),
            config,
            ledger,
            metrics: Arc::new(NoMetrics),
            runtime,
        };
        Ok(Self {
            core: Arc::new(core),
            shadow,
            replaying: AtomicBool::new(false),
        })
    }

    /// Reports events to `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<dyn LimiterMetrics>) -> Self {
        // Nothing runs in the background before the first admission, so the core is not shared yet.
        match Arc::get_mut(&mut self.core) {
            Some(core) => core.metrics = metrics,
            None => tracing::error!("limiter metrics must be set before the limiter is used"),
        }
        self
    }

    /// Reachability and replay-buffer state.
    pub fn health(&self) -> Health {
        self.core.outage.health()
    }

    /// Checks that Redis answers, updating [`RedisLimiter::health`].
    pub async fn ping(&self) -> Result<(), LimitError> {
        let cmd = redis::cmd("PING");
        let started = Instant::now();
        let result = self
            .core
            .bounded(async {
                let mut conn = self.core.connector.get().await?;
                cmd.query_async::<String>(&mut conn).await
            })
            .await;
        self.core.observe("ping", started, &result, None);
        result.map(|_| ()).map_err(|e| match e {
            CallError::Down(e) => LimitError::Unavailable(e),
            CallError::Store(e) => LimitError::Store(e),
        })
    }
}

#[async_trait]
impl Limiter for RedisLimiter {
    async fn admit(&self, req: AdmitRequest<'_>) -> Result<Admission, LimitError> {
        self.admit_shared(req).await
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
        if let Some(lease) = &reservation.lease {
            // Redis shrinks the lease in the settle step; this replica stops counting the slot.
            self.core
                .leases
                .settled(&reservation.key, lease, &reservation.request_id);
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
                let queued = self.core.outage.push(PendingOp::Settle {
                    reservation: reservation.clone(),
                    settlement: Box::new(settlement.clone()),
                    now_ms,
                });
                if !queued {
                    self.core.metrics.settlement_dropped();
                }
                SettleOutcome::Deferred
            }
        };
        self.core.metrics.settled(outcome);
        if outcome != SettleOutcome::Deferred {
            self.replay(REPLAY_BATCH).await;
        }
        Ok(outcome)
    }

    async fn release(&self, reservation: &Reservation, now: SystemTime) -> Result<(), LimitError> {
        match reservation.origin {
            Origin::Untracked => {}
            // The slot goes back to this replica's lease; a lease already gone frees it in Redis
            // when it expires. Nothing is billed either way.
            Origin::Shared if reservation.lease.is_some() => {
                if let Some(lease) = &reservation.lease {
                    self.core
                        .leases
                        .released(&reservation.key, lease, &reservation.request_id);
                }
            }
            Origin::Shadow => self.shadow.release(reservation, now).await?,
            Origin::Shared | Origin::Local => {
                let now_ms = to_ms(now);
                match self.release_shared(reservation, now_ms, true).await {
                    Ok(()) => {}
                    Err(CallError::Store(e)) => return Err(LimitError::Store(e)),
                    // Dropping it when the buffer is full is harmless: the reservation expires.
                    Err(CallError::Down(_)) => {
                        self.core.outage.push(PendingOp::Release {
                            reservation: reservation.clone(),
                            now_ms,
                        });
                    }
                }
            }
        }
        self.core.metrics.released();
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
        let own = self.core.leases.unused(key, &limits, now_ms);
        let args = CheckArgs {
            reserve: false,
            limits: &limits,
            request_id: "",
            estimated: 0,
            now_ms,
            reservation_ttl_ms: self.core.config.reservation_ttl.as_millis() as u64,
            lease: own.as_ref().map(|(id, _, _)| LeaseAsk {
                id,
                slots: 0,
                must_exist: true,
                ttl_ms: 0,
                max_slots: 0,
                divisor: 0,
                min_slots: 0,
            }),
        };
        let names = KeyNames::new(key);
        let inv = script::check(&self.core.script, &names, &self.core.ledger, &args);
        match self.core.run("usage", &inv, Some(now_ms)).await {
            Ok(reply) => match script::parse_check(&reply, &limits, now_ms)? {
                Ok((mut sums, [_, slots, tokens, _])) => {
                    if let Some((_, free_slots, free_tokens)) = own {
                        // Only what Redis still holds of the lease can be left out.
                        let held = |v: i64| u64::try_from(v).unwrap_or(0);
                        let unused = (free_slots.min(held(slots)), free_tokens.min(held(tokens)));
                        lease::leave_out(&mut sums, unused);
                    }
                    Ok(report(&limits, &sums))
                }
                Err(_) => Err(LimitError::Store("usage read was rejected".into())),
            },
            Err(CallError::Store(e)) => Err(LimitError::Store(e)),
            Err(CallError::Down(e)) => match self.core.config.policy {
                FailurePolicy::FailClosed => Err(LimitError::Unavailable(e)),
                FailurePolicy::FailOpen => {
                    let shadow = self.shadow_limits(&limits);
                    self.shadow.usage(key, &shadow, now).await
                }
            },
        }
    }
}
