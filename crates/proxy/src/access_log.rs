//! The access-log line, written straight to stdout in the JSON shape of the rest of the logs.
//!
//! Going through `tracing`'s JSON formatter cost about as much CPU as the rest of the gateway's
//! own request work together (a visitor per field, a `serde_json::Value` map, a timestamp
//! formatter); one line per request deserves a direct path. The line keeps the formatter's
//! shape (`timestamp`, `level`, `message`, the fields, `target`), so log pipelines see no
//! difference, and `RUST_LOG` still decides whether it is written.

use std::cell::RefCell;
use std::io::Write;
use std::time::SystemTime;

use serde::Serialize;

/// One value of the line.
pub enum Field<'a> {
    Str(&'a str),
    U64(u64),
    Bool(bool),
    F64(f64),
}

thread_local! {
    // Reused for every line a worker thread writes: no allocation per request once warm.
    static LINE: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(1024));
}

/// Whether access lines are wanted at all (`RUST_LOG` may turn the `access` target off).
pub fn enabled() -> bool {
    tracing::enabled!(target: "access", tracing::Level::INFO)
}

/// Writes one line with `fields` in order.
pub fn write(fields: &[(&str, Field<'_>)]) {
    LINE.with(|cell| {
        let Ok(mut line) = cell.try_borrow_mut() else {
            return;
        };
        line.clear();
        render(&mut line, SystemTime::now(), fields);
        // One write of a whole line: lines of concurrent requests never interleave.
        let _ = std::io::stdout().lock().write_all(&line);
    });
}

fn render(line: &mut Vec<u8>, now: SystemTime, fields: &[(&str, Field<'_>)]) {
    line.extend_from_slice(b"{\"timestamp\":\"");
    let _ = write!(line, "{}", humantime::format_rfc3339_micros(now));
    line.extend_from_slice(b"\",\"level\":\"INFO\",\"message\":\"request\"");
    for (name, value) in fields {
        line.push(b',');
        json(line, name);
        line.push(b':');
        match value {
            Field::Str(s) => json(line, s),
            Field::U64(n) => {
                let _ = write!(line, "{n}");
            }
            Field::Bool(b) => line.extend_from_slice(if *b { b"true" } else { b"false" }),
            Field::F64(f) => json(line, f),
        }
    }
    line.extend_from_slice(b",\"target\":\"access\"}\n");
}

fn json<T: Serialize + ?Sized>(line: &mut Vec<u8>, value: &T) {
    // Strings and finite floats always serialise; escaping is what this is for.
    let _ = serde_json::to_writer(&mut *line, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_one_json_object_per_line_with_escaped_values() {
        let mut line = Vec::new();
        render(
            &mut line,
            SystemTime::UNIX_EPOCH,
            &[
                ("path", Field::Str("/v1/\"quoted\"\n")),
                ("status", Field::U64(200)),
                ("stream", Field::Bool(true)),
                ("duration_ms", Field::F64(1.25)),
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
        assert_eq!(doc["status"], 200);
        assert_eq!(doc["stream"], true);
        assert_eq!(doc["duration_ms"], 1.25);
    }
}
