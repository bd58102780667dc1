//! Gemini error bodies read into the gateway's classification.

use crate::field::loose;
use bytespike_protocol::ErrorKind;
use serde_json::Value;

/// Reads `{"error":{"code":N,"message":...,"status":"..."}}`: kind (if recognised) and message.
pub fn decode(body: &Value) -> Option<(Option<ErrorKind>, String)> {
    let body = match body {
        // Gemini sometimes wraps its error in a one-element array.
        Value::Array(items) => items.first()?,
        other => other,
    };
    let err = body.as_object().and_then(|o| loose::obj(o, "error"))?;
    let kind = match loose::str(err, "status") {
        "INVALID_ARGUMENT" | "FAILED_PRECONDITION" | "OUT_OF_RANGE" => {
            Some(ErrorKind::InvalidRequest)
        }
        "UNAUTHENTICATED" => Some(ErrorKind::Authentication),
        "PERMISSION_DENIED" => Some(ErrorKind::Permission),
        "NOT_FOUND" => Some(ErrorKind::NotFound),
        "RESOURCE_EXHAUSTED" => Some(ErrorKind::RateLimited),
        "UNAVAILABLE" => Some(ErrorKind::Overloaded),
        "DEADLINE_EXCEEDED" => Some(ErrorKind::Timeout),
        "INTERNAL" | "UNKNOWN" => Some(ErrorKind::Internal),
        _ => None,
    };
    Some((kind, loose::str(err, "message").to_string()))
}
