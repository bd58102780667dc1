#!/usr/bin/env python3
"""Soak run of the gateway under mixed traffic and injected faults, with billing and memory checks.

Starts Redis (append-only, so a restart keeps what was written), two fake providers (`fake-a`,
`fake-b`) and one gateway on that Redis. Client threads send a mix of Anthropic passthrough
(non-stream and stream), translated Anthropic-to-OpenAI streams and OpenAI chat requests on a
generous key, plus requests on a tightly limited key so 429s happen. Meanwhile fake-a flips
between healthy and answering 503 at random intervals, and Redis is stopped for about two
seconds once, halfway through.

Exits 0 only when:
- no request got a 5xx (fake-b never fails and every model that reaches fake-a can fail over
  to fake-b, so no 5xx is attributable to the injected faults) and no transport error occurred;
- the Redis ledger of the generous key, once settled, holds one record per 200 response and its
  summed output_tokens equal the output tokens the clients received;
- the gateway's resident memory at the end is at most 3x its value after warm-up.

Usage: bench/soak.py [--duration SECONDS | --smoke] [--json PATH] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))

from harness import (  # noqa: E402
    ANTHROPIC_CREDENTIAL,
    GEMINI_CREDENTIAL,
    OPENAI_CREDENTIAL,
    FakeProvider,
    Gateway,
    provider_yaml,
)
from redis_server import RedisServer  # noqa: E402

LEDGER_STREAM = "bsg:ledger"
GENEROUS = ("soak-generous", "bsk-soak-generous-7d1e9a40c2b5")
LIMITED = ("soak-limited", "bsk-soak-limited-3f6b08d2e91c")
LIMITED_REQUESTS = 20
FAILOVER_MODEL = "soak-failover"  # fake-a (priority 0), then fake-b (priority 1), Anthropic
TRANSLATED_MODEL = "soak-translated"  # an OpenAI-protocol target on fake-b
TIMEOUTS = "{connect: 2s, firstByte: 10s, idle: 10s}"
RSS_GROWTH_LIMIT = 3.0
WARMUP_SECONDS = 3.0
SETTLE_DEADLINE = 60.0
REDIS_OUTAGE_SECONDS = 2.0


# ---------------------------------------------------------------------------------------------
# Configuration


def config_yaml(a_url: str, b_url: str) -> str:
    providers = [
        provider_yaml("a", "anthropic", a_url, "anthropic", timeouts=TIMEOUTS),
        provider_yaml("b", "anthropic", b_url, "anthropic", timeouts=TIMEOUTS),
        provider_yaml("b-openai", "openai", f"{b_url}/v1", "openai", timeouts=TIMEOUTS),
    ]
    secret = (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: vendor-credentials}\nstringData:\n"
        f"  anthropic: {ANTHROPIC_CREDENTIAL}\n  openai: {OPENAI_CREDENTIAL}\n"
        f"  gemini: {GEMINI_CREDENTIAL}\n"
    )
    group = "\n".join([
        "apiVersion: gateway.bytespike.ai/v1alpha1",
        "kind: RoutingGroup",
        "metadata: {name: soak}",
        "spec:",
        "  models:",
        f"    - id: {FAILOVER_MODEL}",
        "      targets:",
        f"        - {{provider: a, model: {FAILOVER_MODEL}-on-a, priority: 0}}",
        f"        - {{provider: b, model: {FAILOVER_MODEL}-on-b, priority: 1}}",
        '      pricing: {input: "3.00", output: "15.00"}',
        f"    - id: {TRANSLATED_MODEL}",
        "      targets:",
        f"        - {{provider: b-openai, model: {TRANSLATED_MODEL}-on-b}}",
        '      pricing: {input: "2.50", output: "10.00"}',
    ]) + "\n"
    keys = [
        api_key(GENEROUS, "[{window: 5h, requests: 100000000}]"),
        api_key(LIMITED, f"[{{window: 5h, requests: {LIMITED_REQUESTS}}}]"),
    ]
    return "---\n".join(providers + [secret, group] + keys)


def api_key(key: tuple[str, str], limits: str) -> str:
    name, material = key
    return (
        f"apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}-key}}\n"
        f"stringData: {{key: {material}}}\n---\n"
        f"apiVersion: gateway.bytespike.ai/v1alpha1\nkind: ApiKey\nmetadata: {{name: {name}}}\n"
        f"spec:\n  routingGroups: [soak]\n  secretRef: {{name: {name}-key, key: key}}\n"
        f"  limits: {limits}\n"
    )


# ---------------------------------------------------------------------------------------------
# Requests: each scenario sends one request and returns (status, output tokens or None)


def anthropic_request(client: httpx.Client, key: str, model: str, stream: bool) -> tuple[int, int | None]:
    headers = {"x-api-key": key, "anthropic-version": "2023-06-01"}
    body = {"model": model, "max_tokens": 64, "stream": stream,
            "messages": [{"role": "user", "content": "Hello from the soak run"}]}
    if not stream:
        response = client.post("/v1/messages", headers=headers, json=body)
        if response.status_code != 200:
            return response.status_code, None
        return 200, response.json()["usage"]["output_tokens"]
    with client.stream("POST", "/v1/messages", headers=headers, json=body) as response:
        if response.status_code != 200:
            response.read()
            return response.status_code, None
        return 200, anthropic_stream_output_tokens(response)


def anthropic_stream_output_tokens(response: httpx.Response) -> int:
    output_tokens, stopped = None, False
    for event in sse_data(response):
        if event.get("type") == "message_delta":
            output_tokens = event["usage"]["output_tokens"]
        elif event.get("type") == "message_stop":
            stopped = True
    if output_tokens is None or not stopped:
        raise IncompleteStream("anthropic stream ended without message_delta usage and message_stop")
    return output_tokens


def openai_request(client: httpx.Client, key: str, model: str, stream: bool) -> tuple[int, int | None]:
    headers = {"authorization": f"Bearer {key}"}
    body = {"model": model, "stream": stream,
            "messages": [{"role": "user", "content": "Hello from the soak run"}]}
    if stream:
        body["stream_options"] = {"include_usage": True}
    if not stream:
        response = client.post("/v1/chat/completions", headers=headers, json=body)
        if response.status_code != 200:
            return response.status_code, None
        return 200, response.json()["usage"]["completion_tokens"]
    with client.stream("POST", "/v1/chat/completions", headers=headers, json=body) as response:
        if response.status_code != 200:
            response.read()
            return response.status_code, None
        usage = [e["usage"] for e in sse_data(response) if e.get("usage")]
        if not usage:
            raise IncompleteStream("openai stream ended without a usage chunk")
        return 200, usage[-1]["completion_tokens"]


class IncompleteStream(Exception):
    """A 200 stream that ended before its usage or terminal event."""


def sse_data(response: httpx.Response):
    """The JSON payloads of an SSE body's `data:` lines (`[DONE]` skipped)."""
    for line in response.iter_lines():
        if line.startswith("data:"):
            payload = line[5:].strip()
            if payload and payload != "[DONE]":
                yield json.loads(payload)


