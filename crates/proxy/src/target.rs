//! The upstream request for one target of a route: passthrough (the client's body with the
//! model spliced) or translated, prepared before the first attempt and again on each failover.

use std::time::Instant;

use bytes::Bytes;
use bytespike_config::resources::Protocol;
use bytespike_config::snapshot::Target;
use bytespike_protocol::hidden_usage::HiddenUsageFilter;
use bytespike_protocol::{Dialect, ErrorKind, GatewayError, Operation, UsageScanner};
use bytespike_translate::{translate_request, ResponseTranslator, UpstreamRequest};

use crate::context::{Handling, RequestCtx};
use crate::health::Health;

/// Prepares the first target in the route's attempt order that can take the request; the error
/// is the first target's when none can. Ejected targets go last: tried only when the others fail.
pub fn first(ctx: &mut RequestCtx, health: &Health) -> Result<(), GatewayError> {
    let count = ctx.route.as_ref().map_or(0, |r| r.attempt_order().count());
    ctx.order.clear();
    ctx.order.extend(0..count);
    if health.any_failing() {
        // Rare: some provider is failing. Ejected targets move behind the others, order kept.
        let now = Instant::now();
        let route = ctx.route.as_ref().expect("count is zero without a route");
        let ejected: Vec<bool> = route
            .attempt_order()
            .map(|t| health.is_ejected(&t.provider, now))
            .collect();
        ctx.order.sort_by_key(|&i| ejected[i]);
    }
    let mut first_error = None;
    for index in 0..ctx.order.len() {
        match prepare_index(ctx, index) {
            Ok(()) => return Ok(()),
            Err(err) => {
                first_error.get_or_insert(err);
            }
        }
    }
    Err(first_error
        .unwrap_or_else(|| GatewayError::new(ErrorKind::Internal, "the model has no targets")))
}

/// Moves to the next target that can take the request; false when none is left.
pub fn advance(ctx: &mut RequestCtx) -> bool {
    let mut index = ctx.attempt + 1;
    while index < ctx.order.len() {
        if prepare_index(ctx, index).is_ok() {
            return true;
        }
        index += 1;
    }
    false
}

/// Whether a target after the current one exists (it may still fail to prepare).
pub fn has_next(ctx: &RequestCtx) -> bool {
    ctx.route
        .as_ref()
        .is_some_and(|r| r.attempt_order().count() > ctx.attempt + 1)
}

/// Prepares the target at position `index` of the request's order.
fn prepare_index(ctx: &mut RequestCtx, index: usize) -> Result<(), GatewayError> {
    let position = ctx.order.get(index).copied();
    let target = ctx
        .route
        .as_ref()
        .zip(position)
        .and_then(|(r, position)| r.attempt_order().nth(position))
        .cloned()
        .ok_or_else(|| GatewayError::new(ErrorKind::Internal, "no such target"))?;
    prepare(ctx, &target)?;
    ctx.attempt = index;
    ctx.target = Some(target);
    ctx.upstream_status = None;
    Ok(())
}

fn prepare(ctx: &mut RequestCtx, target: &Target) -> Result<(), GatewayError> {
    let (Some(endpoint), Some(envelope)) = (ctx.endpoint, ctx.envelope.as_ref()) else {
        return Err(GatewayError::new(ErrorKind::Internal, "request not read"));
    };
    let (dialect, operation) = (endpoint.dialect, endpoint.operation);
    let upstream = upstream_dialect(target.provider.protocol, dialect);
    let prefix = &target.provider.base_url.path_prefix;
    let body = &ctx.client_body;
    if upstream == dialect {
        let hide_usage = dialect == Dialect::OpenAiChat
            && operation == Operation::ChatCompletions
            && envelope.stream
            && !envelope.include_usage;
        let upstream_body = if hide_usage {
            envelope.with_model_and_usage(body, &target.model)
        } else {
            envelope.with_model(body, &target.model)
        };
        ctx.upstream_path = passthrough_path(prefix, operation);
        ctx.upstream_headers = Vec::new();
        ctx.handling = Some(Handling::Passthrough {
            scanner: UsageScanner::new(dialect, envelope.stream),
            hide_usage: hide_usage.then(HiddenUsageFilter::new),
        });
        ctx.upstream_body = Bytes::from(upstream_body);
    } else {
        let request = translated(
            dialect,
            upstream,
            operation,
            &envelope.model,
            body,
            &target.model,
        )?;
        // The translator reads the request's settings (echoed by Responses) before the body moves.
        let translator =
            ResponseTranslator::for_request(dialect, upstream, &request, &envelope.model);
        ctx.upstream_path = translated_path(prefix, upstream, &request.path);
        ctx.upstream_body = Bytes::from(request.body);
        ctx.upstream_headers = request.headers;
        ctx.handling = Some(Handling::Translated {
            upstream,
            translator: Box::new(translator),
            error_body: Vec::new(),
        });
    }
    Ok(())
}

