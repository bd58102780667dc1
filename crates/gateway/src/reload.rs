//! Keeps the config snapshot current with the config path: polled, compiled, swapped whole.
//!
//! Polling a fingerprint (rather than inotify) survives Kubernetes ConfigMap and Secret volume
//! updates, which swap a symlinked directory instead of writing files in place.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytespike_config::resources::Kind;
use bytespike_config::{fingerprint_path, load_path_fingerprinted, Fingerprint, Snapshot};
use bytespike_controller::ConfigMetrics;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;

/// Loads the config path into the shared snapshot.
pub struct Reloader {
    /// The file or directory to read.
    pub path: PathBuf,
    /// The snapshot the proxy reads.
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    /// Set once a config was loaded.
    pub ready: Arc<AtomicBool>,
    /// How often to check for changes.
    pub interval: Duration,
    /// Load metrics.
    pub metrics: ConfigMetrics,
    /// Fingerprint of what is serving.
    pub loaded: std::sync::Mutex<Option<Fingerprint>>,
}

impl Reloader {
    /// Loads the path now if it changed since the last load; invalid content keeps the old
    /// snapshot serving.
    pub fn reload_if_changed(&self) {
        match fingerprint_path(&self.path) {
            Ok(fp) if self.loaded.lock().expect("fingerprint lock").as_ref() == Some(&fp) => return,
            Ok(_) => {}
            Err(e) => {
                self.metrics.failed();
                tracing::error!(error = %e, "config could not be read; the last good config keeps serving");
                return;
            }
        }
        let (resources, fingerprint) = match load_path_fingerprinted(&self.path) {
            Ok(loaded) => loaded,
            Err(e) => {
                self.metrics.failed();
                tracing::error!(error = %e, "config is invalid; the last good config keeps serving");
                return;
            }
        };
        let (snapshot, invalid) = Snapshot::build(&resources, SystemTime::now());
        for object in &invalid {
            tracing::error!(kind = %object.kind, namespace = %object.namespace, name = %object.name,
                field = %object.field, reason = %object.reason, "invalid object left out of the config");
        }
        let counts = snapshot.counts();
        self.metrics.built(counts, invalid.len());
        tracing::info!(
            providers = counts.get(Kind::Provider).valid,
            routing_groups = counts.get(Kind::RoutingGroup).valid,
            api_keys = counts.get(Kind::ApiKey).valid,
            invalid = invalid.len(),
            fingerprint = %fingerprint,
            "config loaded"
        );
        self.snapshot.store(Arc::new(snapshot));
        *self.loaded.lock().expect("fingerprint lock") = Some(fingerprint);
        self.ready.store(true, Ordering::Release);
    }
}

#[async_trait]
impl BackgroundService for Reloader {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    // File reads are small but blocking; keep them off the async workers.
                    tokio::task::block_in_place(|| self.reload_if_changed());
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}
