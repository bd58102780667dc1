//! The proxy's Prometheus metrics: traffic, latency, tokens and cost.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::key_windows::{KeyWindowCollector, KeyWindowGauges};
pub use crate::series::status_class;
use crate::series::{KeyFamilies, KeySeries, RouteFamilies, RouteLabels, RouteSeries, SeriesCache};

use bytespike_limits::{LimiterMetrics, Origin, Rejection, SettleOutcome, WindowUsage};
use prometheus::{
    exponential_buckets, CounterVec, HistogramOpts, HistogramVec, IntCounter, IntCounterVec,
    IntGauge, Opts, Registry,
};

/// Metrics the request path updates.
pub struct ProxyMetrics {
    /// Requests by client protocol, upstream protocol, provider, model, route kind and status class.
    pub requests: IntCounterVec,
    /// Whole-request duration.
    pub duration: HistogramVec,
    /// Time from request arrival to the first response byte sent to the client.
    pub ttfb: HistogramVec,
    /// Tokens by kind (input, output, cache_read, cache_write, reasoning).
    pub tokens: IntCounterVec,
    /// Spend in USD.
    pub cost: CounterVec,
    /// Requests the gateway answered with an error of its own, by error kind.
    pub gateway_errors: IntCounterVec,
    /// Requests in flight.
    pub in_flight: IntGauge,
    /// Streaming responses being sent now.
    pub active_streams: IntGauge,
    /// Requests moved to another target, by the provider that failed and why.
    pub failovers: IntCounterVec,
    /// Providers ejected after consecutive failures.
    pub ejections: IntCounterVec,
    /// Streamed generation time per output token: (duration - time to first byte) / output tokens.
    pub time_per_output_token: HistogramVec,
    /// Upstream failures (connect, timeout, TLS, reset, error statuses), by provider and kind.
    pub upstream_errors: IntCounterVec,
    /// Per-key usage, cap and utilisation of each limit window, by key (`namespace/name`),
    /// window and metric; set from each key's latest report when metrics are gathered.
    pub key_windows: Arc<KeyWindowGauges>,
    /// Requests by key and status class.
    pub key_requests: IntCounterVec,
    /// Tokens (input, cache read, cache write, output) by key.
    pub key_tokens: IntCounterVec,
    /// Spend in USD by key.
    pub key_cost: CounterVec,
    /// Requests refused by a key limit (429), by key.
    pub key_rate_limited: IntCounterVec,
    /// Whether the per-key series are recorded (off to bound label cardinality).
    pub per_key: bool,
    routes: SeriesCache<RouteSeries, 5>,
    keys: SeriesCache<KeySeries, 1>,
}

