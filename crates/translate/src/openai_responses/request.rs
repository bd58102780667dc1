//! OpenAI Responses requests decoded into the IR; the conversation items are read in `input`.

use super::{Echo, ECHOED};
use crate::error::TranslateError;
use crate::field::{
    self, as_obj, opt_array, opt_bool, opt_f64, opt_obj, opt_str, opt_u64, req_str, Obj, Path,
};
use crate::ir::{Effort, OutputFormat, Request, SystemBlock, Thinking, Tool, ToolChoice};
use serde_json::{json, Value};

mod input;

/// What a stateless gateway answers to a request that builds on stored state.
const STATELESS: &str = "this gateway keeps no stored responses or conversations; send the \
                         whole conversation in `input` (with `store: false`) instead";

/// Decodes an OpenAI Responses request body.
pub fn decode(body: &[u8]) -> Result<Request, TranslateError> {
    decode_with_echo(body).map(|(req, _)| req)
}

/// Decodes a Responses request body, with what its response object must repeat.
pub fn decode_with_echo(body: &[u8]) -> Result<(Request, Echo), TranslateError> {
    let obj = field::parse_object(body)?;
    for key in ["previous_response_id", "conversation"] {
        if field::get(&obj, key).is_some() {
            return Err(TranslateError::invalid(key, STATELESS));
        }
    }
    if opt_bool(&obj, "background", "")? == Some(true) {
        return Err(TranslateError::invalid(
            "background",
            "background responses need stored state, which this gateway does not keep; \
             send the request without `background` and read the stream",
        ));
    }
    let mut req = Request {
        model: req_str(&obj, "model", "")?.to_string(),
        max_tokens: opt_u64(&obj, "max_output_tokens", "")?,
        temperature: opt_f64(&obj, "temperature", "")?,
        top_p: opt_f64(&obj, "top_p", "")?,
        stream: opt_bool(&obj, "stream", "")?.unwrap_or(false),
        parallel_tool_calls: opt_bool(&obj, "parallel_tool_calls", "")?,
        user: match opt_str(&obj, "user", "")? {
            Some(u) => Some(u.to_string()),
            None => opt_str(&obj, "safety_identifier", "")?.map(str::to_string),
        },
        ..Request::default()
    };
    if let Some(text) = opt_str(&obj, "instructions", "")?.filter(|t| !t.is_empty()) {
        req.system.push(SystemBlock {
            text: text.to_string(),
            cache: None,
        });
    }
    let mut summary = false;
    if let Some(r) = opt_obj(&obj, "reasoning", "")? {
        if let Some(effort) = opt_str(r, "effort", "reasoning")? {
            req.thinking = Some(match effort {
                "none" => Thinking::Disabled,
                e => Thinking::Effort(Effort::parse(e).ok_or_else(|| {
                    TranslateError::invalid("reasoning.effort", format!("unknown effort {e:?}"))
                })?),
            });
        }
        summary = ["summary", "generate_summary"]
            .iter()
            .any(|k| field::get(r, k).is_some());
    }
    if let Some(format) = opt_obj(&obj, "text", "")?
        .map(|t| opt_obj(t, "format", "text"))
        .transpose()?
        .flatten()
    {
        req.output = decode_format(format)?;
    }
    decode_tools(&obj, &mut req)?;
    match field::get(&obj, "input") {
        Some(Value::String(s)) => input::push_text(&mut req, s),
        Some(Value::Array(items)) => input::decode(items, &mut req)?,
        Some(_) => {
            return Err(TranslateError::invalid(
                "input",
                "must be a string or an array of input items",
            ))
        }
        None => return Err(TranslateError::invalid("input", "is required")),
    }
    let fields = ECHOED
        .iter()
        .filter_map(|k| obj.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect();
    Ok((req, Echo { fields, summary }))
}

fn decode_format(format: &Obj) -> Result<Option<OutputFormat>, TranslateError> {
    const PATH: &str = "text.format";
    Ok(match req_str(format, "type", PATH)? {
        "json_object" => Some(OutputFormat::JsonObject),
        "json_schema" => Some(OutputFormat::JsonSchema {
            name: opt_str(format, "name", PATH)?.map(str::to_string),
            schema: field::get(format, "schema")
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"})),
            strict: opt_bool(format, "strict", PATH)?,
        }),
        _ => None,
    })
}

fn decode_tools(obj: &Obj, req: &mut Request) -> Result<(), TranslateError> {
    if let Some(tools) = opt_array(obj, "tools", "")? {
        let tools_path = Path::ROOT.key("tools");
        for (i, t) in tools.iter().enumerate() {
            let path = tools_path.index(i);
            let t = as_obj(t, path)?;
            // Hosted tools (web search, file search, code interpreter...) run at OpenAI; no
            // other vendor can run them, so they are left out and the model never calls them.
            if req_str(t, "type", path)? != "function" {
                continue;
            }
            req.tools.push(Tool {
                name: req_str(t, "name", path)?.to_string(),
                description: opt_str(t, "description", path)?.map(str::to_string),
                schema: field::get(t, "parameters")
                    .cloned()
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
                cache: None,
            });
        }
    }
    req.tool_choice = match field::get(obj, "tool_choice") {
        None => None,
        Some(Value::String(s)) => Some(match s.as_str() {
            "auto" => ToolChoice::Auto,
            "required" => ToolChoice::Any,
            "none" => ToolChoice::None,
            other => {
                return Err(TranslateError::invalid(
                    "tool_choice",
                    format!("unknown choice {other:?}"),
                ))
            }
        }),
        Some(Value::Object(tc)) => match req_str(tc, "type", "tool_choice")? {
            "function" => Some(ToolChoice::Tool(
                req_str(tc, "name", "tool_choice")?.to_string(),
            )),
            // A list of allowed tools narrows the choice; the upstreams cannot narrow, so the
            // mode is kept and the list is not.
            "allowed_tools" => Some(match opt_str(tc, "mode", "tool_choice")? {
                Some("required") => ToolChoice::Any,
                _ => ToolChoice::Auto,
            }),
            // Forcing a hosted tool cannot be honoured; the model decides instead.
            _ => Some(ToolChoice::Auto),
        },
        Some(_) => {
            return Err(TranslateError::invalid(
                "tool_choice",
                "must be a string or an object",
            ))
        }
    };
    Ok(())
}

#[cfg(test)]
mod tests;