SCENARIOS = {
    "anthropic": lambda c, k: anthropic_request(c, k, FAILOVER_MODEL, False),
    "anthropic-stream": lambda c, k: anthropic_request(c, k, FAILOVER_MODEL, True),
    "translated-stream": lambda c, k: anthropic_request(c, k, TRANSLATED_MODEL, True),
    "translated": lambda c, k: anthropic_request(c, k, TRANSLATED_MODEL, False),
    "openai-to-anthropic": lambda c, k: openai_request(c, k, FAILOVER_MODEL, False),
    "openai-to-anthropic-stream": lambda c, k: openai_request(c, k, FAILOVER_MODEL, True),
    "openai-passthrough-stream": lambda c, k: openai_request(c, k, TRANSLATED_MODEL, True),
}


# ---------------------------------------------------------------------------------------------
# Tallies shared by the client threads


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    by_status: Counter = field(default_factory=Counter)  # (key name, status)
    by_scenario: Counter = field(default_factory=Counter)  # (scenario, status)
    errors: Counter = field(default_factory=Counter)  # cause
    ok: Counter = field(default_factory=Counter)  # key name -> 200 responses
    output_tokens: Counter = field(default_factory=Counter)  # key name -> tokens received

    def record(self, key_name: str, scenario: str, status: int, tokens: int | None) -> None:
        with self.lock:
            self.by_status[(key_name, status)] += 1
            self.by_scenario[(scenario, status)] += 1
            if status == 200:
                self.ok[key_name] += 1
                self.output_tokens[key_name] += tokens or 0

    def error(self, cause: str) -> None:
        with self.lock:
            self.errors[cause] += 1

    def total(self) -> int:
        with self.lock:
            return sum(self.by_status.values())


def client_loop(url: str, tally: Tally, stop: threading.Event, seed: int) -> None:
    rng = random.Random(seed)
    with httpx.Client(base_url=url, timeout=30) as client:
        while not stop.is_set():
            limited = rng.random() < 0.1
            key_name, key = LIMITED if limited else GENEROUS
            scenario = "anthropic" if limited else rng.choice(list(SCENARIOS))
            try:
                status, tokens = SCENARIOS[scenario](client, key)
                tally.record(key_name, scenario, status, tokens)
            except IncompleteStream:
                tally.error(f"{scenario}: incomplete stream")
            except httpx.HTTPError as exc:
                tally.error(f"{scenario}: {type(exc).__name__}")
            except (ValueError, KeyError) as exc:
                tally.error(f"{scenario}: bad body ({type(exc).__name__})")


