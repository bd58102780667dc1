//! The routes the gateway offers, and the clear refusal of those it does not.

use crate::dialect::Dialect;
use crate::error::{ErrorKind, GatewayError};

/// What a client asks the gateway to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Anthropic `POST /v1/messages`.
    Messages,
    /// Anthropic `POST /v1/messages/count_tokens`.
    CountTokens,
    /// OpenAI `POST /v1/chat/completions`.
    ChatCompletions,
    /// OpenAI `POST /v1/responses`.
    Responses,
    /// OpenAI `POST /v1/embeddings`.
    Embeddings,
    /// OpenAI `POST /v1/images/generations`.
    ImageGenerations,
    /// `GET /v1/models`.
    ListModels,
    /// `GET /v1/models/{id}`.
    GetModel,
    /// `GET /v1/usage`: the calling key's own windows.
    KeyUsage,
}

impl Operation {
    /// Stable name, used in logs and as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Messages => "messages",
            Operation::CountTokens => "count_tokens",
            Operation::ChatCompletions => "chat_completions",
            Operation::Responses => "responses",
            Operation::Embeddings => "embeddings",
            Operation::ImageGenerations => "image_generations",
            Operation::ListModels => "list_models",
            Operation::GetModel => "get_model",
            Operation::KeyUsage => "usage",
        }
    }

    /// Whether the request carries a JSON body naming a `model` to route on.
    pub fn routes_on_model(self) -> bool {
        !matches!(
            self,
            Operation::ListModels | Operation::GetModel | Operation::KeyUsage
        )
    }

    /// Whether the operation produces tokens that count against limits and cost.
    pub fn is_billable(self) -> bool {
        self.routes_on_model() && self != Operation::CountTokens
    }
}

/// A recognised route: the dialect the caller speaks and what it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoint {
    /// The caller's wire protocol, which also shapes every error it receives.
    pub dialect: Dialect,
    /// The operation.
    pub operation: Operation,
}

/// Endpoint families of the vendor APIs that a stateless gateway does not serve, with the
/// advice each refusal carries.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("/v1/messages/batches", "Message Batches are not offered by this gateway; send each request to POST /v1/messages"),
    ("/v1/batches", "the Batch API is not offered by this gateway; send each request to POST /v1/chat/completions or POST /v1/responses"),
    ("/v1/files", "file storage is not offered by this gateway; send content inline in the request (base64 images or documents)"),
    ("/v1/uploads", "uploads are not offered by this gateway; send content inline in the request"),
    ("/v1/assistants", "the Assistants API is not offered by this gateway; use POST /v1/responses or POST /v1/chat/completions"),
    ("/v1/threads", "the Assistants API (threads and runs) is not offered by this gateway; use POST /v1/responses with the full input"),
    ("/v1/vector_stores", "vector stores are not offered by this gateway; use POST /v1/embeddings and a store of your own"),
    ("/v1/fine_tuning", "fine-tuning is not offered by this gateway; fine-tune with the vendor directly, then add the model to a RoutingGroup"),
    ("/v1/fine-tunes", "fine-tuning is not offered by this gateway; fine-tune with the vendor directly, then add the model to a RoutingGroup"),
];

