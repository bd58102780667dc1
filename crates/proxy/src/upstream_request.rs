//! The upstream request header: the provider's path, host and credential in place of the
//! client's, and nothing the vendor should not see.

use bytespike_config::resources::Protocol;
use http::header::{ACCEPT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use http::request::Parts;
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

const ANTHROPIC_VERSION_HEADER: HeaderName = HeaderName::from_static("anthropic-version");

/// Rewrites the client's request header into the upstream one.
///
/// The work is done on the header's plain parts. Pingora's request header keeps a second map
/// with each name's original case, and every insert or removal through it parses the name and
/// touches both maps; header names are case-insensitive and vendors read them so, and the
/// gateway sends names in lower case (as HTTP/2 must anyway).
pub fn run(upstream: &mut RequestHeader, ctx: &RequestCtx) -> Result<()> {
    let target = ctx
        .target
        .as_ref()
        .ok_or_else(|| Error::explain(ErrorType::InternalError, "no target chosen"))?;
    let provider = &target.provider;
    let uri = ctx
        .upstream_path
        .parse()
        .map_err(|_| Error::explain(ErrorType::InternalError, "invalid upstream path"))?;
    let empty = RequestHeader::from(http::Request::new(()).into_parts().0);
    let mut parts: Parts = std::mem::replace(upstream, empty).into();
    parts.uri = uri;
    let headers = &mut parts.headers;
    // One pass over the headers the client sent (a handful) rather than one lookup per name
    // that must not be forwarded (two dozen, each a hash and a probe).
    let translated = matches!(ctx.handling, Some(Handling::Translated { .. }));
    let wire = &provider.wire;
    let credential_name = wire.credential.as_ref().map(|(name, _)| name.as_str());
    // Headers set below replace the client's values outright; removing them first would
    // cost a removal for nothing.
    let replaced = |name: &str| {
        matches!(
            name,
            "host" | "content-length" | "content-type" | "accept-encoding"
        ) || credential_name == Some(name)
    };
    let unwanted: Vec<HeaderName> = headers
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
        headers.remove(name);
    }
    // The provider's own headers were parsed when the config was compiled: each goes in as a
    // shared reference, not a copy.
    headers.insert(HOST, wire.host.clone());
    headers.insert(CONTENT_LENGTH, HeaderValue::from(ctx.upstream_body.len()));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(ACCEPT_ENCODING, HeaderValue::from_static("identity"));
    for (name, value) in &ctx.upstream_headers {
        let name = HeaderName::try_from(*name).map_err(|_| {
            Error::explain(ErrorType::InternalError, "translated request header name")
        })?;
        let value = HeaderValue::from_str(value).map_err(|_| {
            Error::explain(ErrorType::InternalError, "translated request header value")
        })?;
        headers.insert(name, value);
    }
    for (name, value) in &wire.extra {
        headers.insert(name.clone(), value.clone());
    }
    if provider.protocol == Protocol::Anthropic && !headers.contains_key(ANTHROPIC_VERSION_HEADER) {
        headers.insert(
            ANTHROPIC_VERSION_HEADER,
            HeaderValue::from_static(ANTHROPIC_VERSION),
        );
    }
    if let Some((name, value)) = &wire.credential {
        headers.insert(name.clone(), value.clone());
    }
    *upstream = RequestHeader::from(parts);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytespike_config::resources::Redacted;
    use bytespike_config::snapshot::{BaseUrl, ProviderEntry, Target, WireHeaders};

    use super::*;

    fn ctx_for(protocol: Protocol, url: &str) -> RequestCtx {
        let base_url = BaseUrl::parse(url).unwrap();
        let credential = Redacted::new("sk-provider");
        let headers = vec![("x-org-tag".to_string(), "blue".to_string())];
        let wire = WireHeaders::new(protocol, &base_url, Some(&credential), &headers).unwrap();
        let provider = ProviderEntry {
            namespace: "llm".into(),
            name: "vendor".into(),
            protocol,
            base_url,
            credential: Some(credential),
            timeouts: Default::default(),
            pool: Default::default(),
            headers,
            http2: false,
            wire,
        };
        let mut ctx = RequestCtx::new();
        ctx.target = Some(Target {
            provider: Arc::new(provider),
            model: "m".into(),
            priority: 0,
            weight: 1,
        });
        ctx.upstream_path = "/v1/chat/completions?x=1".into();
        ctx.upstream_body = bytes::Bytes::from_static(b"{\"model\":\"m\"}");
        ctx
    }

    fn client_request() -> RequestHeader {
        let mut req = RequestHeader::build("POST", b"/v1/chat/completions", None).unwrap();
        for (name, value) in [
            ("Authorization", "Bearer bsk-client"),
            ("X-Api-Key", "bsk-client"),
            ("User-Agent", "OpenAI/Python 2.1"),
            ("Accept-Encoding", "gzip"),
            ("Connection", "keep-alive"),
            ("OpenAI-Organization", "org-1"),
            ("Content-Length", "999"),
            ("Host", "gateway.local"),
            ("X-Custom", "kept"),
        ] {
            req.append_header(name, value).unwrap();
        }
        req
    }

    fn header<'a>(req: &'a RequestHeader, name: &str) -> Option<&'a str> {
        req.headers.get(name).map(|v| v.to_str().unwrap())
    }

    #[test]
    fn the_upstream_header_carries_the_provider_not_the_client() {
        let ctx = ctx_for(Protocol::Openai, "https://api.vendor.test:8443/v1");
        let mut req = client_request();
        run(&mut req, &ctx).unwrap();
        assert_eq!(req.uri.to_string(), "/v1/chat/completions?x=1");
        assert_eq!(header(&req, "authorization"), Some("Bearer sk-provider"));
        assert_eq!(header(&req, "host"), Some("api.vendor.test:8443"));
        assert_eq!(header(&req, "content-length"), Some("13"));
        assert_eq!(header(&req, "content-type"), Some("application/json"));
        assert_eq!(header(&req, "accept-encoding"), Some("identity"));
        assert_eq!(header(&req, "x-org-tag"), Some("blue"));
        assert_eq!(header(&req, "user-agent"), Some("OpenAI/Python 2.1"));
        assert_eq!(header(&req, "x-custom"), Some("kept"));
        for gone in ["x-api-key", "connection", "openai-organization"] {
            assert_eq!(header(&req, gone), None, "{gone}");
        }
        // One value per replaced header: the client's are not left beside the gateway's.
        assert_eq!(req.headers.get_all("authorization").iter().count(), 1);
        assert_eq!(req.headers.get_all("host").iter().count(), 1);
        let mut wire = bytes::BytesMut::new();
        req.header_to_h1_wire(&mut wire);
        let wire = String::from_utf8(wire.to_vec()).unwrap();
        assert!(!wire.contains("bsk-client"), "{wire}");
    }

    #[test]
    fn an_anthropic_upstream_gets_its_key_header_and_a_version() {
        let ctx = ctx_for(Protocol::Anthropic, "https://api.vendor.test");
        let mut req = client_request();
        run(&mut req, &ctx).unwrap();
        assert_eq!(header(&req, "x-api-key"), Some("sk-provider"));
        assert_eq!(header(&req, "authorization"), None);
        assert_eq!(header(&req, "anthropic-version"), Some(ANTHROPIC_VERSION));
        assert_eq!(header(&req, "host"), Some("api.vendor.test"));
        // A version the client named is kept.
        let mut req = client_request();
        req.append_header("anthropic-version", "2024-01-01")
            .unwrap();
        run(&mut req, &ctx).unwrap();
        assert_eq!(header(&req, "anthropic-version"), Some("2024-01-01"));
    }
}
