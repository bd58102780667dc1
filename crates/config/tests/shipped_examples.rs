//! The configurations shipped in `examples/` load and build with no invalid object, so the
//! README's commands start from a config that works.

use std::path::PathBuf;
use std::process::Command;
use std::time::SystemTime;

use bytespike_config::{load_path, Snapshot};

fn examples(dir: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples")
        .join(dir)
}

#[test]
fn offline_example_is_valid_and_routes_every_seed_model() {
    let resources = load_path(examples("offline")).expect("examples/offline loads");
    let snapshot =
        Snapshot::build_strict(&resources, SystemTime::now()).expect("examples/offline is valid");
    let key = snapshot
        .authenticate("bsk-offline-demo-key", SystemTime::now())
        .expect("the demo key from the README works");
    for model in [
        "claude-3-5-sonnet-20241022",
        "gpt-4o",
        "gpt-5-5",
        "gemini-3-1-pro",
        "deepseek-v3-anthropic",
    ] {
        assert!(
            snapshot.resolve(key, model).is_ok(),
            "{model} does not resolve"
        );
    }
    assert_eq!(
        key.limits.len(),
        3,
        "the demo key shows the three usual windows"
    );
}

#[test]
fn vendors_example_is_valid_with_the_secrets_its_script_writes() {
    let dir = tempfile::tempdir().unwrap();
    for file in [
        "providers.yaml",
        "routing.yaml",
        "keys.yaml",
        "make-secrets.sh",
    ] {
        std::fs::copy(examples("vendors").join(file), dir.path().join(file)).unwrap();
    }
    let status = Command::new("bash")
        .arg(dir.path().join("make-secrets.sh"))
        .env("ANTHROPIC_API_KEY", "sk-ant-test")
        .env("OPENAI_API_KEY", "sk-openai-test")
        .env("GEMINI_API_KEY", "gemini-test")
        .stdout(std::process::Stdio::null())
        .status()
        .expect("bash runs");
    assert!(status.success());
    let resources = load_path(dir.path()).expect("examples/vendors loads");
    let snapshot =
        Snapshot::build_strict(&resources, SystemTime::now()).expect("examples/vendors is valid");
    assert_eq!(snapshot.counts().api_keys.valid, 1);
    let provider = snapshot
        .providers()
        .iter()
        .find(|p| p.name == "anthropic")
        .unwrap();
    assert_eq!(
        provider.credential.as_ref().unwrap().expose(),
        "sk-ant-test"
    );
}
