//! Removes the usage chunk from an OpenAI Chat stream whose client did not ask for it.
//!
//! The gateway always asks an OpenAI upstream for stream usage (`include_usage`), because it
//! bills tokens. A client that did not ask must not receive the extra chunk: it has an empty
//! `choices` array, and code written as `chunk.choices[0]` would fail on it.

use crate::sse::SseFramer;

/// Re-emits a Chat Completions SSE stream without its usage-only chunk.
#[derive(Debug, Default)]
pub struct HiddenUsageFilter {
    framer: SseFramer,
}

impl HiddenUsageFilter {
    /// A filter at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends to `out` every complete frame of `chunk` except the usage-only one.
    pub fn filter(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        self.framer.push(chunk, |frame| {
            if !is_usage_only(frame) {
                // A frame keeps its last line's end; one more makes the blank line.
                out.extend_from_slice(frame);
                out.push(b'\n');
            }
        });
    }

    /// Appends whatever an unfinished stream left pending, so a cut is not hidden.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.framer.pending());
    }
}

fn is_usage_only(frame: &[u8]) -> bool {
    let finder = |needle: &[u8]| memchr::memmem::find(frame, needle).is_some();
    (finder(b"\"choices\":[]") || finder(b"\"choices\": []"))
        && (finder(b"\"usage\":{") || finder(b"\"usage\": {"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_only_the_usage_chunk_whatever_the_split() {
        let input = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n",
            "data: [DONE]\n\n"
        );
        let expected = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n",
            "data: [DONE]\n\n"
        );
        for split in 1..=input.len() {
            let mut filter = HiddenUsageFilter::new();
            let mut out = Vec::new();
            for chunk in input.as_bytes().chunks(split) {
                filter.filter(chunk, &mut out);
            }
            filter.finish(&mut out);
            assert_eq!(String::from_utf8(out).unwrap(), expected, "split {split}");
        }
    }
}
