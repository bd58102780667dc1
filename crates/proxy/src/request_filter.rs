//! The request phase: match the route, authenticate, read the body, resolve the model, and
//! prepare the upstream request before any upstream is chosen.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::{Bytes, BytesMut};
use bytespike_config::resources::Protocol;
use bytespike_config::{AuthError, RouteError, Snapshot};
use bytespike_protocol::hidden_usage::HiddenUsageFilter;
use bytespike_protocol::{endpoint, Dialect, ErrorKind, GatewayError, Operation, RequestEnvelope};
use bytespike_protocol::{RequestError, UsageScanner};
use bytespike_translate::{translate_request, ResponseTranslator, UpstreamRequest};
use pingora_error::Result;
use pingora_proxy::Session;

use crate::budget::{self, Refusal};
use crate::context::{Handling, RequestCtx};
use crate::{models, respond, Gateway};
use bytespike_config::snapshot::KeyEntry;

/// Runs the phase; `Ok(true)` means the gateway answered and proxying stops here.
pub async fn run(gw: &Gateway, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
    let anthropic_caller = session.get_header("anthropic-version").is_some();
    let header = session.req_header();
    let found = endpoint::route(header.method.as_str(), header.uri.path(), anthropic_caller);
    let endpoint = match found {
        Ok(endpoint) => endpoint,
        Err(err) => {
            let dialect = err.dialect.unwrap_or(Dialect::OpenAiChat);
            respond::error(session, ctx, dialect, err).await?;
            return Ok(true);
        }
    };
    ctx.endpoint = Some(endpoint);
    let dialect = endpoint.dialect;
    let snapshot = gw.snapshot.load_full();

    match prepare(gw, &snapshot, session, ctx, endpoint.operation).await {
        Ok(Prepared::Proxy) => Ok(false),
        Ok(Prepared::Answered(status, body)) => {
            respond::json(session, ctx, dialect, status, body).await?;
            Ok(true)
        }
        Err(err) => {
            if err.kind == ErrorKind::RequestTooLarge {
                // The rest of the body was never read: the connection cannot be reused.
                session.set_keepalive(None);
            }
            respond::error(session, ctx, dialect, err).await?;
            Ok(true)
        }
    }
}

enum Prepared {
    /// Go on to the upstream.
    Proxy,
    /// The gateway answers itself (model listings).
    Answered(u16, Vec<u8>),
}

