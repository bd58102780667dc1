//! ApiKey status usage read from the limiter, for the controller's status writer.

use std::sync::Arc;
use std::time::SystemTime;

use async_trait::async_trait;
use bytespike_config::resources::WindowUsage as StatusWindow;
use bytespike_config::snapshot::KeyEntry;
use bytespike_controller::UsageSource;
use bytespike_limits::{Limiter, Metric, WindowUsage};
use bytespike_proxy::budget::{key_id, key_limits, window_label};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

/// Reads each key's windows from the same limiter the proxy admits against.
pub struct LimiterUsage {
    /// The shared limiter.
    pub limiter: Arc<dyn Limiter>,
    /// Weight of cache-read tokens, as the proxy counts them.
    pub cache_read_weight_permille: u32,
}

#[async_trait]
impl UsageSource for LimiterUsage {
    async fn usage(&self, key: &KeyEntry) -> Option<Vec<StatusWindow>> {
        let limits = key_limits(key, self.cache_read_weight_permille);
        if limits.windows.is_empty() {
            // Nothing to report: the status keeps no usage rather than an empty list.
            return None;
        }
        let windows = self
            .limiter
            .usage(&key_id(key), &limits, SystemTime::now())
            .await
            .ok()?;
        Some(by_window(&windows))
    }
}

/// One status entry per window, from the limiter's one entry per window and metric.
fn by_window(windows: &[WindowUsage]) -> Vec<StatusWindow> {
    let mut lengths: Vec<_> = windows.iter().map(|w| w.window).collect();
    lengths.dedup();
    lengths
        .into_iter()
        .map(|length| {
            let of = |metric: Metric| {
                windows
                    .iter()
                    .find(|w| w.window == length && w.metric == metric)
            };
            let used = |metric| of(metric).map_or(0, |w| w.used);
            let limit = |metric| of(metric).and_then(|w| w.limit);
            let resets_at = windows
                .iter()
                .filter(|w| w.window == length)
                .map(|w| w.resets_at)
                .max()
                .and_then(to_time);
            StatusWindow {
                window: window_label(length),
                requests: used(Metric::Requests),
                tokens: used(Metric::Tokens),
                cost_usd: usd(used(Metric::CostMicros)),
                limit_requests: limit(Metric::Requests),
                limit_tokens: limit(Metric::Tokens),
                limit_cost_usd: limit(Metric::CostMicros).map(usd),
                resets_at,
            }
        })
        .collect()
}

fn usd(micros: u64) -> String {
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

fn to_time(at: SystemTime) -> Option<Time> {
    Timestamp::try_from(at).ok().map(Time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn one_status_entry_per_window_with_caps_and_dollars() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let entry = |hours: u64, metric, used, limit: Option<u64>| WindowUsage {
            window: Duration::from_secs(hours * 3600),
            metric,
            used,
            limit,
            remaining: limit.map(|l| l.saturating_sub(used)),
            resets_at: now,
        };
        let status = by_window(&[
            entry(5, Metric::Requests, 3, Some(10)),
            entry(5, Metric::Tokens, 120, None),
            entry(5, Metric::CostMicros, 2_500_000, Some(25_000_000)),
            entry(24, Metric::Tokens, 120, Some(6_000)),
        ]);
        assert_eq!(status.len(), 2);
        assert_eq!(status[0].window, "5h");
        assert_eq!(
            (status[0].requests, status[0].limit_requests),
            (3, Some(10))
        );
        assert_eq!(status[0].cost_usd, "2.500000");
        assert_eq!(status[0].limit_cost_usd.as_deref(), Some("25.000000"));
        assert_eq!(
            (status[1].window.as_str(), status[1].limit_tokens),
            ("1d", Some(6_000))
        );
        assert!(status[1].resets_at.is_some());
    }
}
