//! Token usage in one normalised shape, and a scanner that reads it from a response on the fly.
//!
//! The scanner never parses a whole response: it looks for the usage key with `memchr` and
//! parses only the small object that follows, so a passthrough stream costs almost nothing
//! beyond the bytes it forwards.

use crate::dialect::Dialect;
use std::sync::LazyLock;

use memchr::memmem;
use serde::Deserialize;

/// Tokens of one request, normalised across vendors.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    /// Input tokens not served from a cache (Anthropic's `input_tokens`; OpenAI's prompt tokens
    /// minus cached ones).
    pub input_tokens: u64,
    /// Output tokens, reasoning included.
    pub output_tokens: u64,
    /// Input tokens read from a prompt cache.
    pub cache_read_tokens: u64,
    /// Input tokens written to a prompt cache.
    pub cache_write_tokens: u64,
    /// The part of `output_tokens` spent on reasoning, where the vendor says.
    pub reasoning_tokens: u64,
}

/// Every usage field any vendor sends; each dialect reads its own.
#[derive(Debug, Default, Deserialize)]
struct RawUsage {
    // Anthropic
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    // OpenAI Chat
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    prompt_tokens_details: Option<Details>,
    completion_tokens_details: Option<Details>,
    // OpenAI Responses
    input_tokens_details: Option<Details>,
    output_tokens_details: Option<Details>,
    // Gemini
    #[serde(rename = "promptTokenCount")]
    prompt_token_count: Option<u64>,
    #[serde(rename = "candidatesTokenCount")]
    candidates_token_count: Option<u64>,
    #[serde(rename = "cachedContentTokenCount")]
    cached_content_token_count: Option<u64>,
    #[serde(rename = "thoughtsTokenCount")]
    thoughts_token_count: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
struct Details {
    cached_tokens: Option<u64>,
    reasoning_tokens: Option<u64>,
}

impl RawUsage {
    /// Folds this object into `usage`; absent fields keep their earlier values, which is how an
    /// Anthropic stream's `message_start` and `message_delta` usages combine.
    fn apply(self, dialect: Dialect, usage: &mut Usage) {
        let set = |slot: &mut u64, value: Option<u64>| {
            if let Some(v) = value {
                *slot = v;
            }
        };
        match dialect {
            Dialect::Anthropic => {
                set(&mut usage.input_tokens, self.input_tokens);
                set(&mut usage.output_tokens, self.output_tokens);
                set(&mut usage.cache_read_tokens, self.cache_read_input_tokens);
                set(
                    &mut usage.cache_write_tokens,
                    self.cache_creation_input_tokens,
                );
            }
            Dialect::OpenAiChat => {
                let cached = self.prompt_tokens_details.and_then(|d| d.cached_tokens);
                // Embeddings report only prompt tokens; chat reports both.
                let prompt = self.prompt_tokens.or(self.input_tokens);
                set(
                    &mut usage.input_tokens,
                    prompt.map(|p| p.saturating_sub(cached.unwrap_or(0))),
                );
                set(
                    &mut usage.output_tokens,
                    self.completion_tokens.or(self.output_tokens),
                );
                set(&mut usage.cache_read_tokens, cached);
                set(
                    &mut usage.reasoning_tokens,
                    self.completion_tokens_details
                        .and_then(|d| d.reasoning_tokens),
                );
            }
            Dialect::OpenAiResponses => {
                let cached = self.input_tokens_details.and_then(|d| d.cached_tokens);
                set(
                    &mut usage.input_tokens,
                    self.input_tokens
                        .map(|p| p.saturating_sub(cached.unwrap_or(0))),
                );
                set(&mut usage.output_tokens, self.output_tokens);
                set(&mut usage.cache_read_tokens, cached);
                set(
                    &mut usage.reasoning_tokens,
                    self.output_tokens_details.and_then(|d| d.reasoning_tokens),
                );
            }
            Dialect::Gemini => {
                let cached = self.cached_content_token_count;
                set(
                    &mut usage.input_tokens,
                    self.prompt_token_count
                        .map(|p| p.saturating_sub(cached.unwrap_or(0))),
                );
                // Gemini counts thoughts apart from candidates; both are billed as output.
                let thoughts = self.thoughts_token_count;
                set(
                    &mut usage.output_tokens,
                    self.candidates_token_count
                        .map(|c| c + thoughts.unwrap_or(0)),
                );
                set(&mut usage.cache_read_tokens, cached);
                set(&mut usage.reasoning_tokens, thoughts);
            }
        }
    }
}

/// Longest key searched for, plus room for the `:` and spaces that follow it.
const CARRY: usize = 24;
/// A usage object larger than this is not a usage object; stop capturing it.
const MAX_CAPTURE: usize = 16 * 1024;

#[derive(Debug)]
enum State {
    Searching,
    /// Key found; waiting for `:` and then `{`.
    AfterKey {
        colon: bool,
    },
    Capturing {
        depth: u32,
        in_string: bool,
        escaped: bool,
    },
}

/// Reads usage from a response body or stream fed in arbitrary chunks.
#[derive(Debug)]
pub struct UsageScanner {
    dialect: Dialect,
    /// In a stream, later usage objects complete earlier ones (Anthropic); in a single JSON
    /// body the last object is the response's own and replaces any before it (a tool's input
    /// may contain a key named `usage`).
    merge: bool,
    finder: &'static memmem::Finder<'static>,
    state: State,
    carry: Vec<u8>,
    stitch: Vec<u8>,
    /// An object's bytes from earlier chunks, while it is being captured across chunks.
    captured: Vec<u8>,
    /// Where, in the chunk being fed, the object being captured opened: an object that opens
    /// and closes within one chunk (the common case) is parsed where it lies, not copied.
    opened_at: Option<usize>,
    usage: Usage,
    found: bool,
    objects_begun: u32,
}

impl UsageScanner {
    /// A scanner for responses in `dialect`; `stream` tells an SSE stream from one JSON body.
    pub fn new(dialect: Dialect, stream: bool) -> Self {
        // Built once: a finder's set-up costs more than scanning a small response.
        static USAGE: LazyLock<memmem::Finder<'static>> =
            LazyLock::new(|| memmem::Finder::new(b"\"usage\""));
        static USAGE_METADATA: LazyLock<memmem::Finder<'static>> =
            LazyLock::new(|| memmem::Finder::new(b"\"usageMetadata\""));
        let finder = match dialect {
            Dialect::Gemini => &*USAGE_METADATA,
            _ => &*USAGE,
        };
        UsageScanner {
            dialect,
            merge: stream,
            finder,
            state: State::Searching,
            carry: Vec::with_capacity(CARRY * 2),
            // Needed only when a key straddles two chunks: allocated then.
            stitch: Vec::new(),
            captured: Vec::new(),
            opened_at: None,
            usage: Usage::default(),
            found: false,
            objects_begun: 0,
        }
    }

