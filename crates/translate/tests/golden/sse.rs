//! SSE text parsed into comparable events.

use bytespike_protocol::sse::{SseEvent, SseFramer};
use serde_json::Value;

/// One event: its name and its data (JSON, or a string such as `[DONE]`).
pub type Event = (Option<String>, Value);

/// Splits SSE text into events; data that is not JSON stays a string.
pub fn events(text: &[u8]) -> Vec<Event> {
    let mut framer = SseFramer::new();
    let mut out = Vec::new();
    framer.push(text, |frame| {
        let ev = SseEvent::parse(frame);
        let data = serde_json::from_slice(&ev.data)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&ev.data).into_owned()));
        out.push((ev.event.map(str::to_string), data));
    });
    assert!(
        framer.pending().iter().all(u8::is_ascii_whitespace),
        "unterminated frame: {:?}",
        String::from_utf8_lossy(framer.pending())
    );
    out
}

/// The first difference between two event lists, described.
pub fn diff(want: &[Event], got: &[Event]) -> Option<String> {
    for (i, (w, g)) in want.iter().zip(got).enumerate() {
        if w != g {
            return Some(format!("event {i}:\n  want {w:?}\n  got  {g:?}"));
        }
    }
    (want.len() != got.len()).then(|| {
        format!(
            "want {} events, got {}; extra: {:?}",
            want.len(),
            got.len(),
            if got.len() > want.len() {
                &got[want.len()..]
            } else {
                &want[got.len()..]
            }
        )
    })
}
