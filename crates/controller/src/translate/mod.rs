//! Turning what the reflectors hold into the `Resources` the snapshot builder reads.

#[cfg(test)]
pub(crate) mod tests;

use std::collections::HashSet;
use std::sync::Arc;

use bytespike_config::resources::DEFAULT_NAMESPACE;
use bytespike_config::{ApiKey, Provider, Resources, RoutingGroup, Secret};
use kube::ResourceExt;

/// Everything the watchers currently see, across all watched namespaces.
#[derive(Default, Clone)]
pub struct Observed {
    /// Provider objects.
    pub providers: Vec<Arc<Provider>>,
    /// RoutingGroup objects.
    pub routing_groups: Vec<Arc<RoutingGroup>>,
    /// ApiKey objects.
    pub api_keys: Vec<Arc<ApiKey>>,
    /// Every Secret of the watched namespaces, referenced or not.
    pub secrets: Vec<Arc<Secret>>,
}

/// The snapshot builder's input: live objects plus only the Secrets they reference.
///
/// Objects already being deleted (a `deletionTimestamp` with finalizers pending) are left out:
/// a key someone deleted must stop working now, not when the last finalizer is removed.
pub fn resources(observed: &Observed) -> Resources {
    let live = |meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        meta.deletion_timestamp.is_none()
    };
    let providers: Vec<Provider> = observed
        .providers
        .iter()
        .filter(|p| live(&p.metadata))
        .map(|p| Provider::clone(p))
        .collect();
    let routing_groups: Vec<RoutingGroup> = observed
        .routing_groups
        .iter()
        .filter(|g| live(&g.metadata))
        .map(|g| RoutingGroup::clone(g))
        .collect();
    let api_keys: Vec<ApiKey> = observed
        .api_keys
        .iter()
        .filter(|k| live(&k.metadata))
        .map(|k| ApiKey::clone(k))
        .collect();

    let mut referenced: HashSet<(String, String)> = HashSet::new();
    for p in &providers {
        if let Some(creds) = &p.spec.credentials {
            referenced.insert((namespace(&p.metadata), creds.secret_ref.name.clone()));
        }
    }
    for k in &api_keys {
        referenced.insert((namespace(&k.metadata), k.spec.secret_ref.name.clone()));
    }
    let secrets = observed
        .secrets
        .iter()
        .filter(|s| live(&s.metadata))
        .filter(|s| referenced.contains(&(namespace(&s.metadata), s.name_any())))
        .map(|s| Secret::clone(s))
        .collect();

    Resources {
        providers,
        routing_groups,
        api_keys,
        secrets,
    }
}

fn namespace(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    meta.namespace
        .clone()
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned())
}
