//! `UsageScanner` on arbitrary response bytes: it never panics, and it reads the same usage fed
//! whole or in chunks of any size, garbage included. Input: one byte choosing dialect and
//! stream mode, one byte of chunk size, the body.
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
    assert_eq!(
        whole.usage(),
        pieces.usage(),
        "chunks of {chunk} changed the usage read"
    );
});
