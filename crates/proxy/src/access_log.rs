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

/// `,"name":`, what precedes a field's value in the line, built at compile time so that a
/// field costs one copy for its name and punctuation. The name must be a plain identifier.
macro_rules! access_key {
    ($name:literal) => {
        concat!(",\"", $name, "\":")
    };
}
pub(crate) use access_key;

thread_local! {
    // Reused for every line a worker thread writes: no allocation per request once warm.
    static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Whether access lines are wanted at all (`RUST_LOG` may turn the `access` target off).
pub fn enabled() -> bool {
    tracing::enabled!(target: "access", tracing::Level::INFO)
}

/// Writes one line with `fields` in order; each key is an [`access_key!`].
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
    let mut float = zmij::Buffer::new();
    for (key, value) in fields {
        debug_assert!(
            key.starts_with(",\"") && key.ends_with("\":") && !needs_escape(&key[2..key.len() - 2]),
            "keys are access_key!s of identifiers"
        );
        line.extend_from_slice(key.as_bytes());
        match value {
            Field::Str(s) => string(line, s),
            Field::U64(n) => line.extend_from_slice(digits.format(*n).as_bytes()),
            Field::Bool(b) => line.extend_from_slice(if *b { b"true" } else { b"false" }),
            // A non-finite float becomes `null`, as in serde_json.
            Field::F64(f) if f.is_finite() => {
                line.extend_from_slice(float.format_finite(*f).as_bytes())
            }
            Field::F64(_) => line.extend_from_slice(b"null"),
        }
    }
    line.extend_from_slice(b",\"target\":\"access\"}\n");
}

/// A JSON string; the common value (an id, a path, a model name) needs no escaping and is copied.
fn string(line: &mut Vec<u8>, s: &str) {
    if needs_escape(s) {
        let _ = serde_json::to_writer(&mut *line, s);
    } else {
        line.reserve(s.len() + 2);
        line.push(b'"');
        line.extend_from_slice(s.as_bytes());
        line.push(b'"');
    }
}

/// Whether `s` holds a byte JSON strings must escape: a control character, `"` or `\`. Eight
/// bytes at a time: the line's strings are ids, paths and model names, scanned on every request.
fn needs_escape(s: &str) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // Whether any byte of `x` is zero (exact for "any": the classic bit trick).
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS != 0;
    // Whether any byte is below 0x20, also exact for "any": `!x` clears the flag of a byte at or
    // above 0x80, and a borrow only starts at a byte that is itself below 0x20.
    let has_control = |x: u64| x.wrapping_sub(ONES * 0x20) & !x & HIGHS != 0;
    let bytes = s.as_bytes();
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let x = u64::from_ne_bytes(chunk.try_into().unwrap_or_default());
        if has_control(x)
            || has_zero(x ^ (ONES * u64::from(b'"')))
            || has_zero(x ^ (ONES * u64::from(b'\\')))
        {
            return true;
        }
    }
    chunks
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
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
                (access_key!("path"), Field::Str("/v1/\"quoted\"\n")),
                (access_key!("model"), Field::Str("gpt-5-4")),
                (access_key!("backslash"), Field::Str("a\\b")),
                (access_key!("status"), Field::U64(200)),
                (access_key!("big"), Field::U64(u64::MAX)),
                (access_key!("stream"), Field::Bool(true)),
                (access_key!("duration_ms"), Field::F64(1.25)),
                (access_key!("nan"), Field::F64(f64::NAN)),
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
    fn escaping_is_seen_wherever_the_byte_stands() {
        let naive = |s: &str| s.bytes().any(|b| b < 0x20 || b == b'"' || b == b'\\');
        let specials = [
            "\"", "\\", "\n", "\u{0}", "\u{1f}", " ", "~", "\u{7f}", "é", "\u{80}",
        ];
        for len in 0..20 {
            for at in 0..len {
                for special in specials {
                    let mut s = "a".repeat(at);
                    s.push_str(special);
                    s.push_str(&"z".repeat(len - at));
                    assert_eq!(needs_escape(&s), naive(&s), "{s:?}");
                }
            }
        }
        // Bytes just around the escaped ones, in every lane of a word.
        for b in 0u8..0x80 {
            let s =
                String::from_utf8(vec![b'x', b'x', b'x', b, b'x', b'x', b'x', b'x', b'x']).unwrap();
            assert_eq!(needs_escape(&s), naive(&s), "byte {b:#x}");
        }
    }
}
