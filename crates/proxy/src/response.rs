//! The response phases: headers and body from the upstream on their way to the client.

use std::time::Instant;

use bytes::Bytes;
use bytespike_protocol::Dialect;
use bytespike_translate::translate_error;
use http::HeaderName;
use pingora_error::Result;
use pingora_http::ResponseHeader;

use crate::context::{Handling, RequestCtx};
use crate::{budget, respond};

/// Upstream headers that describe the gateway's vendor account, not the caller's key.
fn vendor_account_header(name: &str) -> bool {
    matches!(
        name,
        "set-cookie" | "anthropic-organization-id" | "openai-organization" | "openai-project"
    )
}

/// The vendor's limit headers: they describe the gateway's vendor account; when the caller's
/// key is budgeted, its own limit headers replace them.
fn vendor_limit_header(name: &str) -> bool {
    name.starts_with("anthropic-ratelimit-") || name.starts_with("x-ratelimit-")
}

/// Adjusts the response header before it goes to the client.
pub fn header(upstream: &mut ResponseHeader, ctx: &mut RequestCtx) -> Result<()> {
    ctx.upstream_status = Some(upstream.status.as_u16());
    let budgeted = ctx.reservation.is_some();
    // One pass over what the upstream sent rather than one lookup per unwanted name.
    let unwanted: Vec<HeaderName> = upstream
        .headers
        .keys()
        .filter(|n| {
            vendor_account_header(n.as_str()) || (budgeted && vendor_limit_header(n.as_str()))
        })
        .cloned()
        .collect();
    for name in &unwanted {
        upstream.remove_header(name);
    }
    let dialect = ctx.endpoint.map_or(Dialect::OpenAiChat, |e| e.dialect);
    respond::request_id_headers(upstream, ctx, dialect)?;
    if budgeted {
        budget::headers(upstream, dialect, &ctx.windows)?;
    }
    match &ctx.handling {
        Some(Handling::Passthrough {
            hide_usage: Some(_),
            ..
        }) => {
            // The body loses the usage chunk, so its length changes.
            upstream.remove_header("content-length");
        }
        Some(Handling::Translated { upstream: from, .. }) => {
            let status = upstream.status.as_u16();
            if status >= 400 {
                // The body is re-shaped once complete; the status maps on its own.
                let (client_status, _) = translate_error(dialect, *from, status, b"");
                upstream.set_status(client_status)?;
                upstream.insert_header("content-type", "application/json")?;
            } else if ctx.stream {
                upstream.insert_header("content-type", "text/event-stream")?;
                upstream.insert_header("cache-control", "no-cache")?;
            } else {
                upstream.insert_header("content-type", "application/json")?;
            }
            upstream.remove_header("content-length");
            upstream.remove_header("content-encoding");
        }
        _ => {}
    }
    Ok(())
}

/// Passes a body chunk on, reading usage from it (and hiding the usage chunk a client did not
/// ask for). Synchronous: nothing here may wait.
pub fn body(body: &mut Option<Bytes>, end_of_stream: bool, ctx: &mut RequestCtx) {
    if ctx.first_byte.is_none() && body.as_ref().is_some_and(|b| !b.is_empty()) {
        ctx.first_byte = Some(Instant::now());
    }
    let ok_status = ctx.upstream_status.is_some_and(|s| s < 400);
    match &mut ctx.handling {
        Some(Handling::Passthrough {
            scanner,
            hide_usage,
        }) => {
            if let Some(chunk) = body.as_ref() {
                if ok_status {
                    scanner.feed(chunk);
                }
            }
            if let (Some(filter), true) = (hide_usage.as_mut(), ok_status) {
                if body.as_ref().is_some_and(|c| filter.passes_untouched(c)) {
                    return;
                }
                let mut out = Vec::with_capacity(body.as_ref().map_or(0, |b| b.len()));
                if let Some(chunk) = body.as_ref() {
                    filter.filter(chunk, &mut out);
                }
                if end_of_stream {
                    filter.finish(&mut out);
                }
                *body = Some(Bytes::from(out));
            }
        }
        Some(Handling::Translated {
            upstream,
            translator,
            error_body,
        }) => {
            let client = ctx.endpoint.map_or(Dialect::OpenAiChat, |e| e.dialect);
            if !ok_status {
                if let Some(chunk) = body.as_ref() {
                    let room = MAX_ERROR_BODY.saturating_sub(error_body.len());
                    error_body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                *body = end_of_stream.then(|| {
                    let status = ctx.upstream_status.unwrap_or(502);
                    Bytes::from(translate_error(client, *upstream, status, error_body).1)
                });
                return;
            }
            let mut out = Vec::with_capacity(body.as_ref().map_or(0, |b| b.len() + 256));
            if let Some(chunk) = body.as_ref() {
                translator.feed(chunk, &mut out);
            }
            if end_of_stream {
                translator.finish(&mut out);
            }
            *body = Some(Bytes::from(out));
        }
        None => {}
    }
}

/// Upstream error bodies are small; anything past this is not needed to re-shape one.
const MAX_ERROR_BODY: usize = 64 * 1024;
