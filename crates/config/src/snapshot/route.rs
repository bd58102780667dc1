//! The outcome of resolving a model for a key: canonical model, pricing and attempt order.

use std::sync::Arc;

use smallvec::SmallVec;

use super::group::{GroupEntry, ModelEntry, Pricing, Target};
use crate::resources::Protocol;

/// Where a request goes: owns its data, so it can live in per-request state across phases.
#[derive(Debug, Clone)]
pub struct Route {
    pub(crate) group: Arc<GroupEntry>,
    pub(crate) model: Arc<ModelEntry>,
    pub(crate) via_alias: bool,
    pub(crate) order: SmallVec<[usize; 8]>,
}

impl Route {
    /// The canonical model id (what to report back to the client).
    pub fn model_id(&self) -> &str {
        &self.model.id
    }

    /// The resolved model.
    pub fn model(&self) -> &Arc<ModelEntry> {
        &self.model
    }

    /// The group that served the model.
    pub fn group(&self) -> &Arc<GroupEntry> {
        &self.group
    }

    /// Whether the client asked for the model by an alias.
    pub fn via_alias(&self) -> bool {
        self.via_alias
    }

    /// Prices, when the model is costed.
    pub fn pricing(&self) -> Option<&Pricing> {
        self.model.pricing.as_ref()
    }

    /// Targets in the order to try them: by priority, weighted-random within a priority.
    pub fn attempt_order(&self) -> impl Iterator<Item = &Target> + '_ {
        self.order.iter().map(|&i| &self.model.targets[i])
    }

    /// The first target to try.
    pub fn primary(&self) -> &Target {
        &self.model.targets[self.order[0]]
    }
}

/// One entry of `/v1/models` for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelListing {
    /// The id or alias a client may send.
    pub id: String,
    /// Protocol of the model's first target.
    pub owned_by: Protocol,
    /// Whether `id` is an alias.
    pub is_alias: bool,
    /// The canonical id when `id` is an alias.
    pub alias_of: Option<String>,
}

/// Orders a model's targets: tiers by priority; within a tier, weighted draws without
/// replacement, then zero-weight targets in declaration order as last resorts.
pub(crate) fn attempt_order(model: &ModelEntry, rng: &mut fastrand::Rng) -> SmallVec<[usize; 8]> {
    let mut order = SmallVec::new();
    for tier in &model.tiers {
        let mut pool: SmallVec<[(usize, u64); 8]> = tier
            .clone()
            .filter(|&i| model.targets[i].weight > 0)
            .map(|i| (i, u64::from(model.targets[i].weight)))
            .collect();
        while !pool.is_empty() {
            let total: u64 = pool.iter().map(|&(_, w)| w).sum();
            let mut draw = rng.u64(0..total);
            let pick = pool
                .iter()
                .position(|&(_, w)| {
                    if draw < w {
                        true
                    } else {
                        draw -= w;
                        false
                    }
                })
                .unwrap_or(0);
            order.push(pool.remove(pick).0);
        }
        order.extend(tier.clone().filter(|&i| model.targets[i].weight == 0));
    }
    order
}
