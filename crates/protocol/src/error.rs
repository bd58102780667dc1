//! One classification of what can go wrong, rendered in each caller's wire shape.

use crate::dialect::{Dialect, ErrorFamily};
use serde_json::json;
use std::fmt;

/// What kind of failure a request met; each kind has the status a real vendor would use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Malformed JSON, a missing `model`, an invalid field: 400.
    InvalidRequest,
    /// Missing, unknown, disabled or expired key: 401.
    Authentication,
    /// The key may not call this model: 403.
    Permission,
    /// Unknown model or endpoint: 404.
    NotFound,
    /// Known path, wrong method: 405.
    MethodNotAllowed,
    /// The client stopped sending its request: 408.
    RequestTimeout,
    /// Body over the configured limit: 413.
    RequestTooLarge,
    /// A limit of the key is reached: 429.
    RateLimited,
    /// A fault of the gateway itself: 500.
    Internal,
    /// The upstream could not be reached or answered with something unusable: 502.
    Upstream,
    /// The gateway cannot serve now (limits backend down with fail-closed, shutting down): 503.
    Unavailable,
    /// The upstream took too long: 504.
    Timeout,
    /// The upstream is overloaded: 529 for Anthropic callers, 503 for the others.
    Overloaded,
}

impl ErrorKind {
    /// Stable label for metrics and logs.
    pub fn metric_label(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::Authentication => "authentication",
            ErrorKind::Permission => "permission",
            ErrorKind::NotFound => "not_found",
            ErrorKind::MethodNotAllowed => "method_not_allowed",
            ErrorKind::RequestTimeout => "request_timeout",
            ErrorKind::RequestTooLarge => "request_too_large",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Internal => "internal",
            ErrorKind::Upstream => "upstream",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Overloaded => "overloaded",
        }
    }

    /// The HTTP status for this kind in the given error family.
    pub fn status(self, family: ErrorFamily) -> u16 {
        match self {
            ErrorKind::InvalidRequest => 400,
            ErrorKind::Authentication => 401,
            ErrorKind::Permission => 403,
            ErrorKind::NotFound => 404,
            ErrorKind::MethodNotAllowed => 405,
            ErrorKind::RequestTimeout => 408,
            ErrorKind::RequestTooLarge => 413,
            ErrorKind::RateLimited => 429,
            ErrorKind::Internal => 500,
            ErrorKind::Upstream => 502,
            ErrorKind::Unavailable => 503,
            ErrorKind::Timeout => 504,
            ErrorKind::Overloaded if family == ErrorFamily::Anthropic => 529,
            ErrorKind::Overloaded => 503,
        }
    }

    /// Classifies an upstream HTTP status, for errors re-shaped across protocols.
    pub fn from_status(status: u16) -> ErrorKind {
        match status {
            400 | 422 => ErrorKind::InvalidRequest,
            401 => ErrorKind::Authentication,
            403 => ErrorKind::Permission,
            404 => ErrorKind::NotFound,
            405 => ErrorKind::MethodNotAllowed,
            413 => ErrorKind::RequestTooLarge,
            429 => ErrorKind::RateLimited,
            503 | 529 => ErrorKind::Overloaded,
            504 => ErrorKind::Timeout,
            408 => ErrorKind::RequestTimeout,
            500 => ErrorKind::Internal,
            _ => ErrorKind::Upstream,
        }
    }

    fn anthropic_type(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest | ErrorKind::MethodNotAllowed | ErrorKind::RequestTimeout => {
                "invalid_request_error"
            }
            ErrorKind::Authentication => "authentication_error",
            ErrorKind::Permission => "permission_error",
            ErrorKind::NotFound => "not_found_error",
            ErrorKind::RequestTooLarge => "request_too_large",
            ErrorKind::RateLimited => "rate_limit_error",
            ErrorKind::Internal | ErrorKind::Upstream => "api_error",
            ErrorKind::Unavailable | ErrorKind::Overloaded => "overloaded_error",
            ErrorKind::Timeout => "timeout_error",
        }
    }

    fn openai_type_and_code(self) -> (&'static str, &'static str) {
        match self {
            ErrorKind::InvalidRequest => ("invalid_request_error", "invalid_request"),
            ErrorKind::Authentication => ("invalid_request_error", "invalid_api_key"),
            ErrorKind::Permission => ("invalid_request_error", "model_not_permitted"),
            ErrorKind::NotFound => ("invalid_request_error", "not_found"),
            ErrorKind::MethodNotAllowed => ("invalid_request_error", "method_not_allowed"),
            ErrorKind::RequestTimeout => ("invalid_request_error", "request_timeout"),
            ErrorKind::RequestTooLarge => ("invalid_request_error", "request_too_large"),
            ErrorKind::RateLimited => ("rate_limit_error", "rate_limit_exceeded"),
            ErrorKind::Internal => ("server_error", "internal_error"),
            ErrorKind::Upstream => ("server_error", "upstream_error"),
            ErrorKind::Unavailable | ErrorKind::Overloaded => {
                ("server_error", "service_unavailable")
            }
            ErrorKind::Timeout => ("server_error", "timeout"),
        }
    }

    fn gemini_status(self) -> &'static str {
        match self {
            ErrorKind::InvalidRequest | ErrorKind::RequestTooLarge => "INVALID_ARGUMENT",
            ErrorKind::MethodNotAllowed => "UNIMPLEMENTED",
            ErrorKind::Authentication => "UNAUTHENTICATED",
            ErrorKind::Permission => "PERMISSION_DENIED",
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::RateLimited => "RESOURCE_EXHAUSTED",
            ErrorKind::Internal | ErrorKind::Upstream => "INTERNAL",
            ErrorKind::Unavailable | ErrorKind::Overloaded => "UNAVAILABLE",
            ErrorKind::Timeout | ErrorKind::RequestTimeout => "DEADLINE_EXCEEDED",
        }
    }
}

