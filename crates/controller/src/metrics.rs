//! Metrics: the config-build ones shared with the file loader, and the controller's own.

use std::time::{SystemTime, UNIX_EPOCH};

use bytespike_config::resources::Kind;
use bytespike_config::snapshot::Counts;
use prometheus::{Gauge, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// Config builds and what they hold; the same names whether the config comes from files or the
/// API server, so dashboards work in both modes.
pub struct ConfigMetrics {
    builds: IntCounterVec,
    objects: IntGaugeVec,
    last_success: Gauge,
}

impl ConfigMetrics {
    /// Creates and registers the metrics.
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let m = ConfigMetrics {
            builds: IntCounterVec::new(
                Opts::new(
                    "bytespike_config_reloads_total",
                    "Config loads, by result (success, invalid_objects, error).",
                ),
                &["result"],
            )?,
            objects: IntGaugeVec::new(
                Opts::new(
                    "bytespike_config_objects",
                    "Objects in the serving config, by kind and validity.",
                ),
                &["kind", "validity"],
            )?,
            last_success: Gauge::new(
                "bytespike_config_last_reload_success_timestamp_seconds",
                "When the serving config was last built.",
            )?,
        };
        registry.register(Box::new(m.builds.clone()))?;
        registry.register(Box::new(m.objects.clone()))?;
        registry.register(Box::new(m.last_success.clone()))?;
        Ok(m)
    }

    /// Records a snapshot that was built and swapped in.
    pub fn built(&self, counts: Counts, invalid: usize) {
        let result = if invalid == 0 {
            "success"
        } else {
            "invalid_objects"
        };
        self.builds.with_label_values(&[result]).inc();
        for kind in [
            Kind::Provider,
            Kind::RoutingGroup,
            Kind::ApiKey,
            Kind::Secret,
        ] {
            let tally = counts.get(kind);
            self.objects
                .with_label_values(&[kind.as_str(), "valid"])
                .set(tally.valid as i64);
            self.objects
                .with_label_values(&[kind.as_str(), "invalid"])
                .set(tally.invalid as i64);
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        self.last_success.set(now.as_secs_f64());
    }

    /// Records a load that failed before anything could be built.
    pub fn failed(&self) {
        self.builds.with_label_values(&["error"]).inc();
    }
}

/// The controller's own metrics: watch health, status writes and leadership.
pub struct ControllerMetrics {
    pub(crate) watch_events: IntCounterVec,
    pub(crate) watch_errors: IntCounterVec,
    pub(crate) status_patches: IntCounterVec,
    pub(crate) leader: IntGauge,
}

impl ControllerMetrics {
    /// Creates and registers the metrics.
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let m = ControllerMetrics {
            watch_events: IntCounterVec::new(
                Opts::new(
                    "bytespike_controller_watch_events_total",
                    "Watch events received from the API server, by kind.",
                ),
                &["kind"],
            )?,
            watch_errors: IntCounterVec::new(
                Opts::new(
                    "bytespike_controller_watch_errors_total",
                    "Failed list or watch calls (retried with backoff), by kind.",
                ),
                &["kind"],
            )?,
            status_patches: IntCounterVec::new(
                Opts::new(
                    "bytespike_controller_status_patches_total",
                    "Status writes, by kind and result (ok, error).",
                ),
                &["kind", "result"],
            )?,
            leader: IntGauge::new(
                "bytespike_controller_leader",
                "1 while this replica holds the status-writer Lease, else 0.",
            )?,
        };
        registry.register(Box::new(m.watch_events.clone()))?;
        registry.register(Box::new(m.watch_errors.clone()))?;
        registry.register(Box::new(m.status_patches.clone()))?;
        registry.register(Box::new(m.leader.clone()))?;
        Ok(m)
    }
}
