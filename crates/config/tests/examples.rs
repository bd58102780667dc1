//! The two complete example configurations load, build without errors and serve requests.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use bytespike_config::resources::Protocol;
use bytespike_config::{load_path, AuthError, RouteError, Snapshot};

fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/examples")
        .join(path)
}

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000) // 2027-01-15
}

#[test]
fn quickstart_directory_serves_its_dev_key() {
    let resources = load_path(fixture("quickstart")).expect("quickstart loads");
    assert_eq!(resources.providers.len(), 2);
    let snapshot = Snapshot::build_strict(&resources, now()).expect("quickstart is valid");

    let key = snapshot.authenticate("bsk-dev-0123456789", now()).unwrap();
    assert_eq!(key.id, "default/dev");
    // No limits of its own: inherits the group's.
    assert_eq!(key.limits.len(), 1);
    assert_eq!(key.limits[0].requests, Some(10_000));

    let route = snapshot.resolve(key, "claude-3-5-sonnet-20241022").unwrap();
    assert_eq!(route.model_id(), "claude-sonnet-4-6");
    assert!(route.via_alias());
    let target = route.primary();
    assert_eq!(target.provider.name, "fake-anthropic");
    assert!(target.provider.credential.is_none());
    assert_eq!(target.provider.base_url.path_prefix, "/anthropic");
    assert_eq!(target.provider.base_url.port, 9090);
    assert_eq!(target.provider.timeouts.connect, Duration::from_secs(2));
    assert_eq!(target.provider.timeouts.idle, Duration::from_secs(120));

    let gpt = snapshot.resolve(key, "gpt-4o").unwrap();
    assert_eq!(gpt.primary().model, "gpt-4o-2024-08-06");
    assert_eq!(gpt.pricing().unwrap().cache_read, 2_500_000);

    let listing = snapshot.models_for(key);
    let ids: Vec<&str> = listing.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "claude-sonnet-4-6",
            "claude-3-5-sonnet-20241022",
            "claude-sonnet-4-20250514",
            "gpt-4o"
        ]
    );
    assert_eq!(listing[3].owned_by, Protocol::Openai);
    assert_eq!(listing[1].alias_of.as_deref(), Some("claude-sonnet-4-6"));
}

#[test]
fn production_file_builds_every_object() {
    let resources = load_path(fixture("production.yaml")).expect("production loads");
    let (snapshot, invalid) = Snapshot::build(&resources, now());
    assert!(invalid.is_empty(), "{invalid:?}");
    let counts = snapshot.counts();
    assert_eq!(
        (counts.providers.valid, counts.routing_groups.valid),
        (4, 2)
    );
    assert_eq!((counts.api_keys.valid, counts.secrets.valid), (2, 5));

    let anthropic = snapshot
        .providers()
        .iter()
        .find(|p| p.name == "anthropic")
        .unwrap();
    // Base64 `data` with the trailing newline `--from-file` leaves, trimmed.
    assert_eq!(
        anthropic.credential.as_ref().unwrap().expose(),
        "sk-ant-prod-xyz"
    );
    assert!(!format!("{anthropic:?}").contains("sk-ant"));
    assert!(anthropic.http2);
    assert_eq!(anthropic.pool.max_idle_per_host, 64);
    assert_eq!(
        anthropic.headers,
        [("anthropic-version".into(), "2023-06-01".into())]
    );
    // The same, parsed for the wire once: the credential in Anthropic's header, kept secret.
    let (name, value) = anthropic.wire.credential.as_ref().unwrap();
    assert_eq!(
        (name.as_str(), value.to_str().unwrap()),
        ("x-api-key", "sk-ant-prod-xyz")
    );
    assert!(value.is_sensitive());
    assert_eq!(anthropic.wire.extra[0].1, "2023-06-01");
    let proxy = snapshot
        .providers()
        .iter()
        .find(|p| p.name == "bedrock-proxy")
        .unwrap();
    assert_eq!(
        proxy.base_url.authority,
        "llm-proxy.internal.example.com:8443"
    );
    assert_eq!(proxy.base_url.path_prefix, "/anthropic");

    let a = snapshot
        .authenticate("bsk-team-a-ci-7f3e9c", now())
        .unwrap();
    assert_eq!(a.namespace, "llm-gateway");
    assert_eq!(a.max_concurrent, Some(16));
    let windows: Vec<u64> = a.limits.iter().map(|l| l.window.as_secs()).collect();
    assert_eq!(windows, [5 * 3600, 86_400, 7 * 86_400]);
    assert_eq!(a.limits[0].cost_micros, Some(25_000_000));
    assert_eq!(a.limits[2].cost_micros, Some(200_000_000));

    let route = snapshot.resolve(a, "claude-sonnet-4-6").unwrap();
    let order: Vec<&str> = route
        .attempt_order()
        .map(|t| t.provider.name.as_str())
        .collect();
    assert_eq!(order, ["anthropic", "bedrock-proxy"]);
    assert_eq!(
        snapshot.resolve(a, "gpt-4o").unwrap_err(),
        RouteError::NotPermitted
    );
    assert_eq!(
        snapshot.resolve(a, "gpt-5-turbo").unwrap_err(),
        RouteError::UnknownModel
    );

    let b = snapshot.authenticate("bsk-team-b-41d2aa", now()).unwrap();
    assert_eq!(
        snapshot.resolve(b, "gemini-pro").unwrap().model_id(),
        "gemini-2.5-pro"
    );
    assert_eq!(
        snapshot
            .resolve(b, "claude-haiku-4-5")
            .unwrap()
            .group()
            .name,
        "claude-default"
    );
    let later = SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000); // 2030-03
    assert_eq!(
        snapshot
            .authenticate("bsk-team-b-41d2aa", later)
            .unwrap_err(),
        AuthError::Expired
    );
}
