//! Cost of one admit + settle on each backend (Redis on loopback against in process), and of
//! one admission alone on Redis with a round trip per admission against leased admission.

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use bytespike_limits::{
    Admission, AdmissionMode, AdmitRequest, KeyId, KeyLimits, Limiter, MemoryConfig, MemoryLimiter,
    RedisConfig, RedisLimiter, RedisTarget, Settlement, WindowLimit,
};
use criterion::{criterion_group, criterion_main, Criterion};

#[allow(dead_code)]
#[path = "../tests/it/server.rs"]
mod server;

/// The usual three windows, generous enough that nothing is ever rejected (no max_concurrent:
/// such keys always take a round trip).
fn limits() -> KeyLimits {
    let window = |hours: u64| WindowLimit {
        requests: Some(u64::MAX / 2),
        tokens: Some(u64::MAX / 2),
        cost_micros: Some(u64::MAX / 2),
        ..WindowLimit::new(Duration::from_secs(hours * 3600))
    };
    KeyLimits {
        windows: vec![window(5), window(24), window(168)],
        max_concurrent: None,
        cache_read_weight_permille: 0,
    }
}

async fn admit_and_settle(limiter: &dyn Limiter, key: &KeyId, limits: &KeyLimits, n: u64) {
    let id = format!("bench-{n}");
    let now = SystemTime::now();
    let admission = limiter
        .admit(AdmitRequest {
            key,
            limits,
            request_id: &id,
            estimated_input_tokens: 1_000,
            now,
        })
        .await
        .expect("admit");
    let Admission::Admitted { reservation, .. } = admission else {
        panic!("bench limits must never reject");
    };
    let mut settlement = Settlement::default();
    settlement.usage.input_tokens = 900;
    settlement.usage.output_tokens = 300;
    settlement.usage.cost_micros = 7_000;
    black_box(
        limiter
            .settle(&reservation, &settlement, now)
            .await
            .expect("settle"),
    );
}

/// Mean time of one admit + settle over `n` sequential rounds.
fn mean(rt: &tokio::runtime::Runtime, limiter: &dyn Limiter, key: &KeyId, n: u64) -> Duration {
    let limits = limits();
    let started = Instant::now();
    rt.block_on(async {
        for i in 0..n {
            admit_and_settle(limiter, key, &limits, 1_000_000 + i).await;
        }
    });
    started.elapsed() / n as u32
}

/// Mean time of the admission alone (what a request waits for) over `n` sequential requests;
/// each is settled afterwards, untimed, as the proxy does off the request path.
fn mean_admit(
    rt: &tokio::runtime::Runtime,
    limiter: &dyn Limiter,
    key: &KeyId,
    n: u64,
) -> Duration {
    let limits = limits();
    rt.block_on(async {
        let mut waited = Duration::ZERO;
        for i in 0..n {
            let id = format!("admit-{i}");
            let now = SystemTime::now();
            let started = Instant::now();
            let admission = limiter
                .admit(AdmitRequest {
                    key,
                    limits: &limits,
                    request_id: &id,
                    estimated_input_tokens: 1_000,
                    now,
                })
                .await
                .expect("admit");
            waited += started.elapsed();
            let Admission::Admitted { reservation, .. } = admission else {
                panic!("bench limits must never reject");
            };
            limiter
                .settle(&reservation, &Settlement::default(), now)
                .await
                .expect("settle");
        }
        waited / n as u32
    })
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let server = server::RedisServer::start();
    let memory = MemoryLimiter::new(MemoryConfig::default());
    let redis_with = |admission| {
        rt.block_on(async {
            let target = RedisTarget::parse(&server.url()).expect("url");
            let mut config = RedisConfig::new(target);
            config.admission = admission;
            RedisLimiter::new(config).expect("redis limiter")
        })
    };
    let redis = redis_with(AdmissionMode::RoundTrip);
    let leased = redis_with(AdmissionMode::Lease);
    let limits = limits();
    let mut group = c.benchmark_group("admit_settle");
    let mut n = 0u64;
    for (name, limiter, key) in [
        (
            "memory",
            &memory as &dyn Limiter,
            KeyId::new("bench", "memory"),
        ),
        (
            "redis_loopback",
            &redis as &dyn Limiter,
            KeyId::new("bench", "redis"),
        ),
        (
            "redis_loopback_leased",
            &leased as &dyn Limiter,
            KeyId::new("bench", "leased"),
        ),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                n += 1;
                rt.block_on(admit_and_settle(limiter, &key, &limits, n));
            })
        });
    }
    group.finish();

    let rounds = 2_000;
    let m = mean(&rt, &memory, &KeyId::new("bench", "memory-ratio"), rounds);
    let r = mean(&rt, &redis, &KeyId::new("bench", "redis-ratio"), rounds);
    println!(
        "admit+settle mean over {rounds} rounds: memory {m:?}, redis loopback {r:?}, \
         ratio redis/memory = {:.1}",
        r.as_secs_f64() / m.as_secs_f64()
    );
    let rt_admit = mean_admit(
        &rt,
        &redis,
        &KeyId::new("bench", "admit-round-trip"),
        rounds,
    );
    let lease_admit = mean_admit(&rt, &leased, &KeyId::new("bench", "admit-leased"), rounds);
    let mem_admit = mean_admit(&rt, &memory, &KeyId::new("bench", "admit-memory"), rounds);
    println!(
        "admission alone, mean over {rounds}: memory {mem_admit:?}, redis round trip {rt_admit:?}, \
         redis leased {lease_admit:?}, ratio round trip/leased = {:.1}",
        rt_admit.as_secs_f64() / lease_admit.as_secs_f64()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
