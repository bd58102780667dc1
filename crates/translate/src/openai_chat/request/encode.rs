//! OpenAI Chat Completions requests encoded from the IR.

use crate::ir::{
    Effort, ImageSource, Message, OutputFormat, Part, Request, Role, Thinking, ToolChoice,
};
use serde::Serialize;
use serde_json::{json, Value};
use std::borrow::Cow;

/// An IR request as the Chat Completions body OpenAI expects, borrowed from the IR; serialize
/// it (`serde_json::to_vec`). Written straight from the IR, without a `Value` of the body: a
/// long agent conversation is copied once, into the output.
#[derive(Debug, Serialize)]
pub struct ChatRequest<'a> {
    model: &'a str,
    messages: Vec<ChatMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    stop: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_effort: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tools: Vec<ToolOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parallel_tool_calls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

#[derive(Debug, Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Debug, Serialize)]
struct ToolOut<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionOut<'a>,
}

#[derive(Debug, Serialize)]
struct FunctionOut<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    parameters: &'a Value,
}

#[derive(Debug, Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
enum ChatMessage<'a> {
    System {
        content: String,
    },
    User {
        content: UserContent<'a>,
    },
    Tool {
        tool_call_id: &'a str,
        content: String,
    },
    Assistant {
        /// `null` when the turn is only tool calls.
        content: Option<String>,
        #[serde(skip_serializing_if = "String::is_empty")]
        reasoning_content: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<CallOut<'a>>,
    },
}

/// A lone text part is sent as a plain string, as OpenAI's own SDKs do.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum UserContent<'a> {
    Text(&'a str),
    Parts(Vec<UserPart<'a>>),
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum UserPart<'a> {
    Text { text: &'a str },
    ImageUrl { image_url: ImageUrl<'a> },
}

#[derive(Debug, Serialize)]
struct ImageUrl<'a> {
    url: Cow<'a, str>,
}

#[derive(Debug, Serialize)]
struct CallOut<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    function: CallFunction<'a>,
}

#[derive(Debug, Serialize)]
struct CallFunction<'a> {
    name: &'a str,
    arguments: String,
}

/// Encodes the IR as an OpenAI Chat Completions request for `model`.
pub fn encode<'a>(req: &'a Request, model: &'a str) -> ChatRequest<'a> {
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if !req.system.is_empty() {
        let text: Vec<&str> = req.system.iter().map(|b| b.text.as_str()).collect();
        messages.push(ChatMessage::System {
            content: text.join("\n\n"),
        });
    }
    for m in &req.messages {
        encode_message(m, &mut messages);
    }
    let effort = match req.thinking {
        Some(Thinking::Budget(b)) => Some(Effort::for_budget(b)),
        Some(Thinking::Effort(e)) => Some(e),
        Some(Thinking::Adaptive(e)) => Some(e.unwrap_or(Effort::Medium)),
        Some(Thinking::Disabled) | None => None,
    };
    let tools: Vec<ToolOut> = req
        .tools
        .iter()
        .map(|t| ToolOut {
            kind: "function",
            function: FunctionOut {
                name: &t.name,
                description: t.description.as_deref(),
                parameters: &t.schema,
            },
        })
        .collect();
    let parallel_tool_calls =
        (!tools.is_empty() && req.parallel_tool_calls == Some(false)).then_some(false);
    let tool_choice = req.tool_choice.as_ref().map(|tc| match tc {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::Any => json!("required"),
        ToolChoice::None => json!("none"),
        ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
    });
    let response_format = req.output.as_ref().map(|output| match output {
        OutputFormat::JsonSchema {
            name,
            schema,
            strict,
        } => {
            let mut js = json!({"name": name.as_deref().unwrap_or("output"), "schema": schema});
            if let Some(s) = strict {
                js["strict"] = json!(s);
            }
            json!({"type": "json_schema", "json_schema": js})
        }
        OutputFormat::JsonObject => json!({"type": "json_object"}),
    });
    ChatRequest {
        model,
        messages,
        max_completion_tokens: req.max_tokens,
        temperature: req.temperature,
        top_p: req.top_p,
        stop: &req.stop,
        reasoning_effort: effort.map(Effort::as_str),
        tools,
        parallel_tool_calls,
        tool_choice,
        response_format,
        user: req.user.as_deref(),
        stream: req.stream.then_some(true),
        // Usage is always asked for: the gateway bills it whether or not the client wants it.
        stream_options: req.stream.then_some(StreamOptions {
            include_usage: true,
        }),
    }
}

fn encode_message<'a>(m: &'a Message, out: &mut Vec<ChatMessage<'a>>) {
    match m.role {
        Role::System => {
            let text: Vec<&str> = m.content.iter().filter_map(text_of).collect();
            out.push(ChatMessage::System {
                content: text.join("\n\n"),
            });
        }
        Role::User => {
            let mut rest: Vec<&Part> = Vec::new();
            for p in &m.content {
                match p {
                    Part::ToolResult {
                        tool_use_id,
                        content,
                        is_error,
                    } => {
                        let mut text: Vec<&str> = content.iter().filter_map(text_of).collect();
                        if text.is_empty() && *is_error {
                            text.push("error");
                        }
                        out.push(ChatMessage::Tool {
                            tool_call_id: tool_use_id,
                            content: text.join("\n"),
                        });
                        // Tool messages carry text only; images a tool returned follow as user content.
                        rest.extend(content.iter().filter(|p| matches!(p, Part::Image(_))));
                    }
                    other => rest.push(other),
                }
            }
            let parts: Vec<UserPart> = rest.into_iter().filter_map(encode_user_part).collect();
            let content = match parts.as_slice() {
                [] => return,
                [UserPart::Text { text }] => UserContent::Text(text),
                _ => UserContent::Parts(parts),
            };
            out.push(ChatMessage::User { content });
        }
        Role::Assistant => {
            let text: String = m.content.iter().filter_map(text_of).collect();
            let reasoning_content: String = m
                .content
                .iter()
                .filter_map(|p| match p {
                    Part::Thinking { text, .. } => Some(text.as_str()),
                    _ => None,
                })
                .collect();
            let tool_calls: Vec<CallOut> = m
                .content
                .iter()
                .filter_map(|p| match p {
                    Part::ToolUse { id, name, input } => Some(CallOut {
                        id,
                        kind: "function",
                        function: CallFunction {
                            name,
                            arguments: arguments_text(input),
                        },
                    }),
                    _ => None,
                })
                .collect();
            let content = (!text.is_empty() || tool_calls.is_empty()).then_some(text);
            out.push(ChatMessage::Assistant {
                content,
                reasoning_content,
                tool_calls,
            });
        }
    }
}

/// Tool arguments as OpenAI's JSON text.
pub(crate) fn arguments_text(input: &Value) -> String {
    match input {
        Value::String(raw) => raw.clone(),
        other => other.to_string(),
    }
}

fn text_of(p: &Part) -> Option<&str> {
    match p {
        Part::Text { text, .. } => Some(text),
        _ => None,
    }
}

fn encode_user_part(p: &Part) -> Option<UserPart<'_>> {
    Some(match p {
        Part::Text { text, .. } => UserPart::Text { text },
        Part::Image(ImageSource::Url { url }) => UserPart::ImageUrl {
            image_url: ImageUrl {
                url: Cow::Borrowed(url),
            },
        },
        Part::Image(ImageSource::Base64 { media_type, data }) => UserPart::ImageUrl {
            image_url: ImageUrl {
                url: Cow::Owned(format!("data:{media_type};base64,{data}")),
            },
        },
        _ => return None,
    })
}
