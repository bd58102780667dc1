//! The Pingora proxy service: authentication, routing, passthrough and translation on the
//! request path.
//!
//! [`Gateway`] implements Pingora's `ProxyHttp`; each hook is a few lines that delegate to the
//! module named after its phase, and all per-request state lives in [`RequestCtx`].

pub mod access_log;
pub mod budget;
pub mod context;
pub mod deadline;
mod fail;
mod failover;
mod health;
mod idle;
mod key_windows;
mod logging;
pub mod metrics;
mod models;
mod request_filter;
mod respond;
mod response;
mod rfc3339;
mod series;
mod target;
mod unread_body;
mod upstream_peer;
mod upstream_request;

use std::sync::Arc;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytes::Bytes;
use bytespike_config::Snapshot;
use bytespike_limits::Limiter;
use pingora_core::modules::http::HttpModules;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, Result};
use pingora_http::{RequestHeader, ResponseHeader};
use pingora_proxy::{FailToProxy, ProxyHttp, Session};

pub use context::RequestCtx;
pub use metrics::{LimitMetrics, ProxyMetrics};

/// The context Pingora carries through a request, boxed: its request future holds the context
/// by value in several of its states at once (an async fn keeps its arguments twice, and the
/// context passes through two), about 1 KB each time, and every byte of that future is
/// touched when it is moved into its own box. An open stream held 3.9 KB more for it.
pub type Ctx = Box<RequestCtx>;

/// Settings of the request path that do not come from the resources.
#[derive(Debug, Clone)]
pub struct ProxySettings {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Weight of cache-read tokens in token limits, in thousandths (0: they count in cost only,
    /// as the vendors' own input-token limits do).
    pub cache_read_weight_permille: u32,
    /// Longest pause while a client sends its request body.
    pub client_body_timeout: std::time::Duration,
    /// Access-log lines as JSON objects (else through the text logger).
    pub json_access_log: bool,
    /// Run when the gateway has no request left in flight, on the worker thread that finished
    /// the last one, at most once a second per thread: the gateway hands that thread's
    /// allocator cache back, which an idle thread would otherwise keep until the next burst.
    pub on_idle: Option<fn()>,
}

impl Default for ProxySettings {
    fn default() -> Self {
        ProxySettings {
            max_body_bytes: 32 * 1024 * 1024,
            cache_read_weight_permille: 0,
            client_body_timeout: std::time::Duration::from_secs(60),
            json_access_log: true,
            on_idle: None,
        }
    }
}

/// The gateway's proxy logic.
pub struct Gateway {
    snapshot: Arc<ArcSwap<Snapshot>>,
    settings: ProxySettings,
    metrics: Arc<ProxyMetrics>,
    limiter: Arc<dyn Limiter>,
    resolver: upstream_peer::Resolver,
    health: health::Health,
}

impl Gateway {
    /// A gateway reading the config from `snapshot`, which a loader swaps as config changes.
    pub fn new(
        snapshot: Arc<ArcSwap<Snapshot>>,
        settings: ProxySettings,
        metrics: Arc<ProxyMetrics>,
        limiter: Arc<dyn Limiter>,
    ) -> Self {
        Gateway {
            snapshot,
            settings,
            metrics,
            limiter,
            resolver: upstream_peer::Resolver::default(),
            health: health::Health::default(),
        }
    }
}

#[async_trait]
impl ProxyHttp for Gateway {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Box::new(RequestCtx::new())
    }

    /// No downstream modules. Pingora's default adds its response compression module, switched
    /// off, which still costs every request a module context, two boxed futures and a look at
    /// the client's `accept-encoding`. The gateway never compresses: answers are small JSON, or
    /// streams whose frames must leave as they arrive, and usage is read from them as they pass.
    fn init_downstream_modules(&self, _modules: &mut HttpModules) {}

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        self.metrics.in_flight.inc();
        ctx.gauges.in_flight = true;
        request_filter::run(self, session, ctx).await
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        upstream_peer::run(&self.resolver, ctx).await
    }

    fn upstream_body_read_timeout(&self, ctx: &Ctx) -> Option<std::time::Duration> {
        upstream_peer::body_read_timeout(ctx)
    }

    fn response_sent_whole(&self, ctx: &Ctx) -> bool {
        response::sent_whole(ctx)
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        upstream_request: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        upstream_request::run(upstream_request, ctx)
    }

    async fn request_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<()> {
        // The client's body was read (and rewritten) in request_filter; the prepared body goes
        // out whole on the terminal call, and stray chunks (a retry buffer) are swallowed.
        *body = Some(if end_of_stream {
            ctx.upstream_body.clone()
        } else {
            Bytes::new()
        });
        Ok(())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        upstream_response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        failover::check_status(self, upstream_response.status.as_u16(), ctx)?;
        response::header(upstream_response, ctx)?;
        if ctx.stream && upstream_response.status.is_success() {
            self.metrics.active_streams.inc();
            ctx.gauges.stream = true;
        }
        Ok(())
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<std::time::Duration>> {
        if !end_of_stream {
            upstream_peer::check_total(ctx)?;
        }
        response::body(body, end_of_stream, ctx);
        Ok(None)
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Ctx,
        e: Box<Error>,
    ) -> Box<Error> {
        failover::on_connect_failure(self, ctx, e)
    }

    fn error_while_proxy(
        &self,
        peer: &HttpPeer,
        session: &mut Session,
        e: Box<Error>,
        ctx: &mut Ctx,
        client_reused: bool,
    ) -> Box<Error> {
        failover::while_proxying(self, peer, session, e, ctx, client_reused)
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        fail::run(session, e, ctx).await
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        let mut last_in_flight = false;
        if ctx.gauges.in_flight {
            self.metrics.in_flight.dec();
            last_in_flight = self.metrics.in_flight.get() == 0;
        }
        if ctx.gauges.stream {
            self.metrics.active_streams.dec();
        }
        logging::run(self, session, e, ctx);
        if let (true, Some(hook)) = (last_in_flight, self.settings.on_idle) {
            idle::after_last_request(hook);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytespike_limits::{MemoryConfig, MemoryLimiter};
    use pingora_core::modules::http::compression::{
        ResponseCompression, ResponseCompressionBuilder,
    };

    #[test]
    fn requests_carry_no_downstream_module() {
        let gateway = Gateway::new(
            Arc::new(ArcSwap::from_pointee(Snapshot::empty())),
            ProxySettings::default(),
            Arc::new(ProxyMetrics::new(&prometheus::Registry::new()).unwrap()),
            Arc::new(MemoryLimiter::new(MemoryConfig::default())),
        );
        let mut modules = HttpModules::new();
        gateway.init_downstream_modules(&mut modules);
        let ctx = modules.build_ctx();
        assert!(ctx.get::<ResponseCompression>().is_none());

        // The check sees the module Pingora's default `init_downstream_modules` adds.
        let mut defaults = HttpModules::new();
        defaults.add_module(ResponseCompressionBuilder::enable(0));
        assert!(defaults.build_ctx().get::<ResponseCompression>().is_some());
    }
}