impl ProxyMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        // LLM latencies run from milliseconds (errors, cached answers) to many minutes (long
        // generations): 5 ms doubling up to ~20 minutes.
        let latency = exponential_buckets(0.005, 2.0, 18)?;
        let metrics = ProxyMetrics {
            requests: IntCounterVec::new(
                Opts::new("bytespike_requests_total", "Requests handled, by route and outcome."),
                &["client_protocol", "upstream_protocol", "provider", "model", "route", "status_class"],
            )?,
            duration: HistogramVec::new(
                HistogramOpts::new("bytespike_request_duration_seconds", "Whole-request duration.")
                    .buckets(latency.clone()),
                &["client_protocol", "route", "status_class"],
            )?,
            ttfb: HistogramVec::new(
                HistogramOpts::new(
                    "bytespike_time_to_first_byte_seconds",
                    "Time from request arrival to the first response body byte (time to first token for streams).",
                )
                .buckets(latency),
                &["client_protocol", "provider", "model", "stream"],
            )?,
            tokens: IntCounterVec::new(
                Opts::new("bytespike_tokens_total", "Tokens billed, by kind."),
                &["kind", "provider", "model"],
            )?,
            cost: CounterVec::new(
                Opts::new("bytespike_cost_usd_total", "Spend in US dollars, from the model's pricing."),
                &["provider", "model"],
            )?,
            gateway_errors: IntCounterVec::new(
                Opts::new("bytespike_gateway_errors_total", "Errors answered by the gateway itself, by kind."),
                &["kind"],
            )?,
            in_flight: IntGauge::new("bytespike_requests_in_flight", "Requests being served now.")?,
            failovers: IntCounterVec::new(
                Opts::new(
                    "bytespike_failovers_total",
                    "Requests moved to the next target before any byte reached the client, by the provider that failed and why.",
                ),
                &["provider", "reason"],
            )?,
            ejections: IntCounterVec::new(
                Opts::new(
                    "bytespike_upstream_ejections_total",
                    "Providers ejected after consecutive failures (skipped while ejected), by provider.",
                ),
                &["provider"],
            )?,
            active_streams: IntGauge::new(
                "bytespike_active_streams",
                "Streaming responses (SSE) being sent to clients now.",
            )?,
            time_per_output_token: HistogramVec::new(
                HistogramOpts::new(
                    "bytespike_time_per_output_token_seconds",
                    "Streamed responses: (duration - time to first byte) / output tokens.",
                )
                .buckets(exponential_buckets(0.0005, 2.0, 14)?),
                &["provider", "model"],
            )?,
            upstream_errors: IntCounterVec::new(
                Opts::new(
                    "bytespike_upstream_errors_total",
                    "Upstream failures, by provider and kind (connect, connect_timeout, timeout, tls, reset, protocol, status_429, status_5xx).",
                ),
                &["provider", "kind"],
            )?,
            key_windows: KeyWindowGauges::new()?,
            key_requests: IntCounterVec::new(
                Opts::new("bytespike_key_requests_total", "Requests by API key (namespace/name) and status class."),
                &["key", "status_class"],
            )?,
            key_tokens: IntCounterVec::new(
                Opts::new("bytespike_key_tokens_total", "Tokens billed (input, cache read, cache write and output), by API key (namespace/name)."),
                &["key"],
            )?,
            key_cost: CounterVec::new(
                Opts::new("bytespike_key_cost_usd_total", "Spend in US dollars, by API key (namespace/name)."),
                &["key"],
            )?,
            key_rate_limited: IntCounterVec::new(
                Opts::new("bytespike_key_rate_limited_total", "Requests refused by a key limit (429), by API key (namespace/name)."),
                &["key"],
            )?,
            per_key: true,
            routes: SeriesCache::default(),
            keys: SeriesCache::default(),
        };
        registry.register(Box::new(metrics.requests.clone()))?;
        registry.register(Box::new(metrics.duration.clone()))?;
        registry.register(Box::new(metrics.ttfb.clone()))?;
        registry.register(Box::new(metrics.tokens.clone()))?;
        registry.register(Box::new(metrics.cost.clone()))?;
        registry.register(Box::new(metrics.gateway_errors.clone()))?;
        registry.register(Box::new(metrics.in_flight.clone()))?;
        registry.register(Box::new(metrics.active_streams.clone()))?;
        registry.register(Box::new(metrics.failovers.clone()))?;
        registry.register(Box::new(metrics.ejections.clone()))?;
        registry.register(Box::new(metrics.time_per_output_token.clone()))?;
        registry.register(Box::new(metrics.upstream_errors.clone()))?;
        registry.register(Box::new(KeyWindowCollector(metrics.key_windows.clone())))?;
        registry.register(Box::new(metrics.key_requests.clone()))?;
        registry.register(Box::new(metrics.key_tokens.clone()))?;
        registry.register(Box::new(metrics.key_cost.clone()))?;
        registry.register(Box::new(metrics.key_rate_limited.clone()))?;
        Ok(metrics)
    }

    /// Switches the per-key series (`bytespike_key_*`) on or off.
    pub fn with_per_key(mut self, on: bool) -> Self {
        self.per_key = on;
        self
    }

    /// The series of requests on one route: client protocol, upstream protocol, provider,
    /// model, route kind.
    pub fn route(&self, labels: RouteLabels<'_>) -> Arc<RouteSeries> {
        self.routes.get(labels, || {
            let families = RouteFamilies {
                requests: self.requests.clone(),
                duration: self.duration.clone(),
                ttfb: self.ttfb.clone(),
                tokens: self.tokens.clone(),
                cost: self.cost.clone(),
                time_per_output_token: self.time_per_output_token.clone(),
            };
            RouteSeries::new(labels, families)
        })
    }

    /// The series of one key (`namespace/name`).
    pub fn key(&self, key: &str) -> Arc<KeySeries> {
        self.keys.get([key], || {
            let families = KeyFamilies {
                requests: self.key_requests.clone(),
                tokens: self.key_tokens.clone(),
                cost: self.key_cost.clone(),
                rate_limited: self.key_rate_limited.clone(),
            };
            KeySeries::new(key, families)
        })
    }

    /// Records a key's limit windows as the admission saw them.
    pub fn record_windows(&self, key: &str, windows: &[WindowUsage]) {
        // A key without limits has no windows, and an empty report sets no gauge.
        if !self.per_key || windows.is_empty() {
            return;
        }
        self.key_windows.record(key, windows);
    }
}

