//! Latency statistics. Samples are kept whole (a few hundred thousand u32 at most) so the
//! percentiles are exact rather than bucketed: p99 differences of a few microseconds matter.

use serde_json::{json, Value};

/// The nearest-rank percentile (`p` in 0..=100) of sorted samples; 0 when there are none.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    // Nearest rank: the smallest value with at least p% of the samples at or below it.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Summary of microsecond samples as JSON: count, p50, p90, p99, max and mean.
pub fn summary_us(samples: &mut [u64]) -> Value {
    samples.sort_unstable();
    let mean = if samples.is_empty() {
        0.0
    } else {
        samples.iter().sum::<u64>() as f64 / samples.len() as f64
    };
    json!({
        "count": samples.len(),
        "p50_us": percentile(samples, 50.0),
        "p90_us": percentile(samples, 90.0),
        "p99_us": percentile(samples, 99.0),
        "max_us": samples.last().copied().unwrap_or(0),
        "mean_us": (mean * 10.0).round() / 10.0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), 50);
        assert_eq!(percentile(&v, 99.0), 99);
        assert_eq!(percentile(&v, 100.0), 100);
        assert_eq!(percentile(&v, 0.0), 1);
        assert_eq!(percentile(&[7], 99.0), 7);
        assert_eq!(percentile(&[], 50.0), 0);
    }

    #[test]
    fn p99_sees_the_tail() {
        // 1,000 fast samples and 20 slow ones: the slow ones are 2% of the whole, so p99 is slow.
        let mut v = vec![100u64; 1000];
        v.extend([40_000u64; 20]);
        let s = summary_us(&mut v);
        assert_eq!(s["p50_us"], 100);
        assert_eq!(s["p99_us"], 40_000);
        assert_eq!(s["max_us"], 40_000);
        assert_eq!(s["count"], 1020);
    }
}
