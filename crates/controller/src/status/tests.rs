use std::sync::Arc;
use std::time::SystemTime;

use bytespike_config::resources::{LimitSpec, WindowUsage};
use bytespike_config::{Invalid, Kind, Snapshot};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

use super::*;
use crate::translate::tests::{group, key, valid_world};
use crate::translate::{resources, Observed};

fn verdicts(world: &Observed) -> Vec<Invalid> {
    Snapshot::build(&resources(world), SystemTime::now()).1
}

fn verdict_on(world: &Observed, kind: Kind, name: &str) -> Invalid {
    let all = verdicts(world);
    all.iter()
        .find(|i| i.kind == kind && i.name == name)
        .cloned()
        .unwrap_or_else(|| panic!("no verdict on {kind} {name}: {all:?}"))
}

fn now() -> Time {
    Time(Timestamp::from_second(1_800_000_000).unwrap())
}

fn find<'a>(cs: &'a [Condition], type_: &str) -> &'a Condition {
    cs.iter()
        .find(|c| c.type_ == type_)
        .expect("condition present")
}

#[test]
fn valid_objects_are_ready() {
    assert!(verdicts(&valid_world()).is_empty());
    let cs = conditions(None, Some(3), &[], &now());
    assert_eq!(cs.len(), 1);
    let ready = find(&cs, READY);
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("True", ACCEPTED)
    );
    assert_eq!(ready.observed_generation, Some(3));
}

#[test]
fn missing_secret() {
    let mut world = valid_world();
    world
        .secrets
        .retain(|s| s.metadata.name.as_deref() != Some("ci-key"));
    let invalid = verdict_on(&world, Kind::ApiKey, "ci");
    assert_eq!(reason_code(&invalid), "SecretNotFound");
    let cs = conditions(Some(&invalid), Some(1), &[], &now());
    let bad = find(&cs, INVALID);
    assert_eq!(bad.status, "True");
    assert_eq!(bad.message, "spec.secretRef: Secret team/ci-key not found");
    let ready = find(&cs, READY);
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "SecretNotFound")
    );
}

#[test]
fn secret_without_the_key() {
    let mut world = valid_world();
    world.secrets[1] = Arc::new(crate::translate::tests::secret(
        "team", "ci-key", "other", "x",
    ));
    let invalid = verdict_on(&world, Kind::ApiKey, "ci");
    assert_eq!(reason_code(&invalid), "SecretKeyInvalid");
    assert_eq!(
        message(&invalid),
        "spec.secretRef: Secret team/ci-key has no key \"key\""
    );
}

#[test]
fn unknown_group() {
    let mut world = valid_world();
    world.api_keys = vec![Arc::new(key("team", "ci", &["main", "nope"], "ci-key"))];
    let invalid = verdict_on(&world, Kind::ApiKey, "ci");
    assert_eq!(reason_code(&invalid), "UnknownRoutingGroup");
    assert_eq!(
        message(&invalid),
        "spec.routingGroups[1]: unknown RoutingGroup \"nope\""
    );
}

#[test]
fn unknown_provider() {
    let mut world = valid_world();
    world.routing_groups = vec![Arc::new(group("team", "main", "openai"))];
    let invalid = verdict_on(&world, Kind::RoutingGroup, "main");
    assert_eq!(reason_code(&invalid), "UnknownProvider");
    assert_eq!(
        message(&invalid),
        "spec.models[0].targets[0].provider: unknown Provider \"openai\""
    );
    // The key bound to it is refused too, and says where to look.
    let key_verdict = verdict_on(&world, Kind::ApiKey, "ci");
    assert_eq!(reason_code(&key_verdict), "RoutingGroupInvalid");
}

#[test]
fn bad_window() {
    let mut world = valid_world();
    let mut k = key("team", "ci", &["main"], "ci-key");
    k.spec.limits = vec![LimitSpec {
        window: "5x".into(),
        requests: Some(10),
        tokens: None,
        input_tokens: None,
        output_tokens: None,
        cost_usd: None,
    }];
    world.api_keys = vec![Arc::new(k)];
    let invalid = verdict_on(&world, Kind::ApiKey, "ci");
    assert_eq!(reason_code(&invalid), "InvalidWindow");
    let text = message(&invalid);
    assert!(
        text.starts_with("spec.limits[0].window: \"5x\" is not a duration"),
        "{text}"
    );
}

#[test]
fn invalid_provider_credentials() {
    let mut world = valid_world();
    world
        .secrets
        .retain(|s| s.metadata.name.as_deref() != Some("vendor"));
    let invalid = verdict_on(&world, Kind::Provider, "anthropic");
    assert_eq!(reason_code(&invalid), "SecretNotFound");
    let group_verdict = verdict_on(&world, Kind::RoutingGroup, "main");
    assert_eq!(reason_code(&group_verdict), "ProviderInvalid");
}

#[test]
fn transition_time_kept_while_status_holds() {
    let earlier = Time(Timestamp::from_second(1_700_000_000).unwrap());
    let first = conditions(None, Some(1), &[], &earlier);
    let again = conditions(None, Some(2), &first, &now());
    assert_eq!(find(&again, READY).last_transition_time, earlier);
    assert!(!same_conditions(&first, &again), "generation moved");

    let mut world = valid_world();
    world.secrets.clear();
    let invalid = verdict_on(&world, Kind::ApiKey, "ci");
    let broken = conditions(Some(&invalid), Some(2), &again, &now());
    assert_eq!(find(&broken, READY).last_transition_time, now());
    assert!(became_invalid(&again, &broken));
    assert!(!became_invalid(&broken, &broken), "no repeat Event");
    assert!(same_conditions(
        &broken,
        &broken.iter().rev().cloned().collect::<Vec<_>>()
    ));
}

#[test]
fn tightest_window_picks_the_fullest() {
    let usage = |window: &str, tokens: u64, limit: Option<u64>| WindowUsage {
        window: window.into(),
        requests: 1,
        tokens,
        cost_usd: "0".into(),
        limit_requests: None,
        limit_tokens: limit,
        limit_cost_usd: None,
        resets_at: None,
    };
    let windows = [
        usage("5h", 420, Some(1000)),
        usage("1d", 900, Some(10_000)),
        usage("7d", 5, None),
    ];
    assert_eq!(tightest_window(&windows).as_deref(), Some("5h 42%"));
    assert_eq!(tightest_window(&windows[2..]), None);
}
