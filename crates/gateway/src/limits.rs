//! Wiring of the per-key limiter: Redis when a URL is given (one budget for every replica),
//! in-process otherwise, and the task that replays settlements buffered during an outage.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use bytespike_limits::{
    AdmissionMode, FailurePolicy, LedgerStreams, Limiter, LimiterMetrics, MemoryConfig,
    MemoryLimiter, RedisConfig, RedisLimiter, RedisTarget,
};
use clap::Args;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;

/// Flags of the limiter.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Redis holding the per-key limit windows shared by all replicas: `redis://`, `rediss://`
    /// (TLS), or `redis+cluster://host1:port,host2:port` for Redis Cluster; credentials in the
    /// URL. Without it, limits are kept in this process only.
    #[arg(
        long,
        env = "BYTESPIKE_REDIS_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub redis_url: Option<String>,

    /// What to do while Redis is unreachable: `fail-open` admits against this replica's share
    /// of each limit (limit / --replicas) and replays settlements on recovery; `fail-closed`
    /// answers 503.
    #[arg(long, env = "BYTESPIKE_REDIS_FAILURE_POLICY", default_value = "fail-open", value_parser = ["fail-open", "fail-closed"])]
    pub redis_failure_policy: String,

    /// Number of gateway replicas sharing the budget, for the fail-open shadow budget.
    #[arg(
        long,
        env = "BYTESPIKE_REPLICAS",
        default_value_t = 1,
        value_name = "N"
    )]
    pub replicas: u32,

    /// Redis Stream receiving one record per settled request (with Redis Cluster, one stream
    /// per key with this prefix).
    #[arg(
        long,
        env = "BYTESPIKE_LEDGER_STREAM",
        default_value = "bsg:ledger",
        value_name = "NAME"
    )]
    pub ledger_stream: String,

    /// Approximate maximum length of the ledger stream (XADD MAXLEN ~).
    #[arg(
        long,
        env = "BYTESPIKE_LEDGER_MAXLEN",
        default_value_t = 1_000_000,
        value_name = "N"
    )]
    pub ledger_maxlen: u64,

    /// How long a reservation of a replica that died lives before its budget returns.
    #[arg(long, env = "BYTESPIKE_RESERVATION_TTL", default_value = "15m", value_parser = crate::cli::humantime_duration, value_name = "DURATION")]
    pub reservation_ttl: Duration,

    /// How long a settlement that finds no other Redis write in flight waits for company, so
    /// that a steady trickle of requests shares script calls (about half the Redis CPU per
    /// request at concurrency 1, at the cost of a slower p99; see docs/limits.md); 0s, the
    /// default, sends each lone one at once.
    #[arg(long, env = "BYTESPIKE_REDIS_SETTLE_LINGER", default_value = "0s", value_parser = crate::cli::humantime_duration, value_name = "DURATION")]
    pub redis_settle_linger: Duration,

    /// How admissions reach the Redis budget: `lease` admits from slices of each key's budget
    /// leased ahead of need (one round trip per admission only near a limit or for keys with
    /// maxConcurrent); `round-trip` asks Redis for every admission.
    #[arg(long, env = "BYTESPIKE_LIMITS_ADMISSION", default_value = "lease", value_parser = ["lease", "round-trip"])]
    pub limits_admission: String,

    /// How long a lease lives unless extended: the unused slots of a replica that died return
    /// to the budget within this.
    #[arg(long, env = "BYTESPIKE_LIMITS_LEASE_TTL", default_value = "2s", value_parser = crate::cli::humantime_duration, value_name = "DURATION")]
    pub limits_lease_ttl: Duration,

    /// Most requests one replica leases for one key. A slot stays taken until its settlement
    /// is answered, so a busy key needs its request rate times the settle round trip in hand;
    /// near a limit leases shrink on their own (a quarter of the headroom at most).
    #[arg(
        long,
        env = "BYTESPIKE_LIMITS_LEASE_MAX",
        default_value_t = 256,
        value_name = "N"
    )]
    pub limits_lease_max: u64,

    /// Smallest lease: keys with less headroom (a small cap, or near a limit) take one round
    /// trip per admission, so their last requests are never stranded in an unused lease.
    #[arg(
        long,
        env = "BYTESPIKE_LIMITS_LEASE_MIN",
        default_value_t = 16,
        value_name = "N"
    )]
    pub limits_lease_min: u64,

    /// Weight of cache-read tokens in token limits, 0 to 1 (they always count in cost).
    #[arg(
        long,
        env = "BYTESPIKE_CACHE_READ_WEIGHT",
        default_value_t = 0.0,
        value_name = "WEIGHT"
    )]
    pub cache_read_weight: f64,
}