async fn prepare(
    gw: &Gateway,
    snapshot: &Arc<Snapshot>,
    session: &mut Session,
    ctx: &mut RequestCtx,
    operation: Operation,
) -> Result<Prepared, GatewayError> {
    let key = authenticate(snapshot, session)?;
    ctx.key = Some(key.clone());
    let dialect = ctx.endpoint.map_or(Dialect::OpenAiChat, |e| e.dialect);
    match operation {
        Operation::ListModels => {
            return Ok(Prepared::Answered(
                200,
                models::list(snapshot, &key, dialect),
            ))
        }
        Operation::GetModel => {
            let path = session.req_header().uri.path();
            let id = path
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string();
            return Ok(Prepared::Answered(
                200,
                models::get(snapshot, &key, dialect, &id)?,
            ));
        }
        Operation::KeyUsage => {
            let body = usage_report(gw, &key).await?;
            return Ok(Prepared::Answered(200, body));
        }
        _ => {}
    }

    let body = read_body(session, gw.settings.max_body_bytes).await?;
    let envelope = RequestEnvelope::parse(&body).map_err(|e| match e {
        RequestError::MissingModel => {
            GatewayError::new(ErrorKind::InvalidRequest, "model: a model id is required")
        }
        other => GatewayError::new(ErrorKind::InvalidRequest, other.to_string()),
    })?;
    let route = snapshot
        .resolve(&key, &envelope.model)
        .map_err(|e| match e {
            RouteError::NotPermitted => GatewayError::new(
                ErrorKind::Permission,
                format!("this key may not call model {:?}", envelope.model),
            ),
            RouteError::UnknownModel => GatewayError::new(
                ErrorKind::NotFound,
                format!(
                    "model {:?} does not exist; GET /v1/models lists the models of this key",
                    envelope.model
                ),
            )
            .with_code("model_not_found"),
        })?;
    let target = route.primary().clone();
    let upstream = upstream_dialect(target.provider.protocol, dialect);
    let prefix = &target.provider.base_url.path_prefix;
    if upstream == dialect {
        let hide_usage = dialect == Dialect::OpenAiChat
            && operation == Operation::ChatCompletions
            && envelope.stream
            && !envelope.include_usage;
        let upstream_body = if hide_usage {
            envelope.with_model_and_usage(&body, &target.model)
        } else {
            envelope.with_model(&body, &target.model)
        };
        ctx.upstream_path = passthrough_path(prefix, operation);
        ctx.upstream_body = Bytes::from(upstream_body);
        ctx.handling = Some(Handling::Passthrough {
            scanner: UsageScanner::new(dialect, envelope.stream),
            hide_usage: hide_usage.then(HiddenUsageFilter::new),
        });
    } else {
        let request = translated(
            dialect,
            upstream,
            operation,
            &envelope.model,
            &body,
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
    ctx.stream = envelope.stream;
    if operation.is_billable() {
        admit(gw, ctx, &key, body.len()).await?;
    }
    ctx.requested_model = Some(envelope.model);
    ctx.target = Some(target);
    ctx.route = Some(route);
    Ok(Prepared::Proxy)
}

/// Holds budget for the request, or refuses it with a 429 (or 503 when limits cannot be checked).
async fn admit(
    gw: &Gateway,
    ctx: &mut RequestCtx,
    key: &KeyEntry,
    body_len: usize,
) -> Result<(), GatewayError> {
    let limits = budget::key_limits(key, gw.settings.cache_read_weight_permille);
    // Four bytes per token is the usual estimate; settlement replaces it with the real count.
    let estimate = (body_len / 4) as u64;
    match budget::admit(gw.limiter.as_ref(), key, &limits, &ctx.request_id, estimate).await {
        Ok(admitted) => {
            ctx.reservation = Some(admitted.reservation);
            ctx.windows = admitted.windows;
            Ok(())
        }
        Err(Refusal::Rejected(rejection)) => {
            ctx.retry_after = budget::retry_after_seconds(&rejection);
            // The rejection path may afford a second look, so that even a 429 carries headers.
            ctx.windows = gw
                .limiter
                .usage(&budget::key_id(key), &limits, SystemTime::now())
                .await
                .unwrap_or_default();
            Err(budget::rejection_error(&rejection))
        }
        Err(Refusal::Error(err)) => Err(err),
    }
}

/// `GET /v1/usage`: the calling key's windows, what is used and what is left.
async fn usage_report(gw: &Gateway, key: &KeyEntry) -> Result<Vec<u8>, GatewayError> {
    let limits = budget::key_limits(key, gw.settings.cache_read_weight_permille);
    let windows = if limits.is_unlimited() {
        Vec::new()
    } else {
        gw.limiter
            .usage(&budget::key_id(key), &limits, SystemTime::now())
            .await
            .map_err(|e| {
                GatewayError::new(
                    ErrorKind::Unavailable,
                    format!("usage cannot be read right now: {e}"),
                )
            })?
    };
    Ok(budget::usage_document(&key.id, &windows))
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

/// Upstream path of a translated call, under the provider's base URL: OpenAI base URLs already
/// end in the API version, the others do not (see [`passthrough_path`]).
fn translated_path(prefix: &str, upstream: Dialect, path: &str) -> String {
    let path = match upstream {
        Dialect::OpenAiChat | Dialect::OpenAiResponses => path.strip_prefix("/v1").unwrap_or(path),
        Dialect::Anthropic | Dialect::Gemini => path,
    };
    format!("{prefix}{path}")
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
    format!("{prefix}{suffix}")
}

fn authenticate(
    snapshot: &Snapshot,
    session: &Session,
) -> Result<Arc<bytespike_config::snapshot::KeyEntry>, GatewayError> {
    let presented = presented_key(session).ok_or_else(|| {
        GatewayError::new(
            ErrorKind::Authentication,
            "no API key: send the gateway key as `x-api-key` or `Authorization: Bearer`",
        )
    })?;
    snapshot
        .authenticate(presented, SystemTime::now())
        .cloned()
        .map_err(|e| {
            let message = match e {
                AuthError::Unknown => "invalid API key",
                AuthError::Disabled => "this API key is disabled",
                AuthError::Expired => "this API key has expired",
            };
            GatewayError::new(ErrorKind::Authentication, message)
        })
}

/// The key from `x-api-key`, else from `Authorization: Bearer`.
fn presented_key(session: &Session) -> Option<&str> {
    if let Some(value) = session.get_header("x-api-key") {
        return value.to_str().ok().map(str::trim).filter(|k| !k.is_empty());
    }
    let auth = session.get_header("authorization")?.to_str().ok()?;
    let (scheme, key) = auth.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| key.trim())
        .filter(|k| !k.is_empty())
}

/// Reads the whole request body, refusing one over `max` bytes as early as it can.
async fn read_body(session: &mut Session, max: usize) -> Result<Bytes, GatewayError> {
    let too_large = || {
        GatewayError::new(
            ErrorKind::RequestTooLarge,
            format!("request body is over the gateway's limit of {max} bytes"),
        )
    };
    let declared = session
        .get_header("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > max) {
        return Err(too_large());
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(16 * 1024));
    loop {
        let chunk = session.read_request_body().await.map_err(|e| {
            GatewayError::new(
                ErrorKind::InvalidRequest,
                format!("could not read the request body: {}", e.etype().as_str()),
            )
        })?;
        let Some(chunk) = chunk else { break };
        if body.len() + chunk.len() > max {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}
