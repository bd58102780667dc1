//! Settlements under load share Redis pipelines, yet each keeps its own outcome, its own ledger
//! record and its own place in the replay buffer.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytespike_limits::{
    KeyId, KeyLimits, Limiter, Metric, RedisLimiter, Reservation, SettleOutcome,
};

use crate::ledger::read_stream;
use crate::server::{RedisCluster, RedisServer};
use crate::support::*;

fn limits() -> KeyLimits {
    one_window(FIVE_HOURS, |w| w.requests = Some(10_000))
}

/// Admits `n` requests of each key, one round trip each.
async fn admit_all(l: &dyn Limiter, keys: &[KeyId], n: usize) -> Vec<Reservation> {
    let mut out = Vec::new();
    for k in keys {
        out.extend(admit_n(l, k, &limits(), "r", n, 1, t0()).await);
    }
    out
}

/// A limiter on `server` whose lone settlements wait `linger` for company.
fn lingering(server: &RedisServer, linger: Duration) -> (RedisLimiter, Arc<Pipelines>) {
    let mut config = redis_config(&server.url());
    config.settle_linger = linger;
    counted(config)
}

/// Settles every reservation at once, as many finished requests do under load.
async fn settle_all(l: &dyn Limiter, all: &[Reservation]) -> Vec<SettleOutcome> {
    let all: Vec<&Reservation> = all.iter().collect();
    settle_at_once(l, &all, &settlement(1, 1, 0, 0, 1), at(mins(1))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_settlements_share_round_trips_and_each_is_recorded_once() {
    let server = RedisServer::start();
    let (limiter, pipelines) = counted(redis_config(&server.url()));
    let l: &dyn Limiter = &limiter;
    let k = key("batched");
    let all = admit_all(l, std::slice::from_ref(&k), 300).await;

    let outcomes = settle_all(l, &all).await;
    assert!(outcomes.iter().all(|o| *o == SettleOutcome::Settled));
    let sent = pipelines.sent.load(Ordering::Relaxed);
    // Writes that found none other in flight went direct, one round trip each.
    let batched = pipelines.members.load(Ordering::Relaxed);
    let round_trips = sent + (300 - batched);
    assert!(
        round_trips < 300,
        "300 settlements took {round_trips} round trips"
    );

    let records = read_stream(&server.url(), "bsg:ledger");
    let ids: HashSet<&str> = records.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!((records.len(), ids.len()), (300, 300));
    let u = l.usage(&k, &limits(), at(mins(2))).await.unwrap();
    assert_eq!(used(&u, FIVE_HOURS, Metric::Requests), 300);
    // Settling them all again changes nothing.
    assert!(settle_all(l, &all)
        .await
        .iter()
        .all(|o| *o == SettleOutcome::Duplicate));
    assert_eq!(read_stream(&server.url(), "bsg:ledger").len(), 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_linger_a_lone_settlement_goes_out_at_once() {
    let server = RedisServer::start();
    let (limiter, pipelines) = lingering(&server, Duration::ZERO);
    let l: &dyn Limiter = &limiter;
    let all = admit_all(l, &[key("lone")], 1).await;
    let started = Instant::now();
    assert_eq!(settle_all(l, &all).await, [SettleOutcome::Settled]);
    // Far below the call timeout.
    assert!(started.elapsed() < Duration::from_millis(100));
    // With nothing else in flight it skips the writer altogether.
    assert_eq!(pipelines.sent.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_settlement_waits_out_the_linger_then_goes_alone() {
    let server = RedisServer::start();
    let (limiter, pipelines) = lingering(&server, Duration::from_millis(60));
    let l: &dyn Limiter = &limiter;
    let all = admit_all(l, &[key("lingering")], 1).await;
    let started = Instant::now();
    assert_eq!(settle_all(l, &all).await, [SettleOutcome::Settled]);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(60),
        "went out after {waited:?}"
    );
    assert!(waited < Duration::from_secs(2), "went out after {waited:?}");
    assert_eq!(pipelines.counts(), (1, 1));
    assert_eq!(read_stream(&server.url(), "bsg:ledger").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_runs_where_it_was_first_used_and_its_end_loses_no_write() {
    let server = RedisServer::start();
    let (limiter, pipelines) = lingering(&server, Duration::from_millis(20));
    let limiter = Arc::new(limiter);
    let k = key("moved");
    let all = admit_all(limiter.as_ref(), std::slice::from_ref(&k), 2).await;

    // The first batched write comes from a runtime of its own, which then shuts down.
    let (first, s) = (all[0].clone(), settlement(1, 1, 0, 0, 1));
    let on_other = limiter.clone();
    let outcome = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(on_other.settle(&first, &s, at(mins(1))))
    })
    .join()
    .unwrap();
    assert_eq!(outcome.unwrap(), SettleOutcome::Settled);
    assert_eq!(pipelines.counts(), (1, 1), "the writer sent the first one");

    // The writer ended with that runtime: the next write goes alone, and is counted.
    let s = settlement(1, 1, 0, 0, 1);
    let outcome = limiter.settle(&all[1], &s, at(mins(1))).await.unwrap();
    assert_eq!(outcome, SettleOutcome::Settled);
    assert_eq!(pipelines.counts(), (1, 1), "no writer left to batch it");
    assert_eq!(read_stream(&server.url(), "bsg:ledger").len(), 2);
    let u = limiter.usage(&k, &limits(), at(mins(2))).await.unwrap();
    assert_eq!(used(&u, FIVE_HOURS, Metric::Requests), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickle_of_settlements_shares_calls_within_the_linger() {
    let server = RedisServer::start();
    let (limiter, pipelines) = lingering(&server, Duration::from_millis(25));
    let l: &dyn Limiter = &limiter;
    let k = key("trickle");
    let all = admit_all(l, std::slice::from_ref(&k), 20).await;

    // One request finishing every millisecond, as under steady sequential traffic: each
    // settlement would find the previous one answered and go alone without the linger.
    let s = settlement(1, 1, 0, 0, 1);
    let outcomes = futures::future::join_all(all.iter().enumerate().map(|(i, r)| {
        let s = &s;
        async move {
            tokio::time::sleep(Duration::from_millis(i as u64)).await;
            l.settle(r, s, at(mins(1))).await.expect("settle call")
        }
    }))
    .await;
    assert!(outcomes.iter().all(|o| *o == SettleOutcome::Settled));
    let (sent, members) = pipelines.counts();
    assert_eq!(members, 20, "every settlement went through the writer");
    assert!(sent <= 10, "20 settlements took {sent} pipelines");

    let records = read_stream(&server.url(), "bsg:ledger");
    let ids: HashSet<&str> = records.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!((records.len(), ids.len()), (20, 20));
    let u = l.usage(&k, &limits(), at(mins(2))).await.unwrap();
    assert_eq!(used(&u, FIVE_HOURS, Metric::Requests), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_redis_never_answers_is_deferred_and_replayed_once() {
    let server = RedisServer::start();
    let (limiter, _) = counted(redis_config(&server.url()));
    let l: &dyn Limiter = &limiter;
    let k = key("paused");
    let all = admit_all(l, std::slice::from_ref(&k), 50).await;

    // Redis takes the pipeline but answers only after the call timeout (300 ms): every member
    // defers, though Redis may still apply some of them once the pause ends.
    server.query(&["CLIENT", "PAUSE", "1000", "ALL"]).unwrap();
    let outcomes = settle_all(l, &all).await;
    assert!(outcomes.iter().all(|o| *o == SettleOutcome::Deferred));
    assert_eq!(limiter.health().pending, 50);

    let deadline = Instant::now() + Duration::from_secs(10);
    while limiter.ping().await.is_err() {
        assert!(Instant::now() < deadline, "Redis never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(limiter.replay_pending().await, 50);
    assert_eq!(limiter.health().pending, 0);
    let records = read_stream(&server.url(), "bsg:ledger");
    let ids: HashSet<&str> = records.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!((records.len(), ids.len()), (50, 50));
    let u = l.usage(&k, &limits(), at(mins(2))).await.unwrap();
    assert_eq!(used(&u, FIVE_HOURS, Metric::Requests), 50);
    assert_eq!(used(&u, FIVE_HOURS, Metric::Tokens), 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_to_a_stopped_redis_is_deferred_and_replayed_once() {
    let mut server = RedisServer::start();
    let (limiter, _) = counted(redis_config(&server.url()));
    let l: &dyn Limiter = &limiter;
    let k = key("stopped");
    let all = admit_all(l, std::slice::from_ref(&k), 50).await;
    server.stop();
    assert!(settle_all(l, &all)
        .await
        .iter()
        .all(|o| *o == SettleOutcome::Deferred));
    assert_eq!(limiter.health().pending, 50);
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    while limiter.ping().await.is_err() {
        assert!(Instant::now() < deadline, "Redis never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(limiter.replay_pending().await, 50);
    assert_eq!(read_stream(&server.url(), "bsg:ledger").len(), 50);
    let u = l.usage(&k, &limits(), at(mins(2))).await.unwrap();
    assert_eq!(used(&u, FIVE_HOURS, Metric::Requests), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_settlements_batch_per_slot() {
    let cluster = RedisCluster::start();
    let (limiter, pipelines) = counted(redis_config(&cluster.url()));
    let l: &dyn Limiter = &limiter;
    let keys: Vec<KeyId> = (0..4).map(|i| key(&format!("slot-{i}"))).collect();
    let all = admit_all(l, &keys, 60).await;

    let outcomes = settle_all(l, &all).await;
    assert!(outcomes.iter().all(|o| *o == SettleOutcome::Settled));
    let sent = pipelines.sent.load(Ordering::Relaxed);
    // Writes that found none other in flight went direct, one round trip each.
    let batched = pipelines.members.load(Ordering::Relaxed);
    let round_trips = sent + (240 - batched);
    assert!(
        round_trips < 240,
        "240 settlements took {round_trips} round trips"
    );

    let seeds: Vec<String> = cluster.nodes.iter().map(|n| n.url()).collect();
    let client = redis::cluster::ClusterClient::new(seeds).unwrap();
    let mut con = client.get_connection().unwrap();
    for k in &keys {
        let stream = format!("bsg:ledger:{{bsg:team-a/{}}}", k.name);
        let entries: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
            .arg(&stream)
            .arg("-")
            .arg("+")
            .query(&mut con)
            .unwrap();
        let ids: HashSet<String> = entries
            .into_iter()
            .map(|(_, flat)| crate::ledger::parse(flat).request_id)
            .collect();
        assert_eq!(ids.len(), 60, "{stream}");
        let u = l.usage(k, &limits(), at(mins(2))).await.unwrap();
        assert_eq!(used(&u, FIVE_HOURS, Metric::Requests), 60);
    }
}