impl LimitArgs {
    /// The cache-read weight in thousandths, as the limiter counts it.
    pub fn cache_read_weight_permille(&self) -> anyhow::Result<u32> {
        anyhow::ensure!(
            (0.0..=1.0).contains(&self.cache_read_weight),
            "--cache-read-weight must be between 0 and 1"
        );
        Ok((self.cache_read_weight * 1000.0).round() as u32)
    }
}

/// The limiter, and for Redis the replay task to run in the background.
pub fn build(
    args: &LimitArgs,
    metrics: Arc<dyn LimiterMetrics>,
) -> anyhow::Result<(Arc<dyn Limiter>, Option<Replayer>)> {
    let Some(url) = &args.redis_url else {
        let memory = MemoryLimiter::new(MemoryConfig {
            reservation_ttl: args.reservation_ttl,
            ..MemoryConfig::default()
        })
        .with_metrics(metrics);
        return Ok((Arc::new(memory), None));
    };
    // The URL may carry a password: errors name the setting, never echo the value.
    let target = RedisTarget::parse(url)
        .map_err(|_| anyhow::anyhow!("--redis-url is not a valid Redis URL"))?;
    let cluster = matches!(target, RedisTarget::Cluster(_));
    let mut config = RedisConfig::new(target);
    config.policy = match args.redis_failure_policy.as_str() {
        "fail-closed" => FailurePolicy::FailClosed,
        _ => FailurePolicy::FailOpen,
    };
    config.replicas = args.replicas.max(1);
    config.reservation_ttl = args.reservation_ttl;
    config.ledger_maxlen = args.ledger_maxlen;
    config.settle_linger = args.redis_settle_linger;
    config.admission = match args.limits_admission.as_str() {
        "round-trip" => AdmissionMode::RoundTrip,
        _ => AdmissionMode::Lease,
    };
    config.lease_ttl = args.limits_lease_ttl;
    config.lease_max_slots = args.limits_lease_max;
    config.lease_min_slots = args.limits_lease_min;
    config.ledger = Some(if cluster {
        LedgerStreams::PerKey(args.ledger_stream.clone())
    } else {
        LedgerStreams::Single(args.ledger_stream.clone())
    });
    // The limiter needs a runtime for its own background work (lease refills, replays), which
    // must outlive any one of Pingora's services. `main` runs outside any runtime (Pingora owns
    // the others), so the limiter gets a small one of its own that lives as long as the process.
    // Its batch writer starts on the proxy's runtime instead, at the first settlement.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("redis-limits")
        .enable_all()
        .build()
        .context("starting the limiter's runtime")?;
    let redis = {
        let _inside = runtime.enter();
        Arc::new(
            RedisLimiter::new(config)
                .context("configuring the Redis limiter")?
                .with_metrics(metrics),
        )
    };
    std::mem::forget(runtime);
    tracing::info!(cluster, policy = %args.redis_failure_policy, replicas = args.replicas, admission = %args.limits_admission, "limits kept in Redis");
    Ok((redis.clone(), Some(Replayer { redis })))
}

/// Replays settlements buffered while Redis was unreachable, so totals come right on recovery
/// even when no new traffic arrives.
pub struct Replayer {
    redis: Arc<RedisLimiter>,
}

#[async_trait]
impl BackgroundService for Replayer {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if self.redis.health().pending > 0 {
                        let replayed = self.redis.replay_pending().await;
                        if replayed > 0 {
                            tracing::info!(replayed, "buffered settlements replayed to Redis");
                        }
                    }
                }
                _ = shutdown.changed() => {
                    // Unused leased slots go back now rather than when their lease expires.
                    self.redis.return_leases().await;
                    // Last chance for buffered settlements before the process exits.
                    self.redis.replay_pending().await;
                    return;
                }
            }
        }
    }
}
