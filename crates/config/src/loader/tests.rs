//! Loader tests: files and directories, document dispatch, error locations and fingerprints.

use std::fs;
use std::path::Path;

use super::*;

const PROVIDER: &str =
    "apiVersion: gateway.bytespike.ai/v1alpha1\nkind: Provider\nmetadata: {name: p}\n\
                        spec: {protocol: openai, baseUrl: \"http://localhost:9000\"}\n";

fn write(dir: &Path, name: &str, text: &str) {
    fs::write(dir.join(name), text).unwrap();
}

fn message(err: LoadError) -> String {
    err.to_string()
}

#[test]
fn bad_yaml_names_file_document_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        format!("{PROVIDER}---\napiVersion: v1\nkind: Secret\nmetadata: {{name: s\n  oops: [\n");
    write(dir.path(), "broken.yaml", &text);
    let err = message(load_path(dir.path()).unwrap_err());
    assert!(err.contains("broken.yaml document 1"), "{err}");
    assert!(err.contains("line "), "{err}");
}

#[test]
fn schema_errors_keep_the_field_path_and_absolute_line() {
    let text = format!(
        "{PROVIDER}---\napiVersion: gateway.bytespike.ai/v1alpha1\nkind: RoutingGroup\nmetadata: {{name: g}}\n\
         spec:\n  models:\n    - id: m\n      targets:\n        - {{provider: p, model: m, weight: lots}}\n"
    );
    let err = message(load_str("groups.yaml", &text).unwrap_err());
    assert!(
        err.starts_with("groups.yaml document 1: spec.models[0].targets[0].weight: "),
        "{err}"
    );
    // The bad value is on line 13 of the file, not of the document.
    assert!(err.contains("line 13"), "{err}");
}

#[test]
fn secret_errors_do_not_echo_values() {
    for text in [
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {key: \"sk-live-notbase64!!\"}\n",
        // A value where a map belongs: the parser's own message would quote it.
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: sk-live-notbase64\n",
    ] {
        let err = message(load_str("s.yaml", text).unwrap_err());
        assert!(err.contains("s.yaml document 0"), "{err}");
        assert!(err.contains("line 4"), "{err}");
        assert!(
            !err.contains("sk-live") && !err.contains("notbase64"),
            "{err}"
        );
    }
}

#[test]
fn dispatches_on_api_version_and_kind() {
    let text = format!(
        "{PROVIDER}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\ndata: {{a: b}}\n---\n\
         # only a comment\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: s, namespace: team}}\nstringData: {{k: v}}\n"
    );
    let resources = load_str("mixed.yaml", &text).unwrap();
    assert_eq!((resources.providers.len(), resources.secrets.len()), (1, 1));
    assert_eq!(resources.len(), 2);
    assert_eq!(
        resources.providers[0].metadata.namespace.as_deref(),
        Some("default")
    );
    assert_eq!(
        resources.secrets[0].metadata.namespace.as_deref(),
        Some("team")
    );

    let ours = "apiVersion: gateway.bytespike.ai/v1alpha1\nkind: Quota\nmetadata: {name: q}\n";
    let err = message(load_str("q.yaml", ours).unwrap_err());
    assert_eq!(
        err,
        "q.yaml document 0: unknown kind \"Quota\" in gateway.bytespike.ai/v1alpha1"
    );
    let future = PROVIDER.replace("v1alpha1", "v2");
    assert!(matches!(
        load_str("f.yaml", &future),
        Err(LoadError::UnknownKind { .. })
    ));
    let untyped = "metadata: {name: x}\n";
    assert!(matches!(
        load_str("u.yaml", untyped),
        Err(LoadError::MissingTypeMeta { document: 0, .. })
    ));
    let unnamed = "apiVersion: v1\nkind: Secret\nmetadata: {}\n";
    assert!(matches!(
        load_str("n.yaml", unnamed),
        Err(LoadError::MissingName {
            kind: Kind::Secret,
            ..
        })
    ));
}

#[test]
fn duplicate_objects_across_files_are_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.yaml", PROVIDER);
    write(dir.path(), "b.yaml", &PROVIDER.replace("9000", "9001"));
    let err = message(load_path(dir.path()).unwrap_err());
    assert!(
        err.contains("b.yaml document 0: Provider default/p is already defined in"),
        "{err}"
    );
    assert!(err.contains("a.yaml document 0"), "{err}");
    // The same name in another namespace is a different object.
    write(
        dir.path(),
        "b.yaml",
        &PROVIDER.replace("{name: p}", "{name: p, namespace: other}"),
    );
    assert_eq!(load_path(dir.path()).unwrap().providers.len(), 2);
}

#[test]
fn directory_reads_yaml_files_in_name_order_and_skips_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "20-b.yml", &PROVIDER.replace("{name: p}", "{name: b}"));
    write(d, "10-a.yaml", &PROVIDER.replace("{name: p}", "{name: a}"));
    write(d, "notes.txt", "not yaml: [");
    write(d, ".hidden.yaml", "not yaml: [");
    fs::create_dir(d.join("nested")).unwrap();
    write(&d.join("nested"), "x.yaml", "not yaml: [");
    fs::create_dir(d.join("dir.yaml")).unwrap();
    let resources = load_path(d).unwrap();
    let names: Vec<_> = resources
        .providers
        .iter()
        .map(|p| p.metadata.name.clone().unwrap())
        .collect();
    assert_eq!(names, ["a", "b"]);
}

#[cfg(unix)]
#[test]
fn reads_a_mounted_config_map_layout() {
    // Kubernetes mounts `..2025_01_01/` holding the files, `..data -> ..2025_01_01`, and one
    // `name -> ..data/name` link per key.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::create_dir(d.join("..2025_01_01")).unwrap();
    write(&d.join("..2025_01_01"), "providers.yaml", PROVIDER);
    std::os::unix::fs::symlink("..2025_01_01", d.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/providers.yaml", d.join("providers.yaml")).unwrap();
    let resources = load_path(d).unwrap();
    assert_eq!(resources.providers.len(), 1);
}

#[test]
fn single_file_and_missing_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("one.conf");
    fs::write(&file, PROVIDER).unwrap();
    // An explicitly named file is read whatever its extension.
    assert_eq!(load_path(&file).unwrap().providers.len(), 1);
    let err = load_path(dir.path().join("missing")).unwrap_err();
    assert!(matches!(err, LoadError::Io { .. }));
    assert!(err.to_string().contains("missing"));
}

#[test]
fn fingerprint_tracks_content() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "a.yaml", PROVIDER);
    let first = fingerprint_path(d).unwrap();
    assert_eq!(fingerprint_path(d).unwrap(), first);
    let (_, loaded) = load_path_fingerprinted(d).unwrap();
    assert_eq!(loaded, first);
    assert_eq!(first.to_string().len(), 64);

    write(d, "a.yaml", &PROVIDER.replace("9000", "9001"));
    let edited = fingerprint_path(d).unwrap();
    assert_ne!(edited, first);
    write(d, "b.yaml", "");
    assert_ne!(
        fingerprint_path(d).unwrap(),
        edited,
        "a new file changes the fingerprint"
    );
    write(d, "ignored.txt", "x");
    let with_txt = fingerprint_path(d).unwrap();
    fs::remove_file(d.join("ignored.txt")).unwrap();
    assert_eq!(
        fingerprint_path(d).unwrap(),
        with_txt,
        "files not read are not hashed"
    );
}
