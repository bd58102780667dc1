//! The `bytespike-gateway` binary: parses flags, loads the config, and runs the proxy, the
//! config reloader and the admin listener as one Pingora server.

mod admin;
mod allocator;
mod cli;
mod drain;
mod key_usage;
mod kubernetes;
mod limits;
mod reload;

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use bytespike_config::Snapshot;
use bytespike_proxy::{Gateway, LimitMetrics, ProxyMetrics, ProxySettings};
use clap::Parser;
use pingora_core::apps::HttpServerOptions;
use pingora_core::listeners::{L4BufferSettings, ListenerConfig};
use pingora_core::server::configuration::ServerConf;
use pingora_core::server::Server;
use pingora_core::services::background::background_service;
use pingora_core::services::listening::Service;
use prometheus::Registry;

fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    if let Some(cli::Command::Crds) = cli.command {
        print!("{}", bytespike_config::resources::crds_yaml());
        return Ok(());
    }
    init_logging(&cli.log_format);
    bytespike_proxy::access_log::configure(cli.access_log_flush_interval);

    let registry = Registry::new();
    let build_info = prometheus::IntGaugeVec::new(
        prometheus::Opts::new("bytespike_build_info", "Build of the running gateway."),
        &["version"],
    )?;
    build_info
        .with_label_values(&[env!("CARGO_PKG_VERSION")])
        .set(1);
    registry.register(Box::new(build_info))?;

    let limit_metrics = Arc::new(LimitMetrics::new(&registry)?);
    let (limiter, replayer) = limits::build(&cli.limits, limit_metrics)?;
    let cache_read_weight_permille = cli.limits.cache_read_weight_permille()?;

    let snapshot = Arc::new(ArcSwap::from_pointee(Snapshot::empty()));
    let ready = Arc::new(AtomicBool::new(false));
    // Exactly one source feeds the snapshot: the config path, or the API server.
    let (reloader, controller) = match &cli.config {
        Some(path) => {
            let reloader = reload::Reloader {
                path: path.clone(),
                snapshot: snapshot.clone(),
                ready: ready.clone(),
                interval: cli.reload_interval,
                metrics: bytespike_controller::ConfigMetrics::new(&registry)?,
                loaded: Mutex::new(None),
            };
            // Load before listening, so the first request already sees the config.
            reloader.reload_if_changed();
            (Some(reloader), None)
        }
        None => {
            let mut controller = cli
                .kube
                .controller(snapshot.clone(), ready.clone(), &registry)?;
            controller.usage = Some(Arc::new(key_usage::LimiterUsage {
                limiter: limiter.clone(),
                cache_read_weight_permille,
            }));
            (None, Some(kubernetes::KubeSync(controller)))
        }
    };

    let metrics = Arc::new(ProxyMetrics::new(&registry)?.with_per_key(cli.metrics_per_key));
    let settings = ProxySettings {
        max_body_bytes: cli.max_body_bytes,
        cache_read_weight_permille,
        client_body_timeout: cli.client_body_timeout,
        json_access_log: cli.log_format == "json",
        on_idle: Some(allocator::release_thread_cache),
    };
    let drain = drain::Drain {
        ready: ready.clone(),
        in_flight: metrics.in_flight.clone(),
        grace: cli.shutdown_grace_period,
    };
    let gateway = Gateway::new(snapshot, settings, metrics, limiter);

    let conf = ServerConf {
        threads: cli
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
        // Pingora keeps serving open connections this long after SIGTERM; `drain` ends the
        // process earlier once nothing is in flight.
        grace_period_seconds: Some(cli.shutdown_grace_period.as_secs()),
        graceful_shutdown_timeout_seconds: Some(5),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let server_conf = server.configuration.clone();

    let mut proxy =
        pingora_proxy::http_proxy_service_with_name(&server_conf, gateway, "bytespike-api");
    let mut options = HttpServerOptions::default();
    options.h2c = true;
    if let Some(app) = proxy.app_logic_mut() {
        app.server_options = Some(options);
    }
    proxy.add_listener(ListenerConfig::tcp(cli.listen.clone()).l4_buffer(client_socket_buffers()));

    let mut admin = Service::new(
        "bytespike-admin".to_string(),
        admin::AdminApp { ready, registry },
    );
    admin.add_tcp(&cli.admin_listen);

    server.add_service(proxy);
    server.add_service(admin);
    if let Some(reloader) = reloader {
        server.add_service(background_service("config reloader", reloader));
    }
    if let Some(controller) = controller {
        server.add_service(background_service("kubernetes controller", controller));
    }
    if let Some(replayer) = replayer {
        server.add_service(background_service("settlement replay", replayer));
    }
    server.add_service(background_service("drain on shutdown", drain));
    tracing::info!(listen = %cli.listen, admin = %cli.admin_listen, config = ?cli.config, kubernetes = cli.kube.kubernetes, "bytespike-gateway starting");
    server.run_forever()
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    let result = if format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
    if let Err(e) = result {
        eprintln!("installing the logger failed: {e}");
    }
}

/// Buffers between the client socket and Pingora's HTTP parser.
///
/// Pingora's default puts a 64 KiB read buffer in front of every client connection, sized for
/// TLS records. The gateway's listener is plain HTTP, and the parser already reads headers into
/// its own growing buffer and bodies into a 64 KiB one, so the extra layer only adds a copy of
/// every byte and a zeroed 64 KiB allocation per connection (part of which an open stream keeps
/// resident). Writes keep Pingora's default, one MSS.
fn client_socket_buffers() -> L4BufferSettings {
    L4BufferSettings::default().read(0)
}
