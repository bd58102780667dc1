#!/usr/bin/env python3
"""Performance benchmark of the gateway against its floor and its ceiling, in one run.

Targets, all in front of the same canned upstream (`bench-upstream`):
  D        direct calls to the upstream (the floor)
  P        `bench-passthrough`, a bare Pingora proxy (the ceiling for anything on Pingora)
  nginx    Debian's nginx as a plain reverse proxy (a second reference)
  G        the gateway: OpenAI passthrough with auth, routing and metrics
  G+R      the same with Redis limits (three windows per key, caps never reached)
  G-T      the gateway translating (Anthropic client /v1/messages -> OpenAI upstream)
  LiteLLM  LiteLLM's proxy, one worker, from its own virtualenv (.venv-bench)

Workloads: W1 small JSON (G-T: W2, the same translated), W3 SSE of 64 frames unpaced and
paced 5 ms apart, W4 memory with N idle open streams, W5 time until the first frames of 2,000
streams opened at once. The proxy under test runs on CPU 0; load client, upstream and Redis on
CPU 1. Rounds interleave the targets, and within a round the concurrency-1 phases alternate
between the targets in one-second slices; figures are medians over rounds.

  python3 bench/perf.py                 full run (release build first), prints the tables
  python3 bench/perf.py --smoke         seconds-long check that every target serves (CI)
  options: --json PATH, --rounds N, --skip-litellm, --bin-dir DIR

Exits non-zero when a target fails to serve; the target checks are informational.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROXY_CPU = "0"  # the proxy under test
LOAD_CPU = "1"  # load client, upstream and (as an idle-class task) Redis
PACE_US = 5000
BENCH_VENV = REPO / ".venv-bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


@dataclass
class Plan:
    rounds: int
    duration: float  # seconds per load phase
    paced_duration: float
    small_streams: int  # W4 / W5
    big_streams: int  # W4
    settle: float  # seconds after streams close before memory is read again
    litellm: bool
    # Concurrency-1 phases are cut into this many slices that alternate between the targets.
    latency_slices: int


FULL = Plan(rounds=3, duration=3.0, paced_duration=3.0, small_streams=2000, big_streams=10000,
            settle=3.0, litellm=True, latency_slices=3)
SMOKE = Plan(rounds=1, duration=0.4, paced_duration=0.8, small_streams=100, big_streams=300,
             settle=0.3, litellm=False, latency_slices=1)


# ---------------------------------------------------------------------------------------------
# Process figures from /proc


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (nginx's worker, uvicorn's children)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / CLK_TCK


def rss_mib(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KIB
        except OSError:
            continue
    return total / 1024


# ---------------------------------------------------------------------------------------------
# Targets and the processes behind them


@dataclass
class Target:
    name: str
    url: str  # full URL the load client calls
    protocol: str  # the client protocol: "openai" or "anthropic"
    headers: list[str] = field(default_factory=list)
    workloads: set[str] = field(default_factory=set)  # "w4", "w5" (W1 and W3 always run)
    procs: list[subprocess.Popen] = field(default_factory=list)  # measured, with descendants
    unavailable: str | None = None
    rss_idle: float | None = None
    # nginx and LiteLLM are outside references: their failures are reported, not fatal.
    reference: bool = False

    def pids(self) -> list[int]:
        return [p for proc in self.procs if proc.poll() is None for p in process_tree(proc.pid)]

    def body(self, model: str, stream: bool) -> str:
        body = {"model": model, "max_tokens": 64, "stream": stream,
                "messages": [{"role": "user", "content": "Hello from the benchmark"}]}
        return json.dumps(body, separators=(",", ":"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: the process exited with {proc.returncode}")
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")


def tcp_open(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status == 200


def gateway_config(upstream: str, key: str, limits: bool) -> dict[str, str]:
    """The gateway's config directory: one OpenAI provider, one group, one key."""
    models = "\n".join(
        f"    - id: {m}\n      targets:\n        - {{provider: bench-openai, model: {m}}}\n"
        '      pricing: {input: "2.50", output: "10.00"}'
        for m in ("bench-chat", "bench-paced", "bench-hold"))
    # Three windows with caps a run never reaches: every request pays for the Redis
    # reservation and settlement, none is refused.
    key_limits = ("  limits:\n" + "".join(
        f"    - {{window: {w}, requests: 1000000000, tokens: 1000000000000, costUsd: \"1000000\"}}\n"
        for w in ("5h", "1d", "7d"))) if limits else ""
    return {
        "providers.yaml": (
            "apiVersion: gateway.bytespike.ai/v1alpha1\nkind: Provider\n"
            "metadata: {name: bench-openai}\nspec:\n  protocol: openai\n"
            f"  baseUrl: http://{upstream}/v1\n"
            "  credentials: {secretRef: {name: bench-upstream, key: openai}}\n"
            "  timeouts: {connect: 2s, firstByte: 30s, idle: 600s}\n---\n"
            "apiVersion: v1\nkind: Secret\nmetadata: {name: bench-upstream}\n"
            "stringData: {openai: sk-bench-upstream-placeholder}\n"),
        "routing.yaml": (
            "apiVersion: gateway.bytespike.ai/v1alpha1\nkind: RoutingGroup\n"
            f"metadata: {{name: bench}}\nspec:\n  models:\n{models}\n"),
        "keys.yaml": (
            "apiVersion: v1\nkind: Secret\nmetadata: {name: bench-key}\n"
            f"stringData: {{key: {key}}}\n---\n"
            "apiVersion: gateway.bytespike.ai/v1alpha1\nkind: ApiKey\nmetadata: {name: bench}\n"
            "spec:\n  routingGroups: [bench]\n  secretRef: {name: bench-key, key: key}\n"
            + key_limits),
    }


NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile {fds};
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections {fds}; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/nginx-body;
  proxy_temp_path {tmp}/nginx-proxy;
  fastcgi_temp_path {tmp}/nginx-fastcgi;
  uwsgi_temp_path {tmp}/nginx-uwsgi;
  scgi_temp_path {tmp}/nginx-scgi;
  # Keep-alive on both sides without a request cap, like the other proxies.
  upstream bench {{ server {upstream}; keepalive 128; keepalive_requests 100000000; }}
  keepalive_requests 100000000;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location / {{
      proxy_pass http://bench;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # Streams must pass frame by frame, as an LLM gateway needs.
      proxy_buffering off;
      proxy_read_timeout 600s;
    }}
  }}
}}
"""

LITELLM_CONFIG = """\
model_list:
{models}
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
litellm_settings:
  telemetry: false
"""


class Services:
    """Starts the upstream, Redis and every proxy; stops them all on exit."""

    def __init__(self, bin_dir: Path, tmp: Path, with_litellm: bool):
        self.bin, self.tmp, self.with_litellm = bin_dir, tmp, with_litellm
        self.procs: list[subprocess.Popen] = []
        self.targets: list[Target] = []
        self.versions: dict[str, str] = {}
        self.secrets: list[str] = []

    def __enter__(self) -> Services:
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_exc) -> None:
        for proc in reversed(self.procs):
            stop(proc)

    def spawn(self, name: str, argv: list[str], cpu: str, env: dict | None = None,
              stdout=None) -> subprocess.Popen:
        log = open(self.tmp / f"{name}.log", "wb")
        proc = subprocess.Popen(["taskset", "-c", cpu, *argv], stdout=stdout or log, stderr=log,
                                stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})},
                                cwd=self.tmp)
        self.procs.append(proc)
        return proc

    def log_tail(self, name: str) -> str:
        text = (self.tmp / f"{name}.log").read_text(errors="replace")[-400:]
        for secret in self.secrets:
            text = text.replace(secret, "<redacted>")
        return text.strip()

    def _start(self) -> None:
        up = self.spawn("upstream", [str(self.bin / "bench-upstream"),
                                     "--interval-us", str(PACE_US)], LOAD_CPU,
                        stdout=subprocess.PIPE)
        ready, _, _ = select.select([up.stdout], [], [], 20)
        line = up.stdout.readline().decode().strip() if ready else ""
        if not line.startswith("listening on "):
            raise RuntimeError(f"bench-upstream did not start: {self.log_tail('upstream')}")
        upstream = line.removeprefix("listening on ")
        chat = "/v1/chat/completions"
        self.targets.append(Target("D", f"http://{upstream}{chat}", "openai",
                                   workloads={"w4", "w5"}))

        port = free_port()
        p = self.spawn("passthrough", [str(self.bin / "bench-passthrough"), "--listen",
                                       f"127.0.0.1:{port}", "--upstream", upstream], PROXY_CPU)
        wait_until(lambda: tcp_open(port), 20, "bench-passthrough", p)
        self.targets.append(Target("P", f"http://127.0.0.1:{port}{chat}", "openai",
                                   workloads={"w4", "w5"}, procs=[p]))

        port = free_port()
        fds = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        conf = self.tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=self.tmp, fds=fds, upstream=upstream, port=port))
        n = self.spawn("nginx", ["/usr/sbin/nginx", "-e", str(self.tmp / "nginx-error.log"),
                                 "-p", str(self.tmp), "-c", str(conf)], PROXY_CPU)
        wait_until(lambda: tcp_open(port), 20, "nginx", n)
        self.targets.append(Target("nginx", f"http://127.0.0.1:{port}{chat}", "openai",
                                   workloads={"w4", "w5"}, procs=[n], reference=True))
        self.versions["nginx"] = subprocess.run(["/usr/sbin/nginx", "-v"], capture_output=True,
                                                text=True).stderr.strip()

        rport = free_port()
        # In a deployment Redis runs on machines of its own. Here it shares the load core as an
        # idle-class task (SCHED_IDLE): it runs when the load client and the upstream leave the
        # core idle and yields the moment either wakes, instead of delaying the requests of
        # every target while it settles G+R's. At nice 19 a waking client could still wait
        # for Redis to finish its slice, which showed in G+R's p99.
        r = self.spawn("redis", ["chrt", "--idle", "0", "redis-server", "--port", str(rport),
                                 "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                       LOAD_CPU)
        wait_until(lambda: tcp_open(rport), 20, "redis-server", r)

        key = "bsk-bench-" + secrets.token_hex(16)
        self.secrets.append(key)
        auth = [f"authorization: Bearer {key}"]
        for name, redis in (("G", None), ("G+R", f"redis://127.0.0.1:{rport}")):
            config = self.tmp / f"config-{name}"
            config.mkdir()
            for file, text in gateway_config(upstream, key, limits=bool(redis)).items():
                (config / file).write_text(text)
            port, admin = free_port(), free_port()
            argv = [str(self.bin / "bytespike-gateway"), "--config", str(config),
                    "--listen", f"127.0.0.1:{port}", "--admin-listen", f"127.0.0.1:{admin}"]
            argv += ["--redis-url", redis] if redis else []
            g = self.spawn(f"gateway-{name}", argv, PROXY_CPU)
            wait_until(lambda: http_ok(f"http://127.0.0.1:{admin}/readyz"), 30, name, g)
            self.targets.append(Target(name, f"http://127.0.0.1:{port}{chat}", "openai", auth,
                                       {"w4", "w5"} if name == "G" else {"w5"}, procs=[g]))
            if name == "G":
                anthropic = [f"x-api-key: {key}", "anthropic-version: 2023-06-01"]
                self.targets.append(Target("G-T", f"http://127.0.0.1:{port}/v1/messages",
                                           "anthropic", anthropic, {"w5"}, procs=[g]))
        if self.with_litellm:
            self.targets.append(self._litellm(upstream))

    def _litellm(self, upstream: str) -> Target:
        target = Target("LiteLLM", "", "openai", workloads={"w5"}, reference=True)
        litellm = BENCH_VENV / "bin" / "litellm"
        if not litellm.exists():
            print("installing litellm[proxy] into .venv-bench", file=sys.stderr)
            done = subprocess.run(
                f"{sys.executable} -m venv {BENCH_VENV} && {BENCH_VENV}/bin/pip install -q "
                "--disable-pip-version-check 'litellm[proxy]'", shell=True, capture_output=True,
                text=True)
            if done.returncode != 0:
                target.unavailable = "pip install failed: " + done.stderr.strip()[-200:]
                return target
        version = subprocess.run([str(BENCH_VENV / "bin" / "python"), "-c",
                                  "import importlib.metadata as m; print(m.version('litellm'))"],
                                 capture_output=True, text=True).stdout.strip()
        self.versions["litellm"] = version
        models = "\n".join(
            f"  - model_name: {m}\n    litellm_params:\n      model: openai/{m}\n"
            f"      api_base: http://{upstream}/v1\n      api_key: sk-bench-upstream-placeholder"
            for m in ("bench-chat", "bench-paced", "bench-hold"))
        (self.tmp / "litellm.yaml").write_text(LITELLM_CONFIG.format(models=models))
        master = "sk-" + secrets.token_urlsafe(32)
        self.secrets.append(master)
        port = free_port()
        env = {"LITELLM_MASTER_KEY": master, "LITELLM_LOCAL_MODEL_COST_MAP": "True",
               "LITELLM_LOG": "ERROR", "NO_DOCS": "True"}
        proc = self.spawn("litellm", [str(litellm), "--config", str(self.tmp / "litellm.yaml"),
                                      "--host", "127.0.0.1", "--port", str(port),
                                      "--num_workers", "1"], PROXY_CPU, env=env)
        try:
            wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/health/liveliness"), 180,
                       "LiteLLM", proc)
        except RuntimeError as e:
            target.unavailable = f"{e}; log: {self.log_tail('litellm')[-200:]}"
            return target
        target.url = f"http://127.0.0.1:{port}/v1/chat/completions"
        target.headers = [f"authorization: Bearer {master}"]
        target.procs = [proc]
        return target


def stop(proc: subprocess.Popen) -> None:
    """SIGINT (Pingora's fast shutdown; uvicorn's Ctrl-C), SIGTERM, then a kill of the tree."""
    if proc.poll() is not None:
        return
    tree = process_tree(proc.pid)
    for sig, wait in ((signal.SIGINT, 3), (signal.SIGTERM, 3)):
        proc.send_signal(sig)
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    for pid in tree:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    if proc.poll() is None:
        proc.wait()


# ---------------------------------------------------------------------------------------------
# The load client


class ServeError(Exception):
    """A target failed to serve a workload."""


def load_argv(bin_dir: Path, target: Target, mode: str, model: str, stream: bool) -> list[str]:
    argv = ["taskset", "-c", LOAD_CPU, str(bin_dir / "bench-load"), mode,
            "--url", target.url, "--body", target.body(model, stream)]
    for header in target.headers:
        argv += ["--header", header]
    return argv


def run_load(bin_dir: Path, target: Target, mode: str, concurrency: int, duration: float,
             model: str = "bench-chat") -> dict:
    """One closed-loop run with the target's CPU time measured around it."""
    argv = load_argv(bin_dir, target, mode, model, stream=(mode == "sse"))
    argv += ["--concurrency", str(concurrency), "--duration", str(duration)]
    pids = target.pids()
    cpu0 = cpu_seconds(pids) if pids else None
    done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 120)
    cpu1 = cpu_seconds(pids) if pids else None
    if done.returncode != 0:
        raise ServeError(f"{target.name}: bench-load {mode} failed: {done.stderr.strip()[-500:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    if result["count"] == 0 or result["errors"]:
        raise ServeError(f"{target.name}: {mode} c={concurrency}: {result['count']} ok, "
                         f"errors {result['error_kinds']}")
    if cpu0 is not None:
        result["cpu_s"] = cpu1 - cpu0
    return result


def run_idle(bin_dir: Path, target: Target, streams: int, settle: float) -> dict:
    """Opens `streams` held streams, reads memory while they are open and after they close."""
    argv = load_argv(bin_dir, target, "idle", "bench-hold", stream=True)
    argv += ["--streams", str(streams), "--open-timeout", "60", "--hold", "120"]
    pids = target.pids()
    before = rss_mib(pids) if pids else None
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        ready = json.loads(proc.stdout.readline() or "{}")
        time.sleep(0.3)  # let the last streams' buffers settle before reading memory
        pids = target.pids()
        held = rss_mib(pids) if pids else None
        proc.stdin.write("release\n")
        proc.stdin.flush()
        done = json.loads(proc.stdout.readline() or "{}")
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if ready.get("first_frames") != streams:
        raise ServeError(f"{target.name}: {ready.get('first_frames')} of {streams} held streams "
                         f"got their first frame; errors {ready.get('error_kinds')} "
                         f"{proc.stderr.read()[-300:]}")
    time.sleep(settle)
    after = rss_mib(target.pids()) if pids else None
    out = {"streams": streams, "all_first_frames_ms": ready["all_first_frames_ms"],
           "first_frame": ready["first_frame"], "ended_before_release": done.get(
               "ended_before_release")}
    if before is not None:
        out.update(rss_before=before, rss_held=held, rss_after=after,
                   kib_per_stream=(held - before) * 1024 / streams, after_ratio=after / before)
    return out


# ---------------------------------------------------------------------------------------------
# One round


MEASURE_ERRORS = (ServeError, subprocess.TimeoutExpired, json.JSONDecodeError, KeyError)


def latency_pass(bin_dir: Path, targets: list[Target], plan: Plan,
                 errors: dict[str, list[str]]) -> dict[str, dict]:
    """W1 and unpaced W3 at concurrency 1, for every target, in short slices that alternate
    between the targets, so the latency ratios compare targets measured seconds apart rather
    than minutes apart (a shared VM's speed drifts over minutes). A target's figure for the
    round is the median of its slices' percentiles, and the largest of their maxima."""
    slice_s = plan.duration / plan.latency_slices
    runs: dict[str, dict[str, list[dict]]] = {t.name: {"w1": [], "w3": []} for t in targets}
    for n in range(plan.latency_slices):
        k = n % max(len(targets), 1)
        for t in targets[k:] + targets[:k]:
            for workload, mode in (("w1", "requests"), ("w3", "sse")):
                try:
                    runs[t.name][workload].append(run_load(bin_dir, t, mode, 1, slice_s))
                except MEASURE_ERRORS as e:
                    errors.setdefault(t.name, []).append(f"{t.name}: {type(e).__name__}: {e}")
    return {name: latency_figures(r["w1"], r["w3"]) for name, r in runs.items()}


def latency_figures(w1: list[dict], w3: list[dict]) -> dict:
    def median(results, figure, stat):
        return statistics.median(r[figure][stat] for r in results)

    f = {}
    if w1:
        f.update(p50=median(w1, "latency", "p50_us"), p99=median(w1, "latency", "p99_us"),
                 max=max(r["latency"]["max_us"] for r in w1))
        if all("cpu_s" in r for r in w1):
            f["cpu_req_c1"] = sum(r["cpu_s"] for r in w1) * 1e6 / sum(r["count"] for r in w1)
    if w3:
        f.update(ttft=median(w3, "first_frame", "p50_us"),
                 ttft_p99=median(w3, "first_frame", "p99_us"),
                 ttft_max=max(r["first_frame"]["max_us"] for r in w3),
                 sse_events=min(r["events_min"] for r in w3))
        if all("cpu_s" in r for r in w3):
            f["cpu_frame"] = (sum(r["cpu_s"] for r in w3) * 1e6
                              / sum(r["events_total"] for r in w3))
    return f


def measure(bin_dir: Path, target: Target, plan: Plan, big: int, failures: list[str]) -> dict:
    """Every workload this target takes part in beyond the concurrency-1 ones (see
    `latency_pass`), as flat figures; a workload that fails is recorded and the others still
    run."""
    d, f = plan.duration, {}

    def w1_load(c: int):
        r = run_load(bin_dir, target, "requests", c, d)
        f[f"rps{c}"] = r["throughput_rps"]
        if "cpu_s" in r:
            f[f"cpu_req_c{c}"] = r["cpu_s"] * 1e6 / r["count"]
            f[f"busy{c}"] = r["cpu_s"] / r["elapsed_s"]

    def w3_paced():
        r = run_load(bin_dir, target, "sse", 1, plan.paced_duration, model="bench-paced")
        f.update(paced_ttft=r["first_frame"]["p50_us"], paced_gap_max=r["max_gap"]["max_us"],
                 paced_total=r["latency"]["p50_us"])

    def idle(streams: int, suffix: str):
        r = run_idle(bin_dir, target, streams, plan.settle)
        if suffix == "small":
            f["w5_ms"] = r["all_first_frames_ms"]
        for key in ("kib_per_stream", "after_ratio", "rss_held"):
            if key in r:
                f[f"{key}_{suffix}"] = r[key]

    steps = [lambda: w1_load(16), lambda: w1_load(64), w3_paced]
    if "w5" in target.workloads:
        steps.append(lambda: idle(plan.small_streams, "small"))
    if "w4" in target.workloads:
        steps.append(lambda: idle(big, "big"))
    for step in steps:
        try:
            step()
        except MEASURE_ERRORS as e:
            failures.append(f"{target.name}: {type(e).__name__}: {e}")
    return f


def medians(rounds: list[dict]) -> dict:
    keys = {k for r in rounds for k in r}
    return {k: statistics.median(r[k] for r in rounds if k in r) for k in keys}


def raise_fd_limit() -> int:
    """Raises the soft descriptor limit to the hard one (every child inherits it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# ---------------------------------------------------------------------------------------------
# The report

ORDER = ["D", "P", "nginx", "G", "G+R", "G-T", "LiteLLM"]


def fmt(value, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def table(title: str, rows: list[tuple[str, callable, int]], names: list[str]) -> str:
    lines = [f"\n### {title}\n", "| figure | " + " | ".join(names) + " |",
             "|---|" + "---:|" * len(names)]
    for label, get, digits in rows:
        cells = []
        for n in names:
            try:
                cells.append(fmt(get(n), digits))
            except (KeyError, TypeError, ZeroDivisionError):
                cells.append("-")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def report(results: dict, notes: dict, meta: dict) -> str:
    names = [n for n in ORDER if n in results or n in notes]
    r = {n: results.get(n, {}) for n in names}
    D, P = r.get("D", {}), r.get("P", {})

    def v(key):
        return lambda n: r[n].get(key)

    def added(key):
        return lambda n: r[n][key] - D[key]

    def added_ratio(key):
        return lambda n: (r[n][key] - D[key]) / (P[key] - D[key])

    def ratio(key, inverse=False):
        return lambda n: P[key] / r[n][key] if inverse else r[n][key] / P[key]

    per_core = lambda n: 1e6 / r[n]["cpu_req_c64"]  # noqa: E731
    small, big = meta["small_streams"], meta["big_streams"]
    absolute = [
        ("W1 p50 latency, c=1 (µs)", v("p50"), 0),
        ("W1 p99 latency, c=1 (µs)", v("p99"), 0),
        ("W1 max latency, c=1 (µs)", v("max"), 0),
        ("W1 throughput, c=16 (req/s)", v("rps16"), 0),
        ("W1 throughput, c=64 (req/s)", v("rps64"), 0),
        ("proxy CPU busy at c=64 (%)", lambda n: r[n]["busy64"] * 100, 0),
        ("CPU per request, c=1 (µs)", v("cpu_req_c1"), 0),
        ("CPU per request, c=64 (µs)", v("cpu_req_c64"), 1),
        ("requests per CPU-second (c=64)", per_core, 0),
        ("W3 time to first frame p50, c=1 (µs)", v("ttft"), 0),
        ("W3 time to first frame max, c=1 (µs)", v("ttft_max"), 0),
        ("W3 CPU per stream frame (µs)", v("cpu_frame"), 2),
        (f"W3 paced: largest gap between frames (µs; paced {PACE_US})", v("paced_gap_max"), 0),
        ("RSS idle after warm-up (MiB)", v("rss_idle"), 1),
        (f"W5 all {small:,} first frames (ms)", v("w5_ms"), 1),
        (f"W4 KiB per open stream, {small:,} open", v("kib_per_stream_small"), 1),
        (f"W4 KiB per open stream, {big:,} open", v("kib_per_stream_big"), 1),
        (f"W4 RSS with {big:,} open (MiB)", v("rss_held_big"), 1),
        (f"W4 RSS after {small:,} closed / before", v("after_ratio_small"), 2),
        (f"W4 RSS after {big:,} closed / before", v("after_ratio_big"), 2),
    ]
    vs_d = [
        ("added p50 latency, c=1 (µs)", added("p50"), 0),
        ("added p99 latency, c=1 (µs)", added("p99"), 0),
        ("added time to first frame p50 (µs)", added("ttft"), 0),
        ("added time to first frame, paced (µs)", added("paced_ttft"), 0),
    ]
    vs_p = [
        ("added p50 latency, c=1", added_ratio("p50"), 2),
        ("added p99 latency, c=1", added_ratio("p99"), 2),
        ("throughput, c=16", ratio("rps16"), 2),
        ("throughput, c=64", ratio("rps64"), 2),
        ("throughput per core (requests per CPU-second)", ratio("cpu_req_c64", True), 2),
        ("CPU per request, c=64", ratio("cpu_req_c64"), 2),
        ("added time to first frame", added_ratio("ttft"), 2),
        ("CPU per stream frame", ratio("cpu_frame"), 2),
        (f"memory per open stream ({big:,})", ratio("kib_per_stream_big"), 2),
        (f"time to all {small:,} first frames", ratio("w5_ms"), 2),
        ("idle RSS", ratio("rss_idle"), 2),
    ]
    out = [f"Run {meta['date']}: {meta['rounds']} round(s) of {meta['duration_s']} s per phase, "
           f"medians over rounds; proxy on CPU {PROXY_CPU}, load and upstream on CPU {LOAD_CPU}."]
    for n, why in notes.items():
        state = "unavailable" if n not in results else "partly measured"
        out.append(f"\n{n}: {state} ({why})")
    out.append(table("Absolute figures", absolute, names))
    out.append(table("Added over direct calls (D)", vs_d, [n for n in names if n != "D"]))
    out.append(table("Ratios to the bare Pingora proxy (P = 1.00)", vs_p,
                     [n for n in names if n not in ("D", "P")]))
    out.append("\n### Targets\n")
    out += [f"- {line}" for line in checks(r, D, P, meta)]
    return "\n".join(out)


def checks(r: dict, D: dict, P: dict, meta: dict) -> list[str]:
    """The targets, each as met / missed with its numbers (informational)."""
    G, GR, GT, L = (r.get(n, {}) for n in ("G", "G+R", "G-T", "LiteLLM"))
    lines = []

    def check(label, ok, detail):
        lines.append(f"{'met' if ok else 'MISSED'}: {label} ({detail})")

    def add(x, key):
        return x[key] - D[key]

    def try_check(label, body):
        try:
            body(label)
        except (KeyError, ZeroDivisionError, TypeError):
            lines.append(f"not measured: {label}")

    def added_latency(x, limit):
        def body(label):
            p50, p99 = add(x, "p50") / add(P, "p50"), add(x, "p99") / add(P, "p99")
            check(label, p50 <= limit and p99 <= limit, f"p50 {p50:.2f}x, p99 {p99:.2f}x P's: "
                  f"+{add(x, 'p50'):.0f}/+{add(x, 'p99'):.0f} µs vs +{add(P, 'p50'):.0f}/"
                  f"+{add(P, 'p99'):.0f} µs")
        return body

    try_check("W1 added latency p50/p99 <= 1.15x P's", added_latency(G, 1.15))
    try_check("W1 added latency with Redis limits <= 1.2x P's", added_latency(GR, 1.2))
    try_check("W1 throughput per core >= 1.0x P", lambda label: check(
        label, P["cpu_req_c64"] / G["cpu_req_c64"] >= 1.0,
        f"{1e6 / G['cpu_req_c64']:,.0f} vs {1e6 / P['cpu_req_c64']:,.0f} requests per "
        f"CPU-second = {P['cpu_req_c64'] / G['cpu_req_c64']:.2f}x"))
    try_check("CPU per request <= 1.25x P", lambda label: check(
        label, G["cpu_req_c64"] / P["cpu_req_c64"] <= 1.25,
        f"{G['cpu_req_c64']:.1f} vs {P['cpu_req_c64']:.1f} µs = "
        f"{G['cpu_req_c64'] / P['cpu_req_c64']:.2f}x"))
    try_check("W2 translation adds <= 25 µs p50 over passthrough", lambda label: check(
        label, GT["p50"] - G["p50"] <= 25, f"+{GT['p50'] - G['p50']:.0f} µs"))
    try_check("W3 added time to first frame <= 1.2x P's", lambda label: check(
        label, add(G, "ttft") / add(P, "ttft") <= 1.2,
        f"+{add(G, 'ttft'):.0f} vs +{add(P, 'ttft'):.0f} µs = "
        f"{add(G, 'ttft') / add(P, 'ttft'):.2f}x"))
    try_check("max latency at c=1 <= 5 ms (no Nagle stalls)", lambda label: check(
        label, max(G["max"], G["ttft_max"], G["paced_gap_max"] - PACE_US) <= 5000,
        f"W1 max {G['max'] / 1000:.2f} ms, first frame max {G['ttft_max'] / 1000:.2f} ms, "
        f"largest paced gap {G['paced_gap_max'] / 1000:.2f} ms for a {PACE_US / 1000:.0f} ms pace"))
    try_check("W4 <= 32 KiB per open stream", lambda label: check(
        label, max(G["kib_per_stream_small"], G["kib_per_stream_big"]) <= 32,
        f"{G['kib_per_stream_small']:.1f} KiB at {meta['small_streams']:,}, "
        f"{G['kib_per_stream_big']:.1f} KiB at {meta['big_streams']:,}"))
    try_check("W4 memory back within 20% of idle after streams close", lambda label: check(
        label, max(G["after_ratio_small"], G["after_ratio_big"]) <= 1.2,
        f"{G['after_ratio_small']:.2f}x and {G['after_ratio_big']:.2f}x of the RSS before"))
    try_check("idle RSS <= 30 MiB", lambda label: check(
        label, G["rss_idle"] <= 30, f"{G['rss_idle']:.1f} MiB"))
    try_check(f"W5 all {meta['small_streams']:,} first frames within 200 ms", lambda label: check(
        label, G["w5_ms"] <= 200, f"{G['w5_ms']:.0f} ms (direct: {D['w5_ms']:.0f} ms)"))
    try_check("vs LiteLLM: >= 100x throughput per core", lambda label: check(
        label, L["cpu_req_c64"] / G["cpu_req_c64"] >= 100,
        f"{L['cpu_req_c64'] / G['cpu_req_c64']:.0f}x"))
    try_check("vs LiteLLM: <= 1/100 of its added p50", lambda label: check(
        label, add(G, "p50") * 100 <= add(L, "p50"),
        f"+{add(G, 'p50'):.0f} µs vs +{add(L, 'p50'):,.0f} µs = 1/"
        f"{add(L, 'p50') / max(add(G, 'p50'), 1):.0f}"))
    return lines


# ---------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="seconds-long check, debug binaries")
    parser.add_argument("--json", type=Path, help="write every figure here")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--skip-litellm", action="store_true")
    parser.add_argument("--bin-dir", type=Path, help="built binaries (default target/release, "
                        "or target/debug with --smoke); skips the build")
    args = parser.parse_args()
    plan = SMOKE if args.smoke else FULL
    plan.rounds = args.rounds or plan.rounds
    plan.litellm = plan.litellm and not args.skip_litellm
    target_dir = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    bin_dir = (args.bin_dir or target_dir / ("debug" if args.smoke else "release")).resolve()
    if not args.smoke and not args.bin_dir:
        subprocess.run(["cargo", "build", "--release", "-p", "bytespike-gateway",
                        "-p", "bytespike-bench"], cwd=REPO, check=True)
    for name in ("bench-upstream", "bench-passthrough", "bench-load", "bytespike-gateway"):
        if not os.access(bin_dir / name, os.X_OK):
            print(f"missing {bin_dir / name}: build with `cargo build --workspace --bins`",
                  file=sys.stderr)
            return 2
    fd_limit = raise_fd_limit()
    # A proxy holds two descriptors per stream (client and upstream side), plus its own.
    big = min(plan.big_streams, (fd_limit - 300) // 2)

    started = time.time()
    rounds: dict[str, list[dict]] = {}
    failures: list[str] = []
    notes: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bytespike-perf-") as tmp, \
            Services(bin_dir, Path(tmp), plan.litellm) as services:
        live = []
        for t in services.targets:
            if t.unavailable:
                notes[t.name] = t.unavailable
                continue
            # Warm-up: connections pooled, lazy state built, before anything is measured.
            try:
                run_load(bin_dir, t, "requests", 8, min(plan.duration, 1.0))
            except ServeError as e:
                if t.reference:
                    notes[t.name] = f"failed to serve: {e}"
                else:
                    failures.append(str(e))
                continue
            time.sleep(plan.settle)
            t.rss_idle = rss_mib(t.pids()) if t.pids() else None
            live.append(t)
        for n in range(plan.rounds):
            # Rotate the order so no target always runs first or after the same neighbour.
            k = n % max(len(live), 1)
            order = live[k:] + live[:k]
            print(f"round {n + 1}/{plan.rounds}: concurrency 1", file=sys.stderr, flush=True)
            c1_errors: dict[str, list[str]] = {}
            c1 = latency_pass(bin_dir, order, plan, c1_errors)
            for t in order:
                print(f"round {n + 1}/{plan.rounds}: {t.name}", file=sys.stderr, flush=True)
                errors = c1_errors.get(t.name, [])
                figures = measure(bin_dir, t, plan, big, errors)
                rounds.setdefault(t.name, []).append({**c1.get(t.name, {}), **figures})
                if t.reference and errors:
                    notes[t.name] = "; ".join(dict.fromkeys(notes.get(t.name, "").split("; ")
                                                            + errors)).strip("; ")[:600]
                else:
                    failures += errors
        results = {name: medians(rs) for name, rs in rounds.items()}
        for t in live:
            if t.rss_idle is not None:
                results[t.name]["rss_idle"] = t.rss_idle
        versions = services.versions

    meta = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
            "rounds": plan.rounds, "duration_s": plan.duration,
            "small_streams": plan.small_streams, "big_streams": big, "fd_limit": fd_limit,
            "smoke": args.smoke, "seconds": round(time.time() - started), "versions": versions}
    print(report(results, notes, meta))
    print(f"\n({meta['seconds']} s; fd limit {fd_limit}; {versions})")
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "results": results, "rounds": rounds,
                                         "unavailable": notes, "failures": failures}, indent=2))
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
