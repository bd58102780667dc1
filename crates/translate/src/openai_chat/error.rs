//! OpenAI error bodies read into the gateway's classification.

use crate::field::loose;
use bytespike_protocol::ErrorKind;
use serde_json::Value;

/// Reads `{"error":{"message":...,"type":...,"code":...}}`: kind (if the body says) and message.
pub fn decode(body: &Value) -> Option<(Option<ErrorKind>, String)> {
    let err = body.as_object().and_then(|o| loose::obj(o, "error"))?;
    let code = err.get("code").and_then(Value::as_str).unwrap_or("");
    let kind = match (loose::str(err, "type"), code) {
        (_, "invalid_api_key") | ("authentication_error", _) => Some(ErrorKind::Authentication),
        (_, "model_not_found") | ("not_found_error", _) => Some(ErrorKind::NotFound),
        (_, "rate_limit_exceeded" | "insufficient_quota")
        | ("rate_limit_error" | "insufficient_quota", _) => Some(ErrorKind::RateLimited),
        (_, "context_length_exceeded") | ("invalid_request_error", _) => {
            Some(ErrorKind::InvalidRequest)
        }
        ("permission_error", _) => Some(ErrorKind::Permission),
        _ => None,
    };
    Some((kind, loose::str(err, "message").to_string()))
}

/// A more precise OpenAI `code` worth keeping when the error is re-rendered for an OpenAI client.
pub(crate) fn known_code(body: &Value) -> Option<&'static str> {
    let code = body.get("error")?.get("code")?.as_str()?;
    [
        "context_length_exceeded",
        "insufficient_quota",
        "model_not_found",
        "rate_limit_exceeded",
        "invalid_api_key",
    ]
    .into_iter()
    .find(|c| *c == code)
}
