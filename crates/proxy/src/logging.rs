//! The logging phase: one access-log line and the metrics of a finished request.

use bytespike_protocol::{Dialect, ErrorKind, Usage};
use pingora_error::Error;
use pingora_proxy::Session;
use std::time::Instant;

use crate::access_log::access_key;
use crate::context::{Budget, Handling, RequestCtx};
use crate::target::upstream_dialect;
use crate::{access_log, budget, fail, Gateway};

/// Records the finished request. Usage counts only for successful responses: a failure bills
/// nothing, and a stream cut short bills what was generated up to the cut.
pub fn run(gw: &Gateway, session: &Session, error: Option<&Error>, ctx: &mut RequestCtx) {
    let status = session.response_written().map_or(0, |h| h.status.as_u16());
    let ok = (200..300).contains(&status);
    if ok {
        ctx.usage = match &ctx.handling {
            Some(Handling::Passthrough { scanner, .. }) => scanner.usage(),
            Some(Handling::Translated { translator, .. }) => translator.usage(),
            None => None,
        };
    }
    let client = ctx.endpoint.map(|e| e.dialect);
    let client_label = client.map_or("unknown", Dialect::as_str);
    let target = ctx.target.as_ref();
    let provider = target.map_or("", |t| t.provider.name.as_str());
    let upstream_label = match (target, client) {
        (Some(t), Some(c)) => upstream_dialect(t.provider.protocol, c).as_str(),
        _ => "none",
    };
    let model = ctx.route.as_ref().map_or("", |r| r.model_id());
    let route_kind = match &ctx.handling {
        Some(Handling::Passthrough { .. }) => "passthrough",
        Some(Handling::Translated { .. }) => "translated",
        None => "local",
    };
    let ended = ctx.refused_at.unwrap_or_else(Instant::now);
    let duration = ended.duration_since(ctx.started);
    let ttfb = ctx.first_byte.map(|t| t.duration_since(ctx.started));
    let cost_micros = match (ctx.usage, ctx.route.as_ref().and_then(|r| r.pricing())) {
        (Some(u), Some(p)) => p.cost_micros(
            u.input_tokens,
            u.output_tokens,
            u.cache_read_tokens,
            u.cache_write_tokens,
        ),
        _ => 0,
    };

    match ctx.budget.take() {
        None => {}
        Some(Budget::Untracked) => gw.limiter.untracked_ended(ok),
        // A failure bills nothing; a response that went out bills what it used, a stream cut
        // short included (what the vendor reported up to the cut).
        Some(Budget::Held(reservation)) => {
            let outcome = if ok {
                budget::Outcome::Served(budget::settlement(
                    ctx.usage.unwrap_or_default(),
                    cost_micros,
                    model,
                    provider,
                    client_label,
                    upstream_label,
                    status,
                    ctx.arrived,
                ))
            } else {
                budget::Outcome::Failed
            };
            budget::finish(gw.limiter.clone(), reservation, outcome);
        }
    }

    let m = &gw.metrics;
    let series = m.route([client_label, upstream_label, provider, model, route_kind]);
    series.requests(status).inc();
    series.duration(status).observe(duration.as_secs_f64());
    if let (Some(ttfb), true) = (ttfb, ok) {
        series.ttfb(ctx.stream).observe(ttfb.as_secs_f64());
    }
    if let Some(err) = &ctx.error {
        m.gateway_errors
            .with_label_values(&[err.kind.metric_label()])
            .inc();
    }
    if target.is_some() {
        let upstream_kind = error
            .and_then(fail::upstream_error_kind)
            .or_else(|| ctx.upstream_status.and_then(fail::upstream_status_kind));
        if let Some(kind) = upstream_kind {
            m.upstream_errors.with_label_values(&[provider, kind]).inc();
        }
    }
    let usage = ctx.usage.unwrap_or_default();
    if ctx.usage.is_some() {
        series.add_tokens(&usage);
        if cost_micros > 0 {
            series.cost().inc_by(cost_micros as f64 / 1_000_000.0);
        }
    }
    if let (Some(ttfb), true, true) = (ttfb, ok, ctx.stream) {
        if usage.output_tokens > 0 {
            let generating = duration.saturating_sub(ttfb).as_secs_f64();
            series
                .time_per_output_token()
                .observe(generating / usage.output_tokens as f64);
        }
    }
    if let (Some(key), true) = (ctx.key.as_ref(), m.per_key) {
        let key_series = m.key(&key.id);
        key_series.requests(status).inc();
        let tokens = usage.input_tokens
            + usage.cache_read_tokens
            + usage.cache_write_tokens
            + usage.output_tokens;
        if tokens > 0 {
            key_series.tokens().inc_by(tokens);
        }
        if cost_micros > 0 {
            key_series.cost().inc_by(cost_micros as f64 / 1_000_000.0);
        }
        if ctx
            .error
            .as_ref()
            .is_some_and(|e| e.kind == ErrorKind::RateLimited)
        {
            key_series.rate_limited().inc();
        }
        m.record_windows(&key.id, &ctx.windows);
    }

    if !access_log::enabled() {
        return;
    }
    let header = session.req_header();
    let error_label = ctx
        .error
        .as_ref()
        .map(|e| e.kind.metric_label())
        .or_else(|| error.map(|_| "proxy"))
        .unwrap_or("");
    let line = AccessLine {
        request_id: &ctx.request_id,
        key: ctx.key.as_ref().map_or("", |k| k.id.as_str()),
        method: header.method.as_str(),
        path: header.uri.path(),
        client_protocol: client_label,
        upstream_protocol: upstream_label,
        route: route_kind,
        requested_model: ctx.requested_model.as_deref().unwrap_or(""),
        model,
        upstream_model: target.map_or("", |t| t.model.as_str()),
        provider,
        status,
        upstream_status: ctx.upstream_status.unwrap_or(0),
        error: error_label,
        stream: ctx.stream,
        failovers: ctx.failovers,
        duration_ms: duration.as_secs_f64() * 1000.0,
        ttfb_ms: ttfb.map_or(0.0, |t| t.as_secs_f64() * 1000.0),
        usage: &usage,
        cost_usd: cost_micros as f64 / 1_000_000.0,
    };
    if gw.settings.json_access_log {
        line.write_json();
    } else {
        line.write_text();
    }
}

