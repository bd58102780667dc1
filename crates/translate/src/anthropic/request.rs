//! Anthropic Messages requests: decoded into the IR here, encoded from it in `encode`.

use crate::error::TranslateError;
use crate::field::{
    self, as_obj, opt_array, opt_bool, opt_f64, opt_obj, opt_str, opt_u64, req_str, Obj, Path,
};
use crate::ir::{
    Effort, ImageSource, Message, OutputFormat, Part, Request, Role, SystemBlock, Thinking, Tool,
    ToolChoice,
};
use serde_json::{json, Value};

/// Decodes an Anthropic Messages request body.
pub fn decode(body: &[u8]) -> Result<Request, TranslateError> {
    let obj = field::parse_object(body)?;
    let mut req = Request {
        model: req_str(&obj, "model", "")?.to_string(),
        max_tokens: opt_u64(&obj, "max_tokens", "")?,
        temperature: opt_f64(&obj, "temperature", "")?,
        top_p: opt_f64(&obj, "top_p", "")?,
        top_k: opt_u64(&obj, "top_k", "")?,
        stream: opt_bool(&obj, "stream", "")?.unwrap_or(false),
        include_usage: true,
        ..Request::default()
    };
    match field::get(&obj, "system") {
        None => {}
        Some(Value::String(s)) => req.system.push(SystemBlock {
            text: s.clone(),
            cache: None,
        }),
        Some(Value::Array(blocks)) => {
            let system = Path::ROOT.key("system");
            for (i, b) in blocks.iter().enumerate() {
                let path = system.index(i);
                let b = as_obj(b, path)?;
                req.system.push(SystemBlock {
                    text: req_str(b, "text", path)?.to_string(),
                    cache: field::get(b, "cache_control").cloned(),
                });
            }
        }
        Some(_) => {
            return Err(TranslateError::invalid(
                "system",
                "must be a string or an array of text blocks",
            ))
        }
    }
    let messages = opt_array(&obj, "messages", "")?
        .ok_or_else(|| TranslateError::invalid("messages", "is required"))?;
    let messages_path = Path::ROOT.key("messages");
    for (i, m) in messages.iter().enumerate() {
        let path = messages_path.index(i);
        let m = as_obj(m, path)?;
        let role = match req_str(m, "role", path)? {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            "system" => Role::System,
            other => {
                return Err(TranslateError::invalid(
                    path.key("role"),
                    format!("unknown role {other:?}"),
                ))
            }
        };
        let content = decode_content(m.get("content"), path.key("content"))?;
        req.messages.push(Message { role, content });
    }
    if let Some(tools) = opt_array(&obj, "tools", "")? {
        let tools_path = Path::ROOT.key("tools");
        for (i, t) in tools.iter().enumerate() {
            let path = tools_path.index(i);
            let t = as_obj(t, path)?;
            // Server tools (web search, code execution, ...) run at Anthropic only.
            if opt_str(t, "type", path)?.is_some_and(|ty| ty != "custom") {
                continue;
            }
            req.tools.push(Tool {
                name: req_str(t, "name", path)?.to_string(),
                description: opt_str(t, "description", path)?.map(str::to_string),
                schema: field::get(t, "input_schema")
                    .cloned()
                    .unwrap_or_else(|| json!({"type": "object"})),
                cache: field::get(t, "cache_control").cloned(),
            });
        }
    }
    if let Some(tc) = opt_obj(&obj, "tool_choice", "")? {
        req.tool_choice = Some(match req_str(tc, "type", "tool_choice")? {
            "auto" => ToolChoice::Auto,
            "any" => ToolChoice::Any,
            "none" => ToolChoice::None,
            "tool" => ToolChoice::Tool(req_str(tc, "name", "tool_choice")?.to_string()),
            other => {
                return Err(TranslateError::invalid(
                    "tool_choice.type",
                    format!("unknown type {other:?}"),
                ))
            }
        });
        if opt_bool(tc, "disable_parallel_tool_use", "tool_choice")? == Some(true) {
            req.parallel_tool_calls = Some(false);
        }
    }
    if let Some(stops) = opt_array(&obj, "stop_sequences", "")? {
        for (i, s) in stops.iter().enumerate() {
            let s = s.as_str().ok_or_else(|| {
                TranslateError::invalid(
                    Path::ROOT.key("stop_sequences").index(i),
                    "must be a string",
                )
            })?;
            req.stop.push(s.to_string());
        }
    }
    let output_config = opt_obj(&obj, "output_config", "")?;
    let effort = match output_config {
        Some(oc) => opt_str(oc, "effort", "output_config")?.and_then(Effort::parse),
        None => None,
    };
    if let Some(th) = opt_obj(&obj, "thinking", "")? {
        req.thinking = match req_str(th, "type", "thinking")? {
            "enabled" => Some(Thinking::Budget(
                opt_u64(th, "budget_tokens", "thinking")?.ok_or_else(|| {
                    TranslateError::invalid("thinking.budget_tokens", "is required")
                })?,
            )),
            "adaptive" => Some(Thinking::Adaptive(effort)),
            "disabled" => Some(Thinking::Disabled),
            other => {
                return Err(TranslateError::invalid(
                    "thinking.type",
                    format!("unknown type {other:?}"),
                ))
            }
        };
    } else if let Some(effort) = effort {
        req.thinking = Some(Thinking::Effort(effort));
    }
    let format = match output_config.and_then(|oc| field::get(oc, "format")) {
        Some(f) => Some((f, "output_config.format")),
        None => field::get(&obj, "output_format").map(|f| (f, "output_format")),
    };
    if let Some((f, path)) = format {
        let path = Path::Text(path);
        let f = as_obj(f, path)?;
        if req_str(f, "type", path)? == "json_schema" {
            let schema = field::get(f, "schema")
                .cloned()
                .ok_or_else(|| TranslateError::invalid(path.key("schema"), "is required"))?;
            req.output = Some(OutputFormat::JsonSchema {
                name: None,
                schema,
                strict: Some(true),
            });
        }
    }
    if let Some(md) = opt_obj(&obj, "metadata", "")? {
        req.user = opt_str(md, "user_id", "metadata")?.map(str::to_string);
    }
    Ok(req)
}

