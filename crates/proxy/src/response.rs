//! The response phases: headers and body from the upstream on their way to the client.

use std::time::Instant;

use bytes::Bytes;
use bytespike_protocol::Dialect;
use bytespike_translate::translate_error;
use http::header::{CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE};
use http::response::Parts;
use http::{HeaderName, HeaderValue, StatusCode};
use pingora_error::{ErrorType::InternalError, OrErr, Result};
use pingora_http::ResponseHeader;

use crate::context::{Handling, RequestCtx};
use crate::{budget, respond};

/// Upstream headers that describe the gateway's vendor account, not the caller's key.
fn vendor_account_header(name: &str) -> bool {
    matches!(
        name,
        "set-cookie" | "anthropic-organization-id" | "openai-organization" | "openai-project"
    )
}

/// The vendor's limit headers: they describe the gateway's vendor account; when the caller's
/// key is budgeted, its own limit headers replace them.
fn vendor_limit_header(name: &str) -> bool {
    name.starts_with("anthropic-ratelimit-") || name.starts_with("x-ratelimit-")
}

/// Room for what [`header`] adds besides the limit headers: request ids and content headers.
/// Reserved at once, the map grows once instead of insert by insert.
const ADDED_HEADERS: usize = 4;

/// Adjusts the response header before it goes to the client.
///
/// The edits go to the plain `http` parts rather than through Pingora's case-preserving inserts,
/// which parse every name again, keep a second map of original spellings in step and grow both
/// maps insert by insert: on a budgeted response that cost more than the rest of the phase. So
/// HTTP/1 clients see the upstream's own header names in lower case (standard ones titled), as
/// HTTP/2 clients always do; header names are case-insensitive (RFC 9110, section 5.1).
pub fn header(upstream: &mut ResponseHeader, ctx: &mut RequestCtx) -> Result<()> {
    let (status, reason) = (upstream.status, custom_reason(upstream));
    let placeholder = ResponseHeader::from(http::Response::new(()).into_parts().0);
    let mut parts = Parts::from(std::mem::replace(upstream, placeholder));
    edit(&mut parts, ctx)?;
    *upstream = ResponseHeader::from(parts);
    // A status the gateway re-mapped (a translated error) takes its own usual phrase.
    let reason = reason.filter(|_| upstream.status == status);
    upstream.set_reason_phrase(reason.as_deref())
}

/// The upstream's reason phrase when it is not the status's usual one.
fn custom_reason(header: &ResponseHeader) -> Option<String> {
    header
        .get_reason_phrase()
        .filter(|&reason| Some(reason) != header.status.canonical_reason())
        .map(str::to_owned)
}

fn edit(upstream: &mut Parts, ctx: &mut RequestCtx) -> Result<()> {
    ctx.upstream_status = Some(upstream.status.as_u16());
    let budgeted = ctx.budget.is_some();
    let headers = &mut upstream.headers;
    // One pass over what the upstream sent rather than one lookup per unwanted name.
    let unwanted: Vec<HeaderName> = headers
        .keys()
        .filter(|n| {
            vendor_account_header(n.as_str()) || (budgeted && vendor_limit_header(n.as_str()))
        })
        .cloned()
        .collect();
    for name in &unwanted {
        headers.remove(name);
    }
    headers.reserve(ADDED_HEADERS + if budgeted { budget::LIMIT_HEADERS } else { 0 });
    let dialect = ctx.endpoint.map_or(Dialect::OpenAiChat, |e| e.dialect);
    respond::request_id_headers(headers, ctx, dialect)?;
    if budgeted {
        budget::headers(headers, dialect, &ctx.windows)?;
    }
    const JSON: HeaderValue = HeaderValue::from_static("application/json");
    match &ctx.handling {
        Some(Handling::Passthrough {
            hide_usage: Some(_),
            ..
        }) => {
            // The body loses the usage chunk, so its length changes.
            headers.remove(CONTENT_LENGTH);
        }
        Some(Handling::Translated { upstream: from, .. }) => {
            let status = upstream.status.as_u16();
            if status >= 400 {
                // The body is re-shaped once complete; the status maps on its own.
                let (client_status, _) = translate_error(dialect, *from, status, b"");
                upstream.status = StatusCode::from_u16(client_status)
                    .or_err(InternalError, "translated error status")?;
                headers.insert(CONTENT_TYPE, JSON);
            } else if ctx.stream {
                headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
                headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            } else {
                headers.insert(CONTENT_TYPE, JSON);
            }
            headers.remove(CONTENT_LENGTH);
            headers.remove(CONTENT_ENCODING);
        }
        _ => {}
    }
    Ok(())
}