/// Everything the access log says about one request.
struct AccessLine<'a> {
    request_id: &'a str,
    key: &'a str,
    method: &'a str,
    path: &'a str,
    client_protocol: &'a str,
    upstream_protocol: &'a str,
    route: &'a str,
    requested_model: &'a str,
    model: &'a str,
    upstream_model: &'a str,
    provider: &'a str,
    status: u16,
    upstream_status: u16,
    error: &'a str,
    stream: bool,
    failovers: u32,
    duration_ms: f64,
    ttfb_ms: f64,
    usage: &'a Usage,
    cost_usd: f64,
}

impl AccessLine<'_> {
    fn write_json(&self) {
        use access_log::Field::{Bool, Str, F64, U64};
        let u = self.usage;
        access_log::write(&[
            (access_key!("request_id"), Str(self.request_id)),
            (access_key!("key"), Str(self.key)),
            (access_key!("method"), Str(self.method)),
            (access_key!("path"), Str(self.path)),
            (access_key!("client_protocol"), Str(self.client_protocol)),
            (
                access_key!("upstream_protocol"),
                Str(self.upstream_protocol),
            ),
            (access_key!("route"), Str(self.route)),
            (access_key!("requested_model"), Str(self.requested_model)),
            (access_key!("model"), Str(self.model)),
            (access_key!("upstream_model"), Str(self.upstream_model)),
            (access_key!("provider"), Str(self.provider)),
            (access_key!("status"), U64(self.status.into())),
            (
                access_key!("upstream_status"),
                U64(self.upstream_status.into()),
            ),
            (access_key!("error"), Str(self.error)),
            (access_key!("stream"), Bool(self.stream)),
            (access_key!("failovers"), U64(self.failovers.into())),
            (access_key!("duration_ms"), F64(self.duration_ms)),
            (access_key!("ttfb_ms"), F64(self.ttfb_ms)),
            (access_key!("input_tokens"), U64(u.input_tokens)),
            (access_key!("output_tokens"), U64(u.output_tokens)),
            (access_key!("cache_read_tokens"), U64(u.cache_read_tokens)),
            (access_key!("cache_write_tokens"), U64(u.cache_write_tokens)),
            (access_key!("reasoning_tokens"), U64(u.reasoning_tokens)),
            (access_key!("cost_usd"), F64(self.cost_usd)),
        ]);
    }

    /// The human-readable form, for `--log-format text`, through the ordinary logger.
    fn write_text(&self) {
        let u = self.usage;
        tracing::info!(
            target: "access",
            request_id = self.request_id,
            key = self.key,
            method = self.method,
            path = self.path,
            client_protocol = self.client_protocol,
            upstream_protocol = self.upstream_protocol,
            route = self.route,
            requested_model = self.requested_model,
            model = self.model,
            upstream_model = self.upstream_model,
            provider = self.provider,
            status = self.status,
            upstream_status = self.upstream_status,
            error = self.error,
            stream = self.stream,
            failovers = self.failovers,
            duration_ms = self.duration_ms,
            ttfb_ms = self.ttfb_ms,
            input_tokens = u.input_tokens,
            output_tokens = u.output_tokens,
            cache_read_tokens = u.cache_read_tokens,
            cache_write_tokens = u.cache_write_tokens,
            reasoning_tokens = u.reasoning_tokens,
            cost_usd = self.cost_usd,
            "request"
        );
    }
}
