//! The protocol-neutral view of a request and the reply planned for it (text, thinking,
//! tool calls, stop reason, usage), shared by every wire protocol.

use serde_json::Value;

use crate::directive::Directives;
use crate::sample::sample;

/// Reasoning text used whenever thinking is requested.
pub const THINKING_TEXT: &str = "Let me think about this.";

/// A tool the request offered: name and JSON schema of its arguments.
#[derive(Debug, Clone)]
pub struct ToolDef {
    pub name: String,
    pub schema: Value,
}

/// What a wire protocol extracted from one request.
#[derive(Debug, Clone, Default)]
pub struct Exchange {
    /// Protocol label used in the default reply (`anthropic`, `openai-chat`, ...).
    pub protocol: &'static str,
    /// The model the request named.
    pub model: String,
    pub stream: bool,
    /// Directives from the last user message.
    pub directives: Directives,
    pub tools: Vec<ToolDef>,
    /// `Some(None)`: the request forces some tool call; `Some(Some(name))`: that tool.
    pub forced_tool: Option<Option<String>>,
    /// Result text when the conversation ends with a tool result.
    pub tool_result: Option<String>,
    pub thinking: bool,
    /// Schema of a requested JSON reply (`{}` for plain JSON mode).
    pub json_schema: Option<Value>,
    /// Output limit in words (the fake counts one token per word).
    pub max_tokens: Option<u64>,
    /// Bytes in the request body, for the input token count.
    pub body_len: usize,
    /// Cached prompt tokens to report, when the protocol has such a field.
    pub cached: Option<u64>,
    /// Anthropic prompt-cache counts `(read, creation)`, reported beside the input tokens.
    pub anthropic_cache: (u64, u64),
    /// OpenAI chat `stream_options.include_usage`.
    pub include_usage: bool,
    /// Gemini `?alt=sse` (otherwise a stream is one incrementally written JSON array).
    pub sse: bool,
    /// Responses `reasoning.summary` was set: emit a summary part on the reasoning item.
    pub reasoning_summary: bool,
    /// Request fields a protocol echoes back in its response object (Responses API).
    pub echo: Value,
    /// Unique per request, used to build vendor-looking ids.
    pub token: String,
}

/// Why generation stopped, mapped to each vendor's vocabulary by the renderers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    EndTurn,
    ToolUse,
    MaxTokens,
}

/// A planned tool call.
#[derive(Debug, Clone)]
pub struct ToolCall {
    pub name: String,
    pub arguments: Value,
}

/// Token counts, deterministic so that callers can check billing and translation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    /// ceil(body bytes / 4), raised to `cached` when that is larger (cached is a subset).
    pub input: u64,
    /// Words of text and thinking, plus 10 per tool call.
    pub output: u64,
    /// Words of thinking (part of `output`).
    pub reasoning: u64,
    /// Cached prompt tokens (part of `input`), OpenAI and Gemini style.
    pub cached: u64,
}

/// The answer to send, before any wire formatting.
#[derive(Debug, Clone)]
pub struct Reply {
    pub thinking: Option<String>,
    /// May be empty when the reply is only tool calls.
    pub text: String,
    pub tool_calls: Vec<ToolCall>,
    pub stop: Stop,
    pub usage: Usage,
}

impl Exchange {
    /// Plans the reply for this request on a server called `name`.
    pub fn plan(&self, name: &str) -> Reply {
        let d = &self.directives;
        let tool_calls = if self.tool_result.is_none() {
            self.plan_tool_calls()
        } else {
            Vec::new()
        };
        let mut text = if !tool_calls.is_empty() {
            String::new()
        } else if let Some(t) = &d.text {
            t.clone()
        } else if let Some(n) = d.words {
            (1..=n)
                .map(|i| format!("word{i}"))
                .collect::<Vec<_>>()
                .join(" ")
        } else if let Some(result) = &self.tool_result {
            let short: String = result.chars().take(200).collect();
            format!("Tool result received: {short}.")
        } else if let Some(schema) = &self.json_schema {
            sample(schema).to_string()
        } else {
            format!(
                "Hello from {name} via {} for {}.",
                self.protocol, self.model
            )
        };
        let mut stop = if tool_calls.is_empty() {
            Stop::EndTurn
        } else {
            Stop::ToolUse
        };
        if let Some(limit) = self.max_tokens {
            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
            if tool_calls.is_empty() && word_count(&text) > limit {
                text = pieces(&text)[..limit].concat();
                stop = Stop::MaxTokens;
            }
        }
        let thinking = (self.thinking || d.thinking).then(|| THINKING_TEXT.to_owned());
        let reasoning = thinking.as_deref().map_or(0, word_count) as u64;
        let output = word_count(&text) as u64 + reasoning + 10 * tool_calls.len() as u64;
        let cached = self.cached.unwrap_or(0);
        let input = (self.body_len as u64).div_ceil(4).max(cached);
        Reply {
            thinking,
            text,
            tool_calls,
            stop,
            usage: Usage {
                input,
                output,
                reasoning,
                cached,
            },
        }
    }

