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

/// How admission reaches the shared budget.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AdmissionMode {
    /// One Redis round trip per admission.
    #[default]
    RoundTrip,
    /// Admit from a slice of the key's budget leased from Redis ahead of need; near the limit,
    /// or for keys with `max_concurrent`, fall back to one round trip per admission.
    Lease,
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

/// Longest a settlement may wait for company (see [`RedisConfig::settle_linger`]).
pub(crate) const MAX_SETTLE_LINGER: Duration = Duration::from_millis(100);

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
    /// How long a settlement or release that finds no other write in flight waits for company
    /// before it goes out: under a steady trickle of requests, the writes of a few share one
    /// pipeline (and one joined script call per key) instead of paying a whole call each.
    /// Zero sends a lone write at once.
    pub settle_linger: Duration,
    /// After a failure, calls skip Redis (straight to the policy) until this much time has passed.
    pub probe_interval: Duration,
    /// PEM root certificate trusted for `rediss://` instead of the system store (a private CA).
    pub tls_root_ca_pem: Option<Vec<u8>>,
    /// Round trip per admission, or leases.
    pub admission: AdmissionMode,
    /// How long a lease lives unless its replica extends it: a dead or idle replica's unused
    /// slots return to the budget within this.
    pub lease_ttl: Duration,
    /// Most request slots one replica leases for one key.
    pub lease_max_slots: u64,
    /// A lease takes at most 1/this of any remaining headroom (at least 2).
    pub lease_divisor: u64,
    /// Smallest lease granted; below it (near a limit, or a small cap) admissions take one round
    /// trip each, so a small budget is never stranded in another replica's unused lease.
    pub lease_min_slots: u64,
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
            settle_linger: Duration::ZERO,
            probe_interval: Duration::from_secs(1),
            tls_root_ca_pem: None,
            admission: AdmissionMode::RoundTrip,
            lease_ttl: Duration::from_secs(2),
            lease_max_slots: 256,
            lease_divisor: 4,
            lease_min_slots: 16,
        }
    }

    /// Refuses lease settings that could not keep a lease alive or inside the budget.
    pub(crate) fn check_lease(&self) -> Result<(), LimitError> {
        if self.admission == AdmissionMode::Lease
            && (self.lease_ttl < Duration::from_millis(100)
                || self.lease_min_slots < 2
                || self.lease_max_slots < self.lease_min_slots
                || self.lease_divisor < 2)
        {
            return Err(LimitError::Config(
                "leases need a ttl of at least 100ms, 2 <= min slots <= max slots, and a divisor \
                 of at least 2"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Refuses a linger long enough to matter to a budget: a lingering settlement keeps its
    /// lease slot taken and its usage out of Redis until it goes out.
    pub(crate) fn check_settle_linger(&self) -> Result<(), LimitError> {
        if self.settle_linger > MAX_SETTLE_LINGER {
            return Err(LimitError::Config(format!(
                "the settle linger may be at most {}ms",
                MAX_SETTLE_LINGER.as_millis()
            )));
        }
        Ok(())
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
    fn a_settle_linger_beyond_the_maximum_is_refused() {
        let mut config = RedisConfig::new(RedisTarget::Standalone("redis://a".into()));
        config.settle_linger = MAX_SETTLE_LINGER;
        assert!(config.check_settle_linger().is_ok());
        config.settle_linger = MAX_SETTLE_LINGER + Duration::from_millis(1);
        let message = config.check_settle_linger().unwrap_err().to_string();
        assert!(message.contains("at most 100ms"), "{message}");
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
