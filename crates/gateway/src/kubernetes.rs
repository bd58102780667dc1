//! `--kubernetes` mode: flags, and the controller run as a Pingora background service.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use async_trait::async_trait;
use bytespike_config::Snapshot;
use bytespike_controller::{
    ConfigMetrics, Controller, ControllerMetrics, LeaseSettings, Settings, FIELD_MANAGER,
};
use clap::Args;
use pingora_core::server::ShutdownWatch;
use pingora_core::services::background::BackgroundService;
use prometheus::Registry;

use crate::cli::humantime_duration;

/// Flags of the kube controller.
#[derive(Debug, Args)]
pub struct KubeArgs {
    /// Read Provider, RoutingGroup and ApiKey objects (and their Secrets) from the Kubernetes API
    /// instead of --config, using the in-cluster service account or KUBECONFIG.
    #[arg(long, env = "BYTESPIKE_KUBERNETES")]
    pub kubernetes: bool,

    /// Namespace to watch (repeatable or comma-separated); all namespaces when absent.
    #[arg(
        long = "namespace",
        env = "BYTESPIKE_NAMESPACE",
        value_delimiter = ',',
        value_name = "NS"
    )]
    pub namespaces: Vec<String>,

    /// This replica's name in the status-writer Lease; defaults to POD_NAME, else host and pid.
    #[arg(long, env = "BYTESPIKE_IDENTITY", value_name = "NAME")]
    pub identity: Option<String>,

    /// Name of the Lease that elects the one replica writing status and Events.
    #[arg(
        long,
        env = "BYTESPIKE_LEASE_NAME",
        default_value = "bytespike-gateway-status",
        value_name = "NAME"
    )]
    pub lease_name: String,

    /// Namespace of that Lease; defaults to the kubeconfig's or service account's namespace.
    #[arg(long, env = "BYTESPIKE_LEASE_NAMESPACE", value_name = "NS")]
    pub lease_namespace: Option<String>,

    /// How long a status writer that stops renewing keeps the Lease.
    #[arg(long, env = "BYTESPIKE_LEASE_DURATION", default_value = "15s", value_parser = humantime_duration, value_name = "DURATION")]
    pub lease_duration: Duration,

    /// How long to wait after a change for more before rebuilding the config.
    #[arg(long, env = "BYTESPIKE_SYNC_DEBOUNCE", default_value = "200ms", value_parser = humantime_duration, value_name = "DURATION")]
    pub sync_debounce: Duration,

    /// How often ApiKey status usage is refreshed from the limiter.
    #[arg(long, env = "BYTESPIKE_STATUS_REFRESH", default_value = "30s", value_parser = humantime_duration, value_name = "DURATION")]
    pub status_refresh: Duration,
}

impl KubeArgs {
    /// Builds the controller; reads the kube config on a short-lived runtime because Pingora's
    /// server must not be started from inside one.
    pub fn controller(
        &self,
        snapshot: Arc<ArcSwap<Snapshot>>,
        ready: Arc<AtomicBool>,
        registry: &Registry,
    ) -> anyhow::Result<Controller> {
        let kube_config = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(kube_config())?;
        let identity = self.identity.clone().unwrap_or_else(default_identity);
        let lease_namespace = self
            .lease_namespace
            .clone()
            .unwrap_or_else(|| kube_config.default_namespace.clone());
        Ok(Controller {
            kube_config,
            settings: Settings {
                namespaces: self.namespaces.clone(),
                debounce: self.sync_debounce,
                usage_refresh: self.status_refresh,
                lease: LeaseSettings {
                    name: self.lease_name.clone(),
                    namespace: lease_namespace,
                    identity,
                    duration: self.lease_duration,
                },
            },
            snapshot,
            ready,
            config_metrics: ConfigMetrics::new(registry)?,
            metrics: Arc::new(ControllerMetrics::new(registry)?),
            usage: None,
        })
    }
}

async fn kube_config() -> anyhow::Result<kube::Config> {
    kube::Config::infer()
        .await
        .map_err(|e| anyhow::anyhow!("no Kubernetes config (in-cluster or KUBECONFIG): {e}"))
}

fn default_identity() -> String {
    if let Ok(pod) = std::env::var("POD_NAME") {
        return pod;
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| FIELD_MANAGER.to_owned());
    format!("{host}-{}", std::process::id())
}

/// Runs the controller on Pingora's background runtime until shutdown.
pub struct KubeSync(pub Controller);

#[async_trait]
impl BackgroundService for KubeSync {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let stop = async move {
            let _ = shutdown.changed().await;
        };
        if let Err(e) = self.0.run(stop).await {
            // Without the controller nothing would ever be served; a restart is the way out.
            tracing::error!(error = %e, "the Kubernetes controller stopped");
            std::process::exit(1);
        }
    }
}
