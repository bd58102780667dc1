//! The CRD manifests committed under `deploy/crds/` match what the resource types generate.
//!
//! Regenerate with `UPDATE_CRDS=1 cargo test -p bytespike-config --test crds`.

use std::path::PathBuf;

#[test]
fn checked_in_crds_match_the_types() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/crds");
    let update = std::env::var_os("UPDATE_CRDS").is_some();
    let mut stale = Vec::new();
    let mut expected = Vec::new();
    for crd in bytespike_config::resources::crds() {
        let name = crd.metadata.name.clone().expect("CRDs are named");
        let file = format!("{name}.yaml");
        let path = dir.join(&file);
        let generated = bytespike_config::resources::crd_yaml(&crd);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &generated).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(generated.as_str()) {
            stale.push(path.display().to_string());
        }
        expected.push(file);
    }
    assert!(
        stale.is_empty(),
        "CRDs out of date (rerun with UPDATE_CRDS=1): {stale:?}"
    );
    // A CRD whose type was removed must not linger in the manifests people apply.
    let mut present: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    present.sort();
    expected.sort();
    assert_eq!(present, expected, "unexpected files in {}", dir.display());
}

#[test]
fn multi_document_stream_holds_every_crd() {
    let yaml = bytespike_config::resources::crds_yaml();
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&yaml)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    assert_eq!(docs.len(), 3);
    for doc in &docs {
        assert_eq!(doc["kind"], "CustomResourceDefinition");
    }
}
