//! Passive health of upstream targets: a provider that keeps failing is ejected for a while, so
//! requests skip it instead of paying its failure (and a failover) every time. Ejection backs
//! off exponentially while the failures continue; one success clears the record.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytespike_config::snapshot::ProviderEntry;

/// Consecutive failures that eject a provider.
const FAILURES_TO_EJECT: u32 = 3;
/// First ejection; doubled for each ejection in a row.
const BASE_EJECTION: Duration = Duration::from_secs(5);
/// Longest ejection.
const MAX_EJECTION: Duration = Duration::from_secs(120);

#[derive(Debug, Default)]
struct Record {
    consecutive_failures: u32,
    ejections_in_a_row: u32,
    ejected_until: Option<Instant>,
}

/// Failure records by provider (`namespace/name`).
#[derive(Debug, Default)]
pub struct Health {
    records: Mutex<HashMap<String, Record>>,
    /// Whether any record exists: the common case (no provider failing) takes no lock.
    any: AtomicBool,
}

impl Health {
    /// Records a failed attempt; true when it ejected the provider.
    pub fn failed(&self, provider: &ProviderEntry, now: Instant) -> bool {
        let mut records = self.records.lock().expect("health records");
        self.any.store(true, Ordering::Release);
        let record = records.entry(key(provider)).or_default();
        record.consecutive_failures += 1;
        if record.consecutive_failures < FAILURES_TO_EJECT {
            return false;
        }
        let factor = 1u32 << record.ejections_in_a_row.min(10);
        let ejection = BASE_EJECTION.saturating_mul(factor).min(MAX_EJECTION);
        record.ejected_until = Some(now + ejection);
        record.ejections_in_a_row += 1;
        record.consecutive_failures = 0;
        true
    }

    /// Records an answer that was not a failure: the provider is healthy again.
    pub fn succeeded(&self, provider: &ProviderEntry) {
        if !self.any.load(Ordering::Acquire) {
            return;
        }
        let mut records = self.records.lock().expect("health records");
        records.remove(&key(provider));
        self.any.store(!records.is_empty(), Ordering::Release);
    }

    /// Whether any provider has a failure on record; when none has, nobody is ejected and the
    /// request path skips the per-target checks.
    pub fn any_failing(&self) -> bool {
        self.any.load(Ordering::Acquire)
    }

    /// Whether the provider is ejected at `now`.
    pub fn is_ejected(&self, provider: &ProviderEntry, now: Instant) -> bool {
        if !self.any.load(Ordering::Acquire) {
            return false;
        }
        let records = self.records.lock().expect("health records");
        records
            .get(&key(provider))
            .and_then(|r| r.ejected_until)
            .is_some_and(|until| until > now)
    }
}

fn key(provider: &ProviderEntry) -> String {
    format!("{}/{}", provider.namespace, provider.name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytespike_config::snapshot::BaseUrl;

    fn provider(name: &str) -> ProviderEntry {
        ProviderEntry {
            namespace: "default".into(),
            name: name.into(),
            protocol: bytespike_config::resources::Protocol::Anthropic,
            base_url: BaseUrl::parse("http://127.0.0.1:1").unwrap(),
            credential: None,
            timeouts: Default::default(),
            pool: Default::default(),
            headers: Vec::new(),
            http2: false,
            wire: bytespike_config::snapshot::WireHeaders::new(
                bytespike_config::resources::Protocol::Anthropic,
                &BaseUrl::parse("http://127.0.0.1:1").unwrap(),
                None,
                &[],
            )
            .unwrap(),
        }
    }

    #[test]
    fn ejects_after_consecutive_failures_and_backs_off() {
        let health = Health::default();
        let (p, other) = (&provider("p"), &provider("other"));
        let t0 = Instant::now();
        assert!(!health.failed(p, t0));
        assert!(!health.failed(p, t0));
        assert!(health.failed(p, t0), "the third failure in a row ejects");
        assert!(health.is_ejected(p, t0 + Duration::from_secs(4)));
        assert!(!health.is_ejected(p, t0 + Duration::from_secs(6)));
        // Still failing after the ejection: the next one lasts twice as long.
        let t1 = t0 + Duration::from_secs(6);
        for _ in 0..3 {
            health.failed(p, t1);
        }
        assert!(health.is_ejected(p, t1 + Duration::from_secs(9)));
        assert!(!health.is_ejected(p, t1 + Duration::from_secs(11)));
        assert!(!health.is_ejected(other, t1));
    }

    #[test]
    fn a_success_clears_the_record() {
        let health = Health::default();
        let p = &provider("p");
        let now = Instant::now();
        health.failed(p, now);
        health.failed(p, now);
        health.succeeded(p);
        assert!(
            !health.failed(p, now),
            "the count starts over after a success"
        );
        assert!(!health.is_ejected(p, now));
    }
}
