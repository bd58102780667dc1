//! Invalid objects: each is reported with an actionable reason and left out while the rest serve.

use super::{build, key_doc, messages, now, with_base, BASE};
use crate::error::AuthError;
use crate::resources::Kind;

fn group_doc(name: &str, models: &str) -> String {
    format!(
        "apiVersion: gateway.bytespike.ai/v1alpha1\nkind: RoutingGroup\nmetadata: {{name: {name}}}\nspec:\n  models:\n{models}"
    )
}

fn provider_doc(name: &str, spec: &str) -> String {
    format!(
        "apiVersion: gateway.bytespike.ai/v1alpha1\nkind: Provider\nmetadata: {{name: {name}}}\nspec: {spec}\n"
    )
}

/// The single invalid message of a build of `BASE` plus `extra`.
fn only_error(extra: &str) -> String {
    let (_, invalid) = build(&with_base(extra));
    let lines = messages(&invalid);
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines.into_iter().next().unwrap()
}

#[test]
fn missing_secret_and_missing_key() {
    let yaml = BASE.replace("{name: team-a-key, key: key}", "{name: nope, key: key}");
    let (snapshot, invalid) = build(&yaml);
    assert_eq!(
        messages(&invalid),
        ["ApiKey default/team-a: spec.secretRef: Secret default/nope not found"]
    );
    assert_eq!(snapshot.keys().count(), 0);

    let yaml = BASE.replace(
        "{name: team-a-key, key: key}",
        "{name: team-a-key, key: token}",
    );
    let (_, invalid) = build(&yaml);
    assert_eq!(
        messages(&invalid),
        ["ApiKey default/team-a: spec.secretRef: Secret default/team-a-key has no key \"token\""]
    );

    let yaml = BASE.replace("key: api-key}}", "key: other}}");
    let (snapshot, invalid) = build(&yaml);
    assert_eq!(
        messages(&invalid)[0],
        "Provider default/anthropic: spec.credentials.secretRef: Secret default/anthropic-credentials has no key \"other\""
    );
    // The group using that provider, then the key using that group, fall with it.
    assert_eq!(invalid.len(), 3);
    assert_eq!(invalid[1].kind, Kind::RoutingGroup);
    assert_eq!(
        invalid[2].reason,
        "RoutingGroup \"g\" is invalid; see its own error"
    );
    assert_eq!(snapshot.providers().len(), 1);
}

#[test]
fn references_resolve_within_the_namespace() {
    let extra = "apiVersion: gateway.bytespike.ai/v1alpha1\nkind: ApiKey\nmetadata: {name: k, namespace: other}\n\
                 spec: {routingGroups: [g], secretRef: {name: team-a-key, key: key}}\n";
    let (_, invalid) = build(&with_base(extra));
    assert_eq!(
        messages(&invalid),
        ["ApiKey other/k: spec.routingGroups[0]: unknown RoutingGroup \"g\""]
    );
}

#[test]
fn unknown_provider_leaves_group_and_its_keys_out_while_others_serve() {
    let extra = format!(
        "{}---\n{}",
        group_doc(
            "broken",
            "    - {id: m, targets: [{provider: x, model: m}]}\n"
        ),
        key_doc("k", "[broken]", "sk-k")
    );
    let (snapshot, invalid) = build(&with_base(&extra));
    assert_eq!(
        messages(&invalid),
        [
            "RoutingGroup default/broken: spec.models[0].targets[0].provider: unknown Provider \"x\"",
            "ApiKey default/k: spec.routingGroups[0]: RoutingGroup \"broken\" is invalid; see its own error",
        ]
    );
    assert_eq!(
        snapshot.authenticate("sk-k", now()).unwrap_err(),
        AuthError::Unknown
    );
    let key = snapshot.authenticate("sk-team-a", now()).unwrap();
    assert!(snapshot.resolve(key, "gpt-4o").is_ok());
    let counts = snapshot.counts();
    assert_eq!(
        (counts.routing_groups.valid, counts.routing_groups.invalid),
        (1, 1)
    );
    assert_eq!((counts.api_keys.valid, counts.api_keys.invalid), (1, 1));
}

#[test]
fn unknown_group_names_its_index() {
    let line = only_error(&key_doc("k", "[g, y]", "sk-k"));
    assert_eq!(
        line,
        "ApiKey default/k: spec.routingGroups[1]: unknown RoutingGroup \"y\""
    );
    assert!(only_error(&key_doc("k", "[]", "sk-k"))
        .contains("spec.routingGroups: must name at least one"));
}

