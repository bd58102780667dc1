//! Golden fixtures: every `tests/fixtures/<client>_to_<upstream>/<case>.yaml` is one case.
//!
//! A case holds a client request and the upstream request it must become, an upstream body
//! and the client body it must become, an upstream stream and the client stream it must
//! become (compared event by event as JSON, and again with the input split at every byte),
//! the usage the translator must report, and an upstream error and its client rendering.
//! Any section may be absent. `BLESS=1` rewrites the expected sections from actual output.

mod case;
mod sse;

use case::Case;
use std::path::Path;

#[test]
fn golden_fixtures() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let bless = std::env::var_os("BLESS").is_some();
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    dirs.sort();
    let mut failures = Vec::new();
    let mut count = 0;
    for dir in dirs.iter().filter(|d| d.is_dir()) {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "yaml"))
        {
            count += 1;
            let case = Case::load(file);
            if bless {
                case.bless(file);
            } else if let Err(e) = case.check() {
                failures.push(format!("{}: {e}", file.display()));
            }
        }
    }
    assert!(
        count >= 40,
        "expected the full fixture set, found {count} cases"
    );
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn a_wrong_expectation_is_caught() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/anthropic_to_openai_chat/tool_call.yaml");
    let case = Case::load(&file);
    assert_eq!(case.check(), Ok(()));
    for key in [
        "upstream_request",
        "client_response",
        "usage",
        "client_stream",
        "stream_usage",
    ] {
        assert!(
            case.broken(key).check().is_err(),
            "a changed {key} went unnoticed"
        );
    }
}
