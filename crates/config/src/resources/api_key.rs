//! The ApiKey resource: a client key, the groups it may use and its rate limits.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ApiKeyStatus, SecretKeyRef};

/// Desired state of an ApiKey.
#[derive(CustomResource, Serialize, Deserialize, Debug, Clone, PartialEq, JsonSchema)]
#[kube(
    group = "gateway.bytespike.ai",
    version = "v1alpha1",
    kind = "ApiKey",
    namespaced,
    status = "ApiKeyStatus",
    shortname = "ak",
    doc = "A client API key: its routing groups, rate limits and where its key material lives",
    printcolumn = r#"{"name":"Groups","type":"string","jsonPath":".spec.routingGroups"}"#,
    printcolumn = r#"{"name":"Disabled","type":"boolean","jsonPath":".spec.disabled"}"#,
    printcolumn = r#"{"name":"Expires","type":"date","jsonPath":".spec.expiresAt"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeySpec {
    /// RoutingGroups in the same namespace; the first that has a model serves it.
    #[schemars(length(min = 1))]
    pub routing_groups: Vec<String>,
    /// The Secret key holding the key material clients present.
    pub secret_ref: SecretKeyRef,
    /// Rate limits; when empty, the first bound group with limits supplies them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<LimitSpec>,
    /// Most requests in flight at once for this key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LimitSpec {
    /// Window length such as `30m`, `5h`, `1d` or `7d` (at least 1m).
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
    pub cost_usd: Option<String>,
}