#[test]
fn bad_windows() {
    for (window, expect) in [
        ("5x", "is not a duration"),
        ("0s", "is zero"),
        ("30s", "shorter than the minimum window of 1m"),
    ] {
        let yaml = BASE.replace("window: 5h", &format!("window: {window}"));
        let (_, invalid) = build(&yaml);
        let lines = messages(&invalid);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with("ApiKey default/team-a: spec.limits[0].window: "),
            "{lines:?}"
        );
        assert!(lines[0].contains(expect), "{window}: {lines:?}");
    }
    let yaml = BASE.replace(
        "- {window: 5h, requests: 1000, costUsd: \"25\"}",
        "- {window: 5h}",
    );
    let (_, invalid) = build(&yaml);
    assert!(messages(&invalid)[0].contains("spec.limits[0]: sets no cap"));
    let yaml = BASE.replace(
        "- {window: 5h, requests: 1000, costUsd: \"25\"}",
        "- {window: 5h, requests: 1}\n    - {window: 300m, tokens: 2}",
    );
    let (_, invalid) = build(&yaml);
    assert!(messages(&invalid)[0]
        .contains("spec.limits[1].window: \"300m\" repeats the window of spec.limits[0]"));
}

#[test]
fn bad_prices() {
    let yaml = BASE.replace("input: \"3.00\"", "input: \"3,00\"");
    let (_, invalid) = build(&yaml);
    assert!(messages(&invalid)[0].starts_with(
        "RoutingGroup default/g: spec.models[0].pricing.input: \"3,00\" is not a decimal USD amount"
    ));
    let yaml = BASE.replace("costUsd: \"25\"", "costUsd: \"-1\"");
    let (_, invalid) = build(&yaml);
    assert!(messages(&invalid)[0].starts_with("ApiKey default/team-a: spec.limits[0].costUsd: "));
    let yaml = BASE.replace("output: \"15.00\", ", "");
    let err = crate::loader::load_str("t.yaml", &yaml)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("spec.models[0].pricing: missing field `output`"),
        "{err}"
    );
    let yaml = BASE.replace("cacheRead: \"0.30\"", "cacheRead: \"0.3.0\"");
    let (_, invalid) = build(&yaml);
    assert!(messages(&invalid)[0].contains("spec.models[0].pricing.cacheRead: \"0.3.0\""));
}

#[test]
fn bare_numbers_are_accepted_as_prices() {
    let yaml = BASE
        .replace("input: \"3.00\"", "input: 3")
        .replace("cacheRead: \"0.30\"", "cacheRead: 0.3")
        .replace("costUsd: \"25\"", "costUsd: 25");
    let (snapshot, invalid) = build(&yaml);
    assert!(invalid.is_empty(), "{:?}", messages(&invalid));
    let key = snapshot.authenticate("sk-team-a", now()).unwrap();
    let pricing = *snapshot
        .resolve(key, "claude-sonnet-4-6")
        .unwrap()
        .pricing()
        .unwrap();
    assert_eq!((pricing.input, pricing.cache_read), (3_000_000, 300_000));
    assert_eq!(key.limits[0].cost_micros, Some(25_000_000));
}

#[test]
fn colliding_model_ids_and_aliases() {
    let cases = [
        (
            "    - {id: a, targets: [{provider: openai, model: a}]}\n    - {id: a, targets: [{provider: openai, model: b}]}\n",
            "spec.models[1].id: \"a\" collides with spec.models[0].id in this RoutingGroup",
        ),
        (
            "    - {id: a, targets: [{provider: openai, model: a}]}\n    - {id: b, aliases: [a], targets: [{provider: openai, model: b}]}\n",
            "spec.models[1].aliases[0]: \"a\" collides with spec.models[0].id in this RoutingGroup",
        ),
        (
            "    - {id: a, aliases: [x, x], targets: [{provider: openai, model: a}]}\n",
            "spec.models[0].aliases[1]: \"x\" collides with spec.models[0].aliases[0] in this RoutingGroup",
        ),
        (
            "    - {id: a, targets: []}\n",
            "spec.models[0].targets: must list at least one target",
        ),
    ];
    for (models, expect) in cases {
        let line = only_error(&group_doc("dupes", models));
        assert_eq!(line, format!("RoutingGroup default/dupes: {expect}"));
    }
    // The same id in two different groups is fine: each group is its own namespace of names.
    let line = build(&with_base(&group_doc(
        "other",
        "    - {id: gpt-4o, targets: [{provider: openai, model: x}]}\n",
    )))
    .1;
    assert!(line.is_empty());
}

