//! Anthropic Messages requests encoded from the IR.
//!
//! The body is serialized from serde structs borrowed from the IR rather than from a `Value`
//! built for it: a long conversation is copied once, into the output.

use super::super::{DEFAULT_MAX_TOKENS, STRUCTURED_OUTPUTS_BETA};
use crate::ir::{Effort, ImageSource, OutputFormat, Part, Request, Role, Thinking, ToolChoice};
use serde::Serialize;
use serde_json::{json, Value};
use std::borrow::Cow;

/// An IR request as the Messages body Anthropic expects; serialize it (`serde_json::to_vec`).
#[derive(Debug, Serialize)]
pub struct MessagesRequest<'a> {
    model: &'a str,
    max_tokens: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    system: Vec<Block<'a>>,
    messages: Vec<MessageOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_config: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop_sequences: &'a [String],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<ToolOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_format: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
}

#[derive(Debug, Serialize)]
struct MessageOut<'a> {
    role: &'static str,
    content: Vec<Block<'a>>,
}

#[derive(Debug, Serialize)]
struct ToolOut<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    input_schema: Cow<'a, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_control: Option<&'a Value>,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block<'a> {
    Text {
        text: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        cache_control: Option<&'a Value>,
    },
    Image {
        source: SourceOut<'a>,
    },
    ToolUse {
        id: &'a str,
        name: &'a str,
        input: Cow<'a, Value>,
    },
    ToolResult {
        tool_use_id: &'a str,
        content: Vec<Block<'a>>,
        #[serde(skip_serializing_if = "is_false")]
        is_error: bool,
    },
    Thinking {
        thinking: &'a str,
        signature: &'a str,
    },
    RedactedThinking {
        data: &'a str,
    },
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum SourceOut<'a> {
    Base64 { media_type: &'a str, data: &'a str },
    Url { url: &'a str },
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Encodes the IR as an Anthropic request for `model`; returns the body and any beta it needs.
pub fn encode<'a>(req: &'a Request, model: &'a str) -> (MessagesRequest<'a>, Option<&'static str>) {
    let mut system: Vec<Block> = req
        .system
        .iter()
        .map(|b| text_block(&b.text, b.cache.as_ref()))
        .collect();
    // Anthropic has no system turns mid-conversation: their text joins the system prompt.
    for m in req.messages.iter().filter(|m| m.role == Role::System) {
        for p in &m.content {
            if let Part::Text { text, cache } = p {
                system.push(text_block(text, cache.as_ref()));
            }
        }
    }
    let mut messages: Vec<MessageOut> = Vec::with_capacity(req.messages.len());
    for m in req.messages.iter().filter(|m| m.role != Role::System) {
        let blocks: Vec<Block> = m.content.iter().filter_map(encode_part).collect();
        if blocks.is_empty() {
            continue;
        }
        let role = if m.role == Role::Assistant {
            "assistant"
        } else {
            "user"
        };
        // Consecutive turns of one role merge, so parallel tool results land in one message.
        match messages.last_mut() {
            Some(prev) if prev.role == role => prev.content.extend(blocks),
            _ => messages.push(MessageOut {
                role,
                content: blocks,
            }),
        }
    }
    // Anthropic refuses reasoning while a tool is forced; the forced call is what the client
    // asked for explicitly, so reasoning gives way.
    let forced = matches!(req.tool_choice, Some(ToolChoice::Any | ToolChoice::Tool(_)));
    let budget = encode_thinking(req).filter(|_| !forced);
    let max_tokens = match (req.max_tokens, budget) {
        (Some(n), _) => n,
        (None, Some(budget)) => budget + DEFAULT_MAX_TOKENS,
        (None, None) => DEFAULT_MAX_TOKENS,
    };
    let (mut thinking, mut output_config) = (None, None);
    match (req.thinking.filter(|_| !forced), budget) {
        (Some(Thinking::Adaptive(effort)), _) => {
            thinking = Some(json!({"type": "adaptive"}));
            output_config = effort.map(|e| json!({"effort": e.as_str()}));
        }
        // The budget must stay below max_tokens; one that cannot reach Anthropic's minimum of
        // 1,024 leaves reasoning off rather than failing the request.
        (_, Some(budget)) => {
            let budget = budget.min(max_tokens.saturating_sub(1));
            if budget >= 1024 {
                thinking = Some(json!({"type": "enabled", "budget_tokens": budget}));
            }
        }
        _ => {}
    }
    let thinking_on = thinking.is_some();
    let tools = req
        .tools
        .iter()
        .map(|t| ToolOut {
            name: &t.name,
            description: t.description.as_deref(),
            input_schema: object_schema(&t.schema),
            cache_control: t.cache.as_ref(),
        })
        .collect();
    let mut tool_choice = match &req.tool_choice {
        Some(ToolChoice::Auto) => Some(json!({"type": "auto"})),
        Some(ToolChoice::Any) => Some(json!({"type": "any"})),
        Some(ToolChoice::None) => Some(json!({"type": "none"})),
        Some(ToolChoice::Tool(name)) => Some(json!({"type": "tool", "name": name})),
        None if req.parallel_tool_calls == Some(false) && !req.tools.is_empty() => {
            Some(json!({"type": "auto"}))
        }
        None => None,
    };
    if let Some(c) = tool_choice.as_mut().filter(|c| c["type"] != "none") {
        if req.parallel_tool_calls == Some(false) {
            c["disable_parallel_tool_use"] = json!(true);
        }
    }
    let (output_format, beta) = match &req.output {
        Some(OutputFormat::JsonSchema { schema, .. }) => (
            Some(json!({"type": "json_schema", "schema": schema})),
            Some(STRUCTURED_OUTPUTS_BETA),
        ),
        _ => (None, None),
    };
    let body = MessagesRequest {
        model,
        max_tokens,
        system,
        messages,
        thinking,
        output_config,
        // Anthropic rejects temperature and top_k changes while thinking; OpenAI's temperature
        // range is 0..2, Anthropic's 0..1.
        temperature: req
            .temperature
            .filter(|_| !thinking_on)
            .map(|t| t.clamp(0.0, 1.0)),
        top_p: req.top_p,
        top_k: req.top_k.filter(|_| !thinking_on),
        stop_sequences: &req.stop,
        tools,
        tool_choice,
        output_format,
        metadata: req.user.as_ref().map(|user| json!({"user_id": user})),
        stream: req.stream.then_some(true),
    };
    (body, beta)
}