    /// How many usage objects (a usage key followed by `{`) have begun so far. A chunk fed
    /// without changing it holds no usage object, which lets a stream filter skip looking for
    /// one again.
    pub fn objects_begun(&self) -> u32 {
        self.objects_begun
    }

    /// The usage read so far, if any usage object was seen.
    pub fn usage(&self) -> Option<Usage> {
        self.found.then_some(self.usage)
    }

    /// Feeds the next chunk of the response.
    pub fn feed(&mut self, chunk: &[u8]) {
        let mut pos = 0;
        // Bytes before `floor` were consumed by a key match or a capture: they must not be
        // carried over and matched again, or chunked and whole reads would disagree.
        let mut floor = 0;
        while pos < chunk.len() {
            let searching = matches!(self.state, State::Searching);
            pos = match self.state {
                State::Searching => self.search(chunk, pos),
                State::AfterKey { .. } | State::Capturing { .. } => self.step(chunk, pos),
            };
            if searching && !matches!(self.state, State::Searching) {
                floor = pos;
                self.carry.clear();
            } else if !searching {
                floor = floor.max(pos.min(chunk.len()));
            }
        }
        if let Some(at) = self.opened_at.take() {
            // An object whose brace was this chunk's last byte: capturing goes on in the next.
            self.captured.extend_from_slice(&chunk[at..]);
        }
        if matches!(self.state, State::Searching) {
            // Keep the unconsumed tail so a key split across chunks is still found.
            let from = floor.max(chunk.len().saturating_sub(CARRY));
            if chunk.len() - from >= CARRY {
                // The usual chunk: its own tail is the whole carry.
                self.carry.clear();
                self.carry.extend_from_slice(&chunk[from..]);
            } else {
                self.carry.extend_from_slice(&chunk[from..]);
                let excess = self.carry.len().saturating_sub(CARRY);
                self.carry.drain(..excess);
            }
        } else {
            self.carry.clear();
        }
    }

    /// Looks for the key from `pos`; returns where scanning continues.
    fn search(&mut self, chunk: &[u8], pos: usize) -> usize {
        let key_len = self.finder.needle().len();
        // A key that straddles the carry and this chunk opens with a quote in the carry's last
        // `key_len - 1` bytes; most chunks end without one, and skip the stitched search.
        let straddle_from = self.carry.len().saturating_sub(key_len - 1);
        if pos == 0 && memchr::memchr(b'"', &self.carry[straddle_from..]).is_some() {
            // A key straddling earlier chunks and this one.
            let old = self.carry.len();
            self.stitch.clear();
            self.stitch.extend_from_slice(&self.carry);
            self.stitch
                .extend_from_slice(&chunk[..chunk.len().min(key_len - 1)]);
            let stitch = &self.stitch;
            let mut from = 0;
            while let Some(i) = unescaped_key(self.finder, stitch, from, None) {
                if i >= old {
                    // Starts in this chunk: the search below finds it.
                    break;
                }
                if i + key_len > old {
                    self.state = State::AfterKey { colon: false };
                    return i + key_len - old;
                }
                from = i + 1;
            }
        }
        let before = self.carry.last().copied();
        if let Some(at) = unescaped_key(self.finder, chunk, pos, before) {
            self.state = State::AfterKey { colon: false };
            return at + key_len;
        }
        chunk.len()
    }

