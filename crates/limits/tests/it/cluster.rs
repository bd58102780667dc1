//! Redis Cluster: keys spread over slots, each key's state atomic in its own slot.

use std::collections::HashSet;

use bytespike_limits::{Limiter, Metric, Origin, RedisLimiter, SettleOutcome};

use crate::server::RedisCluster;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admission_and_settlement_work_across_slots() {
    let cluster = RedisCluster::start();
    let limiter = RedisLimiter::new(redis_config(&cluster.url())).unwrap();
    let l: &dyn Limiter = &limiter;
    let limits = one_window(FIVE_HOURS, |w| {
        w.requests = Some(2);
        w.tokens = Some(1000);
    });
    let names: Vec<String> = (0..6).map(|i| format!("tenant-{i}")).collect();
    let slots: HashSet<String> = names
        .iter()
        .map(|n| cluster.slot(&format!("{{bsg:team-a/{n}}}")))
        .collect();
    assert!(
        slots.len() >= 3,
        "keys should land in several slots: {slots:?}"
    );

    for name in &names {
        let k = key(name);
        let (a, _) = admitted(admit(l, &k, &limits, "a", 10, t0()).await);
        assert_eq!(a.origin, Origin::Shared);
        let (b, _) = admitted(admit(l, &k, &limits, "b", 10, t0()).await);
        rejected(admit(l, &k, &limits, "c", 10, t0()).await);
        let s = settlement(3, 4, 0, 0, 9);
        assert_eq!(
            l.settle(&a, &s, t0()).await.unwrap(),
            SettleOutcome::Settled
        );
        assert_eq!(
            l.settle(&a, &s, t0()).await.unwrap(),
            SettleOutcome::Duplicate
        );
        l.release(&b, t0()).await.unwrap();
        let u = l.usage(&k, &limits, t0()).await.unwrap();
        assert_eq!(used(&u, FIVE_HOURS, Metric::Requests), 1);
        assert_eq!(used(&u, FIVE_HOURS, Metric::Tokens), 7);
    }
    assert!(limiter.health().reachable);

    // Each key's ledger stream sits in the key's own slot.
    let seeds: Vec<String> = cluster.nodes.iter().map(|n| n.url()).collect();
    let client = redis::cluster::ClusterClient::new(seeds).unwrap();
    let mut con = client.get_connection().unwrap();
    for name in &names {
        let stream = format!("bsg:ledger:{{bsg:team-a/{name}}}");
        let entries: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
            .arg(&stream)
            .arg("-")
            .arg("+")
            .query(&mut con)
            .unwrap();
        assert_eq!(entries.len(), 1, "{stream}");
        let record = crate::ledger::parse(entries[0].1.clone());
        assert_eq!(record.key, format!("team-a/{name}"));
        assert_eq!(record.cost_micros, 9);
    }
}
