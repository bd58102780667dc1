"""Per-key limits on a Redis Cluster of three masters (no replicas), reached through
`--redis-url redis+cluster://...`.

Each key's Redis keys share its hash tag, so admission and settlement run in that key's slot,
wherever it is. Keys spread over several masters are admitted up to their cap, billed exactly,
and get one per-key ledger stream each, in their own slot.
"""

from __future__ import annotations

import pytest

from harness import Gateway
from limit_checks import (
    CLAUDE_PRICING, GPT_PRICING, cost_micros, error_of, fake_input_tokens, ledger, redis_totals,
    send, tag, used, wait_settled, write_limits_config,
)
from redis_server import RedisCluster, command

NAMES = ["lim-c-alpha", "lim-c-bravo", "lim-c-charlie", "lim-c-delta", "lim-c-echo"]
KEYS = {name: {"limits": '[{window: 5h, requests: 2, tokens: 100000, costUsd: "1"}]'}
        for name in NAMES}


@pytest.fixture(scope="module")
def cluster(workdir):
    c = RedisCluster(workdir / "cluster")
    yield c
    c.stop()


@pytest.fixture(scope="module")
def gateway_on_cluster(workdir, fake, cluster):
    config_dir = workdir / "limits-cluster"
    write_limits_config(config_dir, fake.url, KEYS)
    gw = Gateway(workdir, config_dir, "--redis-url", cluster.url, "--reservation-ttl", "20s")
    yield gw.url
    gw.stop()


def test_keys_spread_over_every_master(cluster):
    owners = {cluster.owner_port(tag(name)) for name in NAMES}
    assert owners == {node.port for node in cluster.nodes}


def test_admission_and_settlement_work_for_keys_in_different_slots(
        cluster, gateway_on_cluster, fake):
    url = gateway_on_cluster
    for name in NAMES:
        fake.clear()
        failed = send("anthropic", url, name, "[[error:500]]")
        assert failed.status_code == 500
        claude = send("anthropic", url, name, "[[words:4]]")
        gpt = send("openai", url, name, "[[words:6]]")
        assert (claude.status_code, gpt.status_code) == (200, 200), (name, claude.text, gpt.text)
        refused = send("openai", url, name, "third")
        assert refused.status_code == 429
        code, message = error_of(refused, "openai")
        assert code == "rate_limit_exceeded" and "2 requests" in message, message

        wait_settled(cluster, name)
        claude_in, gpt_in = (fake_input_tokens(r) for r in fake.requests()[1:])
        expected = {
            "requests": 2,
            "tokens": claude_in + 4 + gpt_in + 6,
            "input_tokens": claude_in + gpt_in,
            "output_tokens": 10,
            "cost_micros": cost_micros(CLAUDE_PRICING, input=claude_in, output=4)
            + cost_micros(GPT_PRICING, input=gpt_in, output=6),
        }
        assert used(url, name) == expected, name
        assert redis_totals(cluster, name) == expected, name

        # The window hash and the key's ledger stream sit on the master serving its slot.
        owner = cluster.owner_port(tag(name))
        stream = f"bsg:ledger:{tag(name)}"
        assert command(owner, "EXISTS", f"{tag(name)}:w:18000000", stream, follow=False) == 2
        records = ledger(cluster, stream, name)
        assert sorted(r["request_id"] for r in records) == sorted(
            r.headers["x-request-id"] for r in (claude, gpt))
        assert sorted(int(r["output_tokens"]) for r in records) == [4, 6]
