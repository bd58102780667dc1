//! The upstream request header: the provider's path, host and credential in place of the
//! client's, and nothing the vendor should not see.

use bytespike_config::resources::Protocol;
use http::{HeaderName, HeaderValue};
use pingora_error::{Error, ErrorType, Result};
use pingora_http::RequestHeader;

use crate::context::{Handling, RequestCtx};

/// Client headers never forwarded: hop-by-hop, the client's own credentials, headers the
/// gateway sets itself, and OpenAI account headers (the provider's credential decides those).
fn never_forwarded(name: &str) -> bool {
    matches!(
        name,
        "connection"
            | "keep-alive"
            | "proxy-connection"
            | "transfer-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "host"
            | "content-length"
            | "authorization"
            | "proxy-authorization"
            | "x-api-key"
            | "api-key"
            | "x-goog-api-key"
            | "cookie"
            | "openai-organization"
            | "openai-project"
            // The gateway reads usage from the response, so it must arrive uncompressed.
            | "accept-encoding"
            | "forwarded"
            | "x-forwarded-for"
            | "x-forwarded-host"
            | "x-forwarded-proto"
            | "x-real-ip"
    )
}

/// Client headers kept when the request is translated for another vendor: the client's own
/// vendor headers (versions, betas, session ids, SDK telemetry) mean nothing to another vendor.
const TRANSLATION_KEPT: &[&str] = &["user-agent", "x-request-id", "traceparent", "tracestate"];

/// The API version sent to Anthropic when the client did not name one.
const ANTHROPIC_VERSION: &str = "2023-06-01";

/// What precedes an OpenAI provider's credential in its `authorization` header.
const BEARER: &str = "Bearer ";

/// The header that carries a provider's credential.
fn credential_header(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Anthropic => "x-api-key",
        Protocol::Openai => "authorization",
        Protocol::Gemini => "x-goog-api-key",
    }
}

/// Rewrites the client's request header into the upstream one.
pub fn run(upstream: &mut RequestHeader, ctx: &RequestCtx) -> Result<()> {
    let target = ctx
        .target
        .as_ref()
        .ok_or_else(|| Error::explain(ErrorType::InternalError, "no target chosen"))?;
    let provider = &target.provider;
    // One pass over the headers the client sent (a handful) rather than one lookup per name
    // that must not be forwarded (two dozen, each a hash and a probe).
    let translated = matches!(ctx.handling, Some(Handling::Translated { .. }));
    let credential_name = provider
        .credential
        .as_ref()
        .map(|_| credential_header(provider.protocol));
    // Headers set below replace the client's values outright; removing them first would
    // cost a removal from both of Pingora's header maps for nothing.
    let replaced = |name: &str| {
        matches!(
            name,
            "host" | "content-length" | "content-type" | "accept-encoding"
        ) || credential_name == Some(name)
    };
    let unwanted: Vec<HeaderName> = upstream
        .headers
        .keys()
        .filter(|name| {
            let name = name.as_str();
            // Vendor-specific client headers mean nothing to another vendor.
            !replaced(name)
                && (never_forwarded(name) || (translated && !TRANSLATION_KEPT.contains(&name)))
        })
        .cloned()
        .collect();
    for name in &unwanted {
        upstream.remove_header(name);
    }
    let uri = ctx
        .upstream_path
        .parse()
        .map_err(|_| Error::explain(ErrorType::InternalError, "invalid upstream path"))?;
    upstream.set_uri(uri);
    upstream.insert_header("host", provider.base_url.authority.as_str())?;
    upstream.insert_header("content-length", HeaderValue::from(ctx.upstream_body.len()))?;
    upstream.insert_header("content-type", "application/json")?;
    upstream.insert_header("accept-encoding", "identity")?;
    for (name, value) in &ctx.upstream_headers {
        upstream.insert_header(*name, value.as_str())?;
    }
    for (name, value) in &provider.headers {
        upstream.insert_header(name.clone(), value.as_str())?;
    }
    if provider.protocol == Protocol::Anthropic
        && upstream.headers.get("anthropic-version").is_none()
    {
        upstream.insert_header("anthropic-version", ANTHROPIC_VERSION)?;
    }
    if let (Some(credential), Some(name)) = (&provider.credential, credential_name) {
        let secret = credential.expose();
        // Built in one allocation that becomes the header value's own buffer.
        let mut value = String::with_capacity(BEARER.len() + secret.len());
        match provider.protocol {
            Protocol::Openai => value.push_str(BEARER),
            Protocol::Anthropic | Protocol::Gemini => {}
        }
        value.push_str(secret);
        let mut value = HeaderValue::try_from(value).map_err(|_| {
            Error::explain(
                ErrorType::InternalError,
                "provider credential is not a valid header value",
            )
        })?;
        // Sensitive values print as "Sensitive" in any debug log of the header.
        value.set_sensitive(true);
        upstream.insert_header(name, value)?;
    }
    Ok(())
}
