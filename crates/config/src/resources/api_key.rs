//! The ApiKey resource: a client key, the groups it may use and its rate limits.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::{ApiKeyStatus, SecretKeyRef};

/// Desired state of an ApiKey.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[kube(
    group = "gateway.bytespike.ai",
    version = "v1alpha1",
    kind = "ApiKey",
    namespaced,
    status = "ApiKeyStatus",
    shortname = "ak",
    doc = "A client API key: its routing groups, rate limits and where its key material lives",
    printcolumn = r#"{"name":"Groups","type":"string","jsonPath":".spec.routingGroups"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","priority":1,"jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Usage","type":"string","jsonPath":".status.tightestWindow"}"#,
    printcolumn = r#"{"name":"Disabled","type":"boolean","priority":1,"jsonPath":".spec.disabled"}"#,
    printcolumn = r#"{"name":"Expires","type":"date","priority":1,"jsonPath":".spec.expiresAt"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "!has(self.limits) || self.limits.all(a, self.limits.exists_one(b, b.window == a.window))"
).message("each limit window may appear only once; merge limits with the same window"))]
pub struct ApiKeySpec {
    /// RoutingGroups in the same namespace; the first that has a model serves it.
    #[schemars(length(min = 1, max = 32), inner(length(min = 1, max = 253)))]
    #[schemars(extend("x-kubernetes-list-type" = "set"))]
    pub routing_groups: Vec<String>,
    /// The Secret key holding the key material clients present.
    pub secret_ref: SecretKeyRef,
    /// Rate limits; when empty, the first bound group with limits supplies them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub limits: Vec<LimitSpec>,
    /// Most requests in flight at once for this key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub max_concurrent: Option<u32>,
    /// A disabled key is refused with a distinct error.
    #[serde(default)]
    pub disabled: bool,
    /// RFC 3339 time after which the key is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Time>,
    /// Who the key belongs to, for people reading it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Free-form description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Caps over one sliding window; unset caps are unlimited.
#[derive(KubeSchema, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(
    "has(self.requests) || has(self.tokens) || has(self.inputTokens) || has(self.outputTokens) || has(self.costUsd)"
).message("a limit must set at least one of requests, tokens, inputTokens, outputTokens, costUsd"))]
pub struct LimitSpec {
    /// Window length such as `30m`, `5h`, `1d` or `7d` (at least 1m).
    #[schemars(regex(pattern = r"^([0-9]+(s|m|h|d|w))+$"), length(max = 32))]
    pub window: String,
    /// Requests admitted per window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    /// Input + output tokens per window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    /// Input tokens per window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    /// Output tokens per window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    /// Spend per window in USD, as a decimal string.
    #[serde(
        default,
        deserialize_with = "crate::money::de_opt_decimal",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]{1,6})?$"))]
    pub cost_usd: Option<String>,
}
