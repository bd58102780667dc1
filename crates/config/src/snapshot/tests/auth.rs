//! Authentication: key material from Secrets, disabled and expired keys, no plaintext retained.

use std::time::Duration;

use super::{build, key_doc, messages, now, with_base, BASE};
use crate::error::AuthError;

#[test]
fn authenticates_by_key_material() {
    let (snapshot, _) = build(BASE);
    let key = snapshot.authenticate("sk-team-a", now()).unwrap();
    assert_eq!(
        (key.namespace.as_str(), key.name.as_str()),
        ("default", "team-a")
    );
    assert_eq!(key.id, "default/team-a");
    assert_eq!(
        snapshot.authenticate("sk-team-b", now()).unwrap_err(),
        AuthError::Unknown
    );
    assert_eq!(
        snapshot.authenticate("", now()).unwrap_err(),
        AuthError::Unknown
    );
    assert_eq!(
        snapshot.authenticate("sk-team-a ", now()).unwrap_err(),
        AuthError::Unknown
    );
}

#[test]
fn disabled_and_expired_keys_are_refused_distinctly() {
    let extra = r#"
apiVersion: v1
kind: Secret
metadata: {name: off-key}
stringData: {key: sk-off}
---
apiVersion: v1
kind: Secret
metadata: {name: old-key}
stringData: {key: sk-old}
---
apiVersion: gateway.bytespike.ai/v1alpha1
kind: ApiKey
metadata: {name: off}
spec: {routingGroups: [g], secretRef: {name: off-key, key: key}, disabled: true}
---
apiVersion: gateway.bytespike.ai/v1alpha1
kind: ApiKey
metadata: {name: old}
spec: {routingGroups: [g], secretRef: {name: old-key, key: key}, expiresAt: "2027-01-15T08:00:00Z"}
"#;
    let (snapshot, invalid) = build(&with_base(extra));
    assert!(invalid.is_empty(), "{:?}", messages(&invalid));
    assert_eq!(
        snapshot.authenticate("sk-off", now()).unwrap_err(),
        AuthError::Disabled
    );
    // `now()` is 2027-01-15T08:00:00Z exactly: expiry is inclusive of its instant.
    assert_eq!(
        snapshot.authenticate("sk-old", now()).unwrap_err(),
        AuthError::Expired
    );
    let before = now() - Duration::from_secs(1);
    assert!(snapshot.authenticate("sk-old", before).is_ok());
}

#[test]
fn key_material_comes_from_data_or_string_data() {
    // "c2stZnJvbS1kYXRh" is base64 for "sk-from-data".
    let extra = r#"
apiVersion: v1
kind: Secret
metadata: {name: both}
data: {a: c2stZnJvbS1kYXRh, b: c2stZnJvbS1kYXRh}
stringData: {b: sk-from-string-data}
---
apiVersion: gateway.bytespike.ai/v1alpha1
kind: ApiKey
metadata: {name: via-data}
spec: {routingGroups: [g], secretRef: {name: both, key: a}}
---
apiVersion: gateway.bytespike.ai/v1alpha1
kind: ApiKey
metadata: {name: via-string-data}
spec: {routingGroups: [g], secretRef: {name: both, key: b}}
"#;
    let (snapshot, invalid) = build(&with_base(extra));
    assert!(invalid.is_empty(), "{:?}", messages(&invalid));
    assert_eq!(
        snapshot.authenticate("sk-from-data", now()).unwrap().name,
        "via-data"
    );
    let b = snapshot.authenticate("sk-from-string-data", now()).unwrap();
    assert_eq!(b.name, "via-string-data");
}

#[test]
fn duplicate_key_material_refuses_every_sharer() {
    let extra = format!(
        "{}---\n{}---\n{}",
        key_doc("dup-one", "[g]", "sk-shared"),
        key_doc("dup-two", "[g]", "sk-shared"),
        key_doc("unique", "[g]", "sk-unique")
    );
    let (snapshot, invalid) = build(&with_base(&extra));
    let lines = messages(&invalid);
    assert_eq!(
        lines,
        [
            "ApiKey default/dup-one: spec.secretRef: key material is also used by ApiKey default/dup-two; every ApiKey needs its own key",
            "ApiKey default/dup-two: spec.secretRef: key material is also used by ApiKey default/dup-one; every ApiKey needs its own key",
        ]
    );
    assert!(lines.iter().all(|l| !l.contains("sk-shared")));
    assert_eq!(
        snapshot.authenticate("sk-shared", now()).unwrap_err(),
        AuthError::Unknown
    );
    assert!(snapshot.authenticate("sk-unique", now()).is_ok());
    assert!(snapshot.authenticate("sk-team-a", now()).is_ok());
    assert_eq!(snapshot.counts().api_keys.invalid, 2);
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let (snapshot, _) = build(BASE);
    let provider = &snapshot.providers()[0];
    assert_eq!(
        provider.credential.as_ref().unwrap().expose(),
        "sk-ant-test"
    );
    let key = snapshot.authenticate("sk-team-a", now()).unwrap();
    let resources = crate::loader::load_str("t", BASE).unwrap();
    for text in [
        format!("{snapshot:?}"),
        format!("{provider:?}"),
        format!("{key:?}"),
        format!("{resources:?}"),
    ] {
        assert!(
            !text.contains("sk-ant-test") && !text.contains("c2stYW50"),
            "{text}"
        );
        assert!(!text.contains("sk-team-a"), "{text}");
    }
    assert!(format!("{provider:?}").contains("[redacted]"));
}
