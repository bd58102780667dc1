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
    (Dialect::OpenAiResponses, Dialect::Anthropic),
    (Dialect::OpenAiResponses, Dialect::Gemini),
    (Dialect::OpenAiResponses, Dialect::OpenAiChat),
];

/// Translates `data` as a request body and, when it translates, feeds the same bytes to the
/// response translator built from it (exercising what a request hands its response); must
/// never panic.
pub fn fuzz_request(client: Dialect, upstream: Dialect, data: &[u8]) {
    if let Ok(req) = translate_request(client, upstream, data, "fuzz-model") {
        let mut t = ResponseTranslator::for_request_with_created(client, upstream, &req, "m", 0);
        let mut out = Vec::new();
        t.feed(data, &mut out);
        t.finish(&mut out);
    }
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
/// `error` event, OpenAI Chat with `[DONE]` or an error frame, OpenAI Responses with
/// `response.completed`, `response.incomplete` or `response.failed`.
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
        (Dialect::OpenAiResponses, Some((Some(name), _))) => matches!(
            name.as_str(),
            "response.completed" | "response.incomplete" | "response.failed"
        ),
        _ => false,
    }
}
