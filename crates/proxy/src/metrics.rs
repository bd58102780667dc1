//! The proxy's Prometheus metrics: traffic, latency, tokens and cost.

use prometheus::{
    exponential_buckets, CounterVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts,
    Registry,
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
        };
        registry.register(Box::new(metrics.requests.clone()))?;
        registry.register(Box::new(metrics.duration.clone()))?;
        registry.register(Box::new(metrics.ttfb.clone()))?;
        registry.register(Box::new(metrics.tokens.clone()))?;
        registry.register(Box::new(metrics.cost.clone()))?;
        registry.register(Box::new(metrics.gateway_errors.clone()))?;
        registry.register(Box::new(metrics.in_flight.clone()))?;
        Ok(metrics)
    }
}

/// `2xx`, `4xx`, `5xx`..., or `none` when no response was sent.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "none",
    }
}
