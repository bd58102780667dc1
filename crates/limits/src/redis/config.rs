//! Settings of the Redis backend, and parsing of the Redis address.

use std::time::Duration;

use crate::error::LimitError;
use crate::redis::script::LedgerStreams;

/// What admission does while Redis is unreachable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailurePolicy {
    /// Admit against this replica's shadow budget (each cap divided by the replica count) and
    /// buffer settlements for replay.
    #[default]
    FailOpen,
    /// Fail with [`LimitError::Unavailable`] (the proxy answers 503).
    FailClosed,
}

/// Which Redis deployment to talk to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RedisTarget {
    /// One server (`redis://` or `rediss://`).
    Standalone(String),
    /// A cluster, reached through these seed URLs.
    Cluster(Vec<String>),
}

impl RedisTarget {
    /// Parses `redis://`, `rediss://` (TLS), or `redis+cluster://` / `rediss+cluster://` with
    /// comma-separated seed nodes sharing one optional `user:password@`.
    pub fn parse(url: &str) -> Result<Self, LimitError> {
        let bad = |why: &str| LimitError::Config(format!("redis url: {why}"));
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("missing scheme"))?;
        let seed_scheme = match scheme {
            "redis" | "rediss" => return Ok(RedisTarget::Standalone(url.to_string())),
            "redis+cluster" => "redis",
            "rediss+cluster" => "rediss",
            _ => {
                return Err(bad(
                    "scheme must be redis, rediss, redis+cluster or rediss+cluster",
                ))
            }
        };
        let (userinfo, hosts) = match rest.rsplit_once('@') {
            Some((u, h)) => (format!("{u}@"), h),
            None => (String::new(), rest),
        };
        let hosts = hosts.trim_end_matches('/');
        let seeds: Vec<String> = hosts
            .split(',')
            .filter(|h| !h.is_empty())
            .map(|h| format!("{seed_scheme}://{userinfo}{h}"))
            .collect();
        if seeds.is_empty() {
            return Err(bad("a cluster needs at least one seed host"));
        }
        Ok(RedisTarget::Cluster(seeds))
    }
}

/// Settings of [`crate::RedisLimiter`].
#[derive(Clone, Debug)]
pub struct RedisConfig {
    /// The deployment.
    pub target: RedisTarget,
    /// Behaviour while Redis is unreachable.
    pub policy: FailurePolicy,
    /// Gateway replicas sharing the budget; the shadow budget is each cap divided by this.
    pub replicas: u32,
    /// How long a reservation lives without settlement or release (longer than any request).
    pub reservation_ttl: Duration,
    /// How late a buffered settlement may be replayed and still be recognised as a duplicate.
    pub replay_horizon: Duration,
    /// Where ledger records go; `None` picks `bsg:ledger`, one stream standalone, per key on a cluster.
    pub ledger: Option<LedgerStreams>,
    /// Approximate maximum length of each ledger stream (`XADD MAXLEN ~`).
    pub ledger_maxlen: u64,
    /// Settlements and releases buffered while Redis is unreachable; beyond it they are dropped.
    pub pending_capacity: usize,
    /// Upper bound of one Redis call, connection included.
    pub timeout: Duration,
    /// After a failure, calls skip Redis (straight to the policy) until this much time has passed.
    pub probe_interval: Duration,
    /// PEM root certificate trusted for `rediss://` instead of the system store (a private CA).
    pub tls_root_ca_pem: Option<Vec<u8>>,
}

impl RedisConfig {
    /// Defaults for the given address.
    pub fn new(target: RedisTarget) -> Self {
        Self {
            target,
            policy: FailurePolicy::FailOpen,
            replicas: 1,
            reservation_ttl: Duration::from_secs(15 * 60),
            replay_horizon: Duration::from_secs(60 * 60),
            ledger: None,
            ledger_maxlen: 1_000_000,
            pending_capacity: 10_000,
            timeout: Duration::from_millis(500),
            probe_interval: Duration::from_secs(1),
            tls_root_ca_pem: None,
        }
    }

    /// The ledger layout in force, with a single stream refused on a cluster.
    pub(crate) fn ledger_streams(&self) -> Result<LedgerStreams, LimitError> {
        let cluster = matches!(self.target, RedisTarget::Cluster(_));
        match (&self.ledger, cluster) {
            (None, false) => Ok(LedgerStreams::Single("bsg:ledger".into())),
            (None, true) => Ok(LedgerStreams::PerKey("bsg:ledger".into())),
            (Some(LedgerStreams::Single(_)), true) => Err(LimitError::Config(
                "a single ledger stream cannot be appended atomically with settlements on a \
                 cluster; use per-key streams"
                    .into(),
            )),
            (Some(streams), _) => Ok(streams.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_standalone_and_cluster_urls() {
        assert_eq!(
            RedisTarget::parse("rediss://u:p@redis:6380/0").unwrap(),
            RedisTarget::Standalone("rediss://u:p@redis:6380/0".into())
        );
        assert_eq!(
            RedisTarget::parse("redis+cluster://:secret@a:7000,b:7001/").unwrap(),
            RedisTarget::Cluster(vec![
                "redis://:secret@a:7000".into(),
                "redis://:secret@b:7001".into()
            ])
        );
        assert!(RedisTarget::parse("http://x").is_err());
        assert!(RedisTarget::parse("redis+cluster://").is_err());
    }

    #[test]
    fn single_ledger_stream_is_refused_on_a_cluster() {
        let mut config = RedisConfig::new(RedisTarget::Cluster(vec!["redis://a".into()]));
        assert_eq!(
            config.ledger_streams().unwrap(),
            LedgerStreams::PerKey("bsg:ledger".into())
        );
        config.ledger = Some(LedgerStreams::Single("x".into()));
        assert!(config.ledger_streams().is_err());
    }
}
