//! Upstream response bytes, streamed or whole, translated into the client's protocol.

use crate::ir::{Response, StreamEvent};
use crate::openai_responses::Echo;
use crate::stream::{Decode, Encode};
use crate::{anthropic, error, gemini, openai_chat, openai_responses, supported, UpstreamRequest};
use bytespike_protocol::{Dialect, ErrorKind, GatewayError, Usage};

/// A whole body larger than this is not a chat completion; it is refused rather than held.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Translates one upstream response for a client, fed in arbitrary chunks.
pub struct ResponseTranslator {
    mode: Mode,
}

enum Mode {
    /// Event by event: nothing is held beyond one unfinished upstream frame.
    Stream {
        decoder: Box<dyn Decode + Send + Sync>,
        encoder: Box<dyn Encode + Send + Sync>,
        events: Vec<StreamEvent>,
    },
    /// One JSON body, translated when it is complete.
    Body {
        client: Dialect,
        upstream: Dialect,
        model: String,
        created: u64,
        echo: Echo,
        buf: Vec<u8>,
        usage: Option<Usage>,
        done: bool,
    },
    /// Routes without a translation: bytes pass unchanged.
    Passthrough,
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl ResponseTranslator {
    /// A translator from `upstream` to `client`; the client sees `model_for_client` as the
    /// model, and (OpenAI clients) a usage chunk only if `client_include_usage`.
    pub fn new(
        client: Dialect,
        upstream: Dialect,
        stream: bool,
        model_for_client: &str,
        client_include_usage: bool,
    ) -> Self {
        Self::with_created(
            client,
            upstream,
            stream,
            model_for_client,
            client_include_usage,
            now(),
        )
    }

    /// As [`ResponseTranslator::new`], with the OpenAI `created` timestamp given.
    pub fn with_created(
        client: Dialect,
        upstream: Dialect,
        stream: bool,
        model_for_client: &str,
        client_include_usage: bool,
        created: u64,
    ) -> Self {
        let echo = Echo::default();
        Self::build(
            client,
            upstream,
            stream,
            model_for_client,
            client_include_usage,
            created,
            echo,
        )
    }

    /// A translator for the response to `request`: as [`ResponseTranslator::new`], and a
    /// Responses client also gets its request settings repeated in the response object and
    /// reasoning summaries if it asked for them (without this, defaults and no summaries).
    pub fn for_request(
        client: Dialect,
        upstream: Dialect,
        request: &UpstreamRequest,
        model_for_client: &str,
    ) -> Self {
        Self::for_request_with_created(client, upstream, request, model_for_client, now())
    }

    /// As [`ResponseTranslator::for_request`], with the `created` timestamp given.
    pub fn for_request_with_created(
        client: Dialect,
        upstream: Dialect,
        request: &UpstreamRequest,
        model_for_client: &str,
        created: u64,
    ) -> Self {
        let echo = request.echo.clone().unwrap_or_default();
        let (stream, usage) = (request.stream, request.client_include_usage);
        Self::build(
            client,
            upstream,
            stream,
            model_for_client,
            usage,
            created,
            echo,
        )
    }

    fn build(
        client: Dialect,
        upstream: Dialect,
        stream: bool,
        model_for_client: &str,
        client_include_usage: bool,
        created: u64,
        echo: Echo,
    ) -> Self {
        if !supported(client, upstream) {
            return ResponseTranslator {
                mode: Mode::Passthrough,
            };
        }
        let mode = if stream {
            let decoder: Box<dyn Decode + Send + Sync> = match upstream {
                Dialect::Anthropic => Box::<anthropic::stream::Decoder>::default(),
                Dialect::Gemini => Box::<gemini::stream::Decoder>::default(),
                _ => Box::<openai_chat::stream::Decoder>::default(),
            };
            let encoder: Box<dyn Encode + Send + Sync> = match client {
                Dialect::Anthropic => Box::new(anthropic::stream::Encoder::new(model_for_client)),
                Dialect::OpenAiResponses => Box::new(openai_responses::stream::Encoder::new(
                    model_for_client,
                    created,
                    echo,
                )),
                _ => Box::new(openai_chat::stream::Encoder::new(
                    model_for_client,
                    created,
                    client_include_usage,
                )),
            };
            Mode::Stream {
                decoder,
                encoder,
                events: Vec::new(),
            }
        } else {
            Mode::Body {
                client,
                upstream,
                model: model_for_client.to_string(),
                created,
                echo,
                buf: Vec::new(),
                usage: None,
                done: false,
            }
        };
        ResponseTranslator { mode }
    }

    /// Feeds the next upstream chunk, appending whatever client bytes it completes.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        match &mut self.mode {
            Mode::Stream {
                decoder,
                encoder,
                events,
            } => {
                decoder.feed(chunk, events);
                for e in events.drain(..) {
                    encoder.encode(e, out);
                }
            }
            Mode::Body {
                buf, done, client, ..
            } => {
                if *done {
                    return;
                }
                if buf.len() + chunk.len() > MAX_BODY {
                    let err = GatewayError::new(
                        ErrorKind::Upstream,
                        "the upstream response is too large to translate",
                    );
                    out.extend_from_slice(&err.render(*client).1);
                    *done = true;
                    buf.clear();
                    return;
                }
                buf.extend_from_slice(chunk);
            }
            Mode::Passthrough => out.extend_from_slice(chunk),
        }
    }

    /// The upstream ended: appends the rest of the response, or an error in the client's
    /// protocol if the upstream stopped before its response was complete.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        match &mut self.mode {
            Mode::Stream {
                decoder,
                encoder,
                events,
            } => {
                decoder.finish(events);
                for e in events.drain(..) {
                    encoder.encode(e, out);
                }
            }
            Mode::Body {
                client,
                upstream,
                model,
                created,
                echo,
                buf,
                usage,
                done,
            } => {
                if std::mem::replace(done, true) {
                    return;
                }
                let body = std::mem::take(buf);
                match decode_body(*upstream, &body) {
                    Ok(resp) => {
                        *usage = Some(resp.usage);
                        // Writing JSON into a Vec cannot fail.
                        let _ = match client {
                            Dialect::Anthropic => serde_json::to_writer(
                                &mut *out,
                                &anthropic::response::encode(&resp, model),
                            ),
                            Dialect::OpenAiResponses => serde_json::to_writer(
                                &mut *out,
                                &openai_responses::response::encode(&resp, model, *created, echo),
                            ),
                            _ => serde_json::to_writer(
                                &mut *out,
                                &openai_chat::response::encode(&resp, model, *created),
                            ),
                        };
                    }
                    Err(e) => out.extend_from_slice(&e.render(*client).1),
                }
            }
            Mode::Passthrough => {}
        }
    }

    /// Usage the upstream reported, normalised; for a whole body, known after `finish`.
    pub fn usage(&self) -> Option<Usage> {
        match &self.mode {
            Mode::Stream { decoder, .. } => decoder.usage(),
            Mode::Body { usage, .. } => *usage,
            Mode::Passthrough => None,
        }
    }
}

/// Decodes a whole upstream response body into the IR.
pub fn decode_body(upstream: Dialect, body: &[u8]) -> Result<Response, GatewayError> {
    match upstream {
        Dialect::Anthropic => anthropic::response::decode(body).map_err(|e| error::unreadable(&e)),
        Dialect::Gemini => gemini::response::decode(body),
        Dialect::OpenAiChat | Dialect::OpenAiResponses => openai_chat::response::decode(body),
    }
}

// The proxy keeps a translator in its per-request context, which must be `Send`.
const _: fn() = || {
    fn send<T: Send>() {}
    send::<ResponseTranslator>();
};
