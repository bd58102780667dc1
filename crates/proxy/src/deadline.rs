//! An attempt's `total` deadline, checked on every chunk of a response.
//!
//! A stream checks its deadline once per body chunk, dozens of times a response. Reading the
//! precise monotonic clock each time reads the TSC, which on a virtual machine costs more than
//! the rest of the check; the kernel's coarse monotonic clock (`CLOCK_MONOTONIC_COARSE`, the
//! time of the last scheduler tick) is a plain memory read in the vDSO. A deadline of seconds
//! does not need better than its few milliseconds of resolution.

use std::time::Duration;

/// When an attempt must be over, on the coarse clock.
#[derive(Clone, Copy, Debug)]
pub struct Deadline(Duration);

impl Deadline {
    /// `total` from now.
    pub fn after(total: Duration) -> Self {
        Deadline(coarse_now().saturating_add(total))
    }

    /// Whether the deadline has passed. The coarse clock lags the precise one by at most a
    /// tick, so a deadline is seen at most that late.
    pub fn passed(&self) -> bool {
        coarse_now() > self.0
    }

    /// Time left, to the same resolution.
    pub fn left(&self) -> Duration {
        self.0.saturating_sub(coarse_now())
    }
}

/// The coarse monotonic clock, as time since its (unspecified) start.
fn coarse_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC_COARSE exists on every Linux
    // since 2.6.32 and clock_gettime cannot fail for it with a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_only_after_its_time() {
        let far = Deadline::after(Duration::from_secs(60));
        assert!(!far.passed());
        assert!(far.left() > Duration::from_secs(59));

        let near = Deadline::after(Duration::from_millis(200));
        assert!(!near.passed());
        // A tick is at most 10 ms (CONFIG_HZ 100 and up).
        std::thread::sleep(Duration::from_millis(250));
        assert!(near.passed(), "200 ms deadline unseen after 250 ms");
        assert_eq!(near.left(), Duration::ZERO);
    }

    #[test]
    fn coarse_clock_moves_with_the_precise_one() {
        use std::time::Instant;

        // The precise readings bracket the coarse ones, so a pause between two readings cannot
        // make the comparison fail; each coarse reading lags its moment by less than a tick
        // (at most 10 ms).
        let tick = Duration::from_millis(10);
        let precise = Instant::now();
        let coarse = coarse_now();
        std::thread::sleep(Duration::from_millis(50));
        let moved = coarse_now() - coarse;
        let bracket = precise.elapsed();
        assert!(
            moved + tick >= Duration::from_millis(50) && moved <= bracket + tick,
            "coarse {moved:?} over a 50 ms sleep, precise bracket {bracket:?}"
        );
    }
}
