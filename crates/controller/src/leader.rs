//! Leader election on a `coordination.k8s.io` Lease: only the holder writes status and Events.
//!
//! Updates carry the Lease's `resourceVersion`, so of two replicas racing for it the API server
//! accepts one and answers the other 409. Expiry is judged by this replica's own clock (how long
//! the Lease record has gone unchanged), never by comparing clocks across machines.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::metrics::ControllerMetrics;
use crate::FIELD_MANAGER;

/// Which Lease to hold and for how long.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// The Lease's name.
    pub name: String,
    /// The Lease's namespace.
    pub namespace: String,
    /// This replica's identity, written as `holderIdentity`.
    pub identity: String,
    /// How long a holder that stops renewing keeps the Lease.
    pub duration: Duration,
}

impl LeaseSettings {
    fn renew_every(&self) -> Duration {
        self.duration / 3
    }

    /// A holder that could not renew for this long steps down before anyone can take over.
    fn renew_deadline(&self) -> Duration {
        self.duration * 2 / 3
    }
}

/// What was last seen of someone else's Lease record, and when (by this replica's clock).
struct Observed {
    record: (Option<String>, Option<MicroTime>),
    since: Instant,
}

/// Holds or waits for the Lease until `shutdown`, publishing leadership on `leader`.
pub(crate) async fn run(
    api: Api<Lease>,
    settings: LeaseSettings,
    leader: watch::Sender<bool>,
    metrics: &ControllerMetrics,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut observed: Option<Observed> = None;
    let mut last_renew: Option<Instant> = None;
    loop {
        let held = match attempt(&api, &settings, &mut observed).await {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(error = %e, lease = %settings.name, "Lease call failed");
                // Keep leading through a blip, but never past the point where another replica
                // could consider the Lease expired.
                last_renew.is_some_and(|t| t.elapsed() < settings.renew_deadline())
            }
        };
        if held {
            last_renew = Some(Instant::now());
        } else {
            last_renew = None;
        }
        if *leader.borrow() != held {
            tracing::info!(identity = %settings.identity, lease = %settings.name, leader = held,
                "status-writer leadership changed");
            leader.send_replace(held);
            metrics.leader.set(i64::from(held));
        }
        tokio::select! {
            _ = tokio::time::sleep(settings.renew_every()) => {}
            _ = shutdown.changed() => break,
        }
    }
    if *leader.borrow() {
        leader.send_replace(false);
        metrics.leader.set(0);
        release(&api, &settings).await;
    }
}

/// One acquire-or-renew round; `Ok(true)` when this replica holds the Lease afterwards.
async fn attempt(
    api: &Api<Lease>,
    settings: &LeaseSettings,
    observed: &mut Option<Observed>,
) -> Result<bool, kube::Error> {
    let now = MicroTime(Timestamp::now());
    let seconds = i32::try_from(settings.duration.as_secs()).unwrap_or(i32::MAX);
    let Some(lease) = api.get_opt(&settings.name).await? else {
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(settings.name.clone()),
                namespace: Some(settings.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(settings.identity.clone()),
                lease_duration_seconds: Some(seconds),
                acquire_time: Some(now.clone()),
                renew_time: Some(now),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        return conflict_is_false(
            api.create(&PostParams::default(), &lease)
                .await
                .map(|_| true),
        );
    };
    let spec = lease.spec.clone().unwrap_or_default();
    let version = lease.metadata.resource_version.clone();
    let mine = spec.holder_identity.as_deref() == Some(settings.identity.as_str());
    let patch = if mine {
        json!({
            "metadata": {"resourceVersion": version},
            "spec": {"renewTime": now, "leaseDurationSeconds": seconds},
        })
    } else {
        let record = (spec.holder_identity.clone(), spec.renew_time.clone());
        let unchanged_since = match observed {
            Some(seen) if seen.record == record => seen.since,
            _ => {
                *observed = Some(Observed {
                    record: record.clone(),
                    since: Instant::now(),
                });
                Instant::now()
            }
        };
        let held_for = spec.lease_duration_seconds.map_or(settings.duration, |s| {
            Duration::from_secs(u64::try_from(s).unwrap_or(0))
        });
        let free = record.0.as_deref().unwrap_or("").is_empty();
        if !free && unchanged_since.elapsed() < held_for {
            return Ok(false);
        }
        json!({
            "metadata": {"resourceVersion": version},
            "spec": {
                "holderIdentity": settings.identity,
                "leaseDurationSeconds": seconds,
                "acquireTime": now,
                "renewTime": now,
                "leaseTransitions": spec.lease_transitions.unwrap_or(0) + 1,
            },
        })
    };
    let params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    };
    let result = api
        .patch(&settings.name, &params, &Patch::Merge(&patch))
        .await
        .map(|l| {
            l.spec.and_then(|s| s.holder_identity).as_deref() == Some(settings.identity.as_str())
        });
    conflict_is_false(result)
}

/// Another replica won a race (409): not an error, just not the holder.
fn conflict_is_false(result: Result<bool, kube::Error>) -> Result<bool, kube::Error> {
    match result {
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(false),
        other => other,
    }
}

/// Hands the Lease over at shutdown so the next replica need not wait for it to expire.
async fn release(api: &Api<Lease>, settings: &LeaseSettings) {
    let result = async {
        let lease = api.get(&settings.name).await?;
        let spec = lease.spec.unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(settings.identity.as_str()) {
            return Ok(());
        }
        let patch = json!({
            "metadata": {"resourceVersion": lease.metadata.resource_version},
            "spec": {"holderIdentity": null, "renewTime": null},
        });
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        api.patch(&settings.name, &params, &Patch::Merge(&patch))
            .await
            .map(|_| ())
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(error = %e, lease = %settings.name, "releasing the Lease failed; it expires on its own");
    }
}
