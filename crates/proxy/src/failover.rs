//! Failover: a request whose target fails before the first byte reached the client moves to the
//! route's next target (by priority, then weight). Never after: a client that has seen bytes
//! gets the failure, in its protocol. The one reservation of the request covers every attempt,
//! and a failed attempt bills nothing.

use std::time::Instant;

use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, ErrorSource, ErrorType, RetryType};
use pingora_proxy::Session;

use crate::context::RequestCtx;
use crate::{fail, target, Gateway};

/// An upstream answer worth trying elsewhere: overloaded, rate limited, or failing.
pub fn status_fails_over(status: u16) -> bool {
    status == 429 || status >= 500
}

/// Records the upstream's health from its answer, and turns an error status into a proxy error
/// so the attempt can fail over; only when another target exists, otherwise the answer goes to
/// the client as it is.
pub fn check_status(gw: &Gateway, status: u16, ctx: &RequestCtx) -> pingora_error::Result<()> {
    let Some(target) = ctx.target.as_ref() else {
        return Ok(());
    };
    if !status_fails_over(status) {
        gw.health.succeeded(&target.provider);
        return Ok(());
    }
    if gw.health.failed(&target.provider, Instant::now()) {
        eject_metric(gw, &target.provider.name);
    }
    if target::has_next(ctx) {
        let mut e = Error::explain(
            ErrorType::HTTPStatus(status),
            "upstream answered an error status",
        );
        e.esource = ErrorSource::Upstream;
        return Err(e);
    }
    Ok(())
}

/// Decides whether an error while proxying moves the request to another target.
pub fn while_proxying(
    gw: &Gateway,
    peer: &HttpPeer,
    session: &Session,
    e: Box<Error>,
    ctx: &mut RequestCtx,
    client_reused: bool,
) -> Box<Error> {
    let mut e = e.more_context(format!("Peer: {peer}"));
    if session.response_written().is_some() || ctx.first_byte.is_some() {
        // The client has seen this attempt's answer: it cannot be replaced.
        e.set_retry(false);
        return e;
    }
    if client_reused && matches!(e.retry, RetryType::ReusedOnly) {
        // A pooled connection the upstream had closed: the same target on a fresh connection.
        e.retry.decide_reuse(client_reused);
        return e;
    }
    let upstream_fault = e.esource() == &ErrorSource::Upstream;
    // Error statuses were recorded when their header arrived.
    if upstream_fault && !matches!(e.etype(), ErrorType::HTTPStatus(_)) {
        record_failure(gw, ctx);
    }
    let retry = upstream_fault && move_on(gw, &e, ctx);
    e.set_retry(retry);
    e
}

/// Decides whether a failed connection moves the request to another target.
pub fn on_connect_failure(gw: &Gateway, ctx: &mut RequestCtx, mut e: Box<Error>) -> Box<Error> {
    record_failure(gw, ctx);
    let retry = move_on(gw, &e, ctx);
    e.set_retry(retry);
    e
}

fn record_failure(gw: &Gateway, ctx: &RequestCtx) {
    if let Some(target) = ctx.target.as_ref() {
        if gw.health.failed(&target.provider, Instant::now()) {
            eject_metric(gw, &target.provider.name);
        }
    }
}

fn eject_metric(gw: &Gateway, provider: &str) {
    gw.metrics.ejections.with_label_values(&[provider]).inc();
    tracing::warn!(
        provider,
        "provider ejected after consecutive failures; requests skip it for a while"
    );
}

/// Counts the failed attempt and prepares the next target; false when none is left.
fn move_on(gw: &Gateway, e: &Error, ctx: &mut RequestCtx) -> bool {
    let from = ctx
        .target
        .as_ref()
        .map_or_else(String::new, |t| t.provider.name.clone());
    let kind = fail::upstream_error_kind(e).unwrap_or("other");
    if !target::advance(ctx) {
        return false;
    }
    ctx.failovers += 1;
    gw.metrics
        .upstream_errors
        .with_label_values(&[from.as_str(), kind])
        .inc();
    gw.metrics
        .failovers
        .with_label_values(&[from.as_str(), kind])
        .inc();
    tracing::warn!(request_id = %ctx.request_id, provider = %from, reason = kind,
        to = ctx.target.as_ref().map_or("", |t| t.provider.name.as_str()), "failing over to the next target");
    true
}
