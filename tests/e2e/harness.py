"""The processes under test and what they did.

Starts the built `bytespike-gateway` and `bytespike-fake-provider` on loopback ports, writes the
gateway's config directory (every provider points at the fake provider), and reads back what the
upstream received (the fake provider's request log) and what the gateway recorded (its JSON
access log on stdout).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TARGET_DIR = Path(os.environ.get("BYTESPIKE_TARGET_DIR", REPO_ROOT / "target" / "debug"))
GATEWAY_BIN = TARGET_DIR / "bytespike-gateway"
FAKE_BIN = TARGET_DIR / "bytespike-fake-provider"

FAKE_NAME = "fake-e2e"
MAIN_KEY = "bsk-e2e-main-9f2c4a71d03b"
OTHER_KEY = "bsk-e2e-other-5e8d1b22c7aa"
DISABLED_KEY = "bsk-e2e-disabled-0c6f93e4d1b8"
EXPIRED_KEY = "bsk-e2e-expired-7a41c0d95f3e"
TRANSLATE_KEY = "bsk-e2e-translate-4b7e2d90a16c"
ANTHROPIC_CREDENTIAL = "sk-ant-upstream-e2e-3c9f0a"
OPENAI_CREDENTIAL = "sk-openai-upstream-e2e-81d2b7"
GEMINI_CREDENTIAL = "AIza-gemini-upstream-e2e-5d0e3f"
SECRETS = (
    MAIN_KEY,
    OTHER_KEY,
    DISABLED_KEY,
    EXPIRED_KEY,
    TRANSLATE_KEY,
    ANTHROPIC_CREDENTIAL,
    OPENAI_CREDENTIAL,
    GEMINI_CREDENTIAL,
)

# Upstream model names differ from the ids clients use, so a rewrite is visible.
CLAUDE_UPSTREAM = "claude-sonnet-4-6-20250929"
GPT_UPSTREAM = "gpt-5.4"
# Models of the `translation` group, each served over a protocol other clients may not speak.
TR_GPT_UPSTREAM = "gpt-5.4-tr"
TR_CLAUDE_UPSTREAM = "claude-sonnet-4-6-tr"
TR_GEMINI_UPSTREAM = "gemini-2.5-flash-tr"
MAX_BODY_BYTES = 6 * 1024 * 1024

START_TIMEOUT = 20.0
LOG_TIMEOUT = 5.0


def free_port() -> int:
    """A loopback port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_binaries() -> None:
    """Stops the run with one clear message when the binaries were not built."""
    missing = [str(p) for p in (GATEWAY_BIN, FAKE_BIN) if not os.access(p, os.X_OK)]
    if missing:
        pytest.exit(
            "built binaries not found: "
            + ", ".join(missing)
            + ". Run `cargo build --workspace --bins` or set BYTESPIKE_TARGET_DIR.",
            returncode=1,
        )


def stop_process(proc: subprocess.Popen) -> None:
    """Fast shutdown (SIGINT for Pingora), then a kill if it lingers."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.05):
    """Polls `predicate` until it returns something truthy, failing after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}", pytrace=False)
        time.sleep(interval)


