//! A bare Pingora reverse proxy: every request goes to one fixed upstream over a pooled
//! connection, with no other logic. Built against the same Pingora as the gateway, it is the
//! ceiling for anything built on Pingora: what the gateway costs beyond it is its own.
//!
//!   bench-passthrough --listen 127.0.0.1:18100 --upstream 127.0.0.1:18200 [--threads 1]

use std::net::SocketAddr;

use anyhow::Result;
use async_trait::async_trait;
use clap::Parser;
use pingora_core::server::configuration::ServerConf;
use pingora_core::server::Server;
use pingora_core::upstreams::peer::HttpPeer;
use pingora_error::Result as PingoraResult;
use pingora_proxy::{ProxyHttp, Session};

#[derive(Parser)]
#[command(about = "Bare Pingora passthrough proxy for bench/perf.py")]
struct Cli {
    #[arg(long)]
    listen: String,
    /// The upstream, `ip:port` (plain HTTP).
    #[arg(long)]
    upstream: SocketAddr,
    /// Worker threads; by default one per CPU the process may run on.
    #[arg(long)]
    threads: Option<usize>,
}

struct Passthrough {
    upstream: SocketAddr,
}

#[async_trait]
impl ProxyHttp for Passthrough {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _ctx: &mut (),
    ) -> PingoraResult<Box<HttpPeer>> {
        // Same address, no TLS, no SNI: every request hashes to one pool key, so upstream
        // connections are reused.
        Ok(Box::new(HttpPeer::new(self.upstream, false, String::new())))
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let conf = ServerConf {
        threads: cli
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut proxy = pingora_proxy::http_proxy_service(
        &server.configuration,
        Passthrough {
            upstream: cli.upstream,
        },
    );
    proxy.add_tcp(&cli.listen);
    server.add_service(proxy);
    server.run_forever()
}
