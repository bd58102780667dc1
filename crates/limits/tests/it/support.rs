//! Shared helpers: injected clock, limit builders and backend constructors.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytespike_limits::{
    Admission, AdmissionMode, AdmitRequest, KeyId, KeyLimits, Limiter, LimiterMetrics,
    MemoryConfig, MemoryLimiter, Metric, RedisConfig, RedisLimiter, RedisTarget, Rejection,
    Reservation, SettleOutcome, Settlement, Usage, WindowLimit, WindowUsage,
};

use crate::server::RedisServer;

/// Five hours: the usual short window; its buckets are five minutes.
pub const FIVE_HOURS: Duration = Duration::from_secs(5 * 3600);
/// One bucket of the five-hour window.
pub const BUCKET: Duration = Duration::from_secs(300);
/// Reservation lifetime used by every backend in these tests.
pub const RESERVATION_TTL: Duration = Duration::from_secs(15 * 60);

/// The injected start of every scenario: a bucket boundary of the five-hour window.
pub fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_700_000_100_000)
}

/// `t0() + offset`.
pub fn at(offset: Duration) -> SystemTime {
    t0() + offset
}

/// Minutes, for readable offsets.
pub fn mins(n: u64) -> Duration {
    Duration::from_secs(60 * n)
}

/// A key in the test namespace.
pub fn key(name: &str) -> KeyId {
    KeyId::new("team-a", name)
}

/// Limits with one window shaped by `f`.
pub fn one_window(window: Duration, f: impl FnOnce(&mut WindowLimit)) -> KeyLimits {
    let mut w = WindowLimit::new(window);
    f(&mut w);
    KeyLimits {
        windows: vec![w],
        ..KeyLimits::default()
    }
}

/// Asks for admission.
pub async fn admit(
    limiter: &dyn Limiter,
    key: &KeyId,
    limits: &KeyLimits,
    request_id: &str,
    estimate: u64,
    now: SystemTime,
) -> Admission {
    limiter
        .admit(AdmitRequest {
            key,
            limits,
            request_id,
            estimated_input_tokens: estimate,
            now,
        })
        .await
        .expect("admission call")
}

/// The reservation and window report of an admission that must have passed.
pub fn admitted(a: Admission) -> (Reservation, Vec<WindowUsage>) {
    match a {
        Admission::Admitted {
            reservation,
            windows,
        } => (reservation, windows),
        Admission::Rejected(r) => panic!("expected admission, got {r:?}"),
    }
}

/// The rejection of an admission that must have failed.
pub fn rejected(a: Admission) -> Rejection {
    match a {
        Admission::Rejected(r) => r,
        Admission::Admitted { reservation, .. } => {
            panic!("expected rejection, got {reservation:?}")
        }
    }
}

/// A settlement with the given usage.
pub fn settlement(
    input: u64,
    output: u64,
    cache_read: u64,
    cache_write: u64,
    cost: u64,
) -> Settlement {
    Settlement {
        usage: Usage {
            input_tokens: input,
            output_tokens: output,
            cache_read_tokens: cache_read,
            cache_write_tokens: cache_write,
            reasoning_tokens: 0,
            cost_micros: cost,
        },
        model: "claude-sonnet-4-6".into(),
        provider: "anthropic".into(),
        client_protocol: "openai".into(),
        upstream_protocol: "anthropic".into(),
        status: 200,
        started_at_ms: 1,
        finished_at_ms: 2,
    }
}

/// The `used` of one window and metric in a report.
pub fn used(report: &[WindowUsage], window: Duration, metric: Metric) -> u64 {
    report
        .iter()
        .find(|u| u.window == window && u.metric == metric)
        .unwrap_or_else(|| panic!("no {metric} entry for {window:?} in {report:?}"))
        .used
}

/// A limiter under test and the server it needs, if any.
pub struct Backend {
    /// The limiter.
    pub limiter: Arc<dyn Limiter>,
    /// Keeps the server alive for the test.
    pub _server: Option<RedisServer>,
}

/// The in-process backend.
pub fn memory() -> Backend {
    Backend {
        limiter: Arc::new(MemoryLimiter::new(MemoryConfig {
            reservation_ttl: RESERVATION_TTL,
            ..MemoryConfig::default()
        })),
        _server: None,
    }
}

/// Test settings for a limiter on `url`: short timeouts so outages show quickly.
pub fn redis_config(url: &str) -> RedisConfig {
    let mut config = RedisConfig::new(RedisTarget::parse(url).expect("redis url"));
    config.reservation_ttl = RESERVATION_TTL;
    config.timeout = Duration::from_millis(300);
    config.probe_interval = Duration::ZERO;
    config
}

/// The Redis backend on a fresh server.
pub fn redis() -> Backend {
    let server = RedisServer::start();
    let limiter = RedisLimiter::new(redis_config(&server.url())).expect("redis limiter");
    Backend {
        limiter: Arc::new(limiter),
        _server: Some(server),
    }
}

/// Test settings for a limiter on `url` that admits from leases.
pub fn lease_config(url: &str) -> RedisConfig {
    let mut config = redis_config(url);
    config.admission = AdmissionMode::Lease;
    // Lease even small test budgets, so every scenario exercises leases near its limit.
    config.lease_min_slots = 2;
    config
}

/// The Redis backend on a fresh server, admitting from leases.
pub fn redis_leased() -> Backend {
    let server = RedisServer::start();
    let limiter = RedisLimiter::new(lease_config(&server.url())).expect("redis limiter");
    Backend {
        limiter: Arc::new(limiter),
        _server: Some(server),
    }
}

/// Counts the limiter's Redis pipelines and the writes they carried.
#[derive(Default)]
pub struct Pipelines {
    pub sent: AtomicUsize,
    pub members: AtomicUsize,
}

impl Pipelines {
    /// (pipelines sent, writes they carried)
    pub fn counts(&self) -> (usize, usize) {
        (
            self.sent.load(Ordering::Relaxed),
            self.members.load(Ordering::Relaxed),
        )
    }
}

impl LimiterMetrics for Pipelines {
    fn redis_batch(&self, size: usize) {
        self.sent.fetch_add(1, Ordering::Relaxed);
        self.members.fetch_add(size, Ordering::Relaxed);
    }
}

/// A Redis limiter whose pipelines are counted.
pub fn counted(config: RedisConfig) -> (RedisLimiter, Arc<Pipelines>) {
    let pipelines = Arc::new(Pipelines::default());
    let limiter = RedisLimiter::new(config)
        .unwrap()
        .with_metrics(pipelines.clone());
    (limiter, pipelines)
}

/// Admits `n` requests of `key` (ids `<prefix>-<i>`), each of which must pass.
pub async fn admit_n(
    limiter: &dyn Limiter,
    key: &KeyId,
    limits: &KeyLimits,
    prefix: &str,
    n: usize,
    estimate: u64,
    now: SystemTime,
) -> Vec<Reservation> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let request_id = format!("{prefix}-{i}");
        let (reservation, _) =
            admitted(admit(limiter, key, limits, &request_id, estimate, now).await);
        out.push(reservation);
    }
    out
}

/// Settles every reservation at once with `s`, as many finished requests do under load.
pub async fn settle_at_once(
    limiter: &dyn Limiter,
    all: &[&Reservation],
    s: &Settlement,
    now: SystemTime,
) -> Vec<SettleOutcome> {
    futures::future::join_all(all.iter().map(|r| limiter.settle(r, s, now)))
        .await
        .into_iter()
        .map(|o| o.expect("settle call"))
        .collect()
}