/// Whether the client's body comes out of [`body`] only at its end: a translated answer that
/// is no stream, and a translated error, are re-encoded once the upstream's is complete. Sent
/// whole, with its length, the answer leaves in one write instead of a header, one chunk and
/// the last chunk.
pub fn sent_whole(ctx: &RequestCtx) -> bool {
    matches!(ctx.handling, Some(Handling::Translated { .. }))
        && (!ctx.stream || ctx.upstream_status.is_none_or(|s| s >= 400))
}

/// Passes a body chunk on, reading usage from it (and hiding the usage chunk a client did not
/// ask for). Synchronous: nothing here may wait.
pub fn body(body: &mut Option<Bytes>, end_of_stream: bool, ctx: &mut RequestCtx) {
    if ctx.first_byte.is_none() && body.as_ref().is_some_and(|b| !b.is_empty()) {
        ctx.first_byte = Some(Instant::now());
        // From here on no failover can replace this attempt (see `failover::while_proxying`).
        ctx.release_request_bodies();
    }
    let ok_status = ctx.upstream_status.is_some_and(|s| s < 400);
    match &mut ctx.handling {
        Some(Handling::Passthrough {
            scanner,
            hide_usage,
        }) => {
            let usage_objects_before = scanner.objects_begun();
            if let Some(chunk) = body.as_ref() {
                if ok_status {
                    scanner.feed(chunk);
                }
            }
            if let (Some(filter), true) = (hide_usage.as_mut(), ok_status) {
                let holds_usage = scanner.objects_begun() != usage_objects_before;
                if body
                    .as_ref()
                    .is_some_and(|c| filter.passes_untouched(c, holds_usage))
                {
                    return;
                }
                let mut out = Vec::with_capacity(body.as_ref().map_or(0, |b| b.len()));
                if let Some(chunk) = body.as_ref() {
                    filter.filter(chunk, &mut out);
                }
                if end_of_stream {
                    filter.finish(&mut out);
                }
                *body = Some(Bytes::from(out));
            }
        }
        Some(Handling::Translated {
            upstream,
            translator,
            error_body,
        }) => {
            let client = ctx.endpoint.map_or(Dialect::OpenAiChat, |e| e.dialect);
            if !ok_status {
                if let Some(chunk) = body.as_ref() {
                    let room = MAX_ERROR_BODY.saturating_sub(error_body.len());
                    error_body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                *body = end_of_stream.then(|| {
                    let status = ctx.upstream_status.unwrap_or(502);
                    Bytes::from(translate_error(client, *upstream, status, error_body).1)
                });
                return;
            }
            let mut out = Vec::with_capacity(body.as_ref().map_or(0, |b| b.len() + 256));
            if let Some(chunk) = body.as_ref() {
                translator.feed(chunk, &mut out);
            }
            if end_of_stream {
                translator.finish(&mut out);
            }
            *body = Some(Bytes::from(out));
        }
        None => {}
    }
}

/// Upstream error bodies are small; anything past this is not needed to re-shape one.
const MAX_ERROR_BODY: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(header: &ResponseHeader) -> String {
        let mut buf = Vec::new();
        header.header_to_h1_wire(&mut buf);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn request_bodies_are_released_with_the_first_byte_of_the_answer() {
        let mut ctx = RequestCtx::new();
        ctx.client_body = Bytes::from(vec![b'x'; 100_000]);
        ctx.upstream_body = Bytes::from(vec![b'y'; 100_000]);
        ctx.upstream_status = Some(200);

        body(&mut Some(Bytes::new()), false, &mut ctx);
        assert_eq!(
            ctx.client_body.len(),
            100_000,
            "an empty chunk is not an answer yet"
        );
        assert!(ctx.first_byte.is_none());

        let mut chunk = Some(Bytes::from_static(b"data: {}\n\n"));
        body(&mut chunk, false, &mut ctx);
        assert!(ctx.first_byte.is_some());
        assert!(ctx.client_body.is_empty() && ctx.upstream_body.is_empty());
        assert_eq!(chunk.as_deref(), Some(&b"data: {}\n\n"[..]));
    }

    #[test]
    fn header_edits_keep_status_reason_and_upstream_headers() {
        let mut upstream = ResponseHeader::build(200, Some(3)).unwrap();
        upstream.set_reason_phrase(Some("All Good")).unwrap();
        upstream.append_header("Content-Length", "12").unwrap();
        upstream.append_header("Set-Cookie", "vendor=1").unwrap();
        upstream.append_header("X-Upstream-Trace", "abc").unwrap();
        upstream.append_header("X-Upstream-Trace", "def").unwrap();
        let mut ctx = RequestCtx::new();

        header(&mut upstream, &mut ctx).unwrap();

        assert_eq!(ctx.upstream_status, Some(200));
        assert_eq!(upstream.get_reason_phrase(), Some("All Good"));
        let traces: Vec<_> = upstream
            .headers
            .get_all("x-upstream-trace")
            .iter()
            .collect();
        assert_eq!(traces, ["abc", "def"]);
        assert!(!upstream.headers.contains_key("set-cookie"));
        assert_eq!(upstream.headers["x-request-id"], ctx.request_id.as_str());
        // Without the case map, standard names are titled and the rest written as stored.
        let text = wire(&upstream);
        assert!(text.contains("Content-Length: 12\r\n"), "{text}");
        assert!(text.contains("x-upstream-trace: abc\r\n"), "{text}");
        assert!(text.contains("x-request-id: "), "{text}");
    }

    #[test]
    fn a_translated_error_status_takes_its_own_reason_phrase() {
        let mut upstream = ResponseHeader::build(529, None).unwrap();
        upstream.set_reason_phrase(Some("Overloaded")).unwrap();
        let mut ctx = translated(Dialect::OpenAiChat, Dialect::Anthropic, false);

        header(&mut upstream, &mut ctx).unwrap();

        let (mapped, _) = translate_error(Dialect::OpenAiChat, Dialect::Anthropic, 529, b"");
        assert_ne!(
            mapped, 529,
            "the case needs a status the translation changes"
        );
        assert_eq!(upstream.status.as_u16(), mapped);
        assert_eq!(
            upstream.get_reason_phrase(),
            upstream.status.canonical_reason()
        );
        assert_eq!(upstream.headers["content-type"], "application/json");
    }

    /// A request on a translated route, before its answer's header arrived.
    fn translated(client: Dialect, upstream: Dialect, stream: bool) -> RequestCtx {
        let mut ctx = RequestCtx::new();
        ctx.stream = stream;
        ctx.handling = Some(Handling::Translated {
            upstream,
            translator: Box::new(bytespike_translate::ResponseTranslator::new(
                client, upstream, stream, "m", false,
            )),
            error_body: Vec::new(),
        });
        ctx
    }

    #[test]
    fn only_answers_re_encoded_at_their_end_are_sent_whole() {
        let answered = |stream: bool, status: u16| {
            let mut ctx = translated(Dialect::Anthropic, Dialect::OpenAiChat, stream);
            ctx.upstream_status = Some(status);
            sent_whole(&ctx)
        };
        assert!(answered(false, 200));
        assert!(answered(false, 429));
        assert!(answered(true, 500), "a stream's error is one JSON body");
        assert!(!answered(true, 200), "events must leave as they come");
        let mut passthrough = RequestCtx::new();
        passthrough.upstream_status = Some(200);
        assert!(!sent_whole(&passthrough));
    }

    #[test]
    fn a_usual_reason_phrase_stays_the_default() {
        let mut upstream = ResponseHeader::build(404, None).unwrap();
        upstream.set_reason_phrase(Some("Not Found")).unwrap();
        header(&mut upstream, &mut RequestCtx::new()).unwrap();
        assert_eq!(upstream.status.as_u16(), 404);
        assert_eq!(upstream.get_reason_phrase(), Some("Not Found"));
        assert_eq!(custom_reason(&upstream), None);
    }
}
