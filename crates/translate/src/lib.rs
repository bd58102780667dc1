//! Cross-protocol translation of LLM requests, responses, stream events, usage and errors.
//!
//! Every protocol decodes into and encodes from one internal representation ([`ir`]), so a
//! route between two protocols is a decoder of one and an encoder of the other. Pure code: no
//! I/O, no proxy types. Same-protocol routes never come here; the proxy passes them through.

pub mod anthropic;
mod error;
mod field;
mod fnv;
pub mod fuzz;
pub mod gemini;
pub mod ir;
mod lenient;
pub mod openai_chat;
pub mod openai_responses;
mod response;
mod stream;

pub use error::TranslateError;
pub use response::{decode_body, ResponseTranslator};

use bytespike_protocol::{Dialect, ErrorKind, GatewayError};
use serde_json::Value;

/// A request ready for the upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRequest {
    /// The JSON body.
    pub body: Vec<u8>,
    /// Whether the upstream will answer with a stream.
    pub stream: bool,
    /// The path under the provider's base URL, query included.
    pub path: String,
    /// Headers the upstream needs for this body (such as an `anthropic-beta`), to be merged
    /// with any the proxy sets.
    pub headers: Vec<(&'static str, String)>,
    /// Whether the client asked for usage in its stream; pass it to [`ResponseTranslator::new`].
    pub client_include_usage: bool,
    /// For Responses clients: the request fields the response object repeats; see
    /// [`ResponseTranslator::for_request`].
    pub echo: Option<openai_responses::Echo>,
}

/// Whether requests of `client` can be translated for an `upstream`.
pub fn supported(client: Dialect, upstream: Dialect) -> bool {
    matches!(
        (client, upstream),
        (Dialect::Anthropic, Dialect::OpenAiChat | Dialect::Gemini)
            | (Dialect::OpenAiChat, Dialect::Anthropic | Dialect::Gemini)
            | (
                Dialect::OpenAiResponses,
                Dialect::Anthropic | Dialect::Gemini | Dialect::OpenAiChat
            )
    )
}

fn route_error(client: Dialect, upstream: Dialect) -> TranslateError {
    TranslateError::Route {
        client: client.as_str(),
        upstream: upstream.as_str(),
    }
}

/// Decodes a client request body into the IR.
pub fn decode_request(client: Dialect, body: &[u8]) -> Result<ir::Request, TranslateError> {
    match client {
        Dialect::Anthropic => anthropic::request::decode(body),
        Dialect::OpenAiChat => openai_chat::request::decode(body),
        Dialect::OpenAiResponses => openai_responses::request::decode(body),
        other => Err(route_error(other, other)),
    }
}

/// Encodes an IR request for `upstream`, calling the model `upstream_model`.
pub fn encode_request(
    upstream: Dialect,
    req: &ir::Request,
    upstream_model: &str,
) -> Result<UpstreamRequest, TranslateError> {
    let (body, path, headers) = match upstream {
        Dialect::Anthropic => {
            let (body, beta) = anthropic::request::encode(req, upstream_model);
            let headers = beta
                .map(|b| vec![("anthropic-beta", b.to_string())])
                .unwrap_or_default();
            (to_json(&body), "/v1/messages".to_string(), headers)
        }
        Dialect::OpenAiChat => (
            to_json(&openai_chat::request::encode(req, upstream_model)),
            "/v1/chat/completions".to_string(),
            Vec::new(),
        ),
        Dialect::Gemini => (
            to_json(&gemini::request::encode(req)),
            gemini::path(upstream_model, req.stream),
            Vec::new(),
        ),
        other => return Err(route_error(other, other)),
    };
    Ok(UpstreamRequest {
        body,
        stream: req.stream,
        path,
        headers,
        client_include_usage: req.include_usage,
        echo: None,
    })
}

/// A request body as JSON; serializing into memory cannot fail.
fn to_json(body: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(body).unwrap_or_default()
}

/// Translates a client request body for an upstream; errors are the client's fault
/// (InvalidRequest, naming the field) or an untranslatable route (Internal).
pub fn translate_request(
    client: Dialect,
    upstream: Dialect,
    body: &[u8],
    upstream_model: &str,
) -> Result<UpstreamRequest, GatewayError> {
    if !supported(client, upstream) {
        return Err(GatewayError::from(route_error(client, upstream)).in_dialect(client));
    }
    let fail = |e: TranslateError| GatewayError::from(e).in_dialect(client);
    if client == Dialect::OpenAiResponses {
        let (req, echo) = openai_responses::request::decode_with_echo(body).map_err(fail)?;
        let mut out = encode_request(upstream, &req, upstream_model).map_err(fail)?;
        out.echo = Some(echo);
        return Ok(out);
    }
    let req = decode_request(client, body).map_err(fail)?;
    encode_request(upstream, &req, upstream_model).map_err(fail)
}

/// Reads an upstream error body: its kind (if the body says) and message.
pub fn decode_error(upstream: Dialect, body: &[u8]) -> Option<(Option<ErrorKind>, String)> {
    let value: Value = serde_json::from_slice(body).ok()?;
    match upstream {
        Dialect::Anthropic => anthropic::error::decode(&value),
        Dialect::Gemini => gemini::error::decode(&value),
        Dialect::OpenAiChat | Dialect::OpenAiResponses => openai_chat::error::decode(&value),
    }
}

/// Re-shapes an upstream error response into the client's error format and status.
pub fn translate_error(
    client: Dialect,
    upstream: Dialect,
    status: u16,
    body: &[u8],
) -> (u16, Vec<u8>) {
    let decoded = decode_error(upstream, body);
    let by_status = ErrorKind::from_status(status);
    let (kind, message) = match decoded {
        // The status is the vendor's own classification; the body refines it only for the
        // statuses that can mean several things.
        Some((Some(kind), message)) if matches!(status, 400 | 500 | 502) || status < 400 => {
            (kind, message)
        }
        Some((_, message)) if !message.is_empty() => (by_status, message),
        _ => {
            let text = String::from_utf8_lossy(&body[..body.len().min(512)])
                .trim()
                .to_string();
            let message = if text.is_empty() {
                format!("the upstream answered {status}")
            } else {
                format!("the upstream answered {status}: {text}")
            };
            (by_status, message)
        }
    };
    let mut err = GatewayError::new(kind, message);
    if matches!(upstream, Dialect::OpenAiChat | Dialect::OpenAiResponses) {
        if let Some(code) = serde_json::from_slice(body)
            .ok()
            .as_ref()
            .and_then(openai_chat::error::known_code)
        {
            err = err.with_code(code);
        }
    }
    err.render(client)
}
