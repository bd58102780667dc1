//! Two replicas on one Redis share one budget exactly.

use std::sync::Arc;

use bytespike_limits::{Admission, Limiter, RedisLimiter};
use futures::future::join_all;

use crate::server::RedisServer;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_admissions_across_two_replicas_admit_exactly_fifty() {
    let server = RedisServer::start();
    let replicas: Vec<Arc<dyn Limiter>> = (0..2)
        .map(|_| {
            Arc::new(RedisLimiter::new(redis_config(&server.url())).unwrap()) as Arc<dyn Limiter>
        })
        .collect();
    let k = key("shared");
    let limits = one_window(FIVE_HOURS, |w| w.requests = Some(50));
    let tasks = (0..200).map(|i| {
        let limiter = replicas[i % 2].clone();
        let (k, limits) = (k.clone(), limits.clone());
        tokio::spawn(async move {
            let id = format!("req-{i}");
            admit(limiter.as_ref(), &k, &limits, &id, 10, t0()).await
        })
    });
    let results = join_all(tasks).await;
    let admitted = results
        .into_iter()
        .filter(|r| matches!(r.as_ref().unwrap(), Admission::Admitted { .. }))
        .count();
    assert_eq!(admitted, 50);
    let u = replicas[0].usage(&k, &limits, t0()).await.unwrap();
    assert_eq!(used(&u, FIVE_HOURS, bytespike_limits::Metric::Requests), 50);
    assert_eq!(used(&u, FIVE_HOURS, bytespike_limits::Metric::Tokens), 500);
}
