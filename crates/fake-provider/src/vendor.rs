//! Vendor endpoints: routing, credential checks, error rendering per vendor, and the flow
//! that turns a chat request into a planned reply sent whole or as a stream.

use std::time::Duration;

use bytes::Bytes;
use http::{request::Parts, HeaderValue, Method, Response};
use serde_json::Value;

use crate::body::{self, Body};
use crate::mode::{Behaviour, Mode};
use crate::record::Stats;
use crate::scenario::Exchange;
use crate::server::{not_found, State};
use crate::{anthropic, extras, gemini, openai_chat, responses};

/// Whose credentials and error shape a request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    Anthropic,
    OpenAi,
    Gemini,
}

/// The chat protocols, each with its own request and response shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto<'a> {
    Anthropic,
    OpenAiChat,
    Responses,
    Gemini { model: &'a str, stream: bool },
}

impl Proto<'_> {
    fn vendor(self) -> Vendor {
        match self {
            Proto::Anthropic => Vendor::Anthropic,
            Proto::OpenAiChat | Proto::Responses => Vendor::OpenAi,
            Proto::Gemini { .. } => Vendor::Gemini,
        }
    }
}

fn query_param<'a>(parts: &'a Parts, key: &str) -> Option<&'a str> {
    parts
        .uri
        .query()?
        .split('&')
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// Routes one vendor request (admin paths are handled before this).
pub async fn handle(state: &State, parts: &Parts, body: Bytes) -> Response<Body> {
    let path = parts.uri.path();
    let post = parts.method == Method::POST;
    let get = parts.method == Method::GET;
    // Gemini's model and method share a path segment: `models/{model}:{method}`.
    let gemini = path
        .strip_prefix("/v1beta/models/")
        .or_else(|| path.strip_prefix("/v1/models/"))
        .and_then(|rest| rest.rsplit_once(':'));
    match (path, gemini) {
        ("/v1/messages", _) if post => chat(state, Proto::Anthropic, parts, body).await,
        ("/v1/chat/completions", _) if post => chat(state, Proto::OpenAiChat, parts, body).await,
        ("/v1/responses", _) if post => chat(state, Proto::Responses, parts, body).await,
        (_, Some((model, "generateContent"))) if post => {
            let proto = Proto::Gemini {
                model,
                stream: false,
            };
            chat(state, proto, parts, body).await
        }
        (_, Some((model, "streamGenerateContent"))) if post => {
            let proto = Proto::Gemini {
                model,
                stream: true,
            };
            chat(state, proto, parts, body).await
        }
        ("/v1/messages/count_tokens", _) if post => {
            simple(state, Vendor::Anthropic, parts, &body, |req| {
                extras::count_tokens(req, body.len())
            })
            .await
        }
        ("/v1/embeddings", _) if post => {
            simple(state, Vendor::OpenAi, parts, &body, |req| {
                extras::embeddings(req, body.len())
            })
            .await
        }
        ("/v1/images/generations", _) if post => {
            let host = header(parts, "host")
                .or_else(|| parts.uri.authority().map(|a| a.as_str()))
                .unwrap_or("localhost");
            simple(state, Vendor::OpenAi, parts, &body, |req| {
                extras::images(req, host)
            })
            .await
        }
        ("/v1/models", _) if get => {
            // One path serves both vendors; Anthropic clients always send anthropic-version.
            if header(parts, "anthropic-version").is_some() || header(parts, "x-api-key").is_some()
            {
                simple(state, Vendor::Anthropic, parts, b"{}", |_| {
                    Ok(anthropic::models())
                })
                .await
            } else {
                simple(state, Vendor::OpenAi, parts, b"{}", |_| {
                    Ok(openai_chat::models())
                })
                .await
            }
        }
        ("/v1beta/models", _) if get => {
            simple(
                state,
                Vendor::Gemini,
                parts,
                b"{}",
                |_| Ok(gemini::models()),
            )
            .await
        }
        _ => not_found(parts),
    }
}

fn authorized(state: &State, vendor: Vendor, parts: &Parts) -> bool {
    let Some(expect) = state.config.expect_key.as_deref() else {
        return true;
    };
    match vendor {
        Vendor::Anthropic => header(parts, "x-api-key") == Some(expect),
        Vendor::OpenAi => {
            header(parts, "authorization").and_then(|v| v.strip_prefix("Bearer ")) == Some(expect)
        }
        Vendor::Gemini => {
            header(parts, "x-goog-api-key") == Some(expect)
                || query_param(parts, "key") == Some(expect)
        }
    }
}

fn unauthorized(vendor: Vendor, token: &str) -> Response<Body> {
    let message = match vendor {
        Vendor::Anthropic => "invalid x-api-key",
        Vendor::OpenAi => {
            "Incorrect API key provided. You can find your API key at \
            https://platform.openai.com/account/api-keys."
        }
        Vendor::Gemini => "API key not valid. Please pass a valid API key.",
    };
    error(vendor, 401, message, token)
}

