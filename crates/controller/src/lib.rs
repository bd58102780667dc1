//! The kube controller: watches Provider, RoutingGroup, ApiKey and their Secrets, compiles them
//! into the snapshot the proxy reads, and reports each object's validity in its status.

mod error;
mod leader;
pub mod metrics;
pub mod status;
pub mod translate;
pub mod usage;
mod watch;
mod writer;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use bytespike_config::Snapshot;
use k8s_openapi::api::coordination::v1::Lease;
use kube::runtime::events::{Recorder, Reporter};
use kube::{Api, Client};
use tokio::sync::{watch as channel, Notify};

pub use error::Error;
pub use leader::LeaseSettings;
pub use metrics::{ConfigMetrics, ControllerMetrics};
pub use usage::UsageSource;

/// The field manager (and Event reporter) name the controller writes under.
pub const FIELD_MANAGER: &str = "bytespike-gateway";

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Namespaces to watch; empty watches all.
    pub namespaces: Vec<String>,
    /// How long to wait after a change for more changes before rebuilding.
    pub debounce: Duration,
    /// The status-writer Lease.
    pub lease: LeaseSettings,
    /// How often ApiKey usage is re-read for status, since it moves without any object changing.
    pub usage_refresh: Duration,
}

/// Keeps the shared snapshot in step with the API server.
pub struct Controller {
    /// Where the API server is and how to authenticate.
    pub kube_config: kube::Config,
    /// How to run.
    pub settings: Settings,
    /// The snapshot the proxy reads.
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    /// Set after the first full sync of every watched kind has been built and swapped in.
    pub ready: Arc<AtomicBool>,
    /// Build metrics shared with the file loader.
    pub config_metrics: ConfigMetrics,
    /// The controller's own metrics.
    pub metrics: Arc<ControllerMetrics>,
    /// Where ApiKey usage comes from, once the limiter provides it.
    pub usage: Option<Arc<dyn UsageSource>>,
}

impl Controller {
    /// Watches, builds and writes status until `shutdown` completes.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let mut config = self.kube_config.clone();
        let agent = format!(
            "{FIELD_MANAGER}/{} ({})",
            env!("CARGO_PKG_VERSION"),
            self.settings.lease.identity
        );
        let agent = http::HeaderValue::from_str(&agent)
            .map_err(|_| Error::Identity(self.settings.lease.identity.clone()))?;
        // Lets API server audit logs (and tests) tell the replicas apart.
        config.headers.push((http::header::USER_AGENT, agent));
        let client = Client::try_from(config).map_err(Error::Client)?;

        let (stop_tx, stop_rx) = channel::channel(false);
        let changed = Arc::new(Notify::new());
        let watched = watch::Watched::spawn(
            &client,
            &self.settings.namespaces,
            changed.clone(),
            self.metrics.clone(),
        );
        let (leader_tx, leader_rx) = channel::channel(false);
        let (verdict_tx, verdict_rx) = channel::channel::<Option<Arc<writer::Verdicts>>>(None);
        let lease_api: Api<Lease> = Api::namespaced(client.clone(), &self.settings.lease.namespace);
        let status_writer = writer::StatusWriter {
            client: client.clone(),
            recorder: Recorder::new(
                client.clone(),
                Reporter {
                    controller: FIELD_MANAGER.into(),
                    instance: Some(self.settings.lease.identity.clone()),
                },
            ),
            usage: self.usage.clone(),
            metrics: self.metrics.clone(),
            written: HashMap::new(),
        };

        let work = async {
            tokio::join!(
                leader::run(
                    lease_api,
                    self.settings.lease.clone(),
                    leader_tx,
                    &self.metrics,
                    stop_rx.clone(),
                ),
                write_status(
                    status_writer,
                    leader_rx,
                    verdict_rx,
                    stop_rx.clone(),
                    self.settings.usage_refresh
                ),
                self.build_loop(&watched, &changed, verdict_tx, stop_rx),
            )
        };
        tokio::pin!(work);
        tokio::select! {
            (_, _, built) = &mut work => return built,
            () = shutdown => {}
        }
        stop_tx.send_replace(true);
        // Lets the Lease be released for the next replica.
        let (_, _, built) = work.await;
        built
    }

    async fn build_loop(
        &self,
        watched: &watch::Watched,
        changed: &Notify,
        verdicts: channel::Sender<Option<Arc<writer::Verdicts>>>,
        mut stop: channel::Receiver<bool>,
    ) -> Result<(), Error> {
        tokio::select! {
            synced = watched.synced() => synced?,
            _ = stop.changed() => return Ok(()),
        }
        tracing::info!(namespaces = ?self.settings.namespaces, "first full sync of all watched kinds done");
        loop {
            let observed = watched.observed();
            let resources = translate::resources(&observed);
            let (snapshot, invalid) = Snapshot::build(&resources, SystemTime::now());
            for object in &invalid {
                tracing::warn!(kind = %object.kind, namespace = %object.namespace, name = %object.name,
                    field = %object.field, reason = %object.reason, "invalid object left out of the config");
            }
            let counts = snapshot.counts();
            self.config_metrics.built(counts, invalid.len());
            let snapshot = Arc::new(snapshot);
            self.snapshot.store(snapshot.clone());
            if !self.ready.swap(true, Ordering::AcqRel) {
                tracing::info!(
                    providers = counts.providers.valid,
                    routing_groups = counts.routing_groups.valid,
                    api_keys = counts.api_keys.valid,
                    invalid = invalid.len(),
                    "config loaded from the API server"
                );
            }
            verdicts.send_replace(Some(Arc::new(writer::Verdicts {
                observed,
                invalid,
                snapshot,
            })));

            tokio::select! {
                () = changed.notified() => {}
                _ = stop.changed() => return Ok(()),
            }
            // Coalesces bursts (an `kubectl apply` of many objects) into one build.
            tokio::time::sleep(self.settings.debounce).await;
        }
    }
}

/// Writes status for the latest verdicts whenever they change or this replica becomes leader.
async fn write_status(
    mut status_writer: writer::StatusWriter,
    mut leader: channel::Receiver<bool>,
    mut verdicts: channel::Receiver<Option<Arc<writer::Verdicts>>>,
    mut stop: channel::Receiver<bool>,
    usage_refresh: Duration,
) {
    // Usage moves without any object changing, so it is refreshed on a timer too.
    let mut refresh = tokio::time::interval(usage_refresh);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            r = leader.changed() => if r.is_err() { return },
            r = verdicts.changed() => if r.is_err() { return },
            _ = refresh.tick(), if status_writer.usage.is_some() => {}
            _ = stop.changed() => return,
        }
        if !*leader.borrow_and_update() {
            continue;
        }
        let latest = verdicts.borrow_and_update().clone();
        if let Some(latest) = latest {
            status_writer.write_all(&latest).await;
        }
    }
}
