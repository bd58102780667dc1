"""Leased admission end to end: two gateway replicas (the default `--limits-admission lease`) on
one Redis admit most requests from leased slices of a key's budget, and bill exactly as with one
Redis round trip per admission.
"""

from __future__ import annotations

import pytest

from harness import Gateway
from limit_checks import ledger, redis_totals, send, used, wait_settled, write_limits_config
from redis_server import RedisServer

LEDGER = "bsg:ledger:e2e-lease"
KEYS = {
    "lease-busy": {"limits": '[{window: 5h, requests: 10000, tokens: 100000000, costUsd: "1000"}]'},
}
REQUESTS = 120


@pytest.fixture(scope="module")
def redis(workdir):
    server = RedisServer(workdir)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def replicas(workdir, fake, redis):
    config_dir = workdir / "limits-lease"
    write_limits_config(config_dir, fake.url, KEYS)
    args = ("--redis-url", redis.url, "--replicas", "2", "--ledger-stream", LEDGER)
    gateways = [Gateway(workdir, config_dir, *args) for _ in range(2)]
    yield [gw.url for gw in gateways]
    for gw in gateways:
        gw.stop()


def _script_calls(redis) -> int:
    """Scripts Redis has run so far (each admission round trip, settlement or lease change)."""
    info = redis.cmd("INFO", "commandstats")
    for line in info.splitlines():
        if line.startswith(("cmdstat_evalsha:", "cmdstat_eval:")):
            return int(line.split("calls=")[1].split(",")[0])
    return 0


def test_leased_admissions_skip_the_round_trip_and_bill_every_request_once(replicas, redis):
    name = "lease-busy"
    before = _script_calls(redis)
    served = []
    for i in range(REQUESTS):
        response = send("anthropic", replicas[i % 2], name, f"leased {i} [[words:3]]")
        assert response.status_code == 200, response.text
        served.append(response.headers["x-request-id"])
    wait_settled(redis, name)

    # One settlement per request; a round trip per admission would double it. Leases cost a
    # grant per replica, refills every half lease, and extensions while in use.
    calls = _script_calls(redis) - before
    assert REQUESTS <= calls < REQUESTS + REQUESTS // 2, calls

    records = ledger(redis, LEDGER, name)
    assert sorted(r["request_id"] for r in records) == sorted(served)
    totals = used(replicas[0], name)
    assert totals["requests"] == REQUESTS
    assert totals["output_tokens"] == 3 * REQUESTS
    assert used(replicas[1], name) == totals
    assert redis_totals(redis, name) == totals
