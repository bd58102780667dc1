//! Writes each object's status (and an Event when it turns invalid) while this replica leads.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use bytespike_config::snapshot::KeyEntry;
use bytespike_config::{Invalid, Kind, Snapshot};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::metrics::ControllerMetrics;
use crate::status;
use crate::translate::Observed;
use crate::usage::UsageSource;
use crate::FIELD_MANAGER;

/// One build's outcome, as the status writer needs it.
pub(crate) struct Verdicts {
    pub(crate) observed: Observed,
    pub(crate) invalid: Vec<Invalid>,
    pub(crate) snapshot: Arc<Snapshot>,
}

/// Patches statuses that differ from what the builder concluded.
pub(crate) struct StatusWriter {
    pub(crate) client: Client,
    pub(crate) recorder: Recorder,
    pub(crate) usage: Option<Arc<dyn UsageSource>>,
    pub(crate) metrics: Arc<ControllerMetrics>,
    /// The status last written per object, with the resourceVersion the store showed then: until
    /// the store catches up with our own write, the same status is not written again.
    pub(crate) written: HashMap<(Kind, String, String), (Option<String>, Value)>,
}

impl StatusWriter {
    /// Brings every object's status in line with `verdicts`.
    pub(crate) async fn write_all(&mut self, verdicts: &Verdicts) {
        let now = Time(Timestamp::now());
        let invalid: HashMap<(Kind, &str, &str), &Invalid> = verdicts
            .invalid
            .iter()
            .map(|i| ((i.kind, i.namespace.as_str(), i.name.as_str()), i))
            .collect();
        let keys: HashMap<&str, &Arc<KeyEntry>> = verdicts
            .snapshot
            .keys()
            .map(|k| (k.id.as_str(), k))
            .collect();
        let mut present = Vec::new();

        for p in &verdicts.observed.providers {
            let (extra, conds) = self.desired(
                Kind::Provider,
                p.as_ref(),
                &invalid,
                &now,
                p.status.as_ref().map(|s| &s.conditions),
            );
            let current = serde_json::to_value(&p.status).unwrap_or(Value::Null);
            present.push(
                self.reconcile(Kind::Provider, p.as_ref(), current, extra, conds)
                    .await,
            );
        }
        for g in &verdicts.observed.routing_groups {
            let (mut extra, conds) = self.desired(
                Kind::RoutingGroup,
                g.as_ref(),
                &invalid,
                &now,
                g.status.as_ref().map(|s| &s.conditions),
            );
            extra.insert("modelCount".into(), json!(g.spec.models.len()));
            let current = serde_json::to_value(&g.status).unwrap_or(Value::Null);
            present.push(
                self.reconcile(Kind::RoutingGroup, g.as_ref(), current, extra, conds)
                    .await,
            );
        }
        for k in &verdicts.observed.api_keys {
            let (mut extra, conds) = self.desired(
                Kind::ApiKey,
                k.as_ref(),
                &invalid,
                &now,
                k.status.as_ref().map(|s| &s.conditions),
            );
            let id = format!("{}/{}", k.namespace().unwrap_or_default(), k.name_any());
            if let (Some(source), Some(entry)) = (&self.usage, keys.get(id.as_str())) {
                if let Some(usage) = source.usage(entry).await {
                    extra.insert(
                        "tightestWindow".into(),
                        json!(status::tightest_window(&usage)),
                    );
                    extra.insert("usage".into(), json!(usage));
                }
            }
            let current = serde_json::to_value(&k.status).unwrap_or(Value::Null);
            present.push(
                self.reconcile(Kind::ApiKey, k.as_ref(), current, extra, conds)
                    .await,
            );
        }
        // Forget deleted objects, so a re-created one with the same name is written afresh.
        self.written.retain(|key, _| present.contains(key));
    }

    /// The status fields besides conditions, and the conditions, that `obj` should carry.
    fn desired<K: Resource>(
        &self,
        kind: Kind,
        obj: &K,
        invalid: &HashMap<(Kind, &str, &str), &Invalid>,
        now: &Time,
        previous: Option<&Vec<Condition>>,
    ) -> (
        serde_json::Map<String, Value>,
        (Vec<Condition>, Vec<Condition>),
    ) {
        let ns = obj.meta().namespace.as_deref().unwrap_or_default();
        let name = obj.meta().name.as_deref().unwrap_or_default();
        let verdict = invalid.get(&(kind, ns, name)).copied();
        let generation = obj.meta().generation;
        let previous = previous.cloned().unwrap_or_default();
        let conditions = status::conditions(verdict, generation, &previous, now);
        let mut extra = serde_json::Map::new();
        extra.insert("observedGeneration".into(), json!(generation));
        (extra, (previous, conditions))
    }

    /// Patches `obj`'s status when it differs; returns the object's identity.
    async fn reconcile<K>(
        &mut self,
        kind: Kind,
        obj: &K,
        current: Value,
        mut desired: serde_json::Map<String, Value>,
        (previous, conditions): (Vec<Condition>, Vec<Condition>),
    ) -> (Kind, String, String)
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + DeserializeOwned
            + Debug,
    {
        let ns = obj.namespace().unwrap_or_default();
        let name = obj.name_any();
        let id = (kind, ns.clone(), name.clone());
        let unchanged = status::same_conditions(&previous, &conditions)
            && desired.iter().all(|(field, value)| {
                current.get(field) == Some(value)
                    || (value.is_null() && current.get(field).is_none())
            });
        desired.insert("conditions".into(), json!(conditions));
        let desired = Value::Object(desired);
        let version = obj.resource_version();
        if unchanged || self.written.get(&id) == Some(&(version.clone(), desired.clone())) {
            return id;
        }
        let api: Api<K> = Api::namespaced(self.client.clone(), &ns);
        let params = PatchParams {
            field_manager: Some(FIELD_MANAGER.to_owned()),
            ..PatchParams::default()
        };
        let body = json!({ "status": desired });
        match api.patch_status(&name, &params, &Patch::Merge(&body)).await {
            Ok(_) => {
                self.metrics
                    .status_patches
                    .with_label_values(&[kind.as_str(), "ok"])
                    .inc();
                self.written.insert(id.clone(), (version, desired));
            }
            // Deleted since it was listed: its watch event will drop it from the next pass.
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => {
                self.metrics
                    .status_patches
                    .with_label_values(&[kind.as_str(), "error"])
                    .inc();
                tracing::warn!(%kind, namespace = %ns, name = %name, error = %e, "status write failed; retried on the next change");
                return id;
            }
        }
        if status::became_invalid(&previous, &conditions) {
            self.publish(obj, &conditions).await;
        }
        id
    }

    async fn publish<K: Resource<DynamicType = ()>>(&self, obj: &K, conditions: &[Condition]) {
        let Some(bad) = conditions.iter().find(|c| c.type_ == status::INVALID) else {
            return;
        };
        let event = Event {
            type_: EventType::Warning,
            reason: bad.reason.clone(),
            note: Some(bad.message.clone()),
            action: "Validate".into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&event, &obj.object_ref(&())).await {
            tracing::warn!(error = %e, "publishing an Event failed");
        }
    }
}
