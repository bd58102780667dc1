//! Fixed-concurrency load: `concurrency` connections, each sending its next request as soon as
//! the previous answer is fully read (closed loop), for `duration`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::client::{connect, exchange, micros, Exchange, Target};
use crate::stats::summary_us;

/// What one worker saw.
#[derive(Default)]
struct Tally {
    exchanges: Vec<Exchange>,
    errors: BTreeMap<String, u64>,
    last_done: Option<Instant>,
}

async fn worker(target: Arc<Target>, deadline: Instant) -> Tally {
    let mut tally = Tally::default();
    let mut conn = None;
    while Instant::now() < deadline {
        if conn.is_none() {
            match connect(target.addr).await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    *tally.errors.entry(format!("connect: {e}")).or_default() += 1;
                    // A refused connection fails instantly; pause so the error count stays
                    // meaningful instead of spinning.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            }
        }
        let Some((sender, _task)) = conn.as_mut() else {
            continue;
        };
        // A server may close a keep-alive connection between requests (nginx does after
        // `keepalive_requests`); that is HTTP working as intended, so reconnect without an error.
        if sender.ready().await.is_err() {
            conn = None;
            continue;
        }
        match exchange(sender, &target).await {
            Ok(ex) if ex.status == 200 => {
                tally.exchanges.push(ex);
                tally.last_done = Some(Instant::now());
            }
            Ok(ex) => {
                *tally
                    .errors
                    .entry(format!("status {}", ex.status))
                    .or_default() += 1;
            }
            Err(e) => {
                *tally.errors.entry(format!("request: {e}")).or_default() += 1;
                conn = None;
            }
        }
    }
    tally
}

/// Runs the load and returns its figures as JSON. With `sse`, stream figures (time to first
/// byte, events, inter-frame gaps) are reported besides whole-request latency.
pub async fn run(target: Target, concurrency: usize, duration: Duration, sse: bool) -> Value {
    let target = Arc::new(target);
    let start = Instant::now();
    let deadline = start + duration;
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| tokio::spawn(worker(target.clone(), deadline)))
        .collect();
    let mut all = Tally::default();
    for w in workers {
        match w.await {
            Ok(t) => {
                all.exchanges.extend(t.exchanges);
                for (k, v) in t.errors {
                    *all.errors.entry(k).or_default() += v;
                }
                all.last_done = all.last_done.max(t.last_done);
            }
            Err(e) => *all.errors.entry(format!("worker: {e}")).or_default() += 1,
        }
    }
    // Throughput over the time requests actually completed in, not the scheduled duration.
    let elapsed = all.last_done.map_or(duration, |t| t - start).as_secs_f64();
    let count = all.exchanges.len();
    let error_count: u64 = all.errors.values().sum();
    let mut latency: Vec<u64> = all.exchanges.iter().map(|e| e.total_us).collect();
    let mut out = json!({
        "count": count,
        "errors": error_count,
        "error_kinds": all.errors,
        "elapsed_s": elapsed,
        "throughput_rps": if elapsed > 0.0 { count as f64 / elapsed } else { 0.0 },
        "concurrency": concurrency,
        "latency": summary_us(&mut latency),
    });
    if sse {
        let pick = |f: fn(&Exchange) -> u64| -> Vec<u64> { all.exchanges.iter().map(f).collect() };
        let events: Vec<u64> = pick(|e| e.events);
        out["ttfb"] = summary_us(&mut pick(|e| e.headers_us));
        out["first_frame"] = summary_us(&mut pick(|e| e.first_byte_us));
        out["max_gap"] = summary_us(&mut pick(|e| e.max_gap_us));
        out["events_total"] = json!(events.iter().sum::<u64>());
        out["events_min"] = json!(events.iter().min().copied().unwrap_or(0));
        out["events_max"] = json!(events.iter().max().copied().unwrap_or(0));
    }
    out["wall_us"] = json!(micros(start.elapsed()));
    out
}
