//! Incremental Server-Sent Events framing: bytes in arbitrary chunks, whole events out.

use std::borrow::Cow;

/// Splits a byte stream into SSE frames (the text between blank lines), whatever the chunking.
#[derive(Debug, Default)]
pub struct SseFramer {
    buf: Vec<u8>,
    /// Where the current, unfinished frame starts in `buf`.
    frame_start: usize,
    /// How far `buf` has been scanned for line ends.
    scan: usize,
    /// Start of the line being scanned.
    line_start: usize,
}

impl SseFramer {
    /// A framer with nothing buffered.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds a chunk and calls `on_frame` with each frame it completes: its lines with their
    /// line ends, without the blank line that closed it.
    pub fn push(&mut self, chunk: &[u8], mut on_frame: impl FnMut(&[u8])) {
        self.buf.extend_from_slice(chunk);
        while let Some(offset) = memchr::memchr2(b'\n', b'\r', &self.buf[self.scan..]) {
            let end = self.scan + offset;
            let next = match self.buf[end] {
                b'\r' => match self.buf.get(end + 1) {
                    Some(b'\n') => end + 2,
                    Some(_) => end + 1,
                    // A lone `\r` at the end may be the first half of `\r\n`: wait for more.
                    None => break,
                },
                _ => end + 1,
            };
            if end == self.line_start {
                if self.line_start > self.frame_start {
                    on_frame(&self.buf[self.frame_start..self.line_start]);
                }
                self.frame_start = next;
            }
            self.line_start = next;
            self.scan = next;
        }
        if self.frame_start > 0 {
            self.buf.drain(..self.frame_start);
            self.scan -= self.frame_start;
            self.line_start -= self.frame_start;
            self.frame_start = 0;
        }
    }

    /// Bytes of a frame that never ended with a blank line (a cut stream), if any.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.frame_start..]
    }
}

/// One parsed SSE frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent<'a> {
    /// The `event:` name, when given.
    pub event: Option<&'a str>,
    /// The `data:` lines joined with `\n`.
    pub data: Cow<'a, [u8]>,
}

impl<'a> SseEvent<'a> {
    /// Parses a frame as returned by [`SseFramer::push`]; comments and unknown fields are skipped.
    pub fn parse(frame: &'a [u8]) -> SseEvent<'a> {
        let mut event = None;
        let mut data: Option<Cow<'a, [u8]>> = None;
        for line in frame
            .split(|&b| b == b'\n' || b == b'\r')
            .filter(|l| !l.is_empty())
        {
            let (field, value) = match memchr::memchr(b':', line) {
                Some(0) => continue,
                Some(i) => {
                    let value = &line[i + 1..];
                    (&line[..i], value.strip_prefix(b" ").unwrap_or(value))
                }
                None => (line, &b""[..]),
            };
            match field {
                b"event" => event = std::str::from_utf8(value).ok(),
                b"data" => {
                    data = Some(match data {
                        None => Cow::Borrowed(value),
                        Some(prev) => {
                            let mut joined = prev.into_owned();
                            joined.push(b'\n');
                            joined.extend_from_slice(value);
                            Cow::Owned(joined)
                        }
                    })
                }
                _ => {}
            }
        }
        SseEvent {
            event,
            data: data.unwrap_or(Cow::Borrowed(b"")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(input: &[u8], split: usize) -> Vec<Vec<u8>> {
        let mut framer = SseFramer::new();
        let mut out = Vec::new();
        for chunk in input.chunks(split.max(1)) {
            framer.push(chunk, |f| out.push(f.to_vec()));
        }
        out
    }

    #[test]
    fn frames_survive_every_split() {
        let input = b"event: a\ndata: {\"x\":1}\n\n: comment\r\n\r\ndata: 2\r\ndata: 3\r\n\r\nevent: b\rdata: 4\r\r\n";
        let whole = frames(input, input.len());
        assert_eq!(whole.len(), 4, "{whole:?}");
        for split in 1..input.len() {
            assert_eq!(frames(input, split), whole, "split at {split}");
        }
        assert_eq!(SseEvent::parse(&whole[0]).event, Some("a"));
        assert_eq!(&*SseEvent::parse(&whole[2]).data, b"2\n3");
        assert_eq!(&*SseEvent::parse(&whole[3]).data, b"4");
    }

    #[test]
    fn unfinished_frame_stays_pending() {
        let mut framer = SseFramer::new();
        let mut n = 0;
        framer.push(b"data: 1\n\ndata: 2\n", |_| n += 1);
        assert_eq!(n, 1);
        assert_eq!(framer.pending(), b"data: 2\n");
    }
}