# ---------------------------------------------------------------------------------------------
# Faults


def chaos_loop(fake_a: FakeProvider, redis: RedisServer, duration: float, stop: threading.Event,
               events: list[str], seed: int) -> None:
    """Flips fake-a between healthy and 503 at random intervals; stops Redis once, halfway."""
    rng = random.Random(seed)
    started = time.monotonic()
    outage_done, failing = False, False
    while not stop.wait(rng.uniform(0.5, 3.0)):
        failing = not failing
        if failing:
            fake_a.set_mode(fail_status=503)
        else:
            fake_a.reset_mode()
        events.append(f"{time.monotonic() - started:6.1f}s fake-a {'503' if failing else 'healthy'}")
        if not outage_done and time.monotonic() - started >= duration / 2:
            outage_done = True
            redis_outage(redis, events, started)
    fake_a.reset_mode()


def redis_outage(redis: RedisServer, events: list[str], started: float) -> None:
    events.append(f"{time.monotonic() - started:6.1f}s redis stopped")
    redis.stop()
    time.sleep(REDIS_OUTAGE_SECONDS)
    redis.start()
    events.append(f"{time.monotonic() - started:6.1f}s redis started")


# ---------------------------------------------------------------------------------------------
# Measurements


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def ledger_totals(redis: RedisServer, key_name: str) -> tuple[int, int]:
    """(records, summed output_tokens) of one key in the ledger, read in pages."""
    records = tokens = 0
    start = "-"
    while True:
        entries = redis.cmd("XRANGE", LEDGER_STREAM, start, "+", "COUNT", 1000) or []
        for _, fields in entries:
            record = dict(zip(fields[::2], fields[1::2]))
            if record.get("key") == f"default/{key_name}":
                records += 1
                tokens += int(record["output_tokens"])
        if len(entries) < 1000:
            return records, tokens
        start = "(" + entries[-1][0]


def wait_for_ledger(redis: RedisServer, key_name: str, want: tuple[int, int]) -> tuple[int, int, float]:
    """Polls the ledger until it matches `want` or the deadline passes: (records, tokens, seconds)."""
    began = time.monotonic()
    while True:
        try:
            got = ledger_totals(redis, key_name)
        except OSError:
            got = (-1, -1)
        waited = time.monotonic() - began
        if got == want or waited > SETTLE_DEADLINE:
            return got[0], got[1], waited
        time.sleep(0.5)


def failovers_from_access_log(gateway: Gateway) -> dict[str, int]:
    entries = [e for e in gateway.log_lines() if e.get("target") == "access"]
    return {
        "access_log_entries": len(entries),
        "failovers": sum(int(e.get("failovers") or 0) for e in entries),
        "served_by_a": sum(1 for e in entries if e.get("provider") == "a"),
        "served_by_b": sum(1 for e in entries if e.get("provider") in ("b", "b-openai")),
    }


# ---------------------------------------------------------------------------------------------
# The run


def run(duration: float, threads: int, seed: int) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="bytespike-soak-"))
    redis = RedisServer(workdir, "--appendonly", "yes", "--appendfsync", "always")
    fake_a, fake_b = FakeProvider(workdir, name="fake-a"), FakeProvider(workdir, name="fake-b")
    config_dir = workdir / "config"
    config_dir.mkdir()
    (config_dir / "config.yaml").write_text(config_yaml(fake_a.url, fake_b.url))
    gateway = Gateway(workdir, config_dir, "--redis-url", redis.url,
                      "--redis-failure-policy", "fail-open")
    try:
        return drive(gateway, redis, fake_a, duration, threads, seed) | {"workdir": str(workdir)}
    finally:
        gateway.stop()
        fake_a.stop()
        fake_b.stop()
        redis.stop()