/// An error the gateway answers itself, rendered in the caller's protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayError {
    /// The classification, which fixes the status.
    pub kind: ErrorKind,
    /// A message a person can act on; never carries key material or credentials.
    pub message: String,
    /// A more precise OpenAI `code` than the kind's default (`model_not_found`, ...).
    pub code: Option<&'static str>,
    /// The dialect to render in when the raiser knew it better than the caller will.
    pub dialect: Option<Dialect>,
}

impl GatewayError {
    /// An error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        GatewayError {
            kind,
            message: message.into(),
            code: None,
            dialect: None,
        }
    }

    /// Sets the OpenAI `code`.
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// Pins the dialect the error renders in.
    pub fn in_dialect(mut self, dialect: Dialect) -> Self {
        self.dialect = Some(dialect);
        self
    }

    /// Status in the error's own dialect, or the OpenAI family when none is pinned.
    pub fn status(&self) -> u16 {
        let family = self
            .dialect
            .map_or(ErrorFamily::OpenAi, Dialect::error_family);
        self.kind.status(family)
    }

    /// Status and JSON body in `dialect`'s wire shape (a pinned dialect wins).
    pub fn render(&self, dialect: Dialect) -> (u16, Vec<u8>) {
        let family = self.dialect.unwrap_or(dialect).error_family();
        let kind = self.kind;
        let body = match family {
            ErrorFamily::Anthropic => json!({
                "type": "error",
                "error": {"type": kind.anthropic_type(), "message": self.message},
            }),
            ErrorFamily::OpenAi => {
                let (ty, code) = kind.openai_type_and_code();
                json!({"error": {
                    "message": self.message,
                    "type": ty,
                    "param": null,
                    "code": self.code.unwrap_or(code),
                }})
            }
            ErrorFamily::Gemini => json!({"error": {
                "code": kind.status(family),
                "message": self.message,
                "status": kind.gemini_status(),
            }}),
        };
        (kind.status(family), body.to_string().into_bytes())
    }

    /// The error as a stream event in `dialect`, for failures after a stream has begun.
    pub fn render_stream_event(&self, dialect: Dialect) -> Vec<u8> {
        let (_, body) = self.render(dialect);
        let mut event = Vec::with_capacity(body.len() + 24);
        match dialect {
            Dialect::Anthropic => event.extend_from_slice(b"event: error\ndata: "),
            Dialect::OpenAiResponses => event.extend_from_slice(b"event: error\ndata: "),
            Dialect::OpenAiChat | Dialect::Gemini => event.extend_from_slice(b"data: "),
        }
        event.extend_from_slice(&body);
        event.extend_from_slice(b"\n\n");
        event
    }
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.metric_label(), self.message)
    }
}

impl std::error::Error for GatewayError {}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn parse(body: &[u8]) -> Value {
        serde_json::from_slice(body).unwrap()
    }

    #[test]
    fn anthropic_shape() {
        let (status, body) =
            GatewayError::new(ErrorKind::RateLimited, "window 5h full").render(Dialect::Anthropic);
        assert_eq!(status, 429);
        let v = parse(&body);
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], "rate_limit_error");
        assert_eq!(v["error"]["message"], "window 5h full");
    }

    #[test]
    fn openai_shape_with_code_override() {
        let err =
            GatewayError::new(ErrorKind::NotFound, "no model \"x\"").with_code("model_not_found");
        let (status, body) = err.render(Dialect::OpenAiResponses);
        assert_eq!(status, 404);
        let v = parse(&body);
        assert_eq!(v["error"]["code"], "model_not_found");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert!(v["error"]["param"].is_null());
    }

    #[test]
    fn overloaded_status_follows_the_vendor() {
        let err = GatewayError::new(ErrorKind::Overloaded, "busy");
        assert_eq!(err.render(Dialect::Anthropic).0, 529);
        assert_eq!(err.render(Dialect::OpenAiChat).0, 503);
        assert_eq!(err.render(Dialect::Gemini).0, 503);
    }

    #[test]
    fn pinned_dialect_wins_and_messages_are_escaped() {
        let err = GatewayError::new(ErrorKind::InvalidRequest, "bad \"quote\"\n")
            .in_dialect(Dialect::Anthropic);
        let (_, body) = err.render(Dialect::OpenAiChat);
        assert_eq!(parse(&body)["error"]["message"], "bad \"quote\"\n");
        assert_eq!(parse(&body)["type"], "error");
    }

    #[test]
    fn stream_events_are_framed_per_dialect() {
        let err = GatewayError::new(ErrorKind::Timeout, "idle");
        let a = err.render_stream_event(Dialect::Anthropic);
        assert!(a.starts_with(b"event: error\ndata: {") && a.ends_with(b"\n\n"));
        let o = err.render_stream_event(Dialect::OpenAiChat);
        assert!(o.starts_with(b"data: {\"error\""));
    }

    #[test]
    fn upstream_statuses_classify() {
        assert_eq!(ErrorKind::from_status(529), ErrorKind::Overloaded);
        assert_eq!(ErrorKind::from_status(429), ErrorKind::RateLimited);
        assert_eq!(ErrorKind::from_status(502), ErrorKind::Upstream);
    }
}
