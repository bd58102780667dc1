//! Removes the usage chunk from an OpenAI Chat stream whose client did not ask for it.
//!
//! The gateway always asks an OpenAI upstream for stream usage (`include_usage`), because it
//! bills tokens. A client that did not ask must not receive the extra chunk: it has an empty
//! `choices` array, and code written as `chunk.choices[0]` would fail on it.

use std::sync::LazyLock;

use memchr::memmem::Finder;

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

    /// Whether `chunk` can go to the client as it is, without being framed and copied: no
    /// frame is pending from earlier chunks, the chunk ends where a frame does, and no usage
    /// object begins in it (`holds_usage_object`, as the stream's [`UsageScanner`], which reads
    /// every chunk anyway, found). Most chunks of a stream are; only the few that carry usage
    /// need framing to find the usage-only one.
    ///
    /// [`UsageScanner`]: crate::UsageScanner
    pub fn passes_untouched(&self, chunk: &[u8], holds_usage_object: bool) -> bool {
        !holds_usage_object
            && self.framer.pending().is_empty()
            && (chunk.ends_with(b"\n\n") || chunk.ends_with(b"\r\n\r\n"))
    }
}

/// Finders built once: a finder's set-up costs more than searching one frame.
static EMPTY_CHOICES: LazyLock<[Finder<'static>; 2]> = LazyLock::new(|| {
    [
        Finder::new(b"\"choices\":[]"),
        Finder::new(b"\"choices\": []"),
    ]
});
static USAGE_OBJECT: LazyLock<[Finder<'static>; 2]> =
    LazyLock::new(|| [Finder::new(b"\"usage\":{"), Finder::new(b"\"usage\": {")]);

fn has_empty_choices(bytes: &[u8]) -> bool {
    EMPTY_CHOICES.iter().any(|f| f.find(bytes).is_some())
}

fn is_usage_only(frame: &[u8]) -> bool {
    has_empty_choices(frame) && USAGE_OBJECT.iter().any(|f| f.find(frame).is_some())
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

    #[test]
    fn only_whole_frames_without_a_usage_object_pass_untouched() {
        use crate::{Dialect, UsageScanner};

        let content = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n";
        let usage = b"data: {\"choices\":[],\"usage\": {\"prompt_tokens\":3}}\n\n";
        // What the proxy does: the scanner reads the chunk, then the filter asks whether a
        // usage object began in it.
        let mut scanner = UsageScanner::new(Dialect::OpenAiChat, true);
        let mut holds_usage = |chunk: &[u8]| {
            let before = scanner.objects_begun();
            scanner.feed(chunk);
            scanner.objects_begun() != before
        };
        let mut filter = HiddenUsageFilter::new();
        assert!(filter.passes_untouched(content, holds_usage(content)));
        assert!(filter.passes_untouched(b"data: [DONE]\r\n\r\n", false));
        // The usage chunk, alone or behind content, must be filtered.
        assert!(!filter.passes_untouched(usage, holds_usage(usage)));
        let both = [&content[..], &usage[..]].concat();
        assert!(!filter.passes_untouched(&both, holds_usage(&both)));
        // A chunk that ends inside a frame must be framed.
        assert!(!filter.passes_untouched(&content[..content.len() - 1], false));
        // Once part of a frame is pending, the rest of it cannot pass on its own.
        let mut out = Vec::new();
        filter.filter(&content[..10], &mut out);
        assert!(out.is_empty());
        assert!(!filter.passes_untouched(content, false));
    }
}
