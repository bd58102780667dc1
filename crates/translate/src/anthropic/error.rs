//! Anthropic error bodies read into the gateway's classification.

use crate::field::loose;
use bytespike_protocol::ErrorKind;
use serde_json::Value;

/// The kind for an Anthropic `error.type`.
pub(crate) fn kind_of(ty: &str) -> Option<ErrorKind> {
    Some(match ty {
        "invalid_request_error" => ErrorKind::InvalidRequest,
        "authentication_error" => ErrorKind::Authentication,
        "permission_error" => ErrorKind::Permission,
        "not_found_error" => ErrorKind::NotFound,
        "request_too_large" => ErrorKind::RequestTooLarge,
        "rate_limit_error" => ErrorKind::RateLimited,
        "api_error" => ErrorKind::Internal,
        "overloaded_error" => ErrorKind::Overloaded,
        "timeout_error" => ErrorKind::Timeout,
        _ => return None,
    })
}

/// Reads `{"type":"error","error":{"type":...,"message":...}}`: kind (if recognised) and message.
pub fn decode(body: &Value) -> Option<(Option<ErrorKind>, String)> {
    let err = body.as_object().and_then(|o| loose::obj(o, "error"))?;
    Some((
        kind_of(loose::str(err, "type")),
        loose::str(err, "message").to_string(),
    ))
}
