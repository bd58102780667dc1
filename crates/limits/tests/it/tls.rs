//! `rediss://`: the limiter over TLS, trusting a private CA.

use bytespike_limits::{Limiter, Metric, Origin, RedisLimiter, SettleOutcome};

use crate::server::RedisServer;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admits_and_settles_over_tls() {
    let (server, tls_port) = RedisServer::start_tls();
    let mut config = redis_config(&format!("rediss://127.0.0.1:{tls_port}"));
    config.tls_root_ca_pem = Some(server.ca_pem());
    let limiter = RedisLimiter::new(config).unwrap();
    let l: &dyn Limiter = &limiter;
    let k = key("tls");
    let limits = one_window(FIVE_HOURS, |w| w.requests = Some(1));
    let (res, _) = admitted(admit(l, &k, &limits, "a", 0, t0()).await);
    assert_eq!(res.origin, Origin::Shared);
    let s = settlement(1, 2, 0, 0, 3);
    assert_eq!(
        l.settle(&res, &s, t0()).await.unwrap(),
        SettleOutcome::Settled
    );
    rejected(admit(l, &k, &limits, "b", 0, t0()).await);
    let u = l.usage(&k, &limits, t0()).await.unwrap();
    assert_eq!(used(&u, FIVE_HOURS, Metric::Tokens), 3);
    // Nothing reached the plain port's ledger by another route: it is the same server.
    assert_eq!(
        crate::ledger::read_stream(&server.url(), "bsg:ledger").len(),
        1
    );
}