/// Metrics of the per-key limiter, reported through its metrics hook.
pub struct LimitMetrics {
    /// By origin: every admitted request counts in one.
    admissions: FixedLabelCounter<4>,
    rejections: IntCounterVec,
    releases: prometheus::IntCounter,
    lease_waits: prometheus::IntCounter,
    /// By outcome: every served request settles.
    settlements: FixedLabelCounter<3>,
    replays: FixedLabelCounter<3>,
    dropped: prometheus::IntCounter,
    redis_latency: HistogramVec,
    redis_errors: IntCounterVec,
}

impl LimitMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let m = LimitMetrics {
            admissions: FixedLabelCounter::new(
                Opts::new("bytespike_limit_admissions_total", "Requests admitted against their key's limits, by where the budget was held (shared, shadow, local)."),
                "origin",
                ORIGINS,
            )?,
            rejections: IntCounterVec::new(
                Opts::new("bytespike_limit_rejections_total", "Requests refused by a key limit, by window, metric and reason."),
                &["window", "metric", "reason"],
            )?,
            releases: prometheus::IntCounter::new(
                "bytespike_limit_reservations_released_total",
                "Reservations released without billing (failed requests).",
            )?,
            lease_waits: prometheus::IntCounter::new(
                "bytespike_limit_lease_waits_total",
                "Requests that found their key's lease used up while a refill was in flight and waited for it.",
            )?,
            settlements: FixedLabelCounter::new(
                Opts::new("bytespike_limit_settlements_total", "Settlements, by outcome (settled, duplicate, deferred)."),
                "outcome",
                OUTCOMES,
            )?,
            replays: FixedLabelCounter::new(
                Opts::new("bytespike_limit_settlement_replays_total", "Buffered settlements replayed after a Redis outage, by outcome."),
                "outcome",
                OUTCOMES,
            )?,
            dropped: prometheus::IntCounter::new(
                "bytespike_limit_settlements_dropped_total",
                "Settlements dropped because the outage buffer was full.",
            )?,
            redis_latency: HistogramVec::new(
                HistogramOpts::new("bytespike_redis_round_trip_seconds", "Redis round trips of the limiter, by operation.")
                    .buckets(exponential_buckets(0.0001, 2.0, 16)?),
                &["op"],
            )?,
            redis_errors: IntCounterVec::new(
                Opts::new("bytespike_redis_errors_total", "Failed Redis round trips of the limiter, by operation."),
                &["op"],
            )?,
        };
        registry.register(Box::new(m.admissions.family.clone()))?;
        registry.register(Box::new(m.rejections.clone()))?;
        registry.register(Box::new(m.releases.clone()))?;
        registry.register(Box::new(m.lease_waits.clone()))?;
        registry.register(Box::new(m.settlements.family.clone()))?;
        registry.register(Box::new(m.replays.family.clone()))?;
        registry.register(Box::new(m.dropped.clone()))?;
        registry.register(Box::new(m.redis_latency.clone()))?;
        registry.register(Box::new(m.redis_errors.clone()))?;
        Ok(m)
    }
}

