//! `UsageScanner` on arbitrary response bytes: it never panics, and on well-formed bodies (one
//! JSON value, or SSE lines whose data is JSON) it reads the same usage fed whole or in chunks.
//! Garbage such as two keys sharing a quote may be read differently once split; no vendor sends
//! that. Input: one byte choosing dialect and stream mode, one byte of chunk size, the body.
#![no_main]

use bytespike_protocol::{Dialect, UsageScanner};
use libfuzzer_sys::fuzz_target;

const DIALECTS: [Dialect; 4] = [
    Dialect::Anthropic,
    Dialect::OpenAiChat,
    Dialect::OpenAiResponses,
    Dialect::Gemini,
];

fuzz_target!(|data: &[u8]| {
    let [mode, chunk, body @ ..] = data else {
        return;
    };
    let dialect = DIALECTS[usize::from(mode & 3)];
    let stream = mode & 4 != 0;
    let chunk = usize::from(*chunk).max(1);

    let mut whole = UsageScanner::new(dialect, stream);
    whole.feed(body);
    let mut pieces = UsageScanner::new(dialect, stream);
    for piece in body.chunks(chunk) {
        pieces.feed(piece);
    }
    if !well_formed(body, stream) {
        return;
    }
    assert_eq!(
        whole.usage(),
        pieces.usage(),
        "chunks of {chunk} changed the usage read"
    );
});

fn well_formed(body: &[u8], stream: bool) -> bool {
    let json = |b: &[u8]| serde_json::from_slice::<serde_json::Value>(b).is_ok();
    if !stream {
        return json(body);
    }
    body.split(|&b| b == b'\n').all(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() || line.starts_with(b"event:") {
            return true;
        }
        match line.strip_prefix(b"data:") {
            Some(data) => {
                let data = data.strip_prefix(b" ").unwrap_or(data);
                data == b"[DONE]" || json(data)
            }
            None => false,
        }
    })
}
