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
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// One value of the line.
pub enum Field<'a> {
    Str(&'a str),
    U64(u64),
    Bool(bool),
    F64(f64),
}

thread_local! {
    // Reused for every line a worker thread writes: no allocation per request once warm.
    static LINE: RefCell<Line> = RefCell::new(Line::default());
}

/// A thread's line buffer and the formatted second its timestamps share.
#[derive(Default)]
struct Line {
    bytes: Vec<u8>,
    clock: SecondPrefix,
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
        let Line { bytes, clock } = &mut *line;
        bytes.clear();
        render(bytes, clock, SystemTime::now(), fields);
        sink::push(bytes);
    });
}

fn render(
    line: &mut Vec<u8>,
    clock: &mut SecondPrefix,
    now: SystemTime,
    fields: &[(&str, Field<'_>)],
) {
    line.extend_from_slice(b"{\"timestamp\":\"");
    clock.write(line, now);
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

/// RFC 3339 timestamps with microseconds, in UTC, as `tracing-subscriber` writes them. The
/// date and time up to the second change once a second, so they are formatted once a second.
#[derive(Default)]
struct SecondPrefix {
    second: u64,
    /// `YYYY-MM-DDTHH:MM:SS.` for `second`; empty until first use.
    text: Vec<u8>,
}

impl SecondPrefix {
    fn write(&mut self, line: &mut Vec<u8>, now: SystemTime) {
        let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
        let second = since_epoch.as_secs();
        if self.text.is_empty() || second != self.second {
            self.second = second;
            self.text.clear();
            let whole_second = UNIX_EPOCH + std::time::Duration::from_secs(second);
            let _ = write!(
                self.text,
                "{}",
                humantime::format_rfc3339_seconds(whole_second)
            );
            // `...SSZ` becomes `...SS.`: the fraction follows.
            self.text.pop();
            self.text.push(b'.');
        }
        line.extend_from_slice(&self.text);
        let micros = since_epoch.subsec_micros();
        let mut fraction = [b'0'; 6];
        let mut rest = micros;
        for digit in fraction.iter_mut().rev() {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        line.extend_from_slice(&fraction);
        line.push(b'Z');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn rendered(now: SystemTime, fields: &[(&str, Field<'_>)]) -> Vec<u8> {
        let mut line = Vec::new();
        render(&mut line, &mut SecondPrefix::default(), now, fields);
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

    #[test]
    fn timestamps_match_the_formatter_within_and_across_seconds() {
        let mut clock = SecondPrefix::default();
        let base = UNIX_EPOCH + Duration::from_secs(1_796_000_000);
        for offset_us in [0u64, 7, 999_999, 1_000_000, 1_000_001, 86_400_123_456] {
            let now = base + Duration::from_micros(offset_us);
            let mut line = Vec::new();
            clock.write(&mut line, now);
            let expected = humantime::format_rfc3339_micros(now).to_string();
            assert_eq!(
                String::from_utf8(line).unwrap(),
                expected,
                "at +{offset_us} us"
            );
        }
    }
}
