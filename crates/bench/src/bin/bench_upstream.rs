//! The fast upstream of the performance harness: canned OpenAI and Anthropic answers, JSON or
//! SSE, with no per-request work beyond reading the body.
//!
//! - `POST /v1/chat/completions`: an OpenAI `chat.completion`, or with `"stream": true` an SSE
//!   stream of `--frames` writes (`x-bench-frames` overrides per request).
//! - `POST /v1/messages`: the Anthropic equivalents.
//!
//! The stream's pace comes from the model name, so it survives any proxy that rewrites
//! headers or translates the body: a model containing `bench-paced` waits `--interval-us`
//! (or `x-bench-interval-us`) between frames; one containing `bench-hold` sends headers and the
//! first frame, then holds the stream open until the client goes away. Anything else streams
//! as fast as the socket takes it.
//!
//! Prints `listening on ADDR` on stdout once bound.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use anyhow::Result;
use bytes::Bytes;
use bytespike_bench::canned::{self, Protocol};
use clap::Parser;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpSocket;
use tokio::time::Sleep;

#[derive(Parser)]
#[command(about = "Canned LLM upstream for bench/perf.py")]
struct Cli {
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: String,
    /// Writes per stream (at least 3).
    #[arg(long, default_value_t = 64)]
    frames: usize,
    /// Pause between frames of a `bench-paced` stream, in microseconds.
    #[arg(long, default_value_t = 5000)]
    interval_us: u64,
    /// Runtime worker threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// The prebuilt frames and pacing defaults, shared by every connection.
struct Canned {
    openai: Arc<Vec<Bytes>>,
    anthropic: Arc<Vec<Bytes>>,
    frames: usize,
    interval: Duration,
}

/// A canned JSON answer or a stream of prebuilt frames.
enum Reply {
    Full(Option<Bytes>),
    Stream {
        frames: Arc<Vec<Bytes>>,
        next: usize,
        interval: Duration,
        hold: bool,
        sleep: Option<Pin<Box<Sleep>>>,
    },
}

impl Body for Reply {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Reply::Full(body) => Poll::Ready(body.take().map(|b| Ok(Frame::data(b)))),
            Reply::Stream {
                frames,
                next,
                interval,
                hold,
                sleep,
            } => {
                let Some(frame) = frames.get(*next) else {
                    return Poll::Ready(None);
                };
                if *next > 0 {
                    if *hold {
                        // Never woken: the connection ends when the client closes it, which
                        // hyper notices while waiting here.
                        return Poll::Pending;
                    }
                    if !interval.is_zero() {
                        let timer =
                            sleep.get_or_insert_with(|| Box::pin(tokio::time::sleep(*interval)));
                        ready!(timer.as_mut().poll(cx));
                        *sleep = None;
                    }
                }
                *next += 1;
                Poll::Ready(Some(Ok(Frame::data(frame.clone()))))
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Reply::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Reply::Full(None) => SizeHint::with_exact(0),
            Reply::Stream { .. } => SizeHint::default(),
        }
    }
}

fn header_number(req: &Request<Incoming>, name: &str) -> Option<u64> {
    req.headers().get(name)?.to_str().ok()?.parse().ok()
}

async fn handle(canned: Arc<Canned>, req: Request<Incoming>) -> Response<Reply> {
    let protocol = match (req.method(), req.uri().path()) {
        (&Method::POST, "/v1/chat/completions") => Protocol::OpenAi,
        (&Method::POST, "/v1/messages") => Protocol::Anthropic,
        _ => return plain(StatusCode::NOT_FOUND, "not found"),
    };
    let frames = header_number(&req, "x-bench-frames").map(|n| n as usize);
    let interval_us = header_number(&req, "x-bench-interval-us");
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return plain(StatusCode::BAD_REQUEST, "unreadable body"),
    };
    let stream = canned::wants_stream(&body);
    let reply = if !stream {
        let json = match protocol {
            Protocol::OpenAi => canned::OPENAI_JSON,
            Protocol::Anthropic => canned::ANTHROPIC_JSON,
        };
        Reply::Full(Some(Bytes::from_static(json.as_bytes())))
    } else {
        let prebuilt = match protocol {
            Protocol::OpenAi => &canned.openai,
            Protocol::Anthropic => &canned.anthropic,
        };
        // Building frames on request only when a caller asks for another count.
        let frames = match frames {
            Some(n) if n != canned.frames => Arc::new(canned::sse_frames(protocol, n)),
            _ => prebuilt.clone(),
        };
        let paced = memchr::memmem::find(&body, b"bench-paced").is_some();
        let interval = match (paced, interval_us) {
            (_, Some(us)) => Duration::from_micros(us),
            (true, None) => canned.interval,
            (false, None) => Duration::ZERO,
        };
        Reply::Stream {
            frames,
            next: 0,
            interval,
            hold: memchr::memmem::find(&body, b"bench-hold").is_some(),
            sleep: None,
        }
    };
    let content_type = if stream {
        "text/event-stream"
    } else {
        "application/json"
    };
    let mut response = Response::new(reply);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Reply> {
    let mut response = Response::new(Reply::Full(Some(Bytes::from_static(text.as_bytes()))));
    *response.status_mut() = status;
    response
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cli.threads.max(1))
        .enable_all()
        .build()?;
    runtime.block_on(serve(cli))
}

async fn serve(cli: Cli) -> Result<()> {
    let canned = Arc::new(Canned {
        openai: Arc::new(canned::sse_frames(Protocol::OpenAi, cli.frames)),
        anthropic: Arc::new(canned::sse_frames(Protocol::Anthropic, cli.frames)),
        frames: cli.frames,
        interval: Duration::from_micros(cli.interval_us),
    });
    // A deep accept queue (capped by net.core.somaxconn): 2,000 streams opened at once must
    // measure the proxy, not connection retries against the upstream's default backlog.
    let addr: SocketAddr = cli.listen.parse()?;
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    let listener = socket.listen(8192)?;
    println!("listening on {}", listener.local_addr()?);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of descriptors under a 10,000-stream run is transient: keep serving.
                eprintln!("bench-upstream: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        // Frames are small writes; Nagle would hold them back and time the wrong thing.
        let _ = stream.set_nodelay(true);
        let canned = canned.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let canned = canned.clone();
                async move { Ok::<_, Infallible>(handle(canned, req).await) }
            });
            // Errors are clients going away mid-stream (held streams end that way).
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
