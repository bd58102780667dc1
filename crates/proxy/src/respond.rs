//! Answers the gateway writes itself: errors in the caller's protocol and small JSON documents.

use bytes::Bytes;
use bytespike_protocol::{Dialect, GatewayError};
use pingora_error::Result;
use pingora_http::ResponseHeader;
use pingora_proxy::Session;

use crate::context::RequestCtx;

/// Writes `err` in `dialect`'s error shape and records it for the access log.
pub async fn error(
    session: &mut Session,
    ctx: &mut RequestCtx,
    dialect: Dialect,
    err: GatewayError,
) -> Result<()> {
    let (status, body) = err.render(dialect);
    ctx.error = Some(err);
    json(session, ctx, dialect, status, body).await
}

/// Writes a complete JSON response.
pub async fn json(
    session: &mut Session,
    ctx: &RequestCtx,
    dialect: Dialect,
    status: u16,
    body: Vec<u8>,
) -> Result<()> {
    let mut header = ResponseHeader::build(status, Some(8))?;
    header.insert_header("content-type", "application/json")?;
    if let Some(seconds) = ctx.retry_after {
        header.insert_header("retry-after", seconds.to_string())?;
    }
    crate::budget::headers(&mut header, dialect, &ctx.windows)?;
    header.insert_header("content-length", body.len().to_string())?;
    request_id_headers(&mut header, ctx, dialect)?;
    session
        .write_response_header(Box::new(header), false)
        .await?;
    session
        .write_response_body(Some(Bytes::from(body)), true)
        .await
}

/// The request id under the names each vendor's SDK reads.
pub fn request_id_headers(
    header: &mut ResponseHeader,
    ctx: &RequestCtx,
    dialect: Dialect,
) -> Result<()> {
    header.insert_header("x-request-id", ctx.request_id.as_str())?;
    if dialect == Dialect::Anthropic {
        header.insert_header("request-id", ctx.request_id.as_str())?;
    }
    Ok(())
}
