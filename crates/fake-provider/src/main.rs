//! The `bytespike-fake-provider` binary: parses flags and serves the fake vendor.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use bytespike_fake_provider::{serve, Config};
use clap::Parser;

/// A fake LLM vendor (Anthropic, OpenAI Chat/Responses, Gemini) for tests and benchmarks.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on; port 0 picks a free port (printed on stdout).
    #[arg(long, env = "FAKE_PROVIDER_LISTEN", default_value = "127.0.0.1:0")]
    listen: String,
    /// Pause between stream frames, in milliseconds.
    #[arg(long, env = "FAKE_PROVIDER_FRAME_DELAY_MS", default_value_t = 0)]
    frame_delay_ms: u64,
    /// Reject requests whose vendor credential is not this key (401 in the vendor's shape).
    #[arg(long, env = "FAKE_PROVIDER_EXPECT_KEY")]
    expect_key: Option<String>,
    /// Name echoed in response ids and the `x-fake-provider` header.
    #[arg(long, env = "FAKE_PROVIDER_NAME", default_value = "fake")]
    name: String,
    /// Do not keep the request log (for benchmarks).
    #[arg(long, env = "FAKE_PROVIDER_NO_RECORD")]
    no_record: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    // Harnesses that bind port 0 read this one line to learn the port.
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on http://{addr}")?;
    stdout.flush()?;
    eprintln!("fake-provider {}: serving on {addr}", args.name);
    let config = Config {
        name: args.name,
        frame_delay: Duration::from_millis(args.frame_delay_ms),
        expect_key: args.expect_key,
        record: !args.no_record,
    };
    serve(config, listener).await?;
    Ok(())
}
