//! Counting SSE events in a body that arrives in arbitrary chunks.

/// Counts event terminators (a blank line, `\n\n`) across chunk boundaries.
#[derive(Default, Debug)]
pub struct EventCounter {
    /// Whether the previous chunk ended with `\n`, so a leading `\n` completes a terminator.
    trailing_newline: bool,
    pub events: u64,
}

impl EventCounter {
    /// Feeds one chunk and returns how many events it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> u64 {
        if chunk.is_empty() {
            return 0;
        }
        let mut found = memchr::memmem::find_iter(chunk, b"\n\n").count() as u64;
        if self.trailing_newline && chunk[0] == b'\n' {
            found += 1;
        }
        // A chunk ending in "\n\n" is already counted; only a lone trailing '\n' carries over.
        self.trailing_newline = chunk.ends_with(b"\n") && !chunk.ends_with(b"\n\n");
        self.events += found;
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_across_chunks() {
        let mut c = EventCounter::default();
        assert_eq!(c.feed(b"data: a\n\ndata: b\n"), 1);
        assert_eq!(c.feed(b"\ndata: c\n\n"), 2);
        assert_eq!(c.feed(b"data: [DONE]\n\n"), 1);
        assert_eq!(c.events, 4);
    }

    #[test]
    fn split_everywhere() {
        let body = b"event: x\ndata: 1\n\nevent: y\ndata: 2\n\ndata: 3\n\n";
        for size in 1..body.len() {
            let mut c = EventCounter::default();
            body.chunks(size).for_each(|ch| {
                c.feed(ch);
            });
            assert_eq!(c.events, 3, "chunk size {size}");
        }
    }
}
