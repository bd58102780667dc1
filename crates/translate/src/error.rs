//! Why a translation failed, and how each failure is classified for the caller.

use bytespike_protocol::{ErrorKind, GatewayError};

/// A translation failure.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TranslateError {
    /// The body is not JSON at all.
    #[error("request body is not valid JSON: {0}")]
    Json(String),
    /// A field is missing or has the wrong shape; `field` is its path in the body.
    #[error("{field}: {problem}")]
    Invalid {
        /// Path of the field, such as `messages[2].content[0].source`.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The request uses something the upstream protocol cannot express.
    #[error("{0}")]
    Unsupported(String),
    /// No translation exists between these dialects.
    #[error("no translation from {client} clients to {upstream} upstreams")]
    Route {
        /// The client's dialect.
        client: &'static str,
        /// The upstream's dialect.
        upstream: &'static str,
    },
}

impl TranslateError {
    /// A field error.
    pub fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        TranslateError::Invalid {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

impl From<TranslateError> for GatewayError {
    fn from(err: TranslateError) -> GatewayError {
        let kind = match err {
            TranslateError::Route { .. } => ErrorKind::Internal,
            _ => ErrorKind::InvalidRequest,
        };
        GatewayError::new(kind, err.to_string())
    }
}

/// The error for an upstream body that does not parse as its protocol promises.
pub(crate) fn unreadable(e: &TranslateError) -> GatewayError {
    GatewayError::new(
        ErrorKind::Upstream,
        format!("the upstream sent an unreadable response: {e}"),
    )
}
