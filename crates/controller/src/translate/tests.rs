use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use bytespike_config::resources::{
    ApiKeySpec, ModelSpec, Protocol, ProviderCredentials, ProviderSpec, RoutingGroupSpec,
    SecretKeyRef, TargetSpec,
};
use bytespike_config::{ApiKey, Provider, RoutingGroup, Secret, Snapshot};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

use super::{resources, Observed};

pub(crate) fn meta(ns: &str, name: &str) -> ObjectMeta {
    ObjectMeta {
        namespace: Some(ns.into()),
        name: Some(name.into()),
        generation: Some(1),
        ..ObjectMeta::default()
    }
}

pub(crate) fn secret(ns: &str, name: &str, key: &str, value: &str) -> Secret {
    Secret {
        metadata: meta(ns, name),
        string_data: Some(BTreeMap::from([(key.to_owned(), value.to_owned())])),
        ..Secret::default()
    }
}

pub(crate) fn provider(ns: &str, name: &str, secret: &str) -> Provider {
    let mut p = Provider::new(
        name,
        ProviderSpec {
            protocol: Protocol::Anthropic,
            base_url: "http://127.0.0.1:9".into(),
            credentials: Some(ProviderCredentials {
                secret_ref: SecretKeyRef {
                    name: secret.into(),
                    key: "api-key".into(),
                },
            }),
            timeouts: None,
            pool: None,
            headers: BTreeMap::new(),
            http2: false,
        },
    );
    p.metadata = meta(ns, name);
    p
}

pub(crate) fn group(ns: &str, name: &str, provider: &str) -> RoutingGroup {
    let mut g = RoutingGroup::new(
        name,
        RoutingGroupSpec {
            models: vec![ModelSpec {
                id: "claude".into(),
                aliases: vec![],
                targets: vec![TargetSpec {
                    provider: provider.into(),
                    model: "claude-upstream".into(),
                    priority: 0,
                    weight: 100,
                }],
                pricing: None,
            }],
            limits: vec![],
        },
    );
    g.metadata = meta(ns, name);
    g
}

pub(crate) fn key(ns: &str, name: &str, groups: &[&str], secret: &str) -> ApiKey {
    let mut k = ApiKey::new(
        name,
        ApiKeySpec {
            routing_groups: groups.iter().map(|g| g.to_string()).collect(),
            secret_ref: SecretKeyRef {
                name: secret.into(),
                key: "key".into(),
            },
            limits: vec![],
            max_concurrent: None,
            disabled: false,
            expires_at: None,
            owner: None,
            description: None,
        },
    );
    k.metadata = meta(ns, name);
    k
}

/// A namespace `team` with a provider, a group and a key, all valid.
pub(crate) fn valid_world() -> Observed {
    Observed {
        providers: vec![Arc::new(provider("team", "anthropic", "vendor"))],
        routing_groups: vec![Arc::new(group("team", "main", "anthropic"))],
        api_keys: vec![Arc::new(key("team", "ci", &["main"], "ci-key"))],
        secrets: vec![
            Arc::new(secret("team", "vendor", "api-key", "sk-upstream")),
            Arc::new(secret("team", "ci-key", "key", "bsk-ci")),
        ],
    }
}

#[test]
fn keeps_only_referenced_secrets() {
    let mut world = valid_world();
    world
        .secrets
        .push(Arc::new(secret("team", "unrelated", "x", "y")));
    // Same name as a referenced Secret, but another namespace: references never cross namespaces.
    world
        .secrets
        .push(Arc::new(secret("other", "ci-key", "key", "bsk-other")));
    let res = resources(&world);
    let mut names: Vec<_> = res
        .secrets
        .iter()
        .map(|s| {
            format!(
                "{}/{}",
                s.metadata.namespace.as_deref().unwrap(),
                s.metadata.name.as_deref().unwrap()
            )
        })
        .collect();
    names.sort();
    assert_eq!(names, ["team/ci-key", "team/vendor"]);
    assert_eq!(res.providers.len(), 1);
    assert_eq!(res.routing_groups.len(), 1);
    assert_eq!(res.api_keys.len(), 1);
}

#[test]
fn translated_world_authenticates() {
    let res = resources(&valid_world());
    let (snapshot, invalid) = Snapshot::build(&res, SystemTime::now());
    assert!(invalid.is_empty(), "{invalid:?}");
    let entry = snapshot
        .authenticate("bsk-ci", SystemTime::now())
        .expect("the key works");
    assert_eq!(entry.id, "team/ci");
}

#[test]
fn objects_being_deleted_are_left_out() {
    let mut world = valid_world();
    let mut dying = key("team", "ci", &["main"], "ci-key");
    dying.metadata.deletion_timestamp = Some(Time(k8s_openapi::jiff::Timestamp::now()));
    dying.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    world.api_keys = vec![Arc::new(dying)];
    let res = resources(&world);
    assert!(res.api_keys.is_empty());
    // Its Secret is no longer referenced either.
    assert!(res
        .secrets
        .iter()
        .all(|s| s.metadata.name.as_deref() != Some("ci-key")));
    let (snapshot, _) = Snapshot::build(&res, SystemTime::now());
    assert!(snapshot.authenticate("bsk-ci", SystemTime::now()).is_err());
}

#[test]
fn rotated_secret_replaces_the_key() {
    let mut world = valid_world();
    world.secrets[1] = Arc::new(secret("team", "ci-key", "key", "bsk-rotated"));
    let (snapshot, invalid) = Snapshot::build(&resources(&world), SystemTime::now());
    assert!(invalid.is_empty());
    assert!(snapshot.authenticate("bsk-ci", SystemTime::now()).is_err());
    assert!(snapshot
        .authenticate("bsk-rotated", SystemTime::now())
        .is_ok());
}
