//! Proxy failures (unreachable upstream, timeouts) answered in the caller's protocol.

use std::time::Duration;

use bytes::Bytes;
use bytespike_protocol::{Dialect, ErrorKind, GatewayError};
use pingora_error::{Error, ErrorSource, ErrorType};
use pingora_proxy::{FailToProxy, Session};

use crate::context::RequestCtx;
use crate::respond;
use crate::upstream_peer::TOTAL_TIMEOUT;

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
        // The connection is not reused after a failed proxy; saying so in the response keeps a
        // keep-alive client from sending its next request into a closing socket.
        session.set_keepalive(None);
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
        ErrorType::ReadTimedout => read_timeout(ctx, provider),
        ErrorType::WriteTimedout => GatewayError::new(
            ErrorKind::Timeout,
            format!("provider {provider:?} stopped accepting the request"),
        ),
        &TOTAL_TIMEOUT => {
            let total = ctx.target.as_ref().map(|t| t.provider.timeouts.total);
            GatewayError::new(
                ErrorKind::Timeout,
                format!(
                    "the response from provider {provider:?} ran past its total timeout{}",
                    for_duration(total)
                ),
            )
        }
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

/// A read that timed out: before the response header, the wait for the first byte; after it,
/// a gap between events (a stalled stream).
fn read_timeout(ctx: &RequestCtx, provider: &str) -> GatewayError {
    let timeouts = ctx.target.as_ref().map(|t| t.provider.timeouts);
    let message = if ctx.upstream_status.is_none() {
        let wait = timeouts.map(|t| t.first_byte.min(t.total));
        format!("provider {provider:?} sent no response{}", within(wait))
    } else {
        format!(
            "provider {provider:?} stalled: no data{}",
            for_duration(timeouts.map(|t| t.idle))
        )
    };
    GatewayError::new(ErrorKind::Timeout, message)
}

fn within(d: Option<Duration>) -> String {
    d.map_or_else(String::new, |d| format!(" within {}", humanize(d)))
}

fn for_duration(d: Option<Duration>) -> String {
    d.map_or_else(String::new, |d| format!(" for {}", humanize(d)))
}

/// `1.5s`, `120s`, `250ms`: the form the timeouts are configured in.
fn humanize(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else if d < Duration::from_secs(1) {
        format!("{}ms", d.as_millis())
    } else {
        format!("{}s", d.as_secs_f64())
    }
}

/// The `kind` label of `bytespike_upstream_errors_total` for a proxy error, or `None` when the
/// upstream is not at fault (the client went away, a malformed request, a gateway bug).
pub fn upstream_error_kind(e: &Error) -> Option<&'static str> {
    let kind = match e.etype() {
        ErrorType::HTTPStatus(429) => "status_429",
        ErrorType::HTTPStatus(500..=599) => "status_5xx",
        ErrorType::HTTPStatus(_) => return None,
        ErrorType::ConnectTimedout => "connect_timeout",
        ErrorType::ReadTimedout | ErrorType::WriteTimedout | &TOTAL_TIMEOUT => "timeout",
        ErrorType::ConnectRefused
        | ErrorType::ConnectNoRoute
        | ErrorType::ConnectError
        | ErrorType::ConnectProxyFailure => "connect",
        ErrorType::TLSHandshakeFailure
        | ErrorType::TLSHandshakeTimedout
        | ErrorType::InvalidCert => "tls",
        _ => match e.esource() {
            ErrorSource::Upstream => match e.etype() {
                ErrorType::ReadError | ErrorType::WriteError | ErrorType::ConnectionClosed => {
                    "reset"
                }
                _ => "protocol",
            },
            _ => return None,
        },
    };
    Some(kind)
}

/// The `kind` label for an upstream answer the gateway relayed: 429 and 5xx count as upstream
/// failures, anything else does not.
pub fn upstream_status_kind(status: u16) -> Option<&'static str> {
    match status {
        429 => Some("status_429"),
        500..=599 => Some("status_5xx"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_error_kinds() {
        let connect = Error::new(ErrorType::ConnectRefused);
        assert_eq!(upstream_error_kind(&connect), Some("connect"));
        let timeout = Error::new(ErrorType::ReadTimedout);
        assert_eq!(upstream_error_kind(&timeout), Some("timeout"));
        let status = Error::new(ErrorType::HTTPStatus(503));
        assert_eq!(upstream_error_kind(&status), Some("status_5xx"));
        let client_gone = Error::new_down(ErrorType::ConnectionClosed);
        assert_eq!(upstream_error_kind(&client_gone), None);
        let total = Error::new_up(TOTAL_TIMEOUT);
        assert_eq!(upstream_error_kind(&total), Some("timeout"));
        let cut = Error::new_up(ErrorType::ConnectionClosed);
        assert_eq!(upstream_error_kind(&cut), Some("reset"));
        assert_eq!(upstream_status_kind(429), Some("status_429"));
        assert_eq!(upstream_status_kind(502), Some("status_5xx"));
        assert_eq!(upstream_status_kind(400), None);
    }

    #[test]
    fn durations_read_as_configured() {
        assert_eq!(humanize(Duration::from_secs(120)), "120s");
        assert_eq!(humanize(Duration::from_millis(250)), "250ms");
        assert_eq!(humanize(Duration::from_millis(1500)), "1.5s");
    }
}
