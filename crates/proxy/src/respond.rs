//! Answers the gateway writes itself: errors in the caller's protocol and small JSON documents.

use bytes::Bytes;
use bytespike_protocol::{Dialect, GatewayError};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use pingora_error::{ErrorType::InternalError, OrErr, Result};
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
    let mut parts = http::Response::new(()).into_parts().0;
    parts.status = StatusCode::from_u16(status).or_err(InternalError, "response status")?;
    let headers = &mut parts.headers;
    // Its own five (type, retry-after, length, two request ids) and the limit headers.
    headers.reserve(5 + crate::budget::LIMIT_HEADERS);
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(seconds) = ctx.retry_after {
        headers.insert(RETRY_AFTER, HeaderValue::from(seconds));
    }
    crate::budget::headers(headers, dialect, &ctx.windows)?;
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    request_id_headers(headers, ctx, dialect)?;
    session
        .write_response_header(Box::new(ResponseHeader::from(parts)), false)
        .await?;
    session
        .write_response_body(Some(Bytes::from(body)), true)
        .await
}

/// The request id under the names each vendor's SDK reads.
pub fn request_id_headers(
    headers: &mut HeaderMap,
    ctx: &RequestCtx,
    dialect: Dialect,
) -> Result<()> {
    const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
    const REQUEST_ID: HeaderName = HeaderName::from_static("request-id");
    let id = HeaderValue::from_str(&ctx.request_id).or_err(InternalError, "request id")?;
    headers.insert(X_REQUEST_ID, id.clone());
    if dialect == Dialect::Anthropic {
        headers.insert(REQUEST_ID, id);
    }
    Ok(())
}
