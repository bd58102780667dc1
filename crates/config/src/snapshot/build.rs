//! Compiling resources and Secrets into a snapshot, collecting every invalid object on the way.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::lookup::DigestMap;
use super::{Counts, Snapshot, Tally};
use crate::error::Invalid;
use crate::resources::{Kind, Resources, SecretKeyRef, SecretValueError, DEFAULT_NAMESPACE};

/// Secrets by (namespace, name).
pub(crate) type SecretIndex<'a> = HashMap<(&'a str, &'a str), &'a Secret>;

/// What is wrong with one field of an object.
#[derive(Debug)]
pub(crate) struct FieldError {
    pub(crate) field: String,
    pub(crate) reason: String,
}

impl FieldError {
    pub(crate) fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// Describes a Secret lookup failure without the value.
pub(crate) fn secret_field_error(
    field: &str,
    namespace: &str,
    reference: &SecretKeyRef,
    err: SecretValueError,
) -> FieldError {
    let secret = format!("Secret {namespace}/{}", reference.name);
    let key = &reference.key;
    let reason = match err {
        SecretValueError::MissingKey => format!("{secret} has no key {key:?}"),
        SecretValueError::NotUtf8 => format!("{secret} key {key:?} is not valid UTF-8"),
        SecretValueError::Empty => format!("{secret} key {key:?} is empty"),
    };
    FieldError::new(field, reason)
}

static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Collects invalid objects and per-kind tallies.
struct Report {
    invalid: Vec<Invalid>,
    counts: Counts,
}

impl Report {
    fn invalid(&mut self, kind: Kind, ns: &str, name: &str, err: FieldError) {
        self.tally(kind).invalid += 1;
        self.invalid.push(Invalid {
            kind,
            namespace: ns.to_owned(),
            name: name.to_owned(),
            field: err.field,
            reason: err.reason,
        });
    }

    fn tally(&mut self, kind: Kind) -> &mut Tally {
        match kind {
            Kind::Provider => &mut self.counts.providers,
            Kind::RoutingGroup => &mut self.counts.routing_groups,
            Kind::ApiKey => &mut self.counts.api_keys,
            Kind::Secret => &mut self.counts.secrets,
        }
    }

    /// The object's (namespace, name), or None after reporting it when it has no name or repeats
    /// one already seen.
    fn identify<'a>(
        &mut self,
        kind: Kind,
        meta: &'a ObjectMeta,
        seen: &mut HashSet<(&'a str, &'a str)>,
    ) -> Option<(&'a str, &'a str)> {
        let ns = meta.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE);
        let name = meta.name.as_deref().unwrap_or("");
        if name.is_empty() {
            self.invalid(
                kind,
                ns,
                "",
                FieldError::new("metadata.name", "must be set"),
            );
            return None;
        }
        if !seen.insert((ns, name)) {
            let err = FieldError::new("metadata.name", "defined more than once; the first is used");
            self.invalid(kind, ns, name, err);
            return None;
        }
        Some((ns, name))
    }
}

/// Builds a snapshot from `resources`; see [`Snapshot::build`].
pub(crate) fn build(resources: &Resources, now: SystemTime) -> (Snapshot, Vec<Invalid>) {
    let mut report = Report {
        invalid: Vec::new(),
        counts: Counts::default(),
    };

    let mut seen = HashSet::new();
    let mut secrets: SecretIndex<'_> = HashMap::new();
    for secret in &resources.secrets {
        if let Some(id) = report.identify(Kind::Secret, &secret.metadata, &mut seen) {
            report.counts.secrets.valid += 1;
            secrets.insert(id, secret);
        }
    }

    let mut seen = HashSet::new();
    let mut providers = HashMap::new();
    let mut bad_providers = HashSet::new();
    for p in &resources.providers {
        let Some((ns, name)) = report.identify(Kind::Provider, &p.metadata, &mut seen) else {
            continue;
        };
        match super::provider::compile(ns, name, &p.spec, &secrets) {
            Ok(entry) => {
                report.counts.providers.valid += 1;
                providers.insert((ns, name), Arc::new(entry));
            }
            Err(err) => {
                bad_providers.insert((ns, name));
                report.invalid(Kind::Provider, ns, name, err);
            }
        }
    }

    let mut seen = HashSet::new();
    let mut groups = HashMap::new();
    let mut bad_groups = HashSet::new();
    for g in &resources.routing_groups {
        let Some((ns, name)) = report.identify(Kind::RoutingGroup, &g.metadata, &mut seen) else {
            continue;
        };
        let provider = |p: &str| match providers.get(&(ns, p)) {
            Some(entry) => Ok(Arc::clone(entry)),
            None if bad_providers.contains(&(ns, p)) => {
                Err(format!("Provider {p:?} is invalid; see its own error"))
            }
            None => Err(format!("unknown Provider {p:?}")),
        };
        match super::group::compile(ns, name, &g.spec, &provider) {
            Ok(entry) => {
                report.counts.routing_groups.valid += 1;
                groups.insert((ns, name), Arc::new(entry));
            }
            Err(err) => {
                bad_groups.insert((ns, name));
                report.invalid(Kind::RoutingGroup, ns, name, err);
            }
        }
    }

    let mut seen = HashSet::new();
    let mut compiled: Vec<([u8; 32], super::KeyEntry)> = Vec::new();
    for k in &resources.api_keys {
        let Some((ns, name)) = report.identify(Kind::ApiKey, &k.metadata, &mut seen) else {
            continue;
        };
        let group = |g: &str| match groups.get(&(ns, g)) {
            Some(entry) => Ok(Arc::clone(entry)),
            None if bad_groups.contains(&(ns, g)) => {
                Err(format!("RoutingGroup {g:?} is invalid; see its own error"))
            }
            None => Err(format!("unknown RoutingGroup {g:?}")),
        };
        match super::key::compile(ns, name, &k.spec, &group, &secrets) {
            Ok(pair) => compiled.push(pair),
            Err(err) => report.invalid(Kind::ApiKey, ns, name, err),
        }
    }

    // Shared key material would make the key's groups and limits depend on which ApiKey won, so
    // every ApiKey sharing it is refused rather than one picked silently.
    let mut owners: HashMap<[u8; 32], Vec<String>> = HashMap::new();
    for (digest, entry) in &compiled {
        owners.entry(*digest).or_default().push(entry.id.clone());
    }
    let mut keys = DigestMap::with_capacity_and_hasher(compiled.len(), Default::default());
    for (digest, entry) in compiled {
        let sharing = &owners[&digest];
        if sharing.len() > 1 {
            let others: Vec<&str> = sharing
                .iter()
                .filter(|id| **id != entry.id)
                .map(String::as_str)
                .collect();
            let reason = format!(
                "key material is also used by ApiKey {}; every ApiKey needs its own key",
                others.join(", ")
            );
            let err = FieldError::new("spec.secretRef", reason);
            report.invalid(Kind::ApiKey, &entry.namespace, &entry.name, err);
            continue;
        }
        report.counts.api_keys.valid += 1;
        keys.insert(digest, Arc::new(entry));
    }

    let mut groups: Vec<_> = groups.into_values().collect();
    groups.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let mut providers: Vec<_> = providers.into_values().collect();
    providers.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    let known_models = groups
        .iter()
        .flat_map(|g| g.names.keys().cloned())
        .collect();
    let snapshot = Snapshot {
        generation: GENERATION.fetch_add(1, Ordering::Relaxed) + 1,
        built_at: now,
        keys,
        providers,
        groups,
        known_models,
        counts: report.counts,
    };
    (snapshot, report.invalid)
}
