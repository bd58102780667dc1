//! The access-log line, written straight to stdout in the JSON shape of the rest of the logs.
//!
//! Going through `tracing`'s JSON formatter cost about as much CPU as the rest of the gateway's
//! own request work together (a visitor per field, a `serde_json::Value` map, a timestamp
//! formatter); one line per request deserves a direct path. The line keeps the formatter's
//! shape (`timestamp`, `level`, `message`, the fields, `target`), so log pipelines see no
//! difference, and `RUST_LOG` still decides whether it is written.
//!
//! Lines are rendered into a per-thread buffer and handed to [`sink`], which batches them into
//! one `write` per flush interval instead of a system call per request.

mod sink;

pub use sink::configure;

use std::cell::RefCell;
use std::time::SystemTime;

use crate::rfc3339;

/// One value of the line.
pub enum Field<'a> {
    Str(&'a str),
    U64(u64),
    Bool(bool),
    F64(f64),
}

thread_local! {
    // Reused for every line a worker thread writes: no allocation per request once warm.
    static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Whether access lines are wanted at all (`RUST_LOG` may turn the `access` target off).
pub fn enabled() -> bool {
    tracing::enabled!(target: "access", tracing::Level::INFO)
}

/// Writes one line with `fields` in order. Field names are plain ASCII identifiers.
pub fn write(fields: &[(&str, Field<'_>)]) {
    LINE.with(|cell| {
        let Ok(mut line) = cell.try_borrow_mut() else {
            return;
        };
        line.clear();
        render(&mut line, SystemTime::now(), fields);
        sink::push(&line);
    });
}

fn render(line: &mut Vec<u8>, now: SystemTime, fields: &[(&str, Field<'_>)]) {
    line.extend_from_slice(b"{\"timestamp\":\"");
    line.extend_from_slice(&rfc3339::micros(now));
    line.extend_from_slice(b"\",\"level\":\"INFO\",\"message\":\"request\"");
    let mut digits = itoa::Buffer::new();
    for (name, value) in fields {
        debug_assert!(!needs_escape(name), "field names are identifiers");
        line.extend_from_slice(b",\"");
        line.extend_from_slice(name.as_bytes());
        line.extend_from_slice(b"\":");
        match value {
            Field::Str(s) => string(line, s),
            Field::U64(n) => line.extend_from_slice(digits.format(*n).as_bytes()),
            Field::Bool(b) => line.extend_from_slice(if *b { b"true" } else { b"false" }),
            // Finite floats always serialise; a non-finite one becomes `null`, as in serde_json.
            Field::F64(f) => {
                let _ = serde_json::to_writer(&mut *line, f);
            }
        }
    }
    line.extend_from_slice(b",\"target\":\"access\"}\n");
}

/// A JSON string; the common value (an id, a path, a model name) needs no escaping and is copied.
fn string(line: &mut Vec<u8>, s: &str) {
    if needs_escape(s) {
        let _ = serde_json::to_writer(&mut *line, s);
    } else {
        line.push(b'"');
        line.extend_from_slice(s.as_bytes());
        line.push(b'"');
    }
}

fn needs_escape(s: &str) -> bool {
    s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(now: SystemTime, fields: &[(&str, Field<'_>)]) -> Vec<u8> {
        let mut line = Vec::new();
        render(&mut line, now, fields);
        line
    }

    #[test]
    fn renders_one_json_object_per_line_with_escaped_values() {
        let line = rendered(
            SystemTime::UNIX_EPOCH,
            &[
                ("path", Field::Str("/v1/\"quoted\"\n")),
                ("model", Field::Str("gpt-5-4")),
                ("backslash", Field::Str("a\\b")),
                ("status", Field::U64(200)),
                ("big", Field::U64(u64::MAX)),
                ("stream", Field::Bool(true)),
                ("duration_ms", Field::F64(1.25)),
                ("nan", Field::F64(f64::NAN)),
            ],
        );
        assert_eq!(line.last(), Some(&b'\n'));
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        let doc: serde_json::Value = serde_json::from_slice(&line).expect("valid JSON");
        assert_eq!(doc["timestamp"], "1970-01-01T00:00:00.000000Z");
        assert_eq!(doc["level"], "INFO");
        assert_eq!(doc["message"], "request");
        assert_eq!(doc["target"], "access");
        assert_eq!(doc["path"], "/v1/\"quoted\"\n");
        assert_eq!(doc["model"], "gpt-5-4");
        assert_eq!(doc["backslash"], "a\\b");
        assert_eq!(doc["status"], 200);
        assert_eq!(doc["big"], u64::MAX);
        assert_eq!(doc["stream"], true);
        assert_eq!(doc["duration_ms"], 1.25);
        assert!(doc["nan"].is_null());
    }
}
