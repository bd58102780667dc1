//! Response bodies: whole JSON, frame streams fed by a task (with cut, stall and in-stream
//! error behaviours), and the wrapper that notices clients leaving early.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::{combinators::BoxBody, BodyExt, Full};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::record::{DisconnectGuard, Stats};

/// The body type of every response.
pub type Body = BoxBody<Bytes, io::Error>;

/// A whole body from bytes.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A JSON response with the given status.
pub fn json(status: u16, value: &Value) -> Response<Body> {
    let mut resp = Response::new(full(value.to_string()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// One server-sent event with an `event:` line, as Anthropic and the Responses API send them.
pub fn sse_event(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// One `data:` server-sent event, as OpenAI Chat Completions sends them.
pub fn sse_data(data: &Value) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

/// How long a cut waits for earlier frames to be written before dropping the connection.
const CUT_PAUSE: Duration = Duration::from_millis(20);

/// How a stream should misbehave, from directives or the server mode.
#[derive(Debug, Clone, Copy, Default)]
pub struct Faults {
    pub cut_after: Option<usize>,
    pub stall_after: Option<usize>,
    pub stream_error_after: Option<usize>,
}

/// Body fed frame by frame from a channel.
struct ChannelBody {
    rx: mpsc::Receiver<io::Result<Bytes>>,
}

impl HttpBody for ChannelBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|r| r.map(Frame::data)))
    }
}

/// Streams `frames`, pausing `delay` between them and applying `faults`; `error_frame` is the
/// vendor's in-stream error. Counts a completed stream when every frame was handed over.
pub fn stream(
    frames: Vec<Bytes>,
    error_frame: Bytes,
    faults: Faults,
    delay: Duration,
    stats: Arc<Stats>,
) -> Body {
    // Capacity 1 keeps the producer at most one frame ahead of the client, so a client that
    // stops reading is noticed promptly and completion is counted close to the last write.
    let (tx, rx) = mpsc::channel(1);
    tokio::spawn(async move {
        for (i, frame) in frames.into_iter().enumerate() {
            if faults.cut_after == Some(i) {
                // Hyper flushes what it holds only when the body is pending; pause so the
                // frames already sent reach the client before the cut.
                tokio::time::sleep(CUT_PAUSE).await;
                // An error from the body makes hyper abort the connection (or reset the h2
                // stream) without the terminating chunk: a truncated stream.
                let _ = tx.send(Err(io::Error::other("cut by fake provider"))).await;
                return;
            }
            if faults.stall_after == Some(i) {
                tx.closed().await;
                return;
            }
            if faults.stream_error_after == Some(i) {
                let _ = tx.send(Ok(error_frame)).await;
                return;
            }
            if i > 0 && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if tx.send(Ok(frame)).await.is_err() {
                return;
            }
        }
        Stats::bump(&stats.streams_completed);
    });
    ChannelBody { rx }.boxed()
}

/// A non-streaming body that sends its first half and then aborts the connection.
pub fn cut_whole(bytes: Bytes, stats: Arc<Stats>) -> Body {
    let half = bytes.slice(..bytes.len() / 2);
    let faults = Faults {
        cut_after: Some(1),
        ..Faults::default()
    };
    stream(vec![half], Bytes::new(), faults, Duration::ZERO, stats)
}

/// Wraps a response body and disarms the disconnect guard when the body ends (or the server
/// aborts it on purpose); a body dropped before that means the client went away.
pub struct GuardedBody {
    inner: Body,
    guard: DisconnectGuard,
}

impl GuardedBody {
    pub fn wrap(inner: Body, mut guard: DisconnectGuard) -> Body {
        // An empty body is never polled, so it counts as delivered up front.
        if inner.is_end_stream() {
            guard.disarm();
        }
        GuardedBody { inner, guard }.boxed()
    }
}

impl HttpBody for GuardedBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<Frame<Bytes>>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => this.guard.disarm(),
            Poll::Ready(Some(Ok(_))) if this.inner.is_end_stream() => this.guard.disarm(),
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