fn decode_content(content: Option<&Value>, path: Path<'_>) -> Result<Vec<Part>, TranslateError> {
    match content {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![Part::text(s.clone())]),
        Some(Value::Array(blocks)) => {
            let mut parts = Vec::with_capacity(blocks.len());
            for (i, b) in blocks.iter().enumerate() {
                let path = path.index(i);
                if let Some(part) = decode_block(as_obj(b, path)?, path)? {
                    parts.push(part);
                }
            }
            Ok(parts)
        }
        Some(_) => Err(TranslateError::invalid(
            path,
            "must be a string or an array of content blocks",
        )),
    }
}

/// One content block; `None` for block types that have no meaning at another vendor.
fn decode_block(b: &Obj, path: Path<'_>) -> Result<Option<Part>, TranslateError> {
    Ok(Some(match req_str(b, "type", path)? {
        "text" => Part::Text {
            text: req_str(b, "text", path)?.to_string(),
            cache: field::get(b, "cache_control").cloned(),
        },
        "image" => {
            let src_path = path.key("source");
            let src = opt_obj(b, "source", path)?
                .ok_or_else(|| TranslateError::invalid(src_path, "is required"))?;
            Part::Image(match req_str(src, "type", src_path)? {
                "base64" => ImageSource::Base64 {
                    media_type: req_str(src, "media_type", src_path)?.to_string(),
                    data: req_str(src, "data", src_path)?.to_string(),
                },
                "url" => ImageSource::Url {
                    url: req_str(src, "url", src_path)?.to_string(),
                },
                other => {
                    return Err(TranslateError::invalid(
                        src_path.key("type"),
                        format!("unsupported image source {other:?}"),
                    ))
                }
            })
        }
        "tool_use" => Part::ToolUse {
            id: req_str(b, "id", path)?.to_string(),
            name: req_str(b, "name", path)?.to_string(),
            input: field::get(b, "input").cloned().unwrap_or_else(|| json!({})),
        },
        "tool_result" => Part::ToolResult {
            tool_use_id: req_str(b, "tool_use_id", path)?.to_string(),
            content: decode_content(b.get("content"), path.key("content"))?,
            is_error: opt_bool(b, "is_error", path)?.unwrap_or(false),
        },
        "thinking" => Part::Thinking {
            text: req_str(b, "thinking", path)?.to_string(),
            signature: opt_str(b, "signature", path)?
                .filter(|s| !s.is_empty())
                .map(str::to_string),
        },
        "redacted_thinking" => Part::RedactedThinking {
            data: req_str(b, "data", path)?.to_string(),
        },
        _ => return Ok(None),
    }))
}

mod encode;

pub use encode::encode;
