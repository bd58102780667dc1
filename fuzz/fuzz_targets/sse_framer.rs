//! `SseFramer` and `SseEvent::parse` on arbitrary bytes: the frames do not depend on how the
//! bytes are chunked. Input: one byte of chunk size, then the stream.
#![no_main]

use bytespike_protocol::sse::{SseEvent, SseFramer};
use libfuzzer_sys::fuzz_target;

fn frames(stream: &[u8], chunk: usize) -> (Vec<Vec<u8>>, Vec<u8>) {
    let mut framer = SseFramer::new();
    let mut out = Vec::new();
    for piece in stream.chunks(chunk) {
        framer.push(piece, |frame| {
            let event = SseEvent::parse(frame);
            let _ = (event.event, event.data.len());
            out.push(frame.to_vec());
        });
    }
    (out, framer.pending().to_vec())
}

fuzz_target!(|data: &[u8]| {
    let [chunk, stream @ ..] = data else { return };
    let whole = frames(stream, stream.len().max(1));
    let split = frames(stream, usize::from(*chunk).max(1));
    assert_eq!(whole, split, "chunking changed the frames");
});
