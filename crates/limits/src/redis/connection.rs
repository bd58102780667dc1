//! Connections to standalone Redis or Redis Cluster, both reconnecting on their own.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, TlsCertificates, Value};

use crate::error::LimitError;
use crate::redis::config::RedisTarget;

/// A cheap-to-clone handle on either deployment.
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

fn certificates(root_ca_pem: &[u8]) -> TlsCertificates {
    TlsCertificates {
        client_tls: None,
        root_cert: Some(root_ca_pem.to_vec()),
    }
}

/// Hands out connections, establishing them lazily so a replica starts even while Redis is down.
pub(crate) struct Connector {
    cluster: Option<ClusterClient>,
    conn: tokio::sync::Mutex<Option<Conn>>,
}

impl Connector {
    /// Prepares the connection without touching the network; must run inside a Tokio runtime.
    pub(crate) fn new(
        target: &RedisTarget,
        timeout: Duration,
        root_ca: Option<&[u8]>,
    ) -> Result<Self, LimitError> {
        let tls = match target {
            RedisTarget::Standalone(url) => url.starts_with("rediss://"),
            RedisTarget::Cluster(seeds) => seeds.iter().any(|s| s.starts_with("rediss://")),
        };
        if tls && rustls::crypto::CryptoProvider::get_default().is_none() {
            // Losing a race with another installer is fine: any provider will do.
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let config_err = |e: redis::RedisError| LimitError::Config(e.to_string());
        match target {
            RedisTarget::Standalone(url) => {
                let client = match root_ca {
                    Some(pem) => redis::Client::build_with_tls(url.as_str(), certificates(pem)),
                    None => redis::Client::open(url.as_str()),
                }
                .map_err(config_err)?;
                // Few, short retries: the caller's policy, not the driver, decides what an outage means.
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(timeout))
                    .set_response_timeout(Some(timeout))
                    .set_number_of_retries(1)
                    .set_min_delay(Duration::from_millis(10))
                    .set_max_delay(Duration::from_millis(100));
                let manager =
                    ConnectionManager::new_lazy_with_config(client, config).map_err(config_err)?;
                Ok(Self {
                    cluster: None,
                    conn: tokio::sync::Mutex::new(Some(Conn::Single(manager))),
                })
            }
            RedisTarget::Cluster(seeds) => {
                let mut builder = ClusterClient::builder(seeds.iter().map(String::as_str));
                if let Some(pem) = root_ca {
                    builder = builder.certs(certificates(pem));
                }
                let client = builder
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(1)
                    .min_retry_wait(10)
                    .max_retry_wait(100)
                    .build()
                    .map_err(config_err)?;
                Ok(Self {
                    cluster: Some(client),
                    conn: tokio::sync::Mutex::new(None),
                })
            }
        }
    }

    /// A connection, establishing the cluster one on first use.
    pub(crate) async fn get(&self) -> RedisResult<Conn> {
        let mut slot = self.conn.lock().await;
        if let Some(conn) = slot.as_ref() {
            return Ok(conn.clone());
        }
        let client = self.cluster.as_ref().ok_or_else(|| {
            redis::RedisError::from((redis::ErrorKind::Client, "no connection configured"))
        })?;
        let conn = Conn::Cluster(client.get_async_connection().await?);
        *slot = Some(conn.clone());
        Ok(conn)
    }
}
