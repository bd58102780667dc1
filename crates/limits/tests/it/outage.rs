//! Redis stopped and restarted mid-traffic, under each failure policy.

use std::time::{Duration, Instant};

use bytespike_limits::{
    FailurePolicy, KeyLimits, LimitError, Limiter, Metric, Origin, RedisLimiter, SettleOutcome,
};

use crate::server::RedisServer;
use crate::support::*;

/// Waits until the limiter reaches Redis again, without recreating it.
async fn wait_until_reachable(limiter: &RedisLimiter) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while limiter.ping().await.is_err() {
        assert!(
            Instant::now() < deadline,
            "limiter never reconnected to Redis"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_open_admits_against_the_shadow_budget_and_replays_settlements() {
    let mut server = RedisServer::start();
    let mut config = redis_config(&server.url());
    config.replicas = 2;
    let limiter = RedisLimiter::new(config).unwrap();
    let l: &dyn Limiter = &limiter;
    let k = key("fail-open");
    let limits = one_window(FIVE_HOURS, |w| {
        w.requests = Some(10);
        w.tokens = Some(1_000_000);
    });

    for i in 0..2 {
        let (res, _) = admitted(admit(l, &k, &limits, &format!("up-{i}"), 5, at(mins(i))).await);
        assert_eq!(res.origin, Origin::Shared);
        l.settle(&res, &settlement(10, 10, 0, 0, 1), at(mins(i)))
            .await
            .unwrap();
    }
    let (in_flight, _) = admitted(admit(l, &k, &limits, "in-flight", 1000, at(mins(3))).await);

    server.stop();
    // The shadow budget is half of each cap: five requests on this replica.
    let mut shadow = Vec::new();
    for i in 0..5 {
        let (res, _) = admitted(admit(l, &k, &limits, &format!("down-{i}"), 5, at(mins(10))).await);
        assert_eq!(res.origin, Origin::Shadow);
        shadow.push(res);
    }
    rejected(admit(l, &k, &limits, "down-5", 5, at(mins(10))).await);
    let health = limiter.health();
    assert!(!health.reachable);
    assert!(health.last_error.is_some());
    for res in &shadow {
        let outcome = l
            .settle(res, &settlement(5, 5, 0, 0, 1), at(mins(11)))
            .await
            .unwrap();
        assert_eq!(outcome, SettleOutcome::Deferred);
    }
    l.release(&in_flight, at(mins(11))).await.unwrap();
    assert_eq!(limiter.health().pending, 6);

    server.restart();
    wait_until_reachable(&limiter).await;
    let (after, _) = admitted(admit(l, &k, &limits, "after", 0, at(mins(20))).await);
    assert_eq!(after.origin, Origin::Shared);
    assert_eq!(limiter.replay_pending().await, 6);
    let health = limiter.health();
    assert!(health.reachable);
    assert_eq!((health.pending, health.dropped_settlements), (0, 0));

    // 2 before the outage + 5 during it + 1 after; the released reservation is gone.
    let u = l.usage(&k, &limits, at(mins(21))).await.unwrap();
    assert_eq!(used(&u, FIVE_HOURS, Metric::Requests), 8);
    assert_eq!(used(&u, FIVE_HOURS, Metric::Tokens), 2 * 20 + 5 * 10);
    assert_eq!(used(&u, FIVE_HOURS, Metric::CostMicros), 7);
    let again = l
        .settle(&shadow[0], &settlement(5, 5, 0, 0, 1), at(mins(22)))
        .await;
    assert_eq!(again.unwrap(), SettleOutcome::Duplicate);
    let u2 = l.usage(&k, &limits, at(mins(21))).await.unwrap();
    assert_eq!(u, u2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fail_closed_errors_while_down_and_recovers() {
    let mut server = RedisServer::start();
    let mut config = redis_config(&server.url());
    config.policy = FailurePolicy::FailClosed;
    config.pending_capacity = 1;
    let limiter = RedisLimiter::new(config).unwrap();
    let l: &dyn Limiter = &limiter;
    let k = key("fail-closed");
    let limits = one_window(FIVE_HOURS, |w| w.requests = Some(10));
    let (a, _) = admitted(admit(l, &k, &limits, "a", 0, t0()).await);
    let (b, _) = admitted(admit(l, &k, &limits, "b", 0, t0()).await);

    server.stop();
    let err = l
        .admit(bytespike_limits::AdmitRequest {
            key: &k,
            limits: &limits,
            request_id: "c",
            estimated_input_tokens: 0,
            now: at(mins(1)),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, LimitError::Unavailable(_)), "{err:?}");
    assert_eq!(err.metric_label(), "unavailable");
    assert!(matches!(
        l.usage(&k, &limits, at(mins(1))).await,
        Err(LimitError::Unavailable(_))
    ));
    // A key without limits needs no Redis at all.
    admitted(admit(l, &key("free"), &KeyLimits::default(), "f", 0, at(mins(1))).await);
    // Served requests still settle later; past the buffer they are counted as dropped.
    let s = settlement(1, 1, 0, 0, 0);
    assert_eq!(
        l.settle(&a, &s, at(mins(1))).await.unwrap(),
        SettleOutcome::Deferred
    );
    assert_eq!(
        l.settle(&b, &s, at(mins(1))).await.unwrap(),
        SettleOutcome::Deferred
    );
    let health = limiter.health();
    assert_eq!(
        (health.reachable, health.pending, health.dropped_settlements),
        (false, 1, 1)
    );

    server.restart();
    wait_until_reachable(&limiter).await;
    let (c, _) = admitted(admit(l, &k, &limits, "c", 0, at(mins(2))).await);
    assert_eq!(c.origin, Origin::Shared);
    assert_eq!(limiter.replay_pending().await, 1);
    let u = l.usage(&k, &limits, at(mins(2))).await.unwrap();
    // a settled by replay, b still reserved (its settlement was dropped), c reserved.
    assert_eq!(used(&u, FIVE_HOURS, Metric::Requests), 3);
    assert_eq!(used(&u, FIVE_HOURS, Metric::Tokens), 2);
}
