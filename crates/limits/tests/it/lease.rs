//! Leased admission: replicas admit from slices of a key's budget held in Redis.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytespike_limits::{
    Admission, Limiter, LimiterMetrics, Metric, Origin, RedisLimiter, SettleOutcome,
};
use futures::future::join_all;

use crate::ledger::read_stream;
use crate::server::RedisServer;
use crate::support::*;

/// Past the lease ttl (2s by default): every lease not extended has expired.
const AFTER_LEASES: Duration = Duration::from_secs(5);

/// Counts the requests that waited for a lease refill.
#[derive(Default)]
struct LeaseWaits(AtomicUsize);

impl LimiterMetrics for LeaseWaits {
    fn waited_for_lease(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn leased(server: &RedisServer) -> RedisLimiter {
    RedisLimiter::new(lease_config(&server.url())).unwrap()
}

fn round_trip(server: &RedisServer) -> RedisLimiter {
    RedisLimiter::new(redis_config(&server.url())).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_leasing_replicas_never_exceed_a_request_cap_together() {
    let server = RedisServer::start();
    let replicas: Vec<Arc<RedisLimiter>> = (0..2).map(|_| Arc::new(leased(&server))).collect();
    let k = key("shared-leased");
    let limits = one_window(FIVE_HOURS, |w| w.requests = Some(200));
    let mut admitted = 0;
    let mut from_lease = 0;
    let mut served = Vec::new();
    // Waves of concurrent requests, so later waves find the leases the first ones asked for.
    for wave in 0..30 {
        let tasks = (0..20).map(|i| {
            let limiter = replicas[i % 2].clone();
            let (k, limits) = (k.clone(), limits.clone());
            tokio::spawn(async move {
                let id = format!("req-{wave}-{i}");
                (
                    i % 2,
                    admit(limiter.as_ref(), &k, &limits, &id, 10, t0()).await,
                )
            })
        });
        for result in join_all(tasks).await {
            if let (replica, Admission::Admitted { reservation, .. }) = result.unwrap() {
                admitted += 1;
                from_lease += usize::from(reservation.lease.is_some());
                served.push((replica, reservation));
            }
        }
    }
    assert!(admitted <= 200, "admitted {admitted} over a cap of 200");
    assert!(from_lease > 0, "no admission came from a lease");
    let observer = round_trip(&server);
    let u = observer.usage(&k, &limits, t0()).await.unwrap();
    assert!(used(&u, FIVE_HOURS, Metric::Requests) <= 200, "{u:?}");

    // Every admitted request finishes and is billed.
    for (replica, reservation) in &served {
        let s = settlement(1, 1, 0, 0, 0);
        let outcome = replicas[*replica].settle(reservation, &s, t0()).await;
        assert_eq!(outcome.unwrap(), SettleOutcome::Settled);
    }
    // Once unused leases expired, the rest of the budget is admitted one by one, to the request.
    let later = at(AFTER_LEASES);
    let mut more = 0;
    while let Admission::Admitted { .. } =
        admit(&observer, &k, &limits, &format!("late-{more}"), 0, later).await
    {
        more += 1;
        assert!(more <= 200, "the cap never stopped admissions");
    }
    assert_eq!(admitted + more, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leased_admissions_need_no_redis_until_the_lease_is_used_up() {
    let mut server = RedisServer::start();
    let limiter = leased(&server);
    let k = key("no-round-trip");
    let limits = one_window(FIVE_HOURS, |w| w.requests = Some(10_000));
    let (first, _) = admitted(admit(&limiter, &k, &limits, "first", 0, t0()).await);
    assert_eq!((first.origin, first.lease), (Origin::Shared, None));

    server.stop();
    // The first round trip leased 256 slots (the default maximum): all admit without Redis.
    for i in 0..256 {
        let (r, _) = admitted(admit(&limiter, &k, &limits, &format!("l{i}"), 0, t0()).await);
        assert_eq!(r.origin, Origin::Shared, "request {i}");
        assert!(
            r.lease.is_some(),
            "request {i} was not carved from the lease"
        );
    }
    // Used up and Redis away: the fail-open shadow budget takes over.
    let (r, _) = admitted(admit(&limiter, &k, &limits, "after", 0, t0()).await);
    assert_eq!(r.origin, Origin::Shadow);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_count_for_every_replica_and_return_on_expiry_or_give_back() {
    let server = RedisServer::start();
    let a = leased(&server);
    let b = round_trip(&server);
    let k = key("lease-visible");
    let limits = one_window(FIVE_HOURS, |w| w.requests = Some(100));
    admitted(admit(&a, &k, &limits, "r0", 0, t0()).await);
    // 99 left after r0: a lease takes a quarter, 24 slots, which the other replica sees as used.
    let seen = |u: Vec<_>| used(&u, FIVE_HOURS, Metric::Requests);
    assert_eq!(seen(b.usage(&k, &limits, t0()).await.unwrap()), 25);
    assert_eq!(seen(a.usage(&k, &limits, t0()).await.unwrap()), 1);
    assert_eq!(
        seen(b.usage(&k, &limits, at(AFTER_LEASES)).await.unwrap()),
        1
    );

    let k2 = key("lease-given-back");
    admitted(admit(&a, &k2, &limits, "r0", 0, t0()).await);
    assert_eq!(seen(b.usage(&k2, &limits, t0()).await.unwrap()), 25);
    a.return_leases().await;
    assert_eq!(seen(b.usage(&k2, &limits, t0()).await.unwrap()), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leased_requests_settle_once_and_releases_never_bill() {
    let server = RedisServer::start();
    let a = leased(&server);
    let b = round_trip(&server);
    let k = key("lease-billing");
    let limits = one_window(FIVE_HOURS, |w| {
        w.requests = Some(1000);
        w.tokens = Some(1_000_000);
    });
    let (r0, _) = admitted(admit(&a, &k, &limits, "r0", 10, t0()).await);
    let (r1, report) = admitted(admit(&a, &k, &limits, "r1", 10, t0()).await);
    let (r2, _) = admitted(admit(&a, &k, &limits, "r2", 10, t0()).await);
    assert!(r0.lease.is_none() && r1.lease.is_some() && r2.lease.is_some());
    // The report counts r0 and the carved r1, not the lease's unused slots.
    assert_eq!(used(&report, FIVE_HOURS, Metric::Requests), 2);
    assert_eq!(used(&report, FIVE_HOURS, Metric::Tokens), 20);

    let s = settlement(30, 20, 0, 0, 0);
    assert_eq!(
        a.settle(&r1, &s, t0()).await.unwrap(),
        SettleOutcome::Settled
    );
    assert_eq!(
        a.settle(&r1, &s, t0()).await.unwrap(),
        SettleOutcome::Duplicate
    );
    a.release(&r2, t0()).await.unwrap();
    a.release(&r2, t0()).await.unwrap();

    // r0 reserved (1, 10 tokens) + r1 settled (1, 50) + the lease: a quarter of the 999
    // requests left, 249 slots of 10 tokens, less r1's slot now counted as settled.
    let u = b.usage(&k, &limits, t0()).await.unwrap();
    assert_eq!(used(&u, FIVE_HOURS, Metric::Requests), 2 + 248);
    assert_eq!(used(&u, FIVE_HOURS, Metric::Tokens), 10 + 50 + 2480);
    let u = b.usage(&k, &limits, at(AFTER_LEASES)).await.unwrap();
    assert_eq!(used(&u, FIVE_HOURS, Metric::Requests), 2);
    assert_eq!(used(&u, FIVE_HOURS, Metric::Tokens), 60);

    let ledger = read_stream(&server.url(), "bsg:ledger");
    let ids: Vec<&str> = ledger.iter().map(|r| r.request_id.as_str()).collect();
    assert_eq!(ids, ["r1"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_the_limit_leases_shrink_and_the_cap_stays_exact() {
    let server = RedisServer::start();
    let a = leased(&server);
    let b = round_trip(&server);

    // Too little headroom for a lease: one round trip per request, exactly to the cap.
    let small = key("lease-small");
    let eight = one_window(FIVE_HOURS, |w| w.requests = Some(8));
    for i in 0..8 {
        let (r, _) = admitted(admit(&a, &small, &eight, &format!("s{i}"), 0, t0()).await);
        assert!(r.lease.is_none(), "request {i} leased near the limit");
    }
    rejected(admit(&a, &small, &eight, "s8", 0, t0()).await);

    // 39 left after the first request: the lease is a quarter of it, 9 slots.
    let k = key("lease-shrinks");
    let limits = one_window(FIVE_HOURS, |w| w.requests = Some(40));
    admitted(admit(&a, &k, &limits, "a0", 0, t0()).await);
    let u = b.usage(&k, &limits, t0()).await.unwrap();
    assert_eq!(used(&u, FIVE_HOURS, Metric::Requests), 10);
    let mut others = 0;
    while let Admission::Admitted { .. } =
        admit(&b, &k, &limits, &format!("b{others}"), 0, t0()).await
    {
        others += 1;
    }
    assert_eq!(others, 30);
    for i in 0..9 {
        let (r, _) = admitted(admit(&a, &k, &limits, &format!("a{}", i + 1), 0, t0()).await);
        assert!(r.lease.is_some(), "request {i} should come from the lease");
    }
    rejected(admit(&a, &k, &limits, "a10", 0, t0()).await);
    let u = b.usage(&k, &limits, t0()).await.unwrap();
    assert_eq!(used(&u, FIVE_HOURS, Metric::Requests), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_lease_is_given_back_before_it_expires() {
    let server = RedisServer::start();
    let mut config = lease_config(&server.url());
    config.lease_ttl = Duration::from_millis(400);
    let a = RedisLimiter::new(config).unwrap();
    let b = round_trip(&server);
    let k = key("lease-idle");
    let limits = one_window(FIVE_HOURS, |w| w.requests = Some(100));
    admitted(admit(&a, &k, &limits, "r0", 0, t0()).await);
    let seen = |u: Vec<_>| used(&u, FIVE_HOURS, Metric::Requests);
    assert_eq!(seen(b.usage(&k, &limits, t0()).await.unwrap()), 25);
    // Read at t0, before the lease's own expiry: only a give-back can bring it down.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while seen(b.usage(&k, &limits, t0()).await.unwrap()) != 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "idle lease never given back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_arriving_while_the_lease_is_asked_for_wait_for_it() {
    let server = RedisServer::start();
    let waits = Arc::new(LeaseWaits::default());
    let limiter = Arc::new(leased(&server).with_metrics(waits.clone()));
    let k = key("first-burst");
    let limits = one_window(FIVE_HOURS, |w| w.requests = Some(10_000));
    // Fifty requests of a key with no lease yet, all at once: one round trip asks for the
    // lease, the others wait for it instead of each making their own.
    let start = Arc::new(tokio::sync::Barrier::new(50));
    let tasks = (0..50).map(|i| {
        let (limiter, k, limits, start) =
            (limiter.clone(), k.clone(), limits.clone(), start.clone());
        tokio::spawn(async move {
            start.wait().await;
            let id = format!("burst-{i}");
            admitted(admit(limiter.as_ref(), &k, &limits, &id, 0, t0()).await).0
        })
    });
    let reservations: Vec<_> = join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let round_trips = reservations.iter().filter(|r| r.lease.is_none()).count();
    assert_eq!(
        round_trips, 1,
        "admissions without the lease: {round_trips} of 50"
    );
    // Those that found the ask in flight waited and said so; the rest came after the answer.
    let waited = waits.0.load(Ordering::Relaxed);
    assert!((1..=49).contains(&waited), "{waited} waited");
    let u = limiter.usage(&k, &limits, t0()).await.unwrap();
    // Redis counts the lease's slots as held, so at least the fifty admitted requests.
    assert!(used(&u, FIVE_HOURS, Metric::Requests) >= 50, "{u:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admission_dropped_while_asking_for_the_lease_does_not_block_the_key() {
    let server = RedisServer::start();
    let limiter = leased(&server);
    let k = key("dropped-ask");
    let limits = one_window(FIVE_HOURS, |w| w.requests = Some(10_000));
    // The first admission asks for the key's lease, then its caller goes away mid round trip.
    {
        let first = admit(&limiter, &k, &limits, "gone", 0, t0());
        tokio::pin!(first);
        assert!(futures::poll!(first.as_mut()).is_pending());
    }
    // The next one asks again and gets the lease; the ones after it are carved from it.
    let lease_of = |a| admitted(a).0.lease;
    assert_eq!(
        lease_of(admit(&limiter, &k, &limits, "next", 0, t0()).await),
        None
    );
    assert!(lease_of(admit(&limiter, &k, &limits, "then", 0, t0()).await).is_some());
    assert!(lease_of(admit(&limiter, &k, &limits, "last", 0, t0()).await).is_some());
}
