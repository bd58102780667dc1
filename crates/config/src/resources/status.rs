//! Status types the controller writes: conditions, observed generation and per-window usage.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Status of a Provider.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProviderStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` and, when rejected, the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
}

/// Status of a RoutingGroup.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoutingGroupStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` and, when rejected, the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// How many models (ids, not aliases) the group serves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_count: Option<u32>,
}

/// Status of an ApiKey.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` and, when rejected, the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// Consumption in each limit window.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub usage: Vec<WindowUsage>,
    /// The window closest to its cap, e.g. `5h 42%`; written together with `usage`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tightest_window: Option<String>,
}

/// Consumption of one key in one window, next to that window's caps.
#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WindowUsage {
    /// The window as written in the limit, e.g. `5h`.
    pub window: String,
    /// Requests admitted in the window.
    pub requests: u64,
    /// Tokens (input + output) used in the window.
    pub tokens: u64,
    /// Cost in USD as a decimal string.
    pub cost_usd: String,
    /// The request cap, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_requests: Option<u64>,
    /// The token cap, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_tokens: Option<u64>,
    /// The cost cap in USD, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_cost_usd: Option<String>,
    /// When the window's oldest usage falls out and capacity returns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resets_at: Option<Time>,
}