/// Matches a request to a route. `anthropic_caller` tells which error shape a caller expects
/// when the path alone does not (it sent an `anthropic-version` header).
pub fn route(method: &str, path: &str, anthropic_caller: bool) -> Result<Endpoint, GatewayError> {
    let path = path.split('?').next().unwrap_or(path);
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let fallback = if anthropic_caller || path.starts_with("/v1/messages") {
        Dialect::Anthropic
    } else {
        Dialect::OpenAiChat
    };
    let (dialect, operation, wanted) = match path {
        "/v1/messages" => (Dialect::Anthropic, Operation::Messages, "POST"),
        "/v1/messages/count_tokens" => (Dialect::Anthropic, Operation::CountTokens, "POST"),
        "/v1/chat/completions" => (Dialect::OpenAiChat, Operation::ChatCompletions, "POST"),
        "/v1/responses" => (Dialect::OpenAiResponses, Operation::Responses, "POST"),
        "/v1/embeddings" => (Dialect::OpenAiChat, Operation::Embeddings, "POST"),
        "/v1/images/generations" => (Dialect::OpenAiChat, Operation::ImageGenerations, "POST"),
        "/v1/models" => (fallback, Operation::ListModels, "GET"),
        "/v1/usage" => (fallback, Operation::KeyUsage, "GET"),
        p if p.starts_with("/v1/models/") && !p["/v1/models/".len()..].is_empty() => {
            (fallback, Operation::GetModel, "GET")
        }
        _ => return Err(unsupported(path, fallback)),
    };
    if !method.eq_ignore_ascii_case(wanted) {
        return Err(GatewayError::new(
            ErrorKind::MethodNotAllowed,
            format!("{path} accepts {wanted} only"),
        )
        .in_dialect(dialect));
    }
    Ok(Endpoint { dialect, operation })
}

fn unsupported(path: &str, dialect: Dialect) -> GatewayError {
    let advice = UNSUPPORTED
        .iter()
        .find(|(prefix, _)| {
            path == *prefix
                || path
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('/'))
        })
        .map(|(_, advice)| *advice);
    let message = match advice {
        Some(advice) => format!("{path}: {advice}"),
        None => format!(
            "{path} is not an endpoint of this gateway; it serves POST /v1/messages, \
             /v1/messages/count_tokens, /v1/chat/completions, /v1/responses, /v1/embeddings, \
             /v1/images/generations and GET /v1/models"
        ),
    };
    GatewayError::new(ErrorKind::NotFound, message).in_dialect(dialect)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offered_routes_resolve_with_and_without_query() {
        let e = route("POST", "/v1/messages?beta=true", false).unwrap();
        assert_eq!(
            (e.dialect, e.operation),
            (Dialect::Anthropic, Operation::Messages)
        );
        let e = route("POST", "/v1/chat/completions", false).unwrap();
        assert_eq!(
            (e.dialect, e.operation),
            (Dialect::OpenAiChat, Operation::ChatCompletions)
        );
        let e = route("GET", "/v1/models", true).unwrap();
        assert_eq!(
            (e.dialect, e.operation),
            (Dialect::Anthropic, Operation::ListModels)
        );
        let e = route("GET", "/v1/models/claude-sonnet-4-6", false).unwrap();
        assert_eq!(e.operation, Operation::GetModel);
    }

    #[test]
    fn unsupported_endpoints_name_an_alternative_in_the_callers_shape() {
        let e = route("POST", "/v1/messages/batches", false).unwrap_err();
        assert_eq!(
            (e.kind, e.dialect),
            (ErrorKind::NotFound, Some(Dialect::Anthropic))
        );
        assert!(e.message.contains("POST /v1/messages"), "{}", e.message);
        let e = route("GET", "/v1/fine_tuning/jobs", false).unwrap_err();
        assert_eq!(e.dialect, Some(Dialect::OpenAiChat));
        assert!(e.message.contains("fine-tun"), "{}", e.message);
        let e = route("POST", "/v1/vector_stores", false).unwrap_err();
        assert!(e.message.contains("/v1/embeddings"));
    }

    #[test]
    fn path_tricks_do_not_match_offered_routes() {
        for path in [
            "/v1/messages/../files",
            "/v1//messages",
            "/V1/messages",
            "/v1/messagesx",
        ] {
            assert!(route("POST", path, false).is_err(), "{path}");
        }
    }

    #[test]
    fn wrong_method_is_refused() {
        let e = route("GET", "/v1/messages", false).unwrap_err();
        assert_eq!(e.kind, ErrorKind::MethodNotAllowed);
        assert_eq!(e.status(), 405);
    }
}
