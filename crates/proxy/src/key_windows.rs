//! The per-key window gauges (`bytespike_key_window_*`). A key with three windows of three
//! capped metrics would set 27 labelled gauges on every request, each a label hash and a map
//! probe; instead each request leaves its key's latest window report here, and the gauges are
//! set from the latest reports when the metrics are gathered. A scrape sees exactly what it
//! saw before (the windows as of each key's last request) for a fraction of the cost.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytespike_limits::WindowUsage;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{GaugeVec, Opts};

/// The three gauge families and the reports not yet written to them.
pub struct KeyWindowGauges {
    used: GaugeVec,
    limit: GaugeVec,
    utilisation: GaugeVec,
    latest: Mutex<HashMap<String, Vec<WindowUsage>>>,
}

impl KeyWindowGauges {
    pub fn new() -> prometheus::Result<Arc<Self>> {
        let labels = &["key", "window", "metric"];
        Ok(Arc::new(Self {
            used: GaugeVec::new(
                Opts::new(
                    "bytespike_key_window_used",
                    "Amount counted in a key's limit window (requests, tokens or micro-USD), as of the key's last request.",
                ),
                labels,
            )?,
            limit: GaugeVec::new(
                Opts::new(
                    "bytespike_key_window_limit",
                    "Cap of a key's limit window (requests, tokens or micro-USD).",
                ),
                labels,
            )?,
            utilisation: GaugeVec::new(
                Opts::new(
                    "bytespike_key_window_utilisation_ratio",
                    "Share of a key's limit window in use (used / limit; 1 is exhausted), as of the key's last request.",
                ),
                labels,
            )?,
            latest: Mutex::new(HashMap::new()),
        }))
    }

    /// Keeps `windows` as `key`'s latest report, for the next gathering.
    pub fn record(&self, key: &str, windows: &[WindowUsage]) {
        let mut latest = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        match latest.get_mut(key) {
            Some(report) => {
                report.clear();
                report.extend_from_slice(windows);
            }
            None => {
                latest.insert(key.to_string(), windows.to_vec());
            }
        }
    }

    /// Writes the reports recorded since the last gathering to the gauges.
    fn publish(&self) {
        let reports = std::mem::take(&mut *self.latest.lock().unwrap_or_else(|p| p.into_inner()));
        for (key, windows) in &reports {
            let mut label: Option<(std::time::Duration, String)> = None;
            for w in windows {
                let Some(limit) = w.limit else { continue };
                // Metrics of one window come together: its label is written once for them.
                if label.as_ref().is_none_or(|(window, _)| *window != w.window) {
                    label = Some((w.window, crate::budget::window_label(w.window)));
                }
                let window = label.as_ref().map_or("", |(_, text)| text.as_str());
                let labels = [key.as_str(), window, w.metric.as_str()];
                self.used.with_label_values(&labels).set(w.used as f64);
                self.limit.with_label_values(&labels).set(limit as f64);
                let ratio = if limit == 0 {
                    1.0
                } else {
                    w.used as f64 / limit as f64
                };
                self.utilisation.with_label_values(&labels).set(ratio);
            }
        }
    }
}

/// Registers the gauges with a registry; gathering publishes the latest reports first.
pub struct KeyWindowCollector(pub Arc<KeyWindowGauges>);

impl Collector for KeyWindowCollector {
    fn desc(&self) -> Vec<&Desc> {
        let g = &self.0;
        [g.used.desc(), g.limit.desc(), g.utilisation.desc()].concat()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let g = &self.0;
        g.publish();
        [g.used.collect(), g.limit.collect(), g.utilisation.collect()].concat()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytespike_limits::Metric;
    use std::time::{Duration, SystemTime};

    fn usage(metric: Metric, used: u64, limit: u64) -> WindowUsage {
        WindowUsage {
            window: Duration::from_secs(5 * 3600),
            metric,
            used,
            limit: Some(limit),
            remaining: Some(limit - used),
            resets_at: SystemTime::UNIX_EPOCH,
        }
    }

    fn value(families: &[MetricFamily], name: &str, key: &str, metric: &str) -> Option<f64> {
        let family = families.iter().find(|f| f.name() == name)?;
        family
            .get_metric()
            .iter()
            .find(|m| {
                let labels: Vec<(&str, &str)> = m
                    .get_label()
                    .iter()
                    .map(|l| (l.name(), l.value()))
                    .collect();
                labels.contains(&("key", key))
                    && labels.contains(&("metric", metric))
                    && labels.contains(&("window", "5h"))
            })
            .map(|m| m.get_gauge().get_value())
    }

    #[test]
    fn a_gathering_shows_each_keys_latest_report() {
        let gauges = KeyWindowGauges::new().unwrap();
        let registry = prometheus::Registry::new();
        registry
            .register(Box::new(KeyWindowCollector(gauges.clone())))
            .unwrap();
        gauges.record(
            "team/a",
            &[
                usage(Metric::Requests, 1, 10),
                usage(Metric::Tokens, 5, 100),
            ],
        );
        gauges.record(
            "team/a",
            &[
                usage(Metric::Requests, 4, 10),
                usage(Metric::Tokens, 50, 100),
            ],
        );
        gauges.record("team/b", &[usage(Metric::Requests, 9, 10)]);

        let families = registry.gather();
        let used = |key, metric| value(&families, "bytespike_key_window_used", key, metric);
        assert_eq!(used("team/a", "requests"), Some(4.0));
        assert_eq!(used("team/a", "tokens"), Some(50.0));
        assert_eq!(used("team/b", "requests"), Some(9.0));
        assert_eq!(
            value(
                &families,
                "bytespike_key_window_utilisation_ratio",
                "team/a",
                "tokens"
            ),
            Some(0.5)
        );
        assert_eq!(
            value(
                &families,
                "bytespike_key_window_limit",
                "team/b",
                "requests"
            ),
            Some(10.0)
        );

        // Later reports move the gauges at the next gathering; quiet keys keep theirs.
        gauges.record("team/b", &[usage(Metric::Requests, 10, 10)]);
        let families = registry.gather();
        let used = |key, metric| value(&families, "bytespike_key_window_used", key, metric);
        assert_eq!(used("team/b", "requests"), Some(10.0));
        assert_eq!(used("team/a", "requests"), Some(4.0));
    }
}