#[test]
fn bad_provider_urls_and_headers() {
    for (spec, expect) in [
        ("{protocol: openai, baseUrl: ftp://x}", "spec.baseUrl: scheme \"ftp\" is not http or https"),
        ("{protocol: openai, baseUrl: \"https://\"}", "spec.baseUrl: \"\" is not a valid host"),
        ("{protocol: openai, baseUrl: api.openai.com}", "is not an absolute http:// or https:// URL"),
        ("{protocol: openai, baseUrl: \"https://u:p@host\"}", "must not carry user info"),
        ("{protocol: openai, baseUrl: \"https://host:99999\"}", "port \"99999\" is not a number"),
        ("{protocol: openai, baseUrl: \"https://host/?a=b\"}", "must not carry a query"),
        ("{protocol: openai, baseUrl: \"https://h\", headers: {Authorization: x}}", "spec.headers[\"Authorization\"]: \"Authorization\" may not be set here: a credential header"),
        ("{protocol: openai, baseUrl: \"https://h\", headers: {Connection: close}}", "hop-by-hop"),
        ("{protocol: openai, baseUrl: \"https://h\", headers: {\"bad header\": x}}", "is not a valid header name"),
        ("{protocol: openai, baseUrl: \"https://h\", timeouts: {connect: 0s}}", "spec.timeouts.connect: \"0s\" is zero"),
        ("{protocol: openai, baseUrl: \"https://h\", pool: {idleTimeout: soon}}", "spec.pool.idleTimeout: \"soon\" is not a duration"),
    ] {
        let line = only_error(&provider_doc("p", spec));
        assert!(line.starts_with("Provider default/p: "), "{line}");
        assert!(line.contains(expect), "{spec}: {line}");
    }
}

#[test]
fn base_url_parts() {
    use crate::snapshot::BaseUrl;
    let url = BaseUrl::parse("https://Host.Example.com/api/").unwrap();
    assert_eq!(
        (url.tls, url.host.as_str(), url.port),
        (true, "host.example.com", 443)
    );
    assert_eq!(
        (url.path_prefix.as_str(), url.authority.as_str()),
        ("/api", "host.example.com")
    );
    let url = BaseUrl::parse("http://10.0.0.1:8080").unwrap();
    assert_eq!(
        (url.scheme(), url.port, url.path_prefix.as_str()),
        ("http", 8080, "")
    );
    assert_eq!(url.authority, "10.0.0.1:8080");
    let url = BaseUrl::parse("http://[::1]:9000/v1").unwrap();
    assert_eq!(
        (url.host.as_str(), url.authority.as_str()),
        ("::1", "[::1]:9000")
    );
    assert_eq!(BaseUrl::parse("http://localhost").unwrap().port, 80);
    assert!(BaseUrl::parse("http://[zz]").is_err());
}

#[test]
fn provider_credential_must_be_header_safe() {
    let yaml = BASE.replace(
        "data: {api-key: c2stYW50LXRlc3Q=}",
        "stringData: {api-key: \"sk-\\u00e9t\"}",
    );
    let (_, invalid) = build(&yaml);
    let line = &messages(&invalid)[0];
    assert!(line.contains("cannot be sent in an HTTP header"), "{line}");
    assert!(!line.contains("sk-"), "{line}");
}

#[test]
fn duplicate_objects_keep_the_first() {
    let mut resources = crate::loader::load_str("t", BASE).unwrap();
    let mut twin = resources.providers[1].clone();
    twin.spec.base_url = "http://elsewhere".into();
    resources.providers.push(twin);
    let (snapshot, invalid) = crate::snapshot::Snapshot::build(&resources, now());
    assert_eq!(
        messages(&invalid),
        ["Provider default/openai: metadata.name: defined more than once; the first is used"]
    );
    let openai = snapshot
        .providers()
        .iter()
        .find(|p| p.name == "openai")
        .unwrap();
    assert_eq!(openai.base_url.host, "localhost");
}

#[test]
fn zero_max_concurrent_is_rejected() {
    let yaml = BASE.replace(
        "routingGroups: [g]",
        "routingGroups: [g]\n  maxConcurrent: 0",
    );
    let (_, invalid) = build(&yaml);
    assert!(messages(&invalid)[0].contains("spec.maxConcurrent: 0 would refuse every request"));
}
