//! The RoutingGroup resource: the models a key may call, their aliases, targets and prices.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{LimitSpec, RoutingGroupStatus};

/// Desired state of a RoutingGroup.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[kube(
    group = "gateway.bytespike.ai",
    version = "v1alpha1",
    kind = "RoutingGroup",
    namespaced,
    status = "RoutingGroupStatus",
    shortname = "rg",
    doc = "A set of models, their aliases, and the providers each is routed to",
    printcolumn = r#"{"name":"Models","type":"integer","jsonPath":".status.modelCount"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "self.models.all(a, self.models.exists_one(b, b.id == a.id))"
).message("each model id may appear only once in a group"))]
#[x_kube(validation = Rule::new(
    "!has(self.limits) || self.limits.all(a, self.limits.exists_one(b, b.window == a.window))"
).message("each limit window may appear only once; merge limits with the same window"))]
pub struct RoutingGroupSpec {
    /// The models served by this group.
    #[schemars(length(min = 1, max = 256))]
    pub models: Vec<ModelSpec>,
    /// Limits inherited by keys bound to this group that declare none of their own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub limits: Vec<LimitSpec>,
}

/// One model a client may request, by id or alias.
#[derive(KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.aliases) || !(self.id in self.aliases)")
    .message("a model's aliases must not repeat its id"))]
pub struct ModelSpec {
    /// The canonical model id clients see in `/v1/models`.
    #[schemars(length(min = 1, max = 253))]
    pub id: String,
    /// Other names that resolve to this model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 253)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub aliases: Vec<String>,
    /// Where requests go: by priority, then weighted within a priority.
    #[schemars(length(min = 1, max = 16))]
    pub targets: Vec<TargetSpec>,
    /// Prices in USD per 1M tokens; absent means usage is not costed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing: Option<PricingSpec>,
}

/// One upstream a model may be sent to.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TargetSpec {
    /// Name of a Provider in the same namespace.
    #[schemars(length(min = 1, max = 253))]
    pub provider: String,
    /// The model name sent upstream.
    #[schemars(length(min = 1))]
    pub model: String,
    /// Lower is tried first (default 0).
    #[serde(default)]
    pub priority: u32,
    /// Relative share within a priority (default 100); 0 means only as a fallback.
    #[serde(default = "default_weight")]
    pub weight: u32,
}

fn default_weight() -> u32 {
    100
}

/// Prices in USD per 1M tokens, as decimal strings.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PricingSpec {
    /// Uncached input tokens.
    #[serde(deserialize_with = "crate::money::de_decimal")]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]{1,6})?$"))]
    pub input: String,
    /// Output tokens.
    #[serde(deserialize_with = "crate::money::de_decimal")]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]{1,6})?$"))]
    pub output: String,
    /// Cache-read input tokens (defaults to the input price).
    #[serde(
        default,
        deserialize_with = "crate::money::de_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]{1,6})?$"))]
    pub cache_read: Option<String>,
    /// Cache-write input tokens (defaults to the input price).
    #[serde(
        default,
        deserialize_with = "crate::money::de_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]{1,6})?$"))]
    pub cache_write: Option<String>,
}
