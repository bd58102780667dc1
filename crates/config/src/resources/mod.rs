//! The custom resources (Provider, RoutingGroup, ApiKey) and the Secrets they reference.

mod api_key;
mod provider;
mod routing_group;
mod secret;
mod status;

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use api_key::{ApiKey, ApiKeySpec, LimitSpec};
pub use k8s_openapi::api::core::v1::Secret;
pub use provider::{PoolSpec, Protocol, Provider, ProviderCredentials, ProviderSpec, TimeoutsSpec};
pub use routing_group::{ModelSpec, PricingSpec, RoutingGroup, RoutingGroupSpec, TargetSpec};
pub use secret::Redacted;
pub(crate) use secret::{secret_value, SecretValueError};
pub use status::{ApiKeyStatus, ProviderStatus, RoutingGroupStatus, WindowUsage};

/// The API group of the gateway's resources.
pub const GROUP: &str = "gateway.bytespike.ai";
/// The `apiVersion` of the gateway's resources.
pub const API_VERSION: &str = "gateway.bytespike.ai/v1alpha1";
/// The namespace an object without `metadata.namespace` belongs to.
pub const DEFAULT_NAMESPACE: &str = "default";

/// The kinds of object the gateway reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// An upstream vendor endpoint.
    Provider,
    /// A set of models and where each goes.
    RoutingGroup,
    /// A client key with its groups and limits.
    ApiKey,
    /// A core/v1 Secret holding key material or credentials.
    Secret,
}

impl Kind {
    /// The Kubernetes kind name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Kind::Provider => "Provider",
            Kind::RoutingGroup => "RoutingGroup",
            Kind::ApiKey => "ApiKey",
            Kind::Secret => "Secret",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The CustomResourceDefinitions of the three kinds, for installing into a cluster.
pub fn crds(
) -> Vec<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>
{
    use kube::CustomResourceExt;
    vec![Provider::crd(), RoutingGroup::crd(), ApiKey::crd()]
}

/// One CRD as the YAML document committed under `deploy/crds/`.
pub fn crd_yaml(
    crd: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
) -> String {
    format!(
        "# Generated from crates/config/src/resources; do not edit by hand.\n{}",
        serde_yaml::to_string(crd).expect("a CRD always serializes")
    )
}

/// Every CRD as one multi-document YAML stream, ready for `kubectl apply -f -`.
pub fn crds_yaml() -> String {
    crds()
        .iter()
        .map(crd_yaml)
        .collect::<Vec<_>>()
        .join("---\n")
}

/// A reference to one key of a Secret in the referencing object's namespace.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// The Secret's name.
    pub name: String,
    /// The key within the Secret's `data` or `stringData`.
    pub key: String,
}

/// Everything read from one source (files or the API server), before validation.
#[derive(Clone, Default)]
pub struct Resources {
    /// Provider objects.
    pub providers: Vec<Provider>,
    /// RoutingGroup objects.
    pub routing_groups: Vec<RoutingGroup>,
    /// ApiKey objects.
    pub api_keys: Vec<ApiKey>,
    /// Secrets (only those referenced are used).
    pub secrets: Vec<Secret>,
}

impl Resources {
    /// Total number of objects of all kinds.
    pub fn len(&self) -> usize {
        self.providers.len() + self.routing_groups.len() + self.api_keys.len() + self.secrets.len()
    }

    /// Whether no object at all was read.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

// Hand-written so Secret contents never reach a log line through `{:?}`.
impl fmt::Debug for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secret_names: Vec<String> = self
            .secrets
            .iter()
            .map(|s| {
                format!(
                    "{}/{}",
                    s.metadata.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE),
                    s.metadata.name.as_deref().unwrap_or("")
                )
            })
            .collect();
        f.debug_struct("Resources")
            .field("providers", &self.providers)
            .field("routing_groups", &self.routing_groups)
            .field("api_keys", &self.api_keys)
            .field("secrets", &secret_names)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crds_carry_names_status_and_columns() {
        let crds = crds();
        let names: Vec<_> = crds
            .iter()
            .map(|c| c.metadata.name.clone().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "providers.gateway.bytespike.ai",
                "routinggroups.gateway.bytespike.ai",
                "apikeys.gateway.bytespike.ai"
            ]
        );
        for (crd, short) in crds.iter().zip(["prov", "rg", "ak"]) {
            assert_eq!(crd.spec.scope, "Namespaced");
            assert_eq!(
                crd.spec.names.short_names.as_deref(),
                Some(&[short.to_owned()][..])
            );
            let version = &crd.spec.versions[0];
            assert_eq!(version.name, "v1alpha1");
            assert!(version.subresources.as_ref().unwrap().status.is_some());
            assert!(version.additional_printer_columns.as_ref().unwrap().len() >= 2);
        }
        let yaml = serde_yaml::to_string(&crds[2]).unwrap();
        assert!(
            yaml.contains("routingGroups") && yaml.contains("minItems: 1"),
            "{yaml}"
        );
    }

    #[test]
    fn crds_validate_what_a_cluster_can_check() {
        let yaml = crds_yaml();
        for expected in [
            // A window must look like a duration, and an amount like a decimal.
            r"pattern: ^([0-9]+(s|m|h|d|w))+$",
            r"pattern: ^[0-9]+(\.[0-9]{1,6})?$",
            // Rules spanning fields are CEL.
            "self.limits.all(a, self.limits.exists_one(b, b.window == a.window))",
            "self.models.all(a, self.models.exists_one(b, b.id == a.id))",
            "has(self.requests) || has(self.tokens)",
            "x-kubernetes-list-type: set",
            // The columns a platform engineer reads.
            "jsonPath: .status.tightestWindow",
            "jsonPath: .status.modelCount",
            "jsonPath: .spec.baseUrl",
        ] {
            assert!(yaml.contains(expected), "missing {expected:?}");
        }
        assert_eq!(yaml.matches("kind: CustomResourceDefinition").count(), 3);
    }

    #[test]
    fn snapshot_is_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<crate::snapshot::Snapshot>();
        assert_send_sync::<crate::snapshot::Route>();
    }
}
