//! The response phases: headers and body from the upstream on their way to the client.

use std::time::Instant;

use bytes::Bytes;
use bytespike_protocol::Dialect;
use pingora_error::Result;
use pingora_http::ResponseHeader;

use crate::context::{Handling, RequestCtx};
use crate::respond;

/// Upstream headers that describe the gateway's vendor account, not the caller's key.
const DROPPED: &[&str] = &[
    "set-cookie",
    "anthropic-organization-id",
    "openai-organization",
    "openai-project",
];

/// Adjusts the response header before it goes to the client.
pub fn header(upstream: &mut ResponseHeader, ctx: &mut RequestCtx) -> Result<()> {
    ctx.upstream_status = Some(upstream.status.as_u16());
    for name in DROPPED {
        upstream.remove_header(*name);
    }
    let dialect = ctx.endpoint.map_or(Dialect::OpenAiChat, |e| e.dialect);
    respond::request_id_headers(upstream, ctx, dialect)?;
    if matches!(
        ctx.handling,
        Some(Handling::Passthrough {
            hide_usage: Some(_),
            ..
        })
    ) {
        // The body loses the usage chunk, so its length changes.
        upstream.remove_header("content-length");
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
        None => {}
    }
}