    fn plan_tool_calls(&self) -> Vec<ToolCall> {
        let count = match (self.directives.tools, &self.forced_tool) {
            (Some(n), _) => n,
            (None, Some(_)) => 1,
            (None, None) => return Vec::new(),
        };
        if self.tools.is_empty() {
            return Vec::new();
        }
        let forced = match &self.forced_tool {
            Some(Some(name)) => self.tools.iter().find(|t| &t.name == name),
            _ => None,
        };
        (0..count)
            .map(|i| {
                let tool = forced.unwrap_or_else(|| &self.tools[i % self.tools.len()]);
                ToolCall {
                    name: tool.name.clone(),
                    arguments: sample(&tool.schema),
                }
            })
            .collect()
    }

    /// A vendor-looking id: `prefix` followed by this request's unique token and `n`.
    pub fn id(&self, prefix: &str, n: usize) -> String {
        format!("{prefix}{}{n:02}", self.token)
    }
}

/// Whitespace-separated words, the fake's unit of output tokens.
pub fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

/// Splits text into stream deltas, one word per piece with its leading whitespace, so that
/// the pieces concatenate back to the exact text.
pub fn pieces(text: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    let mut start = 0;
    let mut prev_ws = true;
    for (i, c) in text.char_indices() {
        let ws = c.is_whitespace();
        if ws && !prev_ws && i > start {
            out.push(&text[start..i]);
            start = i;
        }
        prev_ws = ws;
    }
    let tail = &text[start..];
    match out.last_mut() {
        // Trailing whitespace joins the last word rather than becoming an empty-looking delta.
        Some(last) if tail.trim().is_empty() => *last = &text[start - last.len()..],
        _ if !tail.is_empty() => out.push(tail),
        _ => {}
    }
    out
}

/// Concatenates the text of content given as a string or as an array of typed parts.
pub fn content_text(content: &Value, part_types: &[&str]) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|p| {
                p.get("type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| part_types.contains(&t))
            })
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

/// Looks up a JSON schema at `path` inside `value`, skipping absent steps.
pub fn get_path<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |v, key| v.get(*key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pieces_concatenate_back() {
        for text in ["Hello from x.", "  a  b ", "one", "", "a\nb\tc  "] {
            assert_eq!(pieces(text).concat(), text, "{text:?}");
        }
        assert_eq!(pieces("Hello from x."), vec!["Hello", " from", " x."]);
    }

    #[test]
    fn plan_default_and_usage() {
        let ex = Exchange {
            protocol: "anthropic",
            model: "m1".into(),
            body_len: 41,
            ..Default::default()
        };
        let r = ex.plan("fake");
        assert_eq!(r.text, "Hello from fake via anthropic for m1.");
        assert_eq!(r.usage.input, 11);
        assert_eq!(r.usage.output, 7);
        assert_eq!(r.stop, Stop::EndTurn);
    }

    #[test]
    fn plan_truncates_and_calls_tools() {
        let mut ex = Exchange {
            model: "m".into(),
            max_tokens: Some(2),
            ..Default::default()
        };
        ex.directives.words = Some(5);
        let r = ex.plan("f");
        assert_eq!((r.text.as_str(), r.stop), ("word1 word2", Stop::MaxTokens));
        ex.directives.tools = Some(2);
        ex.tools = vec![ToolDef {
            name: "t".into(),
            schema: json!({"type": "object", "properties": {"q": {"type": "string"}}}),
        }];
        let r = ex.plan("f");
        assert_eq!(r.tool_calls.len(), 2);
        assert_eq!(r.tool_calls[1].arguments, json!({"q": "sample"}));
        assert_eq!((r.stop, r.usage.output), (Stop::ToolUse, 20));
    }
}
