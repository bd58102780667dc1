//! A fake upstream LLM vendor speaking the Anthropic Messages, OpenAI Chat Completions, OpenAI
//! Responses and Gemini wire protocols, steerable per request and per server for tests.
//!
//! Per request, directives in the last user message choose the behaviour: `[[error:STATUS]]`,
//! `[[stall]]`, `[[delay:MS]]`, `[[frame-delay:MS]]`, `[[cut-after:N]]`, `[[stall-after:N]]`,
//! `[[stream-error-after:N]]`, `[[tool]]`, `[[tools:N]]`, `[[text:...]]`, `[[words:N]]`,
//! `[[thinking]]`, `[[cached:N]]`. Server-wide, `POST /_fake/mode` sets a [`Mode`];
//! `GET|DELETE /_fake/requests` reads or clears the request log, `GET /_fake/stats` the
//! counters. Usage is deterministic: input = ceil(body bytes / 4), output = words of text and
//! thinking plus 10 per tool call.

mod anthropic;
mod body;
mod directive;
mod extras;
mod gemini;
mod mode;
mod openai_chat;
mod record;
mod responses;
mod sample;
mod scenario;
mod server;
mod vendor;

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

pub use directive::Directives;
pub use mode::Mode;
pub use record::LOG_CAPACITY;

/// How the fake provider behaves as a whole.
#[derive(Debug, Clone)]
pub struct Config {
    /// Echoed in response ids and the `x-fake-provider` header.
    pub name: String,
    /// Pause between stream frames.
    pub frame_delay: Duration,
    /// When set, requests must carry this key in their vendor's credential header.
    pub expect_key: Option<String>,
    /// Keep the log served by `GET /_fake/requests` (off for benchmarks).
    pub record: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            name: "fake".into(),
            frame_delay: Duration::ZERO,
            expect_key: None,
            record: true,
        }
    }
}

/// Serves the fake provider on `listener` until the task is dropped.
pub async fn serve(config: Config, listener: TcpListener) -> std::io::Result<()> {
    server::run(Arc::new(server::State::new(config)), listener).await
}