/// Translates a request for an upstream of another protocol, when the operation allows it.
fn translated(
    client: Dialect,
    upstream: Dialect,
    operation: Operation,
    requested: &str,
    body: &[u8],
    upstream_model: &str,
) -> Result<UpstreamRequest, GatewayError> {
    let generative = matches!(
        operation,
        Operation::Messages | Operation::ChatCompletions | Operation::Responses
    );
    if !generative || !bytespike_translate::supported(client, upstream) {
        return Err(GatewayError::new(
            ErrorKind::InvalidRequest,
            format!(
                "model {requested:?} is served over the {upstream} protocol, which cannot serve \
                 {} requests from {client} clients",
                operation.as_str()
            ),
        ));
    }
    translate_request(client, upstream, body, upstream_model)
}

/// The dialect a provider speaks for a caller: OpenAI providers serve both OpenAI APIs.
pub fn upstream_dialect(protocol: Protocol, client: Dialect) -> Dialect {
    match protocol {
        Protocol::Anthropic => Dialect::Anthropic,
        Protocol::Openai if client == Dialect::OpenAiResponses => Dialect::OpenAiResponses,
        Protocol::Openai => Dialect::OpenAiChat,
        Protocol::Gemini => Dialect::Gemini,
    }
}

/// Upstream path for a passthrough call. Base URLs follow each vendor SDK's convention:
/// Anthropic's excludes `/v1` (`https://api.anthropic.com`), OpenAI's includes it
/// (`https://api.openai.com/v1`), so compatible vendors with other prefixes work as-is.
fn passthrough_path(prefix: &str, operation: Operation) -> String {
    let suffix = match operation {
        Operation::Messages => "/v1/messages",
        Operation::CountTokens => "/v1/messages/count_tokens",
        Operation::ChatCompletions => "/chat/completions",
        Operation::Responses => "/responses",
        Operation::Embeddings => "/embeddings",
        Operation::ImageGenerations => "/images/generations",
        Operation::ListModels | Operation::GetModel | Operation::KeyUsage => "/models",
    };
    joined(prefix, suffix)
}

/// `prefix` then `rest`, in one allocation (`format!` costs several times more, per request).
fn joined(prefix: &str, rest: &str) -> String {
    let mut path = String::with_capacity(prefix.len() + rest.len());
    path.push_str(prefix);
    path.push_str(rest);
    path
}

/// Upstream path of a translated call, under the provider's base URL: OpenAI base URLs already
/// end in the API version, the others do not (see [`passthrough_path`]).
fn translated_path(prefix: &str, upstream: Dialect, path: &str) -> String {
    let path = match upstream {
        Dialect::OpenAiChat | Dialect::OpenAiResponses => path.strip_prefix("/v1").unwrap_or(path),
        Dialect::Anthropic | Dialect::Gemini => path,
    };
    joined(prefix, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstream_paths_go_under_the_provider_prefix() {
        assert_eq!(
            passthrough_path("/openai/v1", Operation::ChatCompletions),
            "/openai/v1/chat/completions"
        );
        assert_eq!(passthrough_path("", Operation::Messages), "/v1/messages");
        // OpenAI base URLs end in the version already; the others do not.
        assert_eq!(
            translated_path("/v1", Dialect::OpenAiChat, "/v1/chat/completions"),
            "/v1/chat/completions"
        );
        assert_eq!(
            translated_path("/gw", Dialect::Gemini, "/v1beta/models/m:generateContent"),
            "/gw/v1beta/models/m:generateContent"
        );
    }
}
