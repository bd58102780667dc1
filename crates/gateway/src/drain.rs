//! Graceful shutdown. On SIGTERM Pingora stops accepting connections and keeps serving those it
//! has for a grace period; this service turns `/readyz` false at once, waits for the requests in
//! flight (streams included) and their usage settlements, then ends the process, so a pod
//! leaves as soon as its work is done rather than at the end of the grace period.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytespike_proxy::budget::pending_settlements;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use prometheus::IntGauge;

/// Waits for in-flight work after the shutdown signal, then exits.
pub struct Drain {
    /// Readiness, turned false when draining starts.
    pub ready: Arc<AtomicBool>,
    /// Requests being served.
    pub in_flight: IntGauge,
    /// The longest the drain waits (Pingora's grace period ends the process anyway).
    pub grace: Duration,
}

#[async_trait]
impl BackgroundService for Drain {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        if shutdown.changed().await.is_err() {
            return;
        }
        self.ready.store(false, Ordering::Release);
        tracing::info!(in_flight = self.in_flight.get(), grace = ?self.grace, "shutting down: draining requests in flight");
        let deadline = tokio::time::Instant::now() + self.grace;
        while tokio::time::Instant::now() < deadline {
            if self.in_flight.get() <= 0 && pending_settlements() == 0 {
                tracing::info!("drained: every request finished and its usage settled");
                std::process::exit(0);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tracing::warn!(
            in_flight = self.in_flight.get(),
            "grace period over with requests still in flight"
        );
    }
}
