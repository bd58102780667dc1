//! Entry points for fuzzers: every decoder and stream translator, fed arbitrary bytes.

use crate::{translate_error, translate_request, ResponseTranslator};
use bytespike_protocol::sse::{SseEvent, SseFramer};
use bytespike_protocol::Dialect;

/// The routes the fuzzers exercise.
pub const ROUTES: &[(Dialect, Dialect)] = &[
    (Dialect::Anthropic, Dialect::OpenAiChat),
    (Dialect::Anthropic, Dialect::Gemini),
    (Dialect::OpenAiChat, Dialect::Anthropic),
    (Dialect::OpenAiChat, Dialect::Gemini),
];

/// Translates `data` as a request body; must never panic.
pub fn fuzz_request(client: Dialect, upstream: Dialect, data: &[u8]) {
    let _ = translate_request(client, upstream, data, "fuzz-model");
}

/// Translates `data` as a stream (split at `split`) and as a whole body; must never panic, and
/// a stream must always end in something the client can recognise as an end.
pub fn fuzz_stream(client: Dialect, upstream: Dialect, data: &[u8], split: usize) {
    let mut out = Vec::new();
    let mut t = ResponseTranslator::with_created(client, upstream, true, "fuzz-model", true, 0);
    let split = split.min(data.len());
    t.feed(&data[..split], &mut out);
    t.feed(&data[split..], &mut out);
    t.finish(&mut out);
    let _ = t.usage();
    assert!(
        ends_cleanly(client, &out),
        "stream did not end with a terminal event: {}",
        String::from_utf8_lossy(&out)
    );
    let mut body =
        ResponseTranslator::with_created(client, upstream, false, "fuzz-model", false, 0);
    body.feed(data, &mut out);
    body.finish(&mut out);
}

/// Re-shapes `data` as an upstream error body; must never panic.
pub fn fuzz_error(client: Dialect, upstream: Dialect, status: u16, data: &[u8]) {
    let _ = translate_error(client, upstream, status, data);
}

/// Whether a client stream ends as its protocol requires: Anthropic with `message_stop` or an
/// `error` event, OpenAI with `[DONE]` or an error frame.
pub fn ends_cleanly(client: Dialect, out: &[u8]) -> bool {
    let mut framer = SseFramer::new();
    let mut last: Option<(Option<String>, Vec<u8>)> = None;
    framer.push(out, |frame| {
        let ev = SseEvent::parse(frame);
        last = Some((ev.event.map(str::to_string), ev.data.into_owned()));
    });
    if !framer.pending().is_empty() {
        return false;
    }
    match (client, last) {
        (Dialect::Anthropic, Some((Some(name), _))) => name == "message_stop" || name == "error",
        (Dialect::OpenAiChat, Some((None, data))) => {
            data == b"[DONE]" || data.starts_with(b"{\"error\"")
        }
        _ => false,
    }
}
