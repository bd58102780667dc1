//! Many open streams at once: each on its own connection, opened together, held after its
//! first frame until released, then closed. Measures how long until every first frame arrived
//! and lets the caller sample the proxy's memory while they are all open.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use crate::client::{connect, micros, Target};
use crate::stats::summary_us;

enum Opened {
    /// First frame received this many microseconds after the common start.
    FirstFrame(u64),
    Failed(String),
}

/// One stream; a release that comes before its first frame abandons it (dropping its
/// connection). Returns true when the stream ended on its own before being released.
async fn stream(
    target: Arc<Target>,
    start: Instant,
    opened: mpsc::UnboundedSender<Opened>,
    release: watch::Receiver<bool>,
) -> bool {
    let mut abandon = release.clone();
    tokio::select! {
        ended_early = open_and_hold(target, start, opened, release) => ended_early,
        _ = abandon.changed() => false,
    }
}

/// Opens the stream, waits for the first frame, reports it, and holds until `release`.
async fn open_and_hold(
    target: Arc<Target>,
    start: Instant,
    opened: mpsc::UnboundedSender<Opened>,
    mut release: watch::Receiver<bool>,
) -> bool {
    let fail = |e: String| {
        let _ = opened.send(Opened::Failed(e));
        false
    };
    let (mut sender, _conn) = match connect(target.addr).await {
        Ok(c) => c,
        Err(e) => return fail(format!("connect: {e}")),
    };
    let request = match target.request() {
        Ok(r) => r,
        Err(e) => return fail(format!("request: {e}")),
    };
    let response = match sender.send_request(request).await {
        Ok(r) if r.status() == 200 => r,
        Ok(r) => return fail(format!("status {}", r.status().as_u16())),
        Err(e) => return fail(format!("send: {e}")),
    };
    let mut body = response.into_body();
    match body.frame().await {
        Some(Ok(_)) => {
            let _ = opened.send(Opened::FirstFrame(micros(start.elapsed())));
        }
        Some(Err(e)) => return fail(format!("body: {e}")),
        None => return fail("stream ended before its first frame".into()),
    }
    let mut ended_early = false;
    loop {
        tokio::select! {
            _ = release.changed() => break,
            frame = body.frame() => match frame {
                Some(Ok(_)) => continue, // a later frame is fine; keep holding
                _ => { ended_early = true; break; }
            },
        }
    }
    ended_early
}

/// Opens `streams` streams, prints a `ready` JSON line once every first frame arrived (or
/// `open_timeout` passed), holds them until a line arrives on stdin or `hold` elapses, then
/// closes them and returns the final figures.
pub async fn run(target: Target, streams: usize, open_timeout: Duration, hold: Duration) -> Value {
    let target = Arc::new(target);
    let (opened_tx, mut opened_rx) = mpsc::unbounded_channel();
    let (release_tx, release_rx) = watch::channel(false);
    let start = Instant::now();
    let tasks: Vec<_> = (0..streams)
        .map(|_| {
            let task = stream(target.clone(), start, opened_tx.clone(), release_rx.clone());
            tokio::spawn(task)
        })
        .collect();
    drop(opened_tx);

    let mut first_frames = Vec::with_capacity(streams);
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + open_timeout;
    while first_frames.len() + (errors.values().sum::<u64>() as usize) < streams {
        match tokio::time::timeout_at(deadline, opened_rx.recv()).await {
            Ok(Some(Opened::FirstFrame(us))) => first_frames.push(us),
            Ok(Some(Opened::Failed(e))) => *errors.entry(e).or_default() += 1,
            Ok(None) | Err(_) => break,
        }
    }
    let received = first_frames.len();
    let ready = json!({
        "event": "ready",
        "streams": streams,
        "first_frames": received,
        "errors": errors.values().sum::<u64>(),
        "error_kinds": errors,
        "all_first_frames_ms": if received == streams {
            json!(first_frames.iter().max().copied().unwrap_or(0) as f64 / 1000.0)
        } else {
            Value::Null
        },
        "first_frame": summary_us(&mut first_frames),
    });
    println!("{ready}");

    wait_for_release(hold).await;
    let _ = release_tx.send(true);
    let mut ended_early = 0u64;
    for t in tasks {
        if matches!(t.await, Ok(true)) {
            ended_early += 1;
        }
    }
    let mut done = ready;
    done["event"] = json!("done");
    done["ended_before_release"] = json!(ended_early);
    done
}

/// Returns when stdin yields a line or after `hold`, whichever comes first. A closed stdin
/// (run from a terminal with `</dev/null`) just waits out `hold`.
async fn wait_for_release(hold: Duration) {
    use tokio::io::AsyncBufReadExt;
    let deadline = tokio::time::Instant::now() + hold;
    let mut line = String::new();
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin());
    if let Ok(Ok(0) | Err(_)) = tokio::time::timeout_at(deadline, stdin.read_line(&mut line)).await
    {
        tokio::time::sleep_until(deadline).await;
    }
}