/// The token budget to ask for, if reasoning is on.
fn encode_thinking(req: &Request) -> Option<u64> {
    match req.thinking? {
        Thinking::Budget(b) => Some(b),
        Thinking::Effort(e) => Some(e.budget()),
        Thinking::Adaptive(e) => Some(e.unwrap_or(Effort::Medium).budget()),
        Thinking::Disabled => None,
    }
}

/// Anthropic requires an object schema; a tool without one takes no arguments.
fn object_schema(schema: &Value) -> Cow<'_, Value> {
    match schema {
        Value::Object(o) if o.contains_key("type") => Cow::Borrowed(schema),
        Value::Object(o) => {
            let mut o = o.clone();
            o.insert("type".into(), json!("object"));
            Cow::Owned(Value::Object(o))
        }
        _ => Cow::Owned(json!({"type": "object", "properties": {}})),
    }
}

fn text_block<'a>(text: &'a str, cache: Option<&'a Value>) -> Block<'a> {
    Block::Text {
        text,
        cache_control: cache,
    }
}

fn encode_part(part: &Part) -> Option<Block<'_>> {
    Some(match part {
        // Anthropic rejects empty text blocks.
        Part::Text { text, .. } if text.is_empty() => return None,
        Part::Text { text, cache } => text_block(text, cache.as_ref()),
        Part::Image(ImageSource::Base64 { media_type, data }) => Block::Image {
            source: SourceOut::Base64 { media_type, data },
        },
        Part::Image(ImageSource::Url { url }) => Block::Image {
            source: SourceOut::Url { url },
        },
        Part::ToolUse { id, name, input } => {
            let input = match input {
                Value::Object(_) => Cow::Borrowed(input),
                other => Cow::Owned(json!({"arguments": other})),
            };
            Block::ToolUse { id, name, input }
        }
        Part::ToolResult {
            tool_use_id,
            content,
            is_error,
        } => Block::ToolResult {
            tool_use_id,
            content: content.iter().filter_map(encode_part).collect(),
            is_error: *is_error,
        },
        // Anthropic verifies thinking it gets back; reasoning unsigned or signed by another
        // vendor cannot pass and is left out.
        Part::Thinking {
            text,
            signature: Some(sig),
        } if !sig.starts_with(crate::gemini::SIGNATURE_PREFIX) => Block::Thinking {
            thinking: text,
            signature: sig,
        },
        Part::Thinking { .. } => return None,
        Part::RedactedThinking { data } => Block::RedactedThinking { data },
    })
}
