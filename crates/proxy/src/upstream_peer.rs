//! Choosing where a request goes: the target's provider as a pooled, resolved peer.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytespike_config::snapshot::ProviderEntry;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::{Error, ErrorType, Result};

use crate::context::RequestCtx;

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

/// The peer for the request's current target.
pub async fn run(resolver: &Resolver, ctx: &RequestCtx) -> Result<Box<HttpPeer>> {
    let target = ctx
        .target
        .as_ref()
        .ok_or_else(|| Error::explain(ErrorType::InternalError, "no target chosen"))?;
    peer_for(resolver, &target.provider).await.map(Box::new)
}

async fn peer_for(resolver: &Resolver, provider: &ProviderEntry) -> Result<HttpPeer> {
    let url = &provider.base_url;
    let addr = resolver.resolve(&url.host, url.port).await?;
    let mut peer = HttpPeer::new(addr, url.tls, url.host.clone());
    let timeouts = &provider.timeouts;
    let options = &mut peer.options;
    options.connection_timeout = Some(timeouts.connect);
    options.total_connection_timeout = Some(timeouts.connect);
    // One read timeout covers both the wait for the first byte and the gaps between events.
    options.read_timeout = Some(timeouts.first_byte.max(timeouts.idle));
    options.write_timeout = Some(timeouts.idle);
    options.idle_timeout = Some(provider.pool.idle_timeout);
    if provider.http2 {
        options.set_http_version(2, 2);
    } else {
        options.set_http_version(1, 1);
    }
    Ok(peer)
}
