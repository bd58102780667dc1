//! Responses `input` items (messages, function calls and their outputs, reasoning) as IR turns.

use super::STATELESS;
use crate::error::TranslateError;
use crate::field::{self, as_obj, opt_str, req_str, Obj, Path};
use crate::ir::{ImageSource, Message, Part, Request, Role, SystemBlock};
use crate::openai_chat::request::parse_arguments;
use crate::openai_responses::reasoning;
use serde_json::Value;

/// `input` given as one string: a single user message.
pub(super) fn push_text(req: &mut Request, text: &str) {
    req.messages.push(Message {
        role: Role::User,
        content: vec![Part::text(text)],
    });
}

/// Decodes the list form of `input`.
pub(super) fn decode(items: &[Value], req: &mut Request) -> Result<(), TranslateError> {
    let input_path = Path::ROOT.key("input");
    for (i, item) in items.iter().enumerate() {
        let path = input_path.index(i);
        let item = as_obj(item, path)?;
        // Easy input messages (`{role, content}`) have no `type`.
        match opt_str(item, "type", path)?.unwrap_or("message") {
            "message" => decode_message(item, path, req)?,
            "function_call" => {
                let part = Part::ToolUse {
                    id: req_str(item, "call_id", path)?.to_string(),
                    name: req_str(item, "name", path)?.to_string(),
                    input: parse_arguments(opt_str(item, "arguments", path)?.unwrap_or("")),
                };
                push(req, Role::Assistant, part);
            }
            "function_call_output" => {
                let id = req_str(item, "call_id", path)?.to_string();
                let content = decode_content(item.get("output"), path.key("output"))?;
                let result = Part::ToolResult {
                    tool_use_id: id,
                    content,
                    is_error: false,
                };
                push(req, Role::User, result);
            }
            "reasoning" => {
                if let Some(part) = decode_reasoning(item, path)? {
                    push(req, Role::Assistant, part);
                }
            }
            "item_reference" => return Err(TranslateError::invalid(path.key("type"), STATELESS)),
            other => {
                return Err(TranslateError::Unsupported(format!(
                    "{path}: input items of type {other:?} cannot be sent to this model's provider"
                )))
            }
        }
    }
    Ok(())
}

/// Appends a part to the last turn when it has `role` (a call joins the text and reasoning
/// before it; results of parallel calls form one turn), or opens a new turn.
fn push(req: &mut Request, role: Role, part: Part) {
    let joins = |m: &Message| {
        m.role == role
            && (role == Role::Assistant
                || m.content
                    .iter()
                    .all(|p| matches!(p, Part::ToolResult { .. })))
    };
    match req.messages.last_mut() {
        Some(last) if joins(last) => last.content.push(part),
        _ => req.messages.push(Message {
            role,
            content: vec![part],
        }),
    }
}

fn decode_message(item: &Obj, path: Path<'_>, req: &mut Request) -> Result<(), TranslateError> {
    let content = decode_content(item.get("content"), path.key("content"))?;
    match req_str(item, "role", path)? {
        "system" | "developer" => {
            // Instructions before the first turn join the system prompt; later ones stay put.
            if req.messages.is_empty() {
                for p in content {
                    if let Part::Text { text, cache } = p {
                        req.system.push(SystemBlock { text, cache });
                    }
                }
            } else {
                req.messages.push(Message {
                    role: Role::System,
                    content,
                });
            }
        }
        "user" => req.messages.push(Message {
            role: Role::User,
            content,
        }),
        "assistant" => {
            for part in content {
                push(req, Role::Assistant, part);
            }
        }
        other => {
            return Err(TranslateError::invalid(
                path.key("role"),
                format!("unknown role {other:?}"),
            ))
        }
    }
    Ok(())
}

/// A reasoning item: the reasoning this gateway sealed into `encrypted_content`, or else the
/// visible summary as unsigned reasoning.
fn decode_reasoning(item: &Obj, path: Path<'_>) -> Result<Option<Part>, TranslateError> {
    if let Some(part) = opt_str(item, "encrypted_content", path)?.and_then(reasoning::open) {
        return Ok(Some(part));
    }
    let mut texts = Vec::new();
    for key in ["content", "summary"] {
        for p in field::loose::array(item, key)
            .iter()
            .filter_map(Value::as_object)
        {
            texts.push(field::loose::str(p, "text"));
        }
        if !texts.is_empty() {
            break;
        }
    }
    let text = texts.join("\n\n");
    Ok((!text.is_empty()).then_some(Part::Thinking {
        text,
        signature: None,
    }))
}

fn decode_content(content: Option<&Value>, path: Path<'_>) -> Result<Vec<Part>, TranslateError> {
    let parts = match content {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::String(s)) if s.is_empty() => return Ok(Vec::new()),
        Some(Value::String(s)) => return Ok(vec![Part::text(s.clone())]),
        Some(Value::Array(parts)) => parts,
        Some(_) => {
            return Err(TranslateError::invalid(
                path,
                "must be a string or an array of content parts",
            ))
        }
    };
    let mut out = Vec::with_capacity(parts.len());
    for (i, p) in parts.iter().enumerate() {
        let path = path.index(i);
        let p = as_obj(p, path)?;
        match req_str(p, "type", path)? {
            "input_text" | "output_text" | "text" => {
                out.push(Part::text(req_str(p, "text", path)?))
            }
            "refusal" => out.push(Part::text(req_str(p, "refusal", path)?)),
            "input_image" => {
                let Some(url) = opt_str(p, "image_url", path)? else {
                    return Err(TranslateError::Unsupported(format!(
                        "{path}: images by file_id need stored files, which this gateway does \
                         not keep; send the image as a data URL or an https URL in image_url"
                    )));
                };
                out.push(Part::Image(ImageSource::from_url(url)));
            }
            other => {
                return Err(TranslateError::Unsupported(format!(
                "{path}: content parts of type {other:?} cannot be sent to this model's provider"
            )))
            }
        }
    }
    Ok(out)
}
