//! Settlements of one key that meet in a pipeline run as one script call, which writes each
//! changed window field once for them all, yet each keeps its own outcome and ledger record.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bytespike_limits::{KeyLimits, Limiter, Metric, RedisLimiter, Reservation, SettleOutcome};

use crate::ledger::read_stream;
use crate::server::RedisServer;
use crate::support::*;

fn limits() -> KeyLimits {
    one_window(FIVE_HOURS, |w| {
        w.requests = Some(10_000);
        w.tokens = Some(10_000_000);
    })
}

/// Script calls Redis has run so far (every limiter op is one `EVALSHA`).
fn script_calls(server: &RedisServer) -> u64 {
    let stats = server.query(&["INFO", "commandstats"]).unwrap();
    stats
        .lines()
        .find_map(|line| line.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

/// Settles them all at once with 3 input and 2 output tokens, 7 micro-dollars each.
async fn settle_each(
    l: &dyn Limiter,
    all: &[&Reservation],
    now: std::time::SystemTime,
) -> Vec<SettleOutcome> {
    settle_at_once(l, all, &settlement(3, 2, 0, 0, 7), now).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_keys_settlements_in_a_pipeline_are_one_script_call() {
    let server = RedisServer::start();
    let (limiter, pipelines) = counted(redis_config(&server.url()));
    let l: &dyn Limiter = &limiter;
    let k = key("joined");
    let all = admit_n(l, &k, &limits(), "j", 300, 3, t0()).await;

    let before = script_calls(&server);
    let outcomes = settle_each(l, &all.iter().collect::<Vec<_>>(), at(mins(1))).await;
    assert!(outcomes.iter().all(|o| *o == SettleOutcome::Settled));
    let calls = script_calls(&server) - before;
    let (sent, members) = pipelines.counts();
    let (sent, members) = (sent as u64, members as u64);
    assert!(
        members > sent,
        "no pipeline carried two settlements ({sent} for {members})"
    );
    // One call per pipeline (all of one key), one per settlement that went alone.
    assert_eq!(calls, sent + (300 - members));

    let records = read_stream(&server.url(), "bsg:ledger");
    let ids: HashSet<&str> = records.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!((records.len(), ids.len()), (300, 300));
    assert!(records
        .iter()
        .all(|r| r.output_tokens == 2 && r.cost_micros == 7));
    let u = l.usage(&k, &limits(), at(mins(2))).await.unwrap();
    assert_eq!(used(&u, FIVE_HOURS, Metric::Requests), 300);
    // Each settlement replaced its estimate (3) with its input and output (3 + 2).
    assert_eq!(used(&u, FIVE_HOURS, Metric::Tokens), 300 * 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_settled_twice_in_one_joined_call_counts_once() {
    let server = RedisServer::start();
    let (limiter, pipelines) = counted(redis_config(&server.url()));
    let l: &dyn Limiter = &limiter;
    let k = key("joined-twice");
    let all = admit_n(l, &k, &limits(), "t", 100, 3, t0()).await;
    // Each reservation twice, side by side, so duplicates share pipelines with their twin.
    let twice: Vec<&Reservation> = all.iter().flat_map(|r| [r, r]).collect();
    let outcomes = settle_each(l, &twice, at(mins(1))).await;
    let (sent, members) = pipelines.counts();
    assert!(members > sent, "no pipeline carried two settlements");

    let mut per_id: HashMap<&str, Vec<SettleOutcome>> = HashMap::new();
    for (r, o) in twice.iter().zip(outcomes) {
        per_id.entry(r.request_id.as_str()).or_default().push(o);
    }
    for (id, mut seen) in per_id {
        seen.sort_by_key(|o| *o == SettleOutcome::Duplicate);
        assert_eq!(
            seen,
            [SettleOutcome::Settled, SettleOutcome::Duplicate],
            "{id}"
        );
    }
    assert_eq!(read_stream(&server.url(), "bsg:ledger").len(), 100);
    let u = l.usage(&k, &limits(), at(mins(2))).await.unwrap();
    assert_eq!(used(&u, FIVE_HOURS, Metric::Requests), 100);
    assert_eq!(used(&u, FIVE_HOURS, Metric::Tokens), 100 * 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joined_settlements_of_leased_requests_shrink_the_lease_slot_by_slot() {
    let server = RedisServer::start();
    let (a, pipelines) = counted(lease_config(&server.url()));
    let observer = RedisLimiter::new(redis_config(&server.url())).unwrap();
    let k = key("joined-lease");
    // The first admission is a round trip that also leases 256 slots of 3 tokens each.
    let (first, _) = admitted(admit(&a, &k, &limits(), "first", 3, t0()).await);
    assert!(first.lease.is_none());
    let carved = admit_n(&a, &k, &limits(), "c", 100, 3, t0()).await;
    assert!(
        carved.iter().all(|r| r.lease.is_some()),
        "a request was not carved from the lease"
    );
    // Settled while the lease lives (it lasts seconds).
    let outcomes = settle_each(&a, &carved.iter().collect::<Vec<_>>(), t0()).await;
    assert!(outcomes.iter().all(|o| *o == SettleOutcome::Settled));
    let (sent, members) = pipelines.counts();
    assert!(members > sent, "no pipeline carried two settlements");

    // Another replica sees: the first reservation, the 100 settled, and the 156 slots (of 3
    // tokens) the lease still holds.
    let u = observer.usage(&k, &limits(), t0()).await.unwrap();
    assert_eq!(used(&u, FIVE_HOURS, Metric::Requests), 1 + 100 + 156);
    assert_eq!(used(&u, FIVE_HOURS, Metric::Tokens), 3 + 100 * 5 + 156 * 3);
    // Once the lease expires only what was used is left.
    let later = at(Duration::from_secs(5));
    let u = observer.usage(&k, &limits(), later).await.unwrap();
    assert_eq!(used(&u, FIVE_HOURS, Metric::Requests), 1 + 100);
    assert_eq!(used(&u, FIVE_HOURS, Metric::Tokens), 3 + 100 * 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joined_settlements_survive_a_flushed_script_cache() {
    let server = RedisServer::start();
    let (limiter, pipelines) = counted(redis_config(&server.url()));
    let l: &dyn Limiter = &limiter;
    let k = key("joined-noscript");
    let all = admit_n(l, &k, &limits(), "n", 100, 3, t0()).await;
    // As after a Redis restart: a pipeline cannot load the script, so its members meet
    // NOSCRIPT and each is retried alone, which loads it.
    server.query(&["SCRIPT", "FLUSH"]).unwrap();
    let outcomes = settle_each(l, &all.iter().collect::<Vec<_>>(), at(mins(1))).await;
    assert!(
        outcomes.iter().all(|o| *o == SettleOutcome::Settled),
        "{outcomes:?}"
    );
    let (sent, members) = pipelines.counts();
    assert!(members > sent, "no pipeline carried two settlements");
    assert_eq!(read_stream(&server.url(), "bsg:ledger").len(), 100);
    let u = l.usage(&k, &limits(), at(mins(2))).await.unwrap();
    assert_eq!(used(&u, FIVE_HOURS, Metric::Requests), 100);
}