/// An error in the vendor's shape, with its request-id header and `retry-after` on 429.
pub fn error(vendor: Vendor, status: u16, message: &str, token: &str) -> Response<Body> {
    let request_id = format!("req_{token}");
    let value = match vendor {
        Vendor::Anthropic => anthropic::error_body(status, message, &request_id),
        Vendor::OpenAi => openai_chat::error_body(status, message),
        Vendor::Gemini => gemini::error_body(status, message),
    };
    let mut resp = body::json(status, &value);
    set_request_id(vendor, &mut resp, &request_id);
    if status == 429 {
        resp.headers_mut()
            .insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

fn set_request_id(vendor: Vendor, resp: &mut Response<Body>, request_id: &str) {
    let name = match vendor {
        Vendor::Anthropic => "request-id",
        Vendor::OpenAi => "x-request-id",
        Vendor::Gemini => return,
    };
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert(name, v);
    }
}

fn injected_message(status: u16) -> String {
    match status {
        429 => "Rate limit exceeded (injected by the fake provider).".into(),
        503 | 529 => "Overloaded (injected by the fake provider).".into(),
        _ => format!("Error {status} injected by the fake provider."),
    }
}

fn parse_json(vendor: Vendor, body: &[u8], token: &str) -> Result<Value, Box<Response<Body>>> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(Box::new(error(
            vendor,
            400,
            "The request body is not valid JSON.",
            token,
        ))),
    }
}

/// Applies delay, stall and injected failure; `Some` is the response to send instead.
async fn misbehave(b: &Behaviour, vendor: Vendor, token: &str) -> Option<Response<Body>> {
    if let Some(ms) = b.delay_ms {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    if b.stall {
        // Never answer: the connection stays open until the client gives up.
        std::future::pending::<()>().await;
    }
    b.error
        .map(|status| error(vendor, status, &injected_message(status), token))
}

/// Endpoints without directives: credentials, JSON, the server mode, then `answer`.
async fn simple(
    state: &State,
    vendor: Vendor,
    parts: &Parts,
    body: &[u8],
    answer: impl FnOnce(&Value) -> Result<Value, String>,
) -> Response<Body> {
    let token = state.next_token();
    if !authorized(state, vendor, parts) {
        return unauthorized(vendor, &token);
    }
    let req = match parse_json(vendor, body, &token) {
        Ok(v) => v,
        Err(resp) => return *resp,
    };
    let behaviour = Behaviour::new(&Default::default(), &state.mode.take());
    if let Some(resp) = misbehave(&behaviour, vendor, &token).await {
        return resp;
    }
    match answer(&req) {
        Ok(v) => body::json(200, &v),
        Err(msg) => error(vendor, 400, &msg, &token),
    }
}

async fn chat(state: &State, proto: Proto<'_>, parts: &Parts, body: Bytes) -> Response<Body> {
    let vendor = proto.vendor();
    let token = state.next_token();
    if !authorized(state, vendor, parts) {
        return unauthorized(vendor, &token);
    }
    let req = match parse_json(vendor, &body, &token) {
        Ok(v) => v,
        Err(resp) => return *resp,
    };
    let parsed = match proto {
        Proto::Anthropic => anthropic::parse(&req),
        Proto::OpenAiChat => openai_chat::parse(&req),
        Proto::Responses => responses::parse(&req),
        Proto::Gemini { model, stream } => gemini::parse(&req, model).map(|ex| Exchange {
            stream,
            sse: query_param(parts, "alt") == Some("sse"),
            ..ex
        }),
    };
    let mut ex = match parsed {
        Ok(ex) => ex,
        Err(msg) => return error(vendor, 400, &msg, &token),
    };
    ex.body_len = body.len();
    ex.token = token;
    let mode: Mode = state.mode.take();
    let behaviour = Behaviour::new(&ex.directives, &mode);
    if let Some(resp) = misbehave(&behaviour, vendor, &ex.token).await {
        return resp;
    }
    let name = state.config.name.as_str();
    let reply = ex.plan(name);
    let mut resp = if ex.stream {
        Stats::bump(&state.stats.streams_started);
        let (frames, error_frame) = match proto {
            Proto::Anthropic => (
                anthropic::frames(&ex, &reply, name),
                anthropic::stream_error(),
            ),
            Proto::OpenAiChat => (
                openai_chat::frames(&ex, &reply, name),
                openai_chat::stream_error(),
            ),
            Proto::Responses => {
                let seq = behaviour.faults.stream_error_after.unwrap_or(0);
                let err = responses::stream_error(&ex, name, seq);
                (responses::frames(&ex, &reply, name), err)
            }
            Proto::Gemini { .. } => {
                let index = behaviour.faults.stream_error_after.unwrap_or(0);
                (
                    gemini::frames(&ex, &reply, name),
                    gemini::stream_error(&ex, index),
                )
            }
        };
        let delay = behaviour
            .frame_delay_ms
            .map_or(state.config.frame_delay, Duration::from_millis);
        let stats = state.stats.clone();
        let stream = body::stream(frames, error_frame, behaviour.faults, delay, stats);
        let mut resp = Response::new(stream);
        let content_type = if matches!(proto, Proto::Gemini { .. }) && !ex.sse {
            "application/json; charset=UTF-8"
        } else {
            "text/event-stream; charset=utf-8"
        };
        let headers = resp.headers_mut();
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type),
        );
        headers.insert(
            http::header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        );
        resp
    } else {
        let value = match proto {
            Proto::Anthropic => anthropic::render(&ex, &reply, name),
            Proto::OpenAiChat => openai_chat::render(&ex, &reply, name),
            Proto::Responses => responses::render(&ex, &reply, name),
            Proto::Gemini { .. } => gemini::render(&ex, &reply, name),
        };
        if behaviour.faults.cut_after.is_some() {
            let bytes = Bytes::from(value.to_string());
            let len = bytes.len();
            let mut resp = Response::new(body::cut_whole(bytes, state.stats.clone()));
            let headers = resp.headers_mut();
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
            resp
        } else {
            body::json(200, &value)
        }
    };
    set_request_id(vendor, &mut resp, &format!("req_{}", ex.token));
    resp
}