def h2_events(sock: socket.socket, conn: Any, timeout: float) -> Iterator[Any]:
    """The h2 events the gateway sends on `conn` (an `h2.connection.H2Connection` over `sock`),
    read by read; after each read the client's own frames (acknowledgements, window updates)
    go out. The caller stops iterating once it has seen what it waits for."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        data = sock.recv(65536)
        assert data, "the gateway closed the connection"
        yield from conn.receive_data(data)
        sock.sendall(conn.data_to_send())
    pytest.fail(f"no answer on the h2 connection within {timeout}s", pytrace=False)


# ---------------------------------------------------------------------------------------------
# The fake provider


class FakeProvider:
    """A running `bytespike-fake-provider` and its `/_fake/*` control endpoints."""

    def __init__(self, workdir: Path, name: str = FAKE_NAME, extra_args: tuple[str, ...] = ()):
        self.stderr_path = workdir / f"{name}.stderr"
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [str(FAKE_BIN), "--listen", "127.0.0.1:0", "--name", name, *extra_args],
            stdout=subprocess.PIPE,
            stderr=self._stderr,
        )
        self.url = self._read_address()
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def _read_address(self) -> str:
        line: list[bytes] = []
        reader = threading.Thread(target=lambda: line.append(self.proc.stdout.readline()))
        reader.daemon = True
        reader.start()
        reader.join(START_TIMEOUT)
        text = line[0].decode().strip() if line else ""
        prefix = "listening on "
        if not text.startswith(prefix):
            stop_process(self.proc)
            pytest.fail(
                f"fake provider did not announce its address (got {text!r}); "
                f"stderr: {self.stderr_path.read_text()[-2000:]}",
                pytrace=False,
            )
        return text[len(prefix) :]

    def requests(self) -> list[dict]:
        """Every vendor request received since the last `clear()`, oldest first."""
        return self.http.get("/_fake/requests").json()

    def last_request(self) -> dict:
        received = self.requests()
        assert received, "the fake provider received no request"
        return received[-1]

    def only_request(self) -> dict:
        received = self.requests()
        assert len(received) == 1, f"expected one upstream request, got {len(received)}"
        return received[0]

    def clear(self) -> None:
        self.http.delete("/_fake/requests").raise_for_status()

    def stats(self) -> dict:
        return self.http.get("/_fake/stats").json()

    def set_mode(self, **mode: Any) -> None:
        self.http.post("/_fake/mode", json=mode).raise_for_status()

    def reset_mode(self) -> None:
        self.http.delete("/_fake/mode").raise_for_status()

    def stop(self) -> None:
        self.http.close()
        stop_process(self.proc)
        self._stderr.close()


# ---------------------------------------------------------------------------------------------
# The gateway's config


def provider_yaml(name: str, protocol: str, base_url: str, secret_key: str, **extra: str) -> str:
    lines = [
        "apiVersion: gateway.bytespike.ai/v1alpha1",
        "kind: Provider",
        f"metadata: {{name: {name}}}",
        "spec:",
        f"  protocol: {protocol}",
        f"  baseUrl: {base_url}",
        f"  credentials: {{secretRef: {{name: vendor-credentials, key: {secret_key}}}}}",
    ]
    lines += [f"  {field}: {value}" for field, value in extra.items()]
    return "\n".join(lines) + "\n"


def providers_yaml(fake_url: str, closed_port: int) -> str:
    """Providers for every upstream behaviour the suite needs, all on the fake provider."""
    dead = f"http://127.0.0.1:{closed_port}"
    quick = "{connect: 1s, firstByte: 1s, idle: 1s}"
    normal = "{connect: 2s, firstByte: 30s, idle: 30s}"
    docs = [
        provider_yaml("anthropic", "anthropic", fake_url, "anthropic", timeouts=normal),
        provider_yaml("openai", "openai", f"{fake_url}/v1", "openai", timeouts=normal),
        provider_yaml("anthropic-h2", "anthropic", fake_url, "anthropic", http2="true"),
        provider_yaml("openai-h2", "openai", f"{fake_url}/v1", "openai", http2="true"),
        provider_yaml("anthropic-slow", "anthropic", fake_url, "anthropic", timeouts=quick),
        provider_yaml("openai-slow", "openai", f"{fake_url}/v1", "openai", timeouts=quick),
        provider_yaml("anthropic-dead", "anthropic", dead, "anthropic", timeouts=quick),
        provider_yaml("openai-dead", "openai", f"{dead}/v1", "openai", timeouts=quick),
        provider_yaml("gemini", "gemini", fake_url, "gemini", timeouts=normal),
        "\n".join(
            [
                "apiVersion: v1",
                "kind: Secret",
                "metadata: {name: vendor-credentials}",
                "stringData:",
                f"  anthropic: {ANTHROPIC_CREDENTIAL}",
                f"  openai: {OPENAI_CREDENTIAL}",
                f"  gemini: {GEMINI_CREDENTIAL}",
            ]
        )
        + "\n",
    ]
    return "---\n".join(docs)


ROUTING_YAML = f"""\
apiVersion: gateway.bytespike.ai/v1alpha1
kind: RoutingGroup
metadata: {{name: main}}
spec:
  models:
    - id: claude-sonnet-4-6
      aliases: [claude-3-5-sonnet-20241022, claude-sonnet-4-20250514]
      targets:
        - {{provider: anthropic, model: {CLAUDE_UPSTREAM}}}
      pricing: {{input: "3.00", output: "15.00", cacheRead: "0.30", cacheWrite: "3.75"}}
    - id: gpt-5-4
      aliases: [gpt-4o]
      targets:
        - {{provider: openai, model: {GPT_UPSTREAM}}}
      pricing: {{input: "2.50", output: "10.00", cacheRead: "0.25"}}
    - id: text-embedding-3-small
      targets:
        - {{provider: openai, model: text-embedding-3-small}}
      pricing: {{input: "0.02", output: "0"}}
    - id: gpt-image-1
      targets:
        - {{provider: openai, model: gpt-image-1}}
    - id: claude-h2
      targets:
        - {{provider: anthropic-h2, model: claude-h2-upstream}}
    - id: gpt-h2
      targets:
        - {{provider: openai-h2, model: gpt-h2-upstream}}
    - id: claude-slow
      targets:
        - {{provider: anthropic-slow, model: claude-slow-upstream}}
    - id: gpt-slow
      targets:
        - {{provider: openai-slow, model: gpt-slow-upstream}}
    - id: claude-dead
      targets:
        - {{provider: anthropic-dead, model: claude-dead-upstream}}
    - id: gpt-dead
      targets:
        - {{provider: openai-dead, model: gpt-dead-upstream}}
