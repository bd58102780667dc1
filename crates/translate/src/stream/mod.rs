//! What every incremental stream decoder and encoder shares: the traits, SSE input, block tracking.

mod blocks;

pub(crate) use blocks::{BlockKind, Blocks};

use crate::ir::StreamEvent;
use bytespike_protocol::sse::{SseEvent, SseFramer};
use bytespike_protocol::{ErrorKind, GatewayError, Usage};

/// Upstream bytes in arbitrary chunks to IR events.
pub(crate) trait Decode {
    /// Decodes the next chunk, appending the events it completes.
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<StreamEvent>);
    /// The upstream ended: completes the response or reports that it was cut.
    fn finish(&mut self, out: &mut Vec<StreamEvent>);
    /// Usage reported by the upstream so far.
    fn usage(&self) -> Option<Usage>;
}

/// IR events to client bytes.
pub(crate) trait Encode {
    /// Encodes one event, appending the client's bytes.
    fn encode(&mut self, event: StreamEvent, out: &mut Vec<u8>);
}

/// A frame without a blank line for this long is not SSE; the stream is treated as broken.
const MAX_FRAME: usize = 16 * 1024 * 1024;

/// SSE frames out of arbitrary chunks, with the frame's `event:` name and `data:` payload.
#[derive(Debug, Default)]
pub(crate) struct SseInput {
    framer: SseFramer,
    frames: Vec<u8>,
    ends: Vec<usize>,
}

impl SseInput {
    /// Feeds a chunk and calls `each` with the name and data of every frame it completes;
    /// returns false when the pending frame grew past any sane size.
    pub(crate) fn feed(&mut self, chunk: &[u8], mut each: impl FnMut(Option<&str>, &[u8])) -> bool {
        self.frames.clear();
        self.ends.clear();
        let (frames, ends) = (&mut self.frames, &mut self.ends);
        self.framer.push(chunk, |f| {
            frames.extend_from_slice(f);
            ends.push(frames.len());
        });
        let mut start = 0;
        for &end in &self.ends {
            let ev = SseEvent::parse(&self.frames[start..end]);
            each(ev.event, &ev.data);
            start = end;
        }
        self.framer.pending().len() <= MAX_FRAME
    }

    /// Bytes of an unfinished frame.
    pub(crate) fn pending(&self) -> &[u8] {
        self.framer.pending()
    }
}

/// The error event for an upstream stream that ended before its terminal event.
pub(crate) fn cut() -> StreamEvent {
    StreamEvent::Error(GatewayError::new(
        ErrorKind::Upstream,
        "the upstream stream ended before the response was complete",
    ))
}

/// The error event for upstream output that is not what its protocol promises.
pub(crate) fn malformed(what: &str) -> StreamEvent {
    StreamEvent::Error(GatewayError::new(
        ErrorKind::Upstream,
        format!("the upstream sent a malformed stream: {what}"),
    ))
}

#[cfg(test)]
mod tests;
