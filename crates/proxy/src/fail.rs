//! Proxy failures (unreachable upstream, timeouts) answered in the caller's protocol.

use bytes::Bytes;
use bytespike_protocol::{Dialect, ErrorKind, GatewayError};
use pingora_error::{Error, ErrorSource, ErrorType};
use pingora_proxy::{FailToProxy, Session};

use crate::context::RequestCtx;
use crate::respond;

/// Answers a failed proxy attempt. Before the response started: an error response. After (a
/// stream cut mid-way): an error event that ends the stream, never a silent truncation.
pub async fn run(session: &mut Session, e: &Error, ctx: &mut RequestCtx) -> FailToProxy {
    let Some(err) = classify(e, ctx) else {
        // The client went away: there is no one to answer.
        return FailToProxy {
            error_code: 0,
            can_reuse_downstream: false,
        };
    };
    let dialect = ctx.endpoint.map_or(Dialect::OpenAiChat, |ep| ep.dialect);
    let code = err.kind.status(dialect.error_family());
    let written = session.response_written().is_some();
    let result = if !written {
        respond::error(session, ctx, dialect, err).await
    } else {
        let event = Bytes::from(err.render_stream_event(dialect));
        ctx.error = Some(err);
        if ctx.stream {
            session.write_response_body(Some(event), true).await
        } else {
            Ok(())
        }
    };
    if let Err(write_err) = result {
        tracing::debug!(request_id = %ctx.request_id, error = %write_err, "could not send the error to the client");
    }
    FailToProxy {
        error_code: code,
        can_reuse_downstream: false,
    }
}

fn classify(e: &Error, ctx: &RequestCtx) -> Option<GatewayError> {
    let provider = ctx.target.as_ref().map_or("", |t| t.provider.name.as_str());
    let err = match e.etype() {
        ErrorType::HTTPStatus(code) => GatewayError::new(
            ErrorKind::from_status(*code),
            format!("upstream answered {code}"),
        ),
        ErrorType::ConnectTimedout => GatewayError::new(
            ErrorKind::Timeout,
            format!("connecting to provider {provider:?} timed out"),
        ),
        ErrorType::ReadTimedout | ErrorType::WriteTimedout => GatewayError::new(
            ErrorKind::Timeout,
            format!("provider {provider:?} did not answer in time"),
        ),
        ErrorType::ConnectRefused
        | ErrorType::ConnectNoRoute
        | ErrorType::ConnectError
        | ErrorType::ConnectProxyFailure
        | ErrorType::TLSHandshakeFailure
        | ErrorType::TLSHandshakeTimedout
        | ErrorType::InvalidCert => GatewayError::new(
            ErrorKind::Upstream,
            format!("provider {provider:?} is unreachable"),
        ),
        _ => match e.esource() {
            ErrorSource::Upstream => GatewayError::new(
                ErrorKind::Upstream,
                format!("provider {provider:?} failed: {}", e.etype().as_str()),
            ),
            ErrorSource::Downstream => match e.etype() {
                ErrorType::ReadError | ErrorType::WriteError | ErrorType::ConnectionClosed => {
                    return None
                }
                _ => GatewayError::new(
                    ErrorKind::InvalidRequest,
                    format!("malformed request: {}", e.etype().as_str()),
                ),
            },
            ErrorSource::Internal | ErrorSource::Unset => GatewayError::new(
                ErrorKind::Internal,
                "the gateway failed to proxy the request",
            ),
        },
    };
    Some(err)
}