def drive(gateway: Gateway, redis: RedisServer, fake_a: FakeProvider, duration: float,
          threads: int, seed: int) -> dict:
    rss_launch = rss_kib(gateway.proc.pid)
    tally, stop, events = Tally(), threading.Event(), []
    clients = [threading.Thread(target=client_loop, args=(gateway.url, tally, stop, seed + i))
               for i in range(threads)]
    began = time.monotonic()
    for thread in clients:
        thread.start()
    time.sleep(min(WARMUP_SECONDS, duration / 4))
    rss_start = rss_kib(gateway.proc.pid)
    chaos = threading.Thread(target=chaos_loop,
                             args=(fake_a, redis, duration, stop, events, seed))
    chaos.start()
    stop.wait(max(0.0, duration - (time.monotonic() - began)))
    stop.set()
    for thread in clients + [chaos]:
        thread.join(timeout=60)
    elapsed = time.monotonic() - began
    rss_end = rss_kib(gateway.proc.pid)
    gateway_alive = gateway.proc.poll() is None

    want = (tally.ok[GENEROUS[0]], tally.output_tokens[GENEROUS[0]])
    records, tokens, settle_seconds = wait_for_ledger(redis, GENEROUS[0], want)
    limited_records, _ = ledger_totals(redis, LIMITED[0])
    return {
        "duration_s": round(elapsed, 1),
        "threads": threads,
        "requests": tally.total(),
        "requests_per_s": round(tally.total() / elapsed, 1),
        "by_key_and_status": {f"{k} {s}": n for (k, s), n in sorted(tally.by_status.items())},
        "by_scenario_and_status": {f"{k} {s}": n for (k, s), n in sorted(tally.by_scenario.items())},
        "status_429": sum(n for (_, s), n in tally.by_status.items() if s == 429),
        "status_5xx": sum(n for (_, s), n in tally.by_status.items() if s >= 500),
        "errors": dict(tally.errors),
        "rss_kib": {"launch": rss_launch, "start": rss_start, "end": rss_end},
        "gateway_alive": gateway_alive,
        "billing": {
            "ok_responses": want[0], "client_output_tokens": want[1],
            "ledger_records": records, "ledger_output_tokens": tokens,
            "settle_seconds": round(settle_seconds, 1),
            "limited_ok_responses": tally.ok[LIMITED[0]], "limited_ledger_records": limited_records,
        },
        "gateway": failovers_from_access_log(gateway),
        "chaos_events": events,
    }


def checks(result: dict) -> dict[str, bool]:
    billing, rss = result["billing"], result["rss_kib"]
    return {
        "no 5xx": result["status_5xx"] == 0,
        "no transport or stream errors": not result["errors"],
        "rate limiting happened (429 on the limited key)": result["status_429"] > 0,
        "ledger records == 200 responses (generous key)":
            billing["ledger_records"] == billing["ok_responses"],
        "ledger output_tokens == client output tokens":
            billing["ledger_output_tokens"] == billing["client_output_tokens"],
        f"RSS end <= {RSS_GROWTH_LIMIT:g}x start": rss["end"] <= RSS_GROWTH_LIMIT * rss["start"],
        "gateway still running": result["gateway_alive"],
    }


def print_table(result: dict, verdicts: dict[str, bool]) -> None:
    rows = [
        ("duration (s)", result["duration_s"]),
        ("client threads", result["threads"]),
        ("requests", result["requests"]),
        ("requests/s", result["requests_per_s"]),
        *[(f"  {k}", n) for k, n in result["by_key_and_status"].items()],
        ("429 responses", result["status_429"]),
        ("5xx responses", result["status_5xx"]),
        ("errors", sum(result["errors"].values())),
        *[(f"  {cause}", n) for cause, n in result["errors"].items()],
        ("failovers (access log)", result["gateway"]["failovers"]),
        ("served by fake-a / fake-b",
         f"{result['gateway']['served_by_a']} / {result['gateway']['served_by_b']}"),
        ("gateway RSS launch / start / end (MiB)",
         " / ".join(f"{v / 1024:.1f}" for v in result["rss_kib"].values())),
        ("200s (generous key)", result["billing"]["ok_responses"]),
        ("ledger records (generous key)", result["billing"]["ledger_records"]),
        ("client output tokens", result["billing"]["client_output_tokens"]),
        ("ledger output_tokens", result["billing"]["ledger_output_tokens"]),
        ("ledger settle wait (s)", result["billing"]["settle_seconds"]),
        ("limited key 200s / ledger records",
         f"{result['billing']['limited_ok_responses']} / {result['billing']['limited_ledger_records']}"),
    ]
    width = max(len(name) for name, _ in rows)
    print()
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    print()
    for name, held in verdicts.items():
        print(f"[{'ok' if held else 'FAIL'}] {name}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=300.0, help="seconds of traffic")
    parser.add_argument("--smoke", action="store_true", help="a short run (about 20 s)")
    parser.add_argument("--threads", type=int, default=4, help="client threads")
    parser.add_argument("--seed", type=int, default=1, help="seed of traffic and faults")
    parser.add_argument("--json", type=Path, help="write the results to this file")
    args = parser.parse_args()
    duration = 20.0 if args.smoke else args.duration

    result = run(duration, args.threads, args.seed)
    verdicts = checks(result)
    result["checks"] = verdicts
    print_table(result, verdicts)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if all(verdicts.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
