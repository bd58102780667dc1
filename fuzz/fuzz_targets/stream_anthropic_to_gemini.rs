//! Gemini upstream bytes (a stream split in two chunks, and a whole body) translated for Anthropic
//! clients. Input: two bytes of split position (little endian), then the upstream bytes.
#![no_main]

use bytespike_protocol::Dialect;
use bytespike_translate::fuzz::fuzz_stream;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (split, body) = match data {
        [a, b, rest @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), rest),
        _ => (0, data),
    };
    fuzz_stream(Dialect::Anthropic, Dialect::Gemini, body, split);
});
