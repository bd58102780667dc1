//! The request phase: match the route, authenticate, read the body, resolve the model, and
//! prepare the upstream request before any upstream is chosen.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use bytespike_config::snapshot::KeyEntry;
use bytespike_config::{AuthError, RouteError, Snapshot};
use bytespike_protocol::RequestError;
use bytespike_protocol::{endpoint, Dialect, ErrorKind, GatewayError, Operation, RequestEnvelope};
use pingora_error::Result;
use pingora_proxy::Session;

use crate::budget::{self, Refusal};
use crate::context::{Budget, RequestCtx};
use crate::{models, respond, target, unread_body, Gateway};

/// Runs the phase; `Ok(true)` means the gateway answered and proxying stops here.
pub async fn run(gw: &Gateway, session: &mut Session, ctx: &mut RequestCtx) -> Result<bool> {
    let anthropic_caller = session.get_header("anthropic-version").is_some();
    let header = session.req_header();
    let found = endpoint::route(header.method.as_str(), header.uri.path(), anthropic_caller);
    let endpoint = match found {
        Ok(endpoint) => endpoint,
        Err(err) => {
            let dialect = err.dialect.unwrap_or(Dialect::OpenAiChat);
            refuse(gw, session, ctx, dialect, err).await?;
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
            refuse(gw, session, ctx, dialect, err).await?;
            Ok(true)
        }
    }
}

/// Answers with `err`, then reads what the client is still sending of its body, so that it
/// can read the answer (see `unread_body`).
async fn refuse(
    gw: &Gateway,
    session: &mut Session,
    ctx: &mut RequestCtx,
    dialect: Dialect,
    err: GatewayError,
) -> Result<()> {
    let stalled = err.kind == ErrorKind::RequestTimeout;
    if stalled || err.kind == ErrorKind::RequestTooLarge {
        // The rest of the body was never read: the connection cannot be reused.
        session.set_keepalive(None);
    }
    respond::error(session, ctx, dialect, err).await?;
    ctx.refused_at = Some(Instant::now());
    if !stalled {
        let settings = &gw.settings;
        let (max, idle) = (settings.max_body_bytes, settings.client_body_timeout);
        unread_body::discard(session, max, idle).await;
    }
    Ok(())
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

    let body = read_body(
        session,
        gw.settings.max_body_bytes,
        gw.settings.client_body_timeout,
    )
    .await?;
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
    ctx.stream = envelope.stream;
    ctx.client_body = body;
    ctx.requested_model = Some(envelope.model.clone());
    ctx.envelope = Some(envelope);
    ctx.route = Some(route);
    // The first target the request can be prepared for; later ones serve failovers.
    target::first(ctx, &gw.health)?;
    if operation.is_billable() {
        let body_len = ctx.client_body.len();
        admit(gw, ctx, &key, body_len).await?;
    }
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
    if limits.is_unlimited() && !gw.limiter.tracks_unlimited() {
        gw.limiter.untracked_admitted();
        ctx.budget = Some(Budget::Untracked);
        return Ok(());
    }
    // Four bytes per token is the usual estimate; settlement replaces it with the real count.
    let estimate = (body_len / 4) as u64;
    match budget::admit(gw.limiter.as_ref(), key, &limits, &ctx.request_id, estimate).await {
        Ok(admitted) => {
            ctx.budget = Some(Budget::Held(admitted.reservation));
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

/// Reads the whole request body, refusing one over `max` bytes as early as it can, and a client
/// that stops sending for `idle` (a slow-body attack holds a connection and a worker otherwise).
async fn read_body(
    session: &mut Session,
    max: usize,
    idle: Duration,
) -> Result<Bytes, GatewayError> {
    let too_large = || {
        GatewayError::new(
            ErrorKind::RequestTooLarge,
            format!("request body is over the gateway's limit of {max} bytes"),
        )
    };
    let stalled = || {
        GatewayError::new(
            ErrorKind::RequestTimeout,
            format!(
                "the request body stopped arriving for {}s",
                idle.as_secs_f32()
            ),
        )
    };
    let declared = session
        .get_header("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > max) {
        return Err(too_large());
    }
    // An HTTP/1 session times each body read with Pingora's own timer, which costs nothing
    // unless the read has to wait; an HTTP/2 session has no read timeout, so its reads get a
    // timer of their own.
    let previous = session.get_read_timeout();
    session.set_read_timeout(Some(idle));
    let session_times_reads = session.get_read_timeout() == Some(idle);
    let read = read_chunks(session, max, idle, session_times_reads, declared).await;
    session.set_read_timeout(previous);
    read.map_err(|e| match e {
        ChunksError::TooLarge => too_large(),
        ChunksError::Stalled => stalled(),
        ChunksError::Read(e) => GatewayError::new(
            ErrorKind::InvalidRequest,
            format!("could not read the request body: {}", e.etype().as_str()),
        ),
    })
}

enum ChunksError {
    TooLarge,
    /// No byte for the idle timeout, whichever timer saw it.
    Stalled,
    Read(Box<pingora_error::Error>),
}

/// The body's chunks joined. A body that arrives as one chunk (the common small request) is
/// that chunk itself, not a copy of it.
async fn read_chunks(
    session: &mut Session,
    max: usize,
    idle: Duration,
    session_times_reads: bool,
    declared: Option<usize>,
) -> Result<Bytes, ChunksError> {
    // The body while it is one chunk; `joined` once a second chunk came.
    let mut body = Bytes::new();
    let mut joined: Option<BytesMut> = None;
    loop {
        let read = if session_times_reads {
            session.read_request_body().await
        } else {
            tokio::time::timeout(idle, session.read_request_body())
                .await
                .map_err(|_| ChunksError::Stalled)?
        };
        let chunk = match read {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) if *e.etype() == pingora_error::ErrorType::ReadTimedout => {
                return Err(ChunksError::Stalled)
            }
            Err(e) => return Err(ChunksError::Read(e)),
        };
        let so_far = joined.as_ref().map_or(body.len(), BytesMut::len);
        if so_far + chunk.len() > max {
            return Err(ChunksError::TooLarge);
        }
        match &mut joined {
            Some(buffer) => buffer.extend_from_slice(&chunk),
            None if body.is_empty() => body = chunk,
            None => {
                let capacity = declared.unwrap_or(16 * 1024).max(so_far + chunk.len());
                let mut buffer = BytesMut::with_capacity(capacity);
                buffer.extend_from_slice(&body);
                buffer.extend_from_slice(&chunk);
                joined = Some(buffer);
            }
        }
    }
    Ok(joined.map_or(body, BytesMut::freeze))
}
