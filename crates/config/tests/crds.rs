//! The checked-in CRD manifests match what the resource types generate.
//!
//! Regenerate with `UPDATE_CRDS=1 cargo test -p bytespike-config --test crds`.

use std::path::PathBuf;

#[test]
fn checked_in_crds_match_the_types() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crds");
    let update = std::env::var_os("UPDATE_CRDS").is_some();
    let mut stale = Vec::new();
    for crd in bytespike_config::resources::crds() {
        let name = crd.metadata.name.clone().expect("CRDs are named");
        let path = dir.join(format!("{name}.yaml"));
        let generated = format!(
            "# Generated from crates/config/src/resources; do not edit by hand.\n{}",
            serde_yaml::to_string(&crd).expect("CRD serializes")
        );
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &generated).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(generated.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "CRDs out of date (rerun with UPDATE_CRDS=1): {stale:?}"
    );
}
