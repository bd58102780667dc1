//! The load client of the performance harness. Prints its figures as JSON on stdout.
//!
//!   bench-load requests --url URL --body JSON [--header 'k: v'] --concurrency 16 --duration 5
//!   bench-load sse      --url URL --body JSON --concurrency 1 --duration 5
//!   bench-load idle     --url URL --body JSON --streams 2000 --hold 60
//!
//! `idle` prints a `ready` line once every stream's first frame arrived, then holds the streams
//! until a line arrives on stdin (or `--hold` elapses), closes them and prints a `done` line.

use std::time::Duration;

use anyhow::{Context, Result};
use bytespike_bench::client::Target;
use bytespike_bench::{idle, load};
use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Load client for bench/perf.py")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Closed-loop request load at a fixed concurrency; whole-request latency.
    Requests(Load),
    /// The same, reading streams: time to first byte and frame, events, inter-frame gaps.
    Sse(Load),
    /// Open many streams at once and hold them after their first frame.
    Idle(Idle),
}

#[derive(Args)]
struct Common {
    /// http://host:port/path
    #[arg(long)]
    url: String,
    /// Request body (JSON).
    #[arg(long, conflicts_with = "body_file")]
    body: Option<String>,
    #[arg(long)]
    body_file: Option<std::path::PathBuf>,
    /// Extra request header, `name: value`; repeatable.
    #[arg(long = "header")]
    headers: Vec<String>,
}

#[derive(Args)]
struct Load {
    #[command(flatten)]
    common: Common,
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Seconds.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
}

#[derive(Args)]
struct Idle {
    #[command(flatten)]
    common: Common,
    #[arg(long, default_value_t = 2000)]
    streams: usize,
    /// Seconds to wait for every first frame before reporting anyway.
    #[arg(long, default_value_t = 30.0)]
    open_timeout: f64,
    /// Seconds to hold the streams if stdin says nothing.
    #[arg(long, default_value_t = 60.0)]
    hold: f64,
}

impl Common {
    async fn target(&self) -> Result<Target> {
        let body = match (&self.body, &self.body_file) {
            (Some(b), _) => b.clone(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?,
            (None, None) => "{}".to_owned(),
        };
        Target::new(&self.url, &self.headers, body).await
    }
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // One worker thread: the client shares its core with the upstream, pinned by the caller.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let report = runtime.block_on(async {
        Ok::<_, anyhow::Error>(match cli.mode {
            Mode::Requests(l) => {
                let duration = Duration::from_secs_f64(l.duration);
                load::run(l.common.target().await?, l.concurrency, duration, false).await
            }
            Mode::Sse(l) => {
                let duration = Duration::from_secs_f64(l.duration);
                load::run(l.common.target().await?, l.concurrency, duration, true).await
            }
            Mode::Idle(i) => {
                let open_timeout = Duration::from_secs_f64(i.open_timeout);
                let hold = Duration::from_secs_f64(i.hold);
                idle::run(i.common.target().await?, i.streams, open_timeout, hold).await
            }
        })
    })?;
    println!("{report}");
    // Held streams' tasks may still be unwinding; they own nothing worth waiting for.
    runtime.shutdown_background();
    Ok(())
}
