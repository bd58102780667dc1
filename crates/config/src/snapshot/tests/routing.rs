//! Routing: aliases, permissions, group order, priorities, weights, listings and costs.

use super::{build, key_doc, messages, now, with_base, BASE};
use crate::error::RouteError;
use crate::resources::Protocol;

/// BASE plus a group `w` whose model `m` has the given targets, and key `sk-w` bound to `w`.
fn weighted(targets: &str) -> crate::snapshot::Snapshot {
    let extra = format!(
        "apiVersion: gateway.bytespike.ai/v1alpha1\nkind: RoutingGroup\nmetadata: {{name: w}}\n\
         spec:\n  models:\n    - id: m\n      targets: {targets}\n---\n{}",
        key_doc("kw", "[w]", "sk-w")
    );
    let (snapshot, invalid) = build(&with_base(&extra));
    assert!(invalid.is_empty(), "{:?}", messages(&invalid));
    snapshot
}

fn order(snapshot: &crate::snapshot::Snapshot, rng: &mut fastrand::Rng) -> Vec<String> {
    let key = snapshot.authenticate("sk-w", now()).unwrap();
    let route = snapshot.resolve_with(key, "m", rng).unwrap();
    route.attempt_order().map(|t| t.model.clone()).collect()
}

#[test]
fn alias_resolves_to_the_canonical_model() {
    let (snapshot, _) = build(BASE);
    let key = snapshot.authenticate("sk-team-a", now()).unwrap();
    let route = snapshot.resolve(key, "claude-3-5-sonnet").unwrap();
    assert_eq!(route.model_id(), "claude-sonnet-4-6");
    assert!(route.via_alias());
    assert_eq!(route.primary().model, "claude-sonnet-4-6-upstream");
    assert_eq!(route.primary().provider.protocol, Protocol::Anthropic);
    let direct = snapshot.resolve(key, "claude-sonnet-4-6").unwrap();
    assert!(!direct.via_alias());
    assert_eq!(direct.group().name, "g");
}

#[test]
fn not_permitted_differs_from_unknown() {
    let extra = "apiVersion: gateway.bytespike.ai/v1alpha1\nkind: RoutingGroup\nmetadata: {name: private}\n\
                 spec: {models: [{id: secret-model, aliases: [sm], targets: [{provider: openai, model: x}]}]}\n";
    let (snapshot, _) = build(&with_base(extra));
    let key = snapshot.authenticate("sk-team-a", now()).unwrap();
    assert_eq!(
        snapshot.resolve(key, "secret-model").unwrap_err(),
        RouteError::NotPermitted
    );
    assert_eq!(
        snapshot.resolve(key, "sm").unwrap_err(),
        RouteError::NotPermitted
    );
    assert_eq!(
        snapshot.resolve(key, "no-such-model").unwrap_err(),
        RouteError::UnknownModel
    );
    assert_eq!(
        RouteError::NotPermitted.metric_label(),
        "model_not_permitted"
    );
}

#[test]
fn first_group_with_the_model_serves_it() {
    let extra = format!(
        "apiVersion: gateway.bytespike.ai/v1alpha1\nkind: RoutingGroup\nmetadata: {{name: h}}\n\
         spec: {{models: [{{id: gpt-4o, targets: [{{provider: anthropic, model: from-h}}]}},\n\
         {{id: only-h, targets: [{{provider: openai, model: only-h}}]}}]}}\n---\n{}---\n{}",
        key_doc("hg", "[h, g]", "sk-hg"),
        key_doc("gh", "[g, h]", "sk-gh")
    );
    let (snapshot, invalid) = build(&with_base(&extra));
    assert!(invalid.is_empty(), "{:?}", messages(&invalid));
    let hg = snapshot.authenticate("sk-hg", now()).unwrap();
    let gh = snapshot.authenticate("sk-gh", now()).unwrap();
    assert_eq!(
        snapshot.resolve(hg, "gpt-4o").unwrap().primary().model,
        "from-h"
    );
    assert_eq!(
        snapshot.resolve(gh, "gpt-4o").unwrap().primary().model,
        "gpt-4o"
    );
    assert_eq!(snapshot.resolve(gh, "only-h").unwrap().group().name, "h");

    // The listing shows each name once, from the group that would serve it.
    let listing = snapshot.models_for(gh);
    let gpt: Vec<_> = listing.iter().filter(|m| m.id == "gpt-4o").collect();
    assert_eq!(gpt.len(), 1);
    assert_eq!(gpt[0].owned_by, Protocol::Openai);
    let ids: Vec<&str> = listing.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        ids,
        ["claude-sonnet-4-6", "claude-3-5-sonnet", "gpt-4o", "only-h"]
    );
    assert!(listing[1].is_alias && listing[1].alias_of.as_deref() == Some("claude-sonnet-4-6"));
}

