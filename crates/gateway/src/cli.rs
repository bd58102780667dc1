//! Command-line flags, each also settable through an environment variable.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// ByteSpike Gateway: one key, one budget and one set of dashboards in front of every LLM
/// vendor. Services keep their official OpenAI or Anthropic SDK and change only the base URL
/// and the key.
#[derive(Debug, Parser)]
#[command(name = "bytespike-gateway", version)]
// Serving is the default (no subcommand); a subcommand such as `crds` needs none of its flags.
#[command(subcommand_negates_reqs = true)]
pub struct Cli {
    /// Something other than serving.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// A YAML file, or a directory of YAML files, holding Provider, RoutingGroup and ApiKey
    /// resources and the v1 Secrets they reference. Edits are picked up without a restart; an
    /// invalid edit is logged and the last good config keeps serving. Required unless
    /// --kubernetes is given.
    #[arg(
        long,
        env = "BYTESPIKE_CONFIG",
        value_name = "PATH",
        required_unless_present = "kubernetes",
        conflicts_with = "kubernetes"
    )]
    pub config: Option<PathBuf>,

    /// Reading the config from a cluster.
    #[command(flatten)]
    pub kube: crate::kubernetes::KubeArgs,

    /// Address of the API listener (Anthropic and OpenAI endpoints, HTTP/1.1 and h2c).
    #[arg(
        long,
        env = "BYTESPIKE_LISTEN",
        default_value = "0.0.0.0:8080",
        value_name = "ADDR"
    )]
    pub listen: String,

    /// Address of the admin listener: /healthz, /readyz and /metrics.
    #[arg(
        long,
        env = "BYTESPIKE_ADMIN_LISTEN",
        default_value = "0.0.0.0:9090",
        value_name = "ADDR"
    )]
    pub admin_listen: String,

    /// Per-key limits.
    #[command(flatten)]
    pub limits: crate::limits::LimitArgs,

    /// Largest request body accepted; larger ones get 413.
    #[arg(long, env = "BYTESPIKE_MAX_BODY_BYTES", default_value_t = 32 * 1024 * 1024, value_name = "BYTES")]
    pub max_body_bytes: usize,

    /// Longest pause while a client sends its request body; slower clients get 408.
    #[arg(long, env = "BYTESPIKE_CLIENT_BODY_TIMEOUT", default_value = "60s", value_parser = humantime_duration, value_name = "DURATION")]
    pub client_body_timeout: Duration,

    /// How often the config path is checked for changes.
    #[arg(long, env = "BYTESPIKE_RELOAD_INTERVAL", default_value = "1s", value_parser = humantime_duration, value_name = "DURATION")]
    pub reload_interval: Duration,

    /// Worker threads of the proxy.
    #[arg(long, env = "BYTESPIKE_THREADS", value_name = "N")]
    pub threads: Option<usize>,

    /// On SIGTERM: how long requests in flight (long streams included) may take to finish before
    /// the process exits; it exits as soon as they are done and their usage is settled. Keep the
    /// pod's terminationGracePeriodSeconds above this plus any preStop delay.
    #[arg(long, env = "BYTESPIKE_SHUTDOWN_GRACE_PERIOD", default_value = "120s", value_parser = humantime_duration, value_name = "DURATION")]
    pub shutdown_grace_period: Duration,

    /// Log format: `json` (one object per line) or `text`.
    #[arg(long, env = "BYTESPIKE_LOG_FORMAT", default_value = "json", value_parser = ["json", "text"])]
    pub log_format: String,

    /// Longest an access-log line waits before it is written: lines are batched into one write
    /// per interval instead of a system call per request. `0s` writes each line at once.
    #[arg(long, env = "BYTESPIKE_ACCESS_LOG_FLUSH_INTERVAL", default_value = "100ms", value_parser = humantime_duration, value_name = "DURATION")]
    pub access_log_flush_interval: Duration,

    /// Record the per-key series (`bytespike_key_*`, labelled by ApiKey namespace/name); `false`
    /// bounds label cardinality when there are many keys.
    #[arg(long, env = "BYTESPIKE_METRICS_PER_KEY", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub metrics_per_key: bool,
}

/// What to do instead of serving.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the CustomResourceDefinitions as multi-document YAML (for `kubectl apply -f -`).
    Crds,
}

pub fn humantime_duration(value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value).map_err(|e| e.to_string())
}
