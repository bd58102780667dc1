"""Redis stopped and restarted under traffic, under each failure policy.

Redis runs with an fsync'd append-only file, so a restart finds what was written before the
outage (as a persistent production Redis would). Fail-open keeps answering within this
replica's shadow budget (each cap divided by --replicas) and, once Redis is back, replays the
settlements it buffered so the shared totals are exact. Fail-closed answers 503 in the caller's
protocol while Redis is away and recovers on its own. A request in flight across the outage is
billed once Redis returns, under both policies.
"""

from __future__ import annotations

import threading

import httpx
import pytest

from harness import Gateway, wait_until
from limit_checks import (
    assert_limit_headers, error_of, in_flight, ledger, send, usage, used, wait_settled,
    write_limits_config,
)
from redis_server import RedisServer

LEDGER = "bsg:ledger"
KEYS = {
    "lim-open": {"limits": "[{window: 5h, requests: 10, tokens: 1000000}]"},
    "lim-closed": {"limits": "[{window: 5h, requests: 10, tokens: 1000000}]"},
}


def tokens_of(response: httpx.Response) -> int:
    u = response.json()["usage"]
    if "input_tokens" in u:
        return u["input_tokens"] + u["output_tokens"]
    return u["prompt_tokens"] + u["completion_tokens"]


@pytest.fixture
def persistent_redis(workdir):
    server = RedisServer(workdir, "--appendonly", "yes", "--appendfsync", "always")
    yield server
    server.stop()


@pytest.fixture
def start_gateway(workdir, fake):
    """Starts a gateway on a Redis under a failure policy; stopped when the test ends."""
    started: list[Gateway] = []

    def start(redis: RedisServer, policy: str) -> Gateway:
        config_dir = workdir / f"limits-{policy}"
        write_limits_config(config_dir, fake.url, KEYS)
        gw = Gateway(workdir, config_dir, "--redis-url", redis.url, "--replicas", "2",
                     "--redis-failure-policy", policy, "--reservation-ttl", "30s")
        started.append(gw)
        return gw

    yield start
    for gw in started:
        gw.stop()


class InFlight:
    """One slow request running in the background while Redis goes away."""

    def __init__(self, url: str, name: str, redis: RedisServer):
        self.response: httpx.Response | None = None
        self.thread = threading.Thread(target=self._run, args=(url, name))
        self.thread.start()
        wait_until(lambda: in_flight(redis, name) == 1, 10, "the slow request to be admitted")

    def _run(self, url: str, name: str) -> None:
        self.response = send("anthropic", url, name, "[[delay:2500]]")

    def finish(self) -> httpx.Response:
        self.thread.join(timeout=15)
        assert self.response is not None and self.response.status_code == 200
        return self.response


def test_fail_open_answers_within_the_shadow_budget_and_replays_settlements(
        start_gateway, persistent_redis):
    redis, name = persistent_redis, "lim-open"
    gw = start_gateway(redis, "fail-open")
    served = [send(p, gw.url, name, "before") for p in ("anthropic", "openai")]
    assert [r.status_code for r in served] == [200, 200]
    wait_settled(redis, name)
    slow = InFlight(gw.url, name, redis)

    redis.stop()
    # Ten requests a window, two replicas: this replica alone may admit five while Redis is away.
    during = [send(("anthropic", "openai")[i % 2], gw.url, name, f"outage {i}") for i in range(6)]
    assert [r.status_code for r in during] == [200] * 5 + [429], [r.text for r in during]
    kind, message = error_of(during[5], "openai")
    assert kind == "rate_limit_exceeded" and "5 requests" in message, message
    assert_limit_headers(during[0], "anthropic", requests_limit=5)
    shadow = usage(gw.url, name)
    assert shadow.status_code == 200 and shadow.json()["windows"][0]["requests"]["used"] == 5
    served += during[:5] + [slow.finish()]

    redis.start()
    expected = {"requests": 8, "tokens": sum(tokens_of(r) for r in served)}
    wait_until(lambda: {k: used(gw.url, name)[k] for k in expected} == expected, 15,
               "the buffered settlements to be replayed")
    wait_settled(redis, name)
    records = ledger(redis, LEDGER, name)
    assert sorted(r["request_id"] for r in records) == sorted(
        r.headers["x-request-id"] for r in served)

    # Back on the shared budget: two of the ten requests are left.
    after = [send("anthropic", gw.url, name, f"after {i}") for i in range(3)]
    assert [r.status_code for r in after] == [200, 200, 429]
    assert_limit_headers(after[2], "anthropic", requests_limit=10)


def test_fail_closed_answers_503_while_redis_is_away_and_recovers_without_restart(
        start_gateway, fake, persistent_redis):
    redis, name = persistent_redis, "lim-closed"
    gw = start_gateway(redis, "fail-closed")
    first = send("openai", gw.url, name, "before")
    assert first.status_code == 200
    # Settled first, so that the reservation InFlight waits for is the slow request's own.
    wait_settled(redis, name)
    slow = InFlight(gw.url, name, redis)

    redis.stop()
    for protocol in ("anthropic", "openai"):
        refused = send(protocol, gw.url, name, "while away")
        assert refused.status_code == 503, refused.text
        kind, message = error_of(refused, protocol)
        assert kind == ("overloaded_error" if protocol == "anthropic" else "service_unavailable")
        assert "rate limits" in message, message
    assert usage(gw.url, name).status_code == 503
    served = [first, slow.finish()]
    assert len(fake.requests()) == 2, "a refused request must not reach the upstream"

    redis.start()
    def admitted():
        response = send("anthropic", gw.url, name, "back")
        return response if response.status_code == 200 else None

    recovered = wait_until(admitted, 15, "the gateway to admit again")
    served.append(recovered)
    wait_until(lambda: used(gw.url, name)["requests"] == 3, 15, "the in-flight request's settlement")
    wait_settled(redis, name)
    assert used(gw.url, name)["tokens"] == sum(tokens_of(r) for r in served)
    assert sorted(r["request_id"] for r in ledger(redis, LEDGER, name)) == sorted(
        r.headers["x-request-id"] for r in served)
