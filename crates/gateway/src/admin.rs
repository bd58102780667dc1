//! The admin listener: liveness, readiness and Prometheus metrics.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use http::{Response, StatusCode};
use pingora_core::apps::http_app::ServeHttp;
use pingora_core::protocols::http::ServerSession;
use prometheus::{Encoder, Registry, TextEncoder};

/// Serves `/healthz`, `/readyz` and `/metrics`.
pub struct AdminApp {
    /// Set once a valid config has been loaded.
    pub ready: Arc<AtomicBool>,
    /// The gateway's metrics.
    pub registry: Registry,
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_string();
        match path.as_str() {
            "/healthz" => text(StatusCode::OK, "ok\n"),
            "/readyz" if self.ready.load(Ordering::Acquire) => text(StatusCode::OK, "ready\n"),
            "/readyz" => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "no valid config loaded yet\n",
            ),
            "/metrics" => {
                let mut body = Vec::with_capacity(16 * 1024);
                let encoder = TextEncoder::new();
                if let Err(e) = encoder.encode(&self.registry.gather(), &mut body) {
                    return text(StatusCode::INTERNAL_SERVER_ERROR, &format!("{e}\n"));
                }
                Response::builder()
                    .status(StatusCode::OK)
                    .header("content-type", encoder.format_type())
                    .header("content-length", body.len())
                    .body(body)
                    .expect("static response parts are valid")
            }
            _ => text(
                StatusCode::NOT_FOUND,
                "not found: try /healthz, /readyz or /metrics\n",
            ),
        }
    }
}

fn text(status: StatusCode, body: &str) -> Response<Vec<u8>> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .header("content-length", body.len())
        .body(body.as_bytes().to_vec())
        .expect("static response parts are valid")
}
