//! The listener (HTTP/1.1 and h2c on one port), the per-request entry point, and the
//! `/_fake/*` control endpoints.

use std::convert::Infallible;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use http::{HeaderValue, Method, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::json;
use tokio::net::TcpListener;

use crate::body::{self, Body, GuardedBody};
use crate::mode::{Mode, ModeState};
use crate::record::{ConnectionGuard, DisconnectGuard, RequestLog, Stats};
use crate::{extras, vendor, Config};

/// Everything the request handlers share.
pub struct State {
    pub config: Config,
    pub log: RequestLog,
    pub stats: Arc<Stats>,
    pub mode: ModeState,
    seq: AtomicU64,
}

impl State {
    pub fn new(config: Config) -> Self {
        State {
            config,
            log: RequestLog::default(),
            stats: Arc::new(Stats::default()),
            mode: ModeState::default(),
            seq: AtomicU64::new(1),
        }
    }

    /// A fresh token for ids: 24 hex digits, distinct per request.
    pub fn next_token(&self) -> String {
        let n = self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Scrambled so ids look like a vendor's rather than a counter; multiplying by an odd
        // constant is a bijection on u64, so they stay unique.
        let scrambled = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        format!("{scrambled:016x}{:08x}", n as u32)
    }
}

/// Accepts connections forever, serving each with HTTP/1.1 or h2c (prior knowledge).
pub async fn run(state: Arc<State>, listener: TcpListener) -> std::io::Result<()> {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // Running out of descriptors under benchmark load is transient; keep serving.
                eprintln!("fake-provider: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        // Streams are many small frames; Nagle would batch them and distort timings.
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            let _open = ConnectionGuard::new(state.stats.clone());
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(state, req).await) }
            });
            // Errors here are clients resetting or streams cut on purpose: nothing to report.
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(state: Arc<State>, req: Request<Incoming>) -> Response<Body> {
    let guard = DisconnectGuard::new(state.stats.clone());
    let (parts, incoming) = req.into_parts();
    let bytes = match incoming.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            let mut resp = body::json(400, &json!({"error": "could not read request body"}));
            resp.headers_mut()
                .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
            return resp;
        }
    };
    let mut resp = if parts.uri.path().starts_with("/_fake/") {
        admin(&state, &parts, &bytes)
    } else {
        Stats::bump(&state.stats.requests_total);
        if state.config.record {
            state.log.push(&parts, &bytes);
        }
        vendor::handle(&state, &parts, bytes).await
    };
    if let Ok(name) = HeaderValue::from_str(&state.config.name) {
        resp.headers_mut().insert("x-fake-provider", name);
    }
    resp.map(|b| GuardedBody::wrap(b, guard))
}

fn admin(state: &State, parts: &http::request::Parts, body: &[u8]) -> Response<Body> {
    match (&parts.method, parts.uri.path()) {
        (&Method::GET, "/_fake/requests") => body::json(200, &state.log.to_json()),
        (&Method::DELETE, "/_fake/requests") => {
            state.log.clear();
            body::json(200, &json!({"cleared": true}))
        }
        (&Method::GET, "/_fake/stats") => body::json(200, &state.stats.to_json()),
        (&Method::GET, "/_fake/mode") => body::json(200, &json!(state.mode.get())),
        (&Method::POST, "/_fake/mode") => match serde_json::from_slice::<Mode>(body) {
            Ok(mode) => {
                state.mode.set(mode.clone());
                body::json(200, &json!(mode))
            }
            Err(e) => body::json(400, &json!({"error": format!("invalid mode: {e}")})),
        },
        (&Method::DELETE, "/_fake/mode") => {
            state.mode.set(Mode::default());
            body::json(200, &json!(Mode::default()))
        }
        (&Method::GET, "/_fake/image.png") => {
            let mut resp = Response::new(body::full(extras::png_bytes()));
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("image/png"),
            );
            resp
        }
        _ => not_found(parts),
    }
}

/// The plain JSON 404 for paths no vendor has.
pub fn not_found(parts: &http::request::Parts) -> Response<Body> {
    body::json(
        404,
        &json!({"error": {"message": format!("no route for {} {}", parts.method, parts.uri.path()),
            "type": "not_found"}}),
    )
}
