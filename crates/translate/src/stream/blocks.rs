//! Content-block bookkeeping for decoders whose protocol has no blocks (OpenAI, Gemini).

use crate::ir::{BlockStart, Delta, StreamEvent};

/// The kind of the block that is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockKind {
    /// Text.
    Text,
    /// Reasoning.
    Thinking,
    /// The tool call with this vendor-side key (OpenAI's `index`).
    Tool(u64),
}

/// Opens and closes IR blocks with increasing indices; at most one block is open at a time.
#[derive(Debug, Default)]
pub(crate) struct Blocks {
    next: usize,
    open: Option<(usize, BlockKind)>,
    /// Every tool block opened: vendor key and IR index.
    tools: Vec<(u64, usize)>,
}

impl Blocks {
    /// The open block's index and kind.
    pub(crate) fn open(&self) -> Option<(usize, BlockKind)> {
        self.open
    }

    /// Closes the open block, if any.
    pub(crate) fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some((index, _)) = self.open.take() {
            out.push(StreamEvent::BlockStop { index });
        }
    }

    /// Appends text or reasoning, opening a block of that kind when another kind is open.
    pub(crate) fn push(&mut self, delta: Delta, out: &mut Vec<StreamEvent>) {
        let kind = match delta {
            Delta::Text(_) => BlockKind::Text,
            _ => BlockKind::Thinking,
        };
        let index = match self.open {
            Some((i, k)) if k == kind => i,
            _ => {
                self.close(out);
                let block = if kind == BlockKind::Text {
                    BlockStart::Text
                } else {
                    BlockStart::Thinking
                };
                self.start(kind, block, out)
            }
        };
        out.push(StreamEvent::BlockDelta { index, delta });
    }

    /// Opens a new block, closing the open one.
    pub(crate) fn start(
        &mut self,
        kind: BlockKind,
        block: BlockStart,
        out: &mut Vec<StreamEvent>,
    ) -> usize {
        self.close(out);
        let index = self.next;
        self.next += 1;
        if let BlockKind::Tool(key) = kind {
            self.tools.push((key, index));
        }
        out.push(StreamEvent::BlockStart { index, block });
        self.open = Some((index, kind));
        index
    }

    /// The IR index of the tool call with vendor key `key`, if one was opened.
    pub(crate) fn tool(&self, key: u64) -> Option<usize> {
        self.tools
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, i)| *i)
    }

    /// How many tool calls were opened.
    pub(crate) fn tool_count(&self) -> usize {
        self.tools.len()
    }
}