    /// Advances the key/capture state machine over `chunk[pos..]`.
    fn step(&mut self, chunk: &[u8], mut pos: usize) -> usize {
        while pos < chunk.len() {
            let b = chunk[pos];
            match &mut self.state {
                State::Searching => return pos,
                State::AfterKey { colon } => match b {
                    b' ' | b'\t' | b'\r' | b'\n' => {}
                    b':' if !*colon => *colon = true,
                    b'{' if *colon => {
                        self.objects_begun = self.objects_begun.wrapping_add(1);
                        if let Some(len) = self.parse_in_place(&chunk[pos..]) {
                            self.state = State::Searching;
                            return pos + len;
                        }
                        self.captured.clear();
                        self.opened_at = Some(pos);
                        self.state = State::Capturing {
                            depth: 1,
                            in_string: false,
                            escaped: false,
                        };
                    }
                    // `"usage": null`, or `"usage"` as a value rather than a key.
                    _ => {
                        self.state = State::Searching;
                        return pos;
                    }
                },
                State::Capturing { .. } => return self.capture(chunk, pos),
            }
            pos += 1;
        }
        pos
    }

    /// Scans the usage object's bytes from `chunk[pos..]` up to its closing brace (or the
    /// chunk's end) and parses it once closed; returns where scanning continues.
    fn capture(&mut self, chunk: &[u8], pos: usize) -> usize {
        let State::Capturing {
            depth,
            in_string,
            escaped,
        } = &mut self.state
        else {
            return pos;
        };
        // The object opened in this chunk (at `opened`) or in an earlier one (kept in `captured`).
        let opened = self.opened_at.take();
        let so_far = opened.map_or(self.captured.len(), |at| pos - at);
        let room = MAX_CAPTURE + 1 - so_far.min(MAX_CAPTURE + 1);
        let mut end = pos;
        let mut closed = false;
        while end < chunk.len() && end - pos < room {
            let b = chunk[end];
            end += 1;
            if *in_string {
                match (*escaped, b) {
                    (true, _) => *escaped = false,
                    (false, b'\\') => *escaped = true,
                    (false, b'"') => *in_string = false,
                    _ => {}
                }
            } else {
                match b {
                    b'"' => *in_string = true,
                    b'{' => *depth += 1,
                    b'}' => {
                        *depth -= 1;
                        if *depth == 0 {
                            closed = true;
                            break;
                        }
                    }
                    _ => {}
                }
            }
        }
        let kept_from = opened.unwrap_or(pos);
        if closed {
            self.state = State::Searching;
            if opened.is_some() {
                self.finish_capture(&chunk[kept_from..end]);
            } else {
                let mut captured = std::mem::take(&mut self.captured);
                captured.extend_from_slice(&chunk[kept_from..end]);
                self.finish_capture(&captured);
                captured.clear();
                self.captured = captured;
            }
        } else {
            self.captured.extend_from_slice(&chunk[kept_from..end]);
            if self.captured.len() > MAX_CAPTURE {
                self.state = State::Searching;
            }
        }
        end
    }

    /// Parses a usage object that lies whole at the start of `bytes`, as it does in all but the
    /// rarest chunks, without first scanning for its end; returns its length. `None` leaves it
    /// to the capture, which handles objects cut by the chunk's end, malformed or oversized.
    fn parse_in_place(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut values = serde_json::Deserializer::from_slice(bytes).into_iter::<RawUsage>();
        let raw = values.next()?.ok()?;
        let len = values.byte_offset();
        if len > MAX_CAPTURE {
            return None;
        }
        self.record(raw);
        Some(len)
    }

    fn finish_capture(&mut self, object: &[u8]) {
        if let Ok(raw) = serde_json::from_slice::<RawUsage>(object) {
            self.record(raw);
        }
    }

    fn record(&mut self, raw: RawUsage) {
        if !self.merge {
            self.usage = Usage::default();
        }
        raw.apply(self.dialect, &mut self.usage);
        self.found = true;
    }
}

/// Where the first key at or after `from` in `hay` starts. A quote after a backslash is inside
/// a string (model output), not a key, so such matches are skipped; `before` is the byte that
/// precedes `hay`, if known. Matches may overlap: the closing quote of an escaped `\"usage"`
/// can open the next key, and chunked and whole reads must both see it.
fn unescaped_key(
    finder: &memmem::Finder<'_>,
    hay: &[u8],
    mut from: usize,
    before: Option<u8>,
) -> Option<usize> {
    while let Some(i) = finder.find(&hay[from..]).map(|i| from + i) {
        let previous = if i == 0 { before } else { Some(hay[i - 1]) };
        if previous != Some(b'\\') {
            return Some(i);
        }
        from = i + 1;
    }
    None
}

#[cfg(test)]
mod tests;
