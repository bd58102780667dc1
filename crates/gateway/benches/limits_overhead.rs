//! What per-key limits in Redis cost a request: the gateway's latency with a key limited over
//! three windows, admitted with one Redis round trip each or from leases, against the same
//! gateway with an untracked key and limits kept in process, in the same run, reported as
//! ratios. Settlement runs off the response path in both.
//!
//! `cargo bench -p bytespike-gateway --bench limits_overhead` (release build). It starts the fake
//! provider, a redis-server and two gateways on loopback ports, then sends sequential requests,
//! interleaving the two setups round by round. `BENCH_REQUESTS` sets requests per round (default
//! 2000), `BENCH_ROUNDS` the rounds (default 5). `BENCH_BASELINE_GATEWAY=<path>` adds the leased
//! setup run by another build of the gateway, so a change is compared in the same run.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

const LIMITED_KEY: &str = "bsk-bench-limited";
const PLAIN_KEY: &str = "bsk-bench-plain";
const BODY: &str = r#"{"model":"bench-model","max_tokens":16,"messages":[{"role":"user","content":"[[text:ok]]"}]}"#;

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn bin_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_bytespike-gateway"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn start_fake() -> (Proc, String) {
    let fake = bin_dir().join("bytespike-fake-provider");
    assert!(
        fake.exists(),
        "build the fake provider first: cargo build --release --bins"
    );
    let mut child = Command::new(fake)
        .args(["--listen", "127.0.0.1:0", "--no-record"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("fake provider starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().trim_start_matches("listening on ").to_string();
    (Proc(child), url)
}

fn start_redis(port: u16) -> Proc {
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("redis-server is installed (scripts/test installs it)");
    Proc(child)
}

fn write_config(dir: &Path, fake_url: &str) {
    let config = format!(
        r#"apiVersion: gateway.bytespike.ai/v1alpha1
kind: Provider
metadata: {{name: fake}}
spec: {{protocol: anthropic, baseUrl: "{fake_url}"}}
---
apiVersion: gateway.bytespike.ai/v1alpha1
kind: RoutingGroup
metadata: {{name: bench}}
spec:
  models:
    - id: bench-model
      targets: [{{provider: fake, model: bench-upstream}}]
      pricing: {{input: "3.00", output: "15.00"}}
---
apiVersion: v1
kind: Secret
metadata: {{name: keys}}
stringData: {{limited: {LIMITED_KEY}, plain: {PLAIN_KEY}}}
---
apiVersion: gateway.bytespike.ai/v1alpha1
kind: ApiKey
metadata: {{name: limited}}
spec:
  routingGroups: [bench]
  secretRef: {{name: keys, key: limited}}
  limits:
    - {{window: 5h, requests: 1000000000, tokens: 100000000000, costUsd: "1000000"}}
    - {{window: 1d, tokens: 100000000000}}
    - {{window: 7d, costUsd: "1000000"}}
---
apiVersion: gateway.bytespike.ai/v1alpha1
kind: ApiKey
metadata: {{name: plain}}
spec:
  routingGroups: [bench]
  secretRef: {{name: keys, key: plain}}
"#
    );
    std::fs::write(dir.join("config.yaml"), config).unwrap();
}

fn start_gateway(config: &Path, extra: &[&str]) -> (Proc, String) {
    start_gateway_bin(
        Path::new(env!("CARGO_BIN_EXE_bytespike-gateway")),
        config,
        extra,
    )
}

fn start_gateway_bin(bin: &Path, config: &Path, extra: &[&str]) -> (Proc, String) {
    let (port, admin) = (free_port(), free_port());
    let mut args = vec![
        "--config".to_string(),
        config.display().to_string(),
        "--listen".into(),
        format!("127.0.0.1:{port}"),
        "--admin-listen".into(),
        format!("127.0.0.1:{admin}"),
        "--threads".into(),
        "1".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let child = Command::new(bin)
        .args(&args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("gateway starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "gateway did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Proc(child), format!("http://127.0.0.1:{port}/v1/messages"))
}

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

async fn round(client: &HttpClient, url: &str, key: &str, n: usize, out: &mut Vec<Duration>) {
    for _ in 0..n {
        let request = hyper::Request::post(url)
            .header("x-api-key", key)
            .header("anthropic-version", "2023-06-01")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(BODY.as_bytes())))
            .unwrap();
        let started = Instant::now();
        let response = client.request(request).await.expect("request succeeds");
        let status = response.status();
        response.into_body().collect().await.unwrap();
        out.push(started.elapsed());
        assert!(status.is_success(), "status {status}");
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let requests: usize = std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000);
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let (_fake, fake_url) = start_fake();
    let redis_port = free_port();
    let _redis = start_redis(redis_port);
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &fake_url);
    let redis_url = format!("redis://127.0.0.1:{redis_port}");
    let (_round_trip, redis_gw) = start_gateway(
        dir.path(),
        &[
            "--redis-url",
            &redis_url,
            "--limits-admission",
            "round-trip",
        ],
    );
    let (_leased, lease_gw) = start_gateway(
        dir.path(),
        &["--redis-url", &redis_url, "--limits-admission", "lease"],
    );
    let (_in_process, plain_gw) = start_gateway(dir.path(), &[]);
    let baseline = std::env::var_os("BENCH_BASELINE_GATEWAY").map(|bin| {
        start_gateway_bin(
            Path::new(&bin),
            dir.path(),
            &["--redis-url", &redis_url, "--limits-admission", "lease"],
        )
    });

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let (mut base, mut limited, mut leased) = (Vec::new(), Vec::new(), Vec::new());
    let mut baseline_leased = Vec::new();
    runtime.block_on(async {
        // Warm both paths (connections, script load) before measuring.
        round(&client, &plain_gw, PLAIN_KEY, 200, &mut Vec::new()).await;
        round(&client, &redis_gw, LIMITED_KEY, 200, &mut Vec::new()).await;
        round(&client, &lease_gw, LIMITED_KEY, 200, &mut Vec::new()).await;
        if let Some((_, url)) = &baseline {
            round(&client, url, LIMITED_KEY, 200, &mut Vec::new()).await;
        }
        for _ in 0..rounds {
            round(&client, &plain_gw, PLAIN_KEY, requests, &mut base).await;
            round(&client, &redis_gw, LIMITED_KEY, requests, &mut limited).await;
            round(&client, &lease_gw, LIMITED_KEY, requests, &mut leased).await;
            if let Some((_, url)) = &baseline {
                round(&client, url, LIMITED_KEY, requests, &mut baseline_leased).await;
            }
        }
    });
    base.sort();
    limited.sort();
    leased.sort();
    baseline_leased.sort();
    println!(
        "requests per setup: {} ({} rounds, interleaved, concurrency 1)",
        base.len(),
        rounds
    );
    println!("{:<40} {:>10} {:>10}", "setup", "p50", "p99");
    let mut setups = vec![
        ("no limits (in process, untracked key)", &base),
        ("3 windows in Redis, round trip", &limited),
        ("3 windows in Redis, leased", &leased),
    ];
    if baseline.is_some() {
        setups.push(("3 windows in Redis, leased, baseline", &baseline_leased));
    }
    for (name, lat) in setups.iter().copied() {
        println!(
            "{:<40} {:>10.1?} {:>10.1?}",
            name,
            percentile(lat, 0.5),
            percentile(lat, 0.99)
        );
    }
    let ratio =
        |lat: &[Duration], p| percentile(lat, p).as_secs_f64() / percentile(&base, p).as_secs_f64();
    let mut ratios = vec![("round trip", &limited), ("leased", &leased)];
    if baseline.is_some() {
        ratios.push(("leased, baseline", &baseline_leased));
    }
    for (name, lat) in ratios {
        println!(
            "ratio {name} / without: p50 {:.2}x, p99 {:.2}x",
            ratio(lat, 0.5),
            ratio(lat, 0.99)
        );
    }
}
