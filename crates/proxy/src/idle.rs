//! Work a worker thread does once the last request in flight has finished.

use std::cell::Cell;
use std::time::{Duration, Instant};

/// Least time between two runs of the hook on one thread. Under steady light traffic the
/// gateway empties between requests many times a second; once a second is enough to hand back
/// what a burst left behind, and costs a clock read per request otherwise.
pub const SPACING: Duration = Duration::from_secs(1);

thread_local! {
    static LAST_RUN: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Runs `hook` on this thread unless it ran here less than [`SPACING`] ago.
pub fn after_last_request(hook: fn()) {
    let now = Instant::now();
    LAST_RUN.with(|last| {
        if last.get().is_some_and(|t| now.duration_since(t) < SPACING) {
            return;
        }
        last.set(Some(now));
        hook();
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static RUNS: AtomicUsize = AtomicUsize::new(0);

    fn count() {
        RUNS.fetch_add(1, Ordering::SeqCst);
    }

    #[test]
    fn the_hook_runs_at_most_once_a_spacing_per_thread() {
        // Each thread starts with no run of its own.
        let runs_on_a_fresh_thread = || {
            std::thread::spawn(|| {
                let before = RUNS.load(Ordering::SeqCst);
                after_last_request(count);
                after_last_request(count);
                after_last_request(count);
                RUNS.load(Ordering::SeqCst) - before
            })
            .join()
            .unwrap()
        };
        assert_eq!(runs_on_a_fresh_thread(), 1);
        assert_eq!(runs_on_a_fresh_thread(), 1);
        // Once the spacing has passed, the same thread runs it again.
        std::thread::spawn(|| {
            after_last_request(count);
            let before = RUNS.load(Ordering::SeqCst);
            LAST_RUN.with(|last| last.set(Some(Instant::now() - SPACING)));
            after_last_request(count);
            assert_eq!(RUNS.load(Ordering::SeqCst) - before, 1);
        })
        .join()
        .unwrap();
    }
}
