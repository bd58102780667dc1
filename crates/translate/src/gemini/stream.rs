//! Gemini `streamGenerateContent?alt=sse` streams decoded incrementally into IR events.

use super::view::{Chunk, Part, UsageView};
use super::{call_id, SIGNATURE_PREFIX};
use crate::ir::{BlockStart, Delta, StopReason, StreamEvent};
use crate::lenient::{self, Obj};
use crate::stream::{cut, malformed, BlockKind, Blocks, Decode, SseInput};
use bytespike_protocol::{ErrorKind, GatewayError, Usage};

/// The IR stop reason for a Gemini `finishReason`.
pub(crate) fn decode_finish(reason: &str) -> StopReason {
    match reason {
        "MAX_TOKENS" => StopReason::MaxTokens,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            StopReason::Refusal
        }
        _ => StopReason::EndTurn,
    }
}

/// Reads Gemini `usageMetadata`: prompt tokens include cached ones; thoughts are output.
pub(crate) fn decode_usage(u: &UsageView) -> Usage {
    let cached = u.cached_content_token_count.0.unwrap_or(0);
    let thoughts = u.thoughts_token_count.0.unwrap_or(0);
    Usage {
        input_tokens: u.prompt_token_count.0.unwrap_or(0).saturating_sub(cached),
        output_tokens: u.candidates_token_count.0.unwrap_or(0) + thoughts,
        cache_read_tokens: cached,
        cache_write_tokens: 0,
        reasoning_tokens: thoughts,
    }
}

/// Decodes a Gemini chunk stream, or (fed one body) a whole response.
#[derive(Debug, Default)]
pub struct Decoder {
    sse: SseInput,
    blocks: Blocks,
    usage: Option<Usage>,
    response_id: String,
    started: bool,
    done: bool,
}

impl Decoder {
    /// Handles one GenerateContentResponse.
    pub(crate) fn chunk(&mut self, chunk: &Chunk, out: &mut Vec<StreamEvent>) {
        if let Some(err) = &chunk.error {
            let body = serde_json::json!({"error": err});
            let (kind, message) = super::error::decode(&body).unwrap_or((None, String::new()));
            out.push(StreamEvent::Error(GatewayError::new(
                kind.unwrap_or(ErrorKind::Upstream),
                message,
            )));
            self.done = true;
            return;
        }
        if let Obj(Some(u)) = &chunk.usage_metadata {
            self.usage = Some(decode_usage(u));
        }
        if !self.started {
            self.started = true;
            self.response_id = chunk.response_id.or_empty().to_string();
            let id = Some(self.response_id.clone()).filter(|id| !id.is_empty());
            // Only the input side is known at the start.
            let usage = Usage {
                output_tokens: 0,
                reasoning_tokens: 0,
                ..self.usage.unwrap_or_default()
            };
            out.push(StreamEvent::MessageStart { id, usage });
        }
        let Some(candidate) = chunk.candidates.0.first() else {
            let feedback = chunk.prompt_feedback.0.as_ref();
            if feedback.is_some_and(|f| f.block_reason.is_some()) {
                self.complete(Some(StopReason::Refusal), out);
            }
            return;
        };
        if let Obj(Some(content)) = &candidate.content {
            for part in &content.parts.0 {
                self.part(part, out);
            }
        }
        if let Some(reason) = candidate.finish_reason.get() {
            let mut stop = decode_finish(reason);
            // Gemini says STOP after function calls; the caller needs to know tools are due.
            if stop == StopReason::EndTurn && self.blocks.tool_count() > 0 {
                stop = StopReason::ToolUse;
            }
            self.complete(Some(stop), out);
        }
    }

    fn part(&mut self, part: &Part, out: &mut Vec<StreamEvent>) {
        let signature = part.thought_signature.non_empty();
        let text = part.text.or_empty();
        if part.thought.0 == Some(true) {
            if !text.is_empty() {
                self.blocks.push(Delta::Thinking(text.to_string()), out);
            }
            if let Some(sig) = signature {
                let index = match self.blocks.open() {
                    Some((i, BlockKind::Thinking)) => i,
                    _ => self
                        .blocks
                        .start(BlockKind::Thinking, BlockStart::Thinking, out),
                };
                out.push(StreamEvent::BlockDelta {
                    index,
                    delta: Delta::Signature(format!("{SIGNATURE_PREFIX}{sig}")),
                });
            }
            return;
        }
        // A signature on a non-thought part becomes a reasoning block of its own, without text,
        // just before that part, so it can be put back where it came from.
        if let Some(sig) = signature {
            let index = self
                .blocks
                .start(BlockKind::Thinking, BlockStart::Thinking, out);
            out.push(StreamEvent::BlockDelta {
                index,
                delta: Delta::Signature(format!("{SIGNATURE_PREFIX}{sig}")),
            });
            self.blocks.close(out);
        }
        if !text.is_empty() {
            self.blocks.push(Delta::Text(text.to_string()), out);
        }
        if let Obj(Some(call)) = &part.function_call {
            let name = call.name.or_empty();
            let args = match &call.args {
                Obj(Some(args)) => serde_json::to_string(args).unwrap_or_default(),
                Obj(None) => "{}".to_string(),
            };
            let n = self.blocks.tool_count();
            let id = match call.id.non_empty() {
                Some(id) => id.to_string(),
                None => call_id(&self.response_id, n, name, &args),
            };
            let block = BlockStart::ToolUse {
                id,
                name: name.to_string(),
            };
            let index = self.blocks.start(BlockKind::Tool(n as u64), block, out);
            out.push(StreamEvent::BlockDelta {
                index,
                delta: Delta::InputJson(args),
            });
            self.blocks.close(out);
        }
    }

    /// Ends the response with `stop` and the usage last reported.
    pub(crate) fn complete(&mut self, stop: Option<StopReason>, out: &mut Vec<StreamEvent>) {
        if self.done {
            return;
        }
        self.blocks.close(out);
        if !self.started {
            out.push(StreamEvent::MessageStart {
                id: None,
                usage: Usage::default(),
            });
        }
        let stop = stop.unwrap_or(StopReason::EndTurn);
        out.push(StreamEvent::MessageDelta {
            stop: Some(stop),
            stop_sequence: None,
            usage: self.usage.unwrap_or_default(),
        });
        out.push(StreamEvent::MessageStop);
        self.done = true;
    }

    fn frame(&mut self, data: &[u8], out: &mut Vec<StreamEvent>) {
        let chunk = lenient::from_slice::<Chunk>(data);
        if self.done {
            // Usage that trails the finishing chunk still counts for billing.
            if let Ok(Some(Chunk {
                usage_metadata: Obj(Some(u)),
                ..
            })) = &chunk
            {
                self.usage = Some(decode_usage(u));
            }
            return;
        }
        match chunk {
            Ok(Some(chunk)) => self.chunk(&chunk, out),
            _ => {
                out.push(malformed("a chunk is not a JSON object"));
                self.done = true;
            }
        }
    }
}

impl Decode for Decoder {
    fn feed(&mut self, chunk: &[u8], out: &mut Vec<StreamEvent>) {
        let mut sse = std::mem::take(&mut self.sse);
        let sane = sse.feed(chunk, |_, data| {
            if !data.is_empty() {
                self.frame(data, out);
            }
        });
        self.sse = sse;
        if !sane && !self.done {
            out.push(malformed("a chunk never ended"));
            self.done = true;
        }
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) {
        // Gemini streams have no terminator: only a finishReason marks a whole response.
        if !self.done {
            out.push(cut());
            self.done = true;
        }
    }

    fn usage(&self) -> Option<Usage> {
        self.usage
    }
}