/// A counter family with one label whose values are a small fixed set, each value's counter
/// resolved the first time it counts rather than looked up by label on every count.
struct FixedLabelCounter<const N: usize> {
    family: IntCounterVec,
    values: [&'static str; N],
    resolved: [OnceLock<IntCounter>; N],
}

impl<const N: usize> FixedLabelCounter<N> {
    fn new(opts: Opts, label: &str, values: [&'static str; N]) -> prometheus::Result<Self> {
        Ok(Self {
            family: IntCounterVec::new(opts, &[label])?,
            values,
            resolved: std::array::from_fn(|_| OnceLock::new()),
        })
    }

    /// Counts one under `values[index]`.
    fn inc(&self, index: usize) {
        let family = &self.family;
        let value = self.values[index];
        self.resolved[index]
            .get_or_init(|| family.with_label_values(&[value]))
            .inc();
    }
}

/// Label values of `Origin`s, in the order of [`origin_index`].
const ORIGINS: [&str; 4] = ["shared", "shadow", "local", "untracked"];

fn origin_index(origin: Origin) -> usize {
    match origin {
        Origin::Shared => 0,
        Origin::Shadow => 1,
        Origin::Local => 2,
        Origin::Untracked => 3,
    }
}

/// Label values of `SettleOutcome`s, in the order of [`outcome_index`].
const OUTCOMES: [&str; 3] = ["settled", "duplicate", "deferred"];

fn outcome_index(outcome: SettleOutcome) -> usize {
    match outcome {
        SettleOutcome::Settled => 0,
        SettleOutcome::Duplicate => 1,
        SettleOutcome::Deferred => 2,
    }
}

impl LimiterMetrics for LimitMetrics {
    fn admitted(&self, origin: Origin) {
        self.admissions.inc(origin_index(origin));
    }

    fn rejected(&self, rejection: &Rejection) {
        let (window, metric) = match rejection {
            Rejection::OverLimit { window, metric, .. } => {
                (crate::budget::window_label(*window), metric.as_str())
            }
            Rejection::TooManyConcurrent { .. } => ("none".to_string(), "concurrent"),
        };
        self.rejections
            .with_label_values(&[window.as_str(), metric, rejection.metric_label()])
            .inc();
    }

    fn released(&self) {
        self.releases.inc();
    }

    fn waited_for_lease(&self) {
        self.lease_waits.inc();
    }

    fn settled(&self, outcome: SettleOutcome) {
        self.settlements.inc(outcome_index(outcome));
    }

    fn settlement_replayed(&self, outcome: SettleOutcome) {
        self.replays.inc(outcome_index(outcome));
    }

    fn settlement_dropped(&self) {
        self.dropped.inc();
    }

    fn redis_round_trip(&self, op: &'static str, latency: Duration, ok: bool) {
        self.redis_latency
            .with_label_values(&[op])
            .observe(latency.as_secs_f64());
        if !ok {
            self.redis_errors.with_label_values(&[op]).inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each label value's count, in the order the counter lists its values.
    fn counts<const N: usize>(counter: &FixedLabelCounter<N>) -> Vec<(&str, u64)> {
        let family = &counter.family;
        let count = |value: &'static str| (value, family.with_label_values(&[value]).get());
        counter.values.into_iter().map(count).collect()
    }

    #[test]
    fn origins_and_outcomes_count_under_their_own_label() {
        let metrics = LimitMetrics::new(&Registry::new()).unwrap();
        let origins = [
            (Origin::Shared, 1),
            (Origin::Shadow, 2),
            (Origin::Local, 3),
            (Origin::Untracked, 4),
        ];
        for (origin, times) in origins {
            (0..times).for_each(|_| metrics.admitted(origin));
        }
        let outcomes = [
            (SettleOutcome::Settled, 3),
            (SettleOutcome::Duplicate, 1),
            (SettleOutcome::Deferred, 2),
        ];
        for (outcome, times) in outcomes {
            (0..times).for_each(|_| metrics.settled(outcome));
            metrics.settlement_replayed(outcome);
        }
        let admitted = [("shared", 1), ("shadow", 2), ("local", 3), ("untracked", 4)];
        assert_eq!(counts(&metrics.admissions), admitted);
        let settled = [("settled", 3), ("duplicate", 1), ("deferred", 2)];
        assert_eq!(counts(&metrics.settlements), settled);
        let replayed = [("settled", 1), ("duplicate", 1), ("deferred", 1)];
        assert_eq!(counts(&metrics.replays), replayed);
    }
}
