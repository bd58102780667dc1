//! Choosing where a request goes: the target's provider as a pooled, resolved peer.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytespike_config::snapshot::ProviderEntry;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, ErrorType, Result};

use crate::context::RequestCtx;
use crate::deadline::Deadline;

/// How long a resolved address is reused before it is looked up again.
const DNS_TTL: Duration = Duration::from_secs(30);

/// Resolves provider host names asynchronously (Pingora's own resolution blocks and panics on
/// failure) and caches the answers briefly.
#[derive(Default)]
pub struct Resolver {
    cache: Mutex<HashMap<(String, u16), (SocketAddr, Instant)>>,
}

impl Resolver {
    /// The address of `host:port`, from the cache when fresh.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<SocketAddr> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, port));
        }
        let key = (host.to_string(), port);
        if let Some((addr, at)) = self.cache.lock().expect("resolver cache").get(&key) {
            if at.elapsed() < DNS_TTL {
                return Ok(*addr);
            }
        }
        let addr = tokio::net::lookup_host((host, port))
            .await
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| {
                Error::explain(
                    ErrorType::ConnectNoRoute,
                    format!("cannot resolve upstream host {host}"),
                )
            })?;
        self.cache
            .lock()
            .expect("resolver cache")
            .insert(key, (addr, Instant::now()));
        Ok(addr)
    }
}

/// The peer for the request's current target; starts the attempt's `total` clock.
pub async fn run(resolver: &Resolver, ctx: &mut RequestCtx) -> Result<Box<HttpPeer>> {
    let target = ctx
        .target
        .as_ref()
        .ok_or_else(|| Error::explain(ErrorType::InternalError, "no target chosen"))?;
    let peer = peer_for(resolver, &target.provider).await?;
    ctx.attempt_deadline = Some(Deadline::after(target.provider.timeouts.total));
    Ok(Box::new(peer))
}

/// The read timeout once the response header arrived: the provider's `idle` gap, or less when
/// the attempt's `total` ends sooner.
pub fn body_read_timeout(ctx: &RequestCtx) -> Option<Duration> {
    let idle = ctx.target.as_ref()?.provider.timeouts.idle;
    let left = ctx.attempt_deadline.map_or(idle, |d| d.left());
    // A zero timeout would fail the next read at once; the total check then names the cause.
    Some(idle.min(left).max(Duration::from_millis(1)))
}

/// Ends a response that outlived its attempt's `total` timeout. Checked as data arrives; a
/// stalled upstream is caught by the `idle` read timeout instead, so no response runs longer
/// than `total` plus one `idle` gap.
pub fn check_total(ctx: &RequestCtx) -> Result<()> {
    match ctx.attempt_deadline {
        Some(deadline) if deadline.passed() => {
            let mut e = Error::explain(TOTAL_TIMEOUT, "the response outlived the total timeout");
            e.esource = pingora_error::ErrorSource::Upstream;
            Err(e)
        }
        _ => Ok(()),
    }
}

/// The error that ends a response past its provider's `total` timeout.
pub const TOTAL_TIMEOUT: ErrorType = ErrorType::Custom("UpstreamTotalTimedout");

async fn peer_for(resolver: &Resolver, provider: &ProviderEntry) -> Result<HttpPeer> {
    let url = &provider.base_url;
    let addr = resolver.resolve(&url.host, url.port).await?;
    let mut peer = HttpPeer::new(addr, url.tls, url.host.clone());
    let timeouts = &provider.timeouts;
    let options = &mut peer.options;
    options.connection_timeout = Some(timeouts.connect);
    options.total_connection_timeout = Some(timeouts.connect);
    // Until the response header arrives a read waits for the first byte; past it the proxy
    // switches to the `idle` gap (see `body_read_timeout`).
    options.read_timeout = Some(timeouts.first_byte.min(timeouts.total));
    options.write_timeout = Some(timeouts.idle);
    options.idle_timeout = Some(provider.pool.idle_timeout);
    if provider.http2 {
        options.set_http_version(2, 2);
    } else {
        options.set_http_version(1, 1);
    }
    Ok(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn total_is_enforced_only_past_the_deadline() {
        let mut ctx = RequestCtx::new();
        assert!(check_total(&ctx).is_ok(), "no attempt started yet");
        ctx.attempt_deadline = Some(Deadline::after(Duration::from_secs(60)));
        assert!(check_total(&ctx).is_ok());
        ctx.attempt_deadline = Some(Deadline::after(Duration::ZERO));
        std::thread::sleep(Duration::from_millis(30));
        let e = check_total(&ctx).expect_err("past the deadline");
        assert_eq!(e.etype(), &TOTAL_TIMEOUT);
        assert_eq!(e.esource(), &pingora_error::ErrorSource::Upstream);
    }

    #[test]
    fn no_body_timeout_without_a_target() {
        assert_eq!(body_read_timeout(&RequestCtx::new()), None);
    }
}
