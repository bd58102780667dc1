//! Snapshot tests: shared YAML fixtures and helpers.

mod auth;
mod routing;
mod validation;

use std::time::{Duration, SystemTime};

use crate::error::Invalid;
use crate::loader::load_str;
use crate::snapshot::Snapshot;

/// Secrets, two providers, one group and one key that are all valid.
pub(super) const BASE: &str = r#"
apiVersion: v1
kind: Secret
metadata: {name: team-a-key}
stringData: {key: sk-team-a}
---
apiVersion: v1
kind: Secret
metadata: {name: anthropic-credentials}
data: {api-key: c2stYW50LXRlc3Q=}
---
apiVersion: gateway.bytespike.ai/v1alpha1
kind: Provider
metadata: {name: anthropic}
spec:
  protocol: anthropic
  baseUrl: https://api.anthropic.com
  credentials: {secretRef: {name: anthropic-credentials, key: api-key}}
---
apiVersion: gateway.bytespike.ai/v1alpha1
kind: Provider
metadata: {name: openai}
spec:
  protocol: openai
  baseUrl: http://localhost:9000/v1
---
apiVersion: gateway.bytespike.ai/v1alpha1
kind: RoutingGroup
metadata: {name: g}
spec:
  models:
    - id: claude-sonnet-4-6
      aliases: [claude-3-5-sonnet]
      targets: [{provider: anthropic, model: claude-sonnet-4-6-upstream}]
      pricing: {input: "3.00", output: "15.00", cacheRead: "0.30", cacheWrite: "3.75"}
    - id: gpt-4o
      targets: [{provider: openai, model: gpt-4o}]
---
apiVersion: gateway.bytespike.ai/v1alpha1
kind: ApiKey
metadata: {name: team-a}
spec:
  routingGroups: [g]
  secretRef: {name: team-a-key, key: key}
  limits:
    - {window: 5h, requests: 1000, costUsd: "25"}
"#;

pub(super) fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

/// Builds a snapshot from YAML documents; panics only on YAML that does not parse.
pub(super) fn build(yaml: &str) -> (Snapshot, Vec<Invalid>) {
    let resources = load_str("test.yaml", yaml).expect("fixture YAML parses");
    Snapshot::build(&resources, now())
}

/// `BASE` plus more documents.
pub(super) fn with_base(extra: &str) -> String {
    format!("{BASE}\n---\n{extra}")
}

/// The Display lines of every invalid object.
pub(super) fn messages(invalid: &[Invalid]) -> Vec<String> {
    invalid.iter().map(ToString::to_string).collect()
}

/// A key document named `name` with its own Secret holding `material`.
pub(super) fn key_doc(name: &str, groups: &str, material: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}-key}}\nstringData: {{key: {material}}}\n---\n\
         apiVersion: gateway.bytespike.ai/v1alpha1\nkind: ApiKey\nmetadata: {{name: {name}}}\n\
         spec: {{routingGroups: {groups}, secretRef: {{name: {name}-key, key: key}}}}\n"
    )
}

#[test]
fn base_fixture_is_valid() {
    let (snapshot, invalid) = build(BASE);
    assert_eq!(messages(&invalid), Vec::<String>::new());
    let counts = snapshot.counts();
    assert_eq!(counts.providers.valid, 2);
    assert_eq!(counts.routing_groups.valid, 1);
    assert_eq!(counts.api_keys.valid, 1);
    assert!(snapshot.generation() > 0);
    assert_eq!(snapshot.built_at(), now());
}

#[test]
fn empty_snapshot_knows_nothing() {
    let snapshot = Snapshot::empty();
    assert_eq!(snapshot.generation(), 0);
    assert_eq!(
        snapshot.authenticate("sk-team-a", now()).unwrap_err(),
        crate::AuthError::Unknown
    );
    assert_eq!(snapshot.keys().count(), 0);
}

#[test]
fn generations_increase() {
    let (a, _) = build(BASE);
    let (b, _) = build(BASE);
    assert!(b.generation() > a.generation());
}

#[test]
fn strict_build_reports_every_invalid_object() {
    let yaml = with_base(&key_doc("k", "[missing]", "sk-k"));
    let resources = load_str("test.yaml", &yaml).unwrap();
    let err = Snapshot::build_strict(&resources, now()).unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert!(
        err.to_string().contains("unknown RoutingGroup \"missing\""),
        "{err}"
    );
    let ok = Snapshot::build_strict(&load_str("t", BASE).unwrap(), now());
    assert!(ok.is_ok());
}