#[test]
fn lower_priority_number_is_tried_first() {
    let snapshot = weighted(
        "[{provider: openai, model: backup, priority: 1}, {provider: openai, model: main, priority: 0}, \
         {provider: openai, model: last, priority: 7}]",
    );
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..50 {
        assert_eq!(order(&snapshot, &mut rng), ["main", "backup", "last"]);
    }
}

#[test]
fn zero_weight_is_never_picked_first() {
    let snapshot = weighted(
        "[{provider: openai, model: a, weight: 100}, {provider: openai, model: b, weight: 0}]",
    );
    let mut rng = fastrand::Rng::with_seed(1);
    for _ in 0..500 {
        assert_eq!(order(&snapshot, &mut rng), ["a", "b"]);
    }
    // Declared zero-weight first still loses to the weighted one.
    let snapshot =
        weighted("[{provider: openai, model: b, weight: 0}, {provider: openai, model: a}]");
    for _ in 0..500 {
        assert_eq!(order(&snapshot, &mut rng), ["a", "b"]);
    }
}

#[test]
fn equal_weights_share_the_traffic() {
    let snapshot = weighted(
        "[{provider: openai, model: a, weight: 50}, {provider: openai, model: b, weight: 50}]",
    );
    let mut rng = fastrand::Rng::with_seed(42);
    let draws = 2_000;
    let mut first_a = 0;
    for _ in 0..draws {
        let order = order(&snapshot, &mut rng);
        assert_eq!(order.len(), 2, "every target stays available for failover");
        if order[0] == "a" {
            first_a += 1;
        }
    }
    assert!(first_a >= draws * 30 / 100, "a first {first_a} of {draws}");
    assert!(
        draws - first_a >= draws * 30 / 100,
        "b first {} of {draws}",
        draws - first_a
    );

    // The unseeded path draws too: with 1:1 weights, 200 draws all equal has odds of 2^-199.
    let key = snapshot.authenticate("sk-w", now()).unwrap();
    let firsts: std::collections::HashSet<String> = (0..200)
        .map(|_| snapshot.resolve(key, "m").unwrap().primary().model.clone())
        .collect();
    assert_eq!(firsts.len(), 2);
}

#[test]
fn skewed_weights_follow_their_ratio() {
    let snapshot = weighted(
        "[{provider: openai, model: a, weight: 90}, {provider: openai, model: b, weight: 10}]",
    );
    let mut rng = fastrand::Rng::with_seed(3);
    let first_a = (0..2_000)
        .filter(|_| order(&snapshot, &mut rng)[0] == "a")
        .count();
    assert!(
        (1_650..=1_950).contains(&first_a),
        "a first {first_a} of 2000"
    );
}

#[test]
fn cost_is_computed_in_micro_dollars() {
    let (snapshot, _) = build(BASE);
    let key = snapshot.authenticate("sk-team-a", now()).unwrap();
    let route = snapshot.resolve(key, "claude-sonnet-4-6").unwrap();
    let pricing = route.pricing().unwrap();
    assert_eq!(pricing.input, 3_000_000);
    assert_eq!(pricing.cache_write, 3_750_000);
    // 1000 in * $3 + 500 out * $15 + 2000 cache reads * $0.30, per 1M tokens.
    assert_eq!(
        pricing.cost_micros(1_000, 500, 2_000, 0),
        3_000 + 7_500 + 600
    );
    // One cache-read token is 0.3 micro-dollars: rounded up once, over the whole request.
    assert_eq!(pricing.cost_micros(0, 0, 1, 0), 1);
    assert_eq!(pricing.cost_micros(0, 0, 0, 0), 0);
    assert!(snapshot.resolve(key, "gpt-4o").unwrap().pricing().is_none());
}

#[test]
fn keys_inherit_group_limits_only_when_they_have_none() {
    let yaml = BASE.replace(
        "      targets: [{provider: openai, model: gpt-4o}]\n",
        "      targets: [{provider: openai, model: gpt-4o}]\n  limits: [{window: 1d, tokens: 99}]\n",
    );
    let extra = key_doc("bare", "[g]", "sk-bare");
    let (snapshot, invalid) = build(&format!("{yaml}\n---\n{extra}"));
    assert!(invalid.is_empty(), "{:?}", messages(&invalid));
    let own = snapshot.authenticate("sk-team-a", now()).unwrap();
    assert_eq!(own.limits.len(), 1);
    assert_eq!(
        (own.limits[0].label.as_str(), own.limits[0].requests),
        ("5h", Some(1000))
    );
    let bare = snapshot.authenticate("sk-bare", now()).unwrap();
    assert_eq!(bare.limits.len(), 1);
    assert_eq!(
        (bare.limits[0].window.as_secs(), bare.limits[0].tokens),
        (86_400, Some(99))
    );
}
