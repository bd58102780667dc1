//! Compiled routing groups: models by id and alias, their priced and ordered targets.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use super::build::FieldError;
use super::key::{compile_limits, Limit};
use super::lookup::NameMap;
use super::provider::ProviderEntry;
use crate::money::{cost_of, parse_usd};
use crate::resources::{PricingSpec, RoutingGroupSpec};

/// A RoutingGroup ready for the request path.
#[derive(Debug)]
pub struct GroupEntry {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// Models in declaration order.
    pub models: Vec<Arc<ModelEntry>>,
    /// Limits inherited by bound keys that declare none.
    pub limits: Vec<Limit>,
    /// Model index and whether the name is an alias, by id and alias.
    pub(crate) names: NameMap<(usize, bool)>,
}

impl GroupEntry {
    /// The model served under `name` (id or alias), and whether `name` was an alias.
    pub fn model(&self, name: &str) -> Option<(&Arc<ModelEntry>, bool)> {
        self.names
            .get(name)
            .map(|&(index, alias)| (&self.models[index], alias))
    }
}

/// One model of a group.
#[derive(Debug)]
pub struct ModelEntry {
    /// The canonical id.
    pub id: String,
    /// Other names for it.
    pub aliases: Vec<String>,
    /// Targets sorted by priority, declaration order kept within a priority.
    pub targets: Vec<Target>,
    /// Prices, when the model is costed.
    pub pricing: Option<Pricing>,
    /// Index ranges of `targets` sharing one priority, lowest priority number first.
    pub(crate) tiers: Vec<Range<usize>>,
}

/// One upstream a model may be sent to.
#[derive(Debug, Clone)]
pub struct Target {
    /// The provider to connect to.
    pub provider: Arc<ProviderEntry>,
    /// The model name sent upstream.
    pub model: String,
    /// Lower is tried first.
    pub priority: u32,
    /// Relative share within its priority; 0 is a fallback only.
    pub weight: u32,
}

/// Prices in micro-dollars per 1M tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pricing {
    /// Uncached input tokens.
    pub input: u64,
    /// Output tokens.
    pub output: u64,
    /// Cache-read input tokens.
    pub cache_read: u64,
    /// Cache-write input tokens.
    pub cache_write: u64,
}

impl Pricing {
    /// Cost in micro-dollars of one request's usage, summed exactly then rounded up once.
    pub fn cost_micros(&self, input: u64, output: u64, cache_read: u64, cache_write: u64) -> u64 {
        cost_of(&[
            (input, self.input),
            (output, self.output),
            (cache_read, self.cache_read),
            (cache_write, self.cache_write),
        ])
    }
}

/// Compiles a RoutingGroup spec; `provider` resolves a provider name or explains why it cannot.
pub(crate) fn compile(
    namespace: &str,
    name: &str,
    spec: &RoutingGroupSpec,
    provider: &dyn Fn(&str) -> Result<Arc<ProviderEntry>, String>,
) -> Result<GroupEntry, FieldError> {
    let mut names: NameMap<(usize, bool)> = NameMap::default();
    let mut first_use: HashMap<String, String> = HashMap::new();
    let mut models = Vec::with_capacity(spec.models.len());
    for (m, model) in spec.models.iter().enumerate() {
        let at = format!("spec.models[{m}]");
        let candidates = std::iter::once((format!("{at}.id"), &model.id, false)).chain(
            model
                .aliases
                .iter()
                .enumerate()
                .map(|(a, alias)| (format!("{at}.aliases[{a}]"), alias, true)),
        );
        for (field, model_name, alias) in candidates {
            if model_name.trim().is_empty() {
                return Err(FieldError::new(field, "must not be empty"));
            }
            if let Some(earlier) = first_use.get(model_name) {
                return Err(FieldError::new(
                    &field,
                    format!("{model_name:?} collides with {earlier} in this RoutingGroup"),
                ));
            }
            first_use.insert(model_name.clone(), field);
            names.insert(model_name.clone(), (m, alias));
        }
        if model.targets.is_empty() {
            return Err(FieldError::new(
                format!("{at}.targets"),
                "must list at least one target",
            ));
        }
        let mut targets = Vec::with_capacity(model.targets.len());
        for (t, target) in model.targets.iter().enumerate() {
            let tat = format!("{at}.targets[{t}]");
            let entry = provider(&target.provider)
                .map_err(|reason| FieldError::new(format!("{tat}.provider"), reason))?;
            if target.model.trim().is_empty() {
                return Err(FieldError::new(format!("{tat}.model"), "must not be empty"));
            }
            targets.push(Target {
                provider: entry,
                model: target.model.clone(),
                priority: target.priority,
                weight: target.weight,
            });
        }
        // Stable, so declaration order breaks ties and fallbacks stay predictable.
        targets.sort_by_key(|t| t.priority);
        let pricing = match &model.pricing {
            None => None,
            Some(p) => Some(compile_pricing(p, &format!("{at}.pricing"))?),
        };
        models.push(Arc::new(ModelEntry {
            id: model.id.clone(),
            aliases: model.aliases.clone(),
            tiers: tiers(&targets),
            targets,
            pricing,
        }));
    }
    Ok(GroupEntry {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        models,
        limits: compile_limits(&spec.limits, "spec.limits")?,
        names,
    })
}

fn tiers(sorted: &[Target]) -> Vec<Range<usize>> {
    let mut tiers = Vec::new();
    let mut start = 0;
    for i in 1..=sorted.len() {
        if i == sorted.len() || sorted[i].priority != sorted[start].priority {
            tiers.push(start..i);
            start = i;
        }
    }
    tiers
}

fn compile_pricing(spec: &PricingSpec, at: &str) -> Result<Pricing, FieldError> {
    let price = |value: &str, field: &str| {
        parse_usd(value).map_err(|e| FieldError::new(format!("{at}.{field}"), e.to_string()))
    };
    let optional =
        |value: &Option<String>, field: &str| value.as_deref().map(|v| price(v, field)).transpose();
    let input = price(&spec.input, "input")?;
    let output = price(&spec.output, "output")?;
    Ok(Pricing {
        input,
        output,
        // Unpriced cache classes bill like plain input: never cheaper than the operator said.
        cache_read: optional(&spec.cache_read, "cacheRead")?.unwrap_or(input),
        cache_write: optional(&spec.cache_write, "cacheWrite")?.unwrap_or(input),
    })
}
