//! Where access lines go. A `write` to stdout per request costs a system call per request,
//! several microseconds of CPU on a proxy whose own work is tens of microseconds; lines are
//! instead collected in one process-wide buffer and written out together, once per flush
//! interval or whenever the buffer fills, as proxies such as Envoy do with their access logs.
//!
//! A line is at most one flush interval late, and lines keep the order in which they were
//! pushed. The buffer is flushed when the process exits, whichever way it exits through
//! `exit` (a drain that finished, the end of Pingora's grace period, a fatal error), so
//! nothing buffered is lost.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// A buffer this full is written at once, so that a burst never waits for the interval or
/// holds much memory.
const FLUSH_AT_BYTES: usize = 64 * 1024;

/// Lines pushed and not yet written.
static PENDING: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Held while a batch is taken from `PENDING` and written, so batches reach stdout in order;
/// holds the buffer being written, kept for reuse.
static WRITER: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// The flush interval in microseconds; 0 writes each line as it is pushed.
static INTERVAL_US: AtomicU64 = AtomicU64::new(0);

/// Sets how long a line may wait in the buffer; zero writes every line at once. Starts the
/// flushing thread the first time a non-zero interval is set.
pub fn configure(interval: Duration) {
    let micros = u64::try_from(interval.as_micros()).unwrap_or(u64::MAX);
    INTERVAL_US.store(micros, Ordering::Release);
    if micros == 0 {
        flush();
        return;
    }
    static FLUSHER: OnceLock<()> = OnceLock::new();
    FLUSHER.get_or_init(|| {
        // SAFETY: registers a plain function with no arguments; it runs once, at exit.
        if unsafe { libc::atexit(flush_at_exit) } != 0 {
            tracing::warn!("access log: could not register the flush at exit");
        }
        let spawned = std::thread::Builder::new()
            .name("access-log-flush".into())
            .spawn(|| loop {
                let micros = INTERVAL_US.load(Ordering::Acquire).max(1_000);
                std::thread::sleep(Duration::from_micros(micros));
                flush();
            });
        if let Err(e) = spawned {
            // Without the thread, lines are written as they come.
            INTERVAL_US.store(0, Ordering::Release);
            tracing::warn!(error = %e, "access log: no flushing thread, writing each line at once");
        }
    });
}

/// Queues one or more complete lines.
pub(super) fn push(lines: &[u8]) {
    if INTERVAL_US.load(Ordering::Relaxed) == 0 {
        // One write of a whole line: lines of concurrent requests never interleave.
        let _ = std::io::stdout().lock().write_all(lines);
        return;
    }
    let full = {
        let mut pending = lock(&PENDING);
        pending.extend_from_slice(lines);
        pending.len() >= FLUSH_AT_BYTES
    };
    if full {
        flush();
    }
}

/// Writes out every line pushed so far.
pub fn flush() {
    let mut batch = lock(&WRITER);
    {
        let mut pending = lock(&PENDING);
        if pending.is_empty() {
            return;
        }
        std::mem::swap(&mut *pending, &mut *batch);
    }
    let _ = std::io::stdout().lock().write_all(&batch);
    batch.clear();
    if batch.capacity() > 4 * FLUSH_AT_BYTES {
        // A burst of long lines leaves no lasting footprint.
        batch.shrink_to(FLUSH_AT_BYTES);
    }
}

/// Runs from `exit`: `std::process::exit` and a return from `main` both end there.
extern "C" fn flush_at_exit() {
    flush();
}

/// A poisoned lock only means a panic elsewhere while the buffer was held; its bytes are
/// still whole lines or an extension in progress, and logging must go on.
fn lock(mutex: &'static Mutex<Vec<u8>>) -> MutexGuard<'static, Vec<u8>> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