---
apiVersion: gateway.bytespike.ai/v1alpha1
kind: RoutingGroup
metadata: {{name: restricted}}
spec:
  models:
    - id: claude-haiku-4-5
      targets:
        - {{provider: anthropic, model: claude-haiku-4-5-upstream}}
    - id: gpt-5-5
      targets:
        - {{provider: openai, model: gpt-5.5}}
---
apiVersion: gateway.bytespike.ai/v1alpha1
kind: RoutingGroup
metadata: {{name: translation}}
spec:
  models:
    - id: tr-gpt
      targets:
        - {{provider: openai, model: {TR_GPT_UPSTREAM}}}
      pricing: {{input: "2.50", output: "10.00", cacheRead: "0.25"}}
    - id: tr-claude
      targets:
        - {{provider: anthropic, model: {TR_CLAUDE_UPSTREAM}}}
      pricing: {{input: "3.00", output: "15.00", cacheRead: "0.30", cacheWrite: "3.75"}}
    - id: tr-gemini
      targets:
        - {{provider: gemini, model: {TR_GEMINI_UPSTREAM}}}
      pricing: {{input: "0.30", output: "2.50", cacheRead: "0.03"}}
"""


def api_key_yaml(name: str, key: str, groups: str, **extra: str) -> str:
    lines = [
        "apiVersion: v1",
        "kind: Secret",
        f"metadata: {{name: {name}-key}}",
        "stringData:",
        f"  key: {key}",
        "---",
        "apiVersion: gateway.bytespike.ai/v1alpha1",
        "kind: ApiKey",
        f"metadata: {{name: {name}}}",
        "spec:",
        f"  routingGroups: [{groups}]",
        f"  secretRef: {{name: {name}-key, key: key}}",
    ]
    lines += [f"  {field}: {value}" for field, value in extra.items()]
    return "\n".join(lines) + "\n"


KEYS_YAML = "---\n".join(
    [
        api_key_yaml("e2e-main", MAIN_KEY, "main", owner="end-to-end suite"),
        api_key_yaml("e2e-other", OTHER_KEY, "restricted"),
        api_key_yaml("e2e-disabled", DISABLED_KEY, "main", disabled="true"),
        api_key_yaml("e2e-expired", EXPIRED_KEY, "main", expiresAt='"2020-01-01T00:00:00Z"'),
        api_key_yaml("e2e-translate", TRANSLATE_KEY, "translation"),
    ]
)


def write_config(config_dir: Path, fake_url: str) -> None:
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "providers.yaml").write_text(providers_yaml(fake_url, free_port()))
    (config_dir / "routing.yaml").write_text(ROUTING_YAML)
    (config_dir / "keys.yaml").write_text(KEYS_YAML)


# ---------------------------------------------------------------------------------------------
# The gateway


class Gateway:
    """A running `bytespike-gateway`, its URLs and its captured logs."""

    def __init__(self, workdir: Path, config_dir: Path, *extra_args: str):
        self.config_dir = config_dir
        port, admin_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.admin_url = f"http://127.0.0.1:{admin_port}"
        self.log_path = workdir / f"gateway-{port}.stdout"
        self.stderr_path = workdir / f"gateway-{port}.stderr"
        self._stdout = open(self.log_path, "wb")
        self._stderr = open(self.stderr_path, "wb")
        env = dict(os.environ, RUST_LOG="info")
        self.proc = subprocess.Popen(
            [
                str(GATEWAY_BIN),
                "--config",
                str(config_dir),
                "--listen",
                f"127.0.0.1:{port}",
                "--admin-listen",
                f"127.0.0.1:{admin_port}",
                "--threads",
                "2",
                *extra_args,
            ],
            stdout=self._stdout,
            stderr=self._stderr,
            env=env,
        )
        wait_until(self._ready, START_TIMEOUT, "the gateway's /readyz")

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            pytest.fail(
                f"the gateway exited with {self.proc.returncode}; "
                f"stderr: {self.stderr_path.read_text()[-2000:]}; "
                f"stdout: {self.log_path.read_text()[-2000:]}",
                pytrace=False,
            )
        try:
            return self.readyz() == 200
        except httpx.TransportError:
            return False

    def readyz(self) -> int:
        return httpx.get(f"{self.admin_url}/readyz", timeout=2).status_code

    def log_lines(self) -> list[dict]:
        """Every JSON line the gateway wrote to stdout so far."""
        lines = []
        for raw in self.log_path.read_text().splitlines():
            try:
                lines.append(json.loads(raw))
            except json.JSONDecodeError:
                continue
        return lines

    def log_text(self) -> str:
        return self.log_path.read_text() + self.stderr_path.read_text()

    def access_entry(self, request_id: str) -> dict:
        """The access-log line of one request, waiting briefly for the logging phase."""

        def find() -> dict | None:
            for line in self.log_lines():
                if line.get("target") == "access" and line.get("request_id") == request_id:
                    return line
            return None

        return wait_until(find, LOG_TIMEOUT, f"the access-log line of request {request_id}")

    def stop(self) -> None:
        stop_process(self.proc)
        self._stdout.close()
        self._stderr.close()


def anthropic_headers(key: str = MAIN_KEY, **extra: str) -> dict:
    return {"x-api-key": key, "anthropic-version": "2023-06-01", **extra}


def openai_headers(key: str = MAIN_KEY, **extra: str) -> dict:
    return {"authorization": f"Bearer {key}", **extra}


def all_header_values(recorded: list[dict]) -> list[str]:
    return [value for req in recorded for value in req["headers"].values()]


def expected_cost_usd(pricing: dict[str, str], **tokens: int) -> float:
    """Cost as the gateway computes it: the exact sum of price-per-1M times tokens, rounded up
    to a whole micro-dollar."""
    total = sum(Decimal(price) * tokens.get(kind, 0) for kind, price in pricing.items())
    micros = int(total.to_integral_value(rounding=ROUND_CEILING))
    return micros / 1_000_000
