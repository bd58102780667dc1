//! The immutable, shareable config the proxy reads on every request.

mod build;
mod group;
mod key;
mod lookup;
mod provider;
mod route;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::error::{AuthError, Invalid, InvalidObjects, RouteError};
use crate::resources::{Kind, Resources};

pub use group::{GroupEntry, ModelEntry, Pricing, Target};
pub use key::{KeyEntry, Limit};
pub use provider::{BaseUrl, Pool, ProviderEntry, Timeouts, WireHeaders};
pub use route::{ModelListing, Route};

/// Everything valid from one set of resources, compiled for lookups; share it behind an `Arc`.
pub struct Snapshot {
    generation: u64,
    built_at: SystemTime,
    keys: lookup::DigestMap<Arc<KeyEntry>>,
    providers: Vec<Arc<ProviderEntry>>,
    groups: Vec<Arc<GroupEntry>>,
    known_models: HashSet<String>,
    counts: Counts,
}

/// Valid and invalid object counts of one kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Objects compiled into the snapshot.
    pub valid: usize,
    /// Objects left out.
    pub invalid: usize,
}

/// Object counts by kind, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Providers.
    pub providers: Tally,
    /// RoutingGroups.
    pub routing_groups: Tally,
    /// ApiKeys.
    pub api_keys: Tally,
    /// Secrets (invalid only when defined twice or unnamed).
    pub secrets: Tally,
}

impl Counts {
    /// The tally for one kind.
    pub fn get(&self, kind: Kind) -> Tally {
        match kind {
            Kind::Provider => self.providers,
            Kind::RoutingGroup => self.routing_groups,
            Kind::ApiKey => self.api_keys,
            Kind::Secret => self.secrets,
        }
    }
}

impl Snapshot {
    /// Compiles every valid object; each invalid one is left out and reported.
    ///
    /// References resolve within the object's namespace; an object referring to an invalid one
    /// is itself invalid. `now` is recorded as the build time.
    pub fn build(resources: &Resources, now: SystemTime) -> (Snapshot, Vec<Invalid>) {
        build::build(resources, now)
    }

    /// Like [`Snapshot::build`], but any invalid object fails the whole build.
    pub fn build_strict(
        resources: &Resources,
        now: SystemTime,
    ) -> Result<Snapshot, InvalidObjects> {
        match Snapshot::build(resources, now) {
            (snapshot, invalid) if invalid.is_empty() => Ok(snapshot),
            (_, invalid) => Err(InvalidObjects(invalid)),
        }
    }

    /// A snapshot with nothing in it: every key is unknown.
    pub fn empty() -> Snapshot {
        Snapshot {
            generation: 0,
            built_at: SystemTime::UNIX_EPOCH,
            keys: lookup::DigestMap::default(),
            providers: Vec::new(),
            groups: Vec::new(),
            known_models: HashSet::new(),
            counts: Counts::default(),
        }
    }

    /// Finds the key whose material is `presented`, refusing disabled and expired keys.
    pub fn authenticate(
        &self,
        presented: &str,
        now: SystemTime,
    ) -> Result<&Arc<KeyEntry>, AuthError> {
        // Keys are looked up by SHA-256 digest: the map compares digests, never key material,
        // and an attacker cannot steer digest bytes, so lookup timing reveals nothing usable
        // about any stored key.
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let key = self.keys.get(&digest).ok_or(AuthError::Unknown)?;
        if key.disabled {
            return Err(AuthError::Disabled);
        }
        if key.expires_at.is_some_and(|at| at <= now) {
            return Err(AuthError::Expired);
        }
        Ok(key)
    }

    /// Resolves `requested` (id or alias) through the key's groups in order.
    pub fn resolve(&self, key: &KeyEntry, requested: &str) -> Result<Route, RouteError> {
        self.resolve_with(key, requested, &mut fastrand::Rng::new())
    }

    /// Like [`Snapshot::resolve`] with a caller-supplied random source (for reproducible tests).
    pub fn resolve_with(
        &self,
        key: &KeyEntry,
        requested: &str,
        rng: &mut fastrand::Rng,
    ) -> Result<Route, RouteError> {
        for group in &key.groups {
            if let Some((model, via_alias)) = group.model(requested) {
                return Ok(Route {
                    order: route::attempt_order(model, rng),
                    group: Arc::clone(group),
                    model: Arc::clone(model),
                    via_alias,
                });
            }
        }
        if self.known_models.contains(requested) {
            Err(RouteError::NotPermitted)
        } else {
            Err(RouteError::UnknownModel)
        }
    }

    /// The models a key may request, ids and aliases, as `/v1/models` lists them.
    pub fn models_for(&self, key: &KeyEntry) -> Vec<ModelListing> {
        let mut seen = HashSet::new();
        let mut listings = Vec::new();
        for group in &key.groups {
            for model in &group.models {
                let owned_by = model.targets[0].provider.protocol;
                let names = std::iter::once((&model.id, false))
                    .chain(model.aliases.iter().map(|a| (a, true)));
                for (name, is_alias) in names {
                    // An earlier group serving the same name shadows later ones, as in `resolve`.
                    if !seen.insert(name.as_str()) {
                        continue;
                    }
                    listings.push(ModelListing {
                        id: name.clone(),
                        owned_by,
                        is_alias,
                        alias_of: is_alias.then(|| model.id.clone()),
                    });
                }
            }
        }
        listings
    }

    /// Increases with every build in this process; 0 for [`Snapshot::empty`].
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The `now` the snapshot was built at.
    pub fn built_at(&self) -> SystemTime {
        self.built_at
    }

    /// Object counts by kind and validity.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// Valid providers, sorted by namespace and name.
    pub fn providers(&self) -> &[Arc<ProviderEntry>] {
        &self.providers
    }

    /// Valid routing groups, sorted by namespace and name.
    pub fn groups(&self) -> &[Arc<GroupEntry>] {
        &self.groups
    }

    /// Valid API keys, in no particular order.
    pub fn keys(&self) -> impl Iterator<Item = &Arc<KeyEntry>> + '_ {
        self.keys.values()
    }
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot::empty()
    }
}

// Hand-written so key digests (which allow offline guessing of weak keys) stay out of logs.
impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("generation", &self.generation)
            .field("built_at", &self.built_at)
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}
