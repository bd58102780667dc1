"""Per-key limits end to end: two gateway replicas sharing one real Redis, and one gateway with
the in-process backend.

Covers exact admission under concurrency (one budget across replicas), the 429 in each caller's
protocol with `retry-after` and limit headers, exact billing of what the upstream reported
(streams and weighted cache reads included), failures that bill nothing, mid-stream
disconnects, the ledger stream (one record per served request, keys without limits included),
`maxConcurrent`, and limit headers on every response of a limited key (none on a key without
limits). Window roll-over needs an injected clock and is covered by the limits crate's tests.
"""

from __future__ import annotations

import asyncio
import json
import threading

import httpx
import pytest

from harness import Gateway, wait_until
from limit_checks import (
    CLAUDE_PRICING, GPT_PRICING, LEDGER_FIELDS, assert_limit_headers, assert_no_limit_headers,
    cost_micros, error_of, fake_input_tokens, in_flight, ledger, ledger_record, redis_totals,
    request_parts, send, usage, used, wait_settled, write_limits_config,
)
from redis_server import RedisServer

LEDGER = "bsg:ledger:e2e"
KEYS = {
    "lim-burst": {"limits": "[{window: 5h, requests: 50, tokens: 10000000}]"},
    "lim-bill": {"limits": '[{window: 5h, requests: 1000, tokens: 1000000, costUsd: "50"}]'},
    "lim-fail": {"limits": '[{window: 5h, requests: 1000, tokens: 1000000, costUsd: "50"}]'},
    "lim-stream": {"limits": '[{window: 5h, requests: 1000, tokens: 1000000, costUsd: "50"}]'},
    "lim-cut": {"limits": '[{window: 5h, requests: 1000, tokens: 1000000, costUsd: "50"}]'},
    "lim-conc": {"limits": "[{window: 5h, requests: 1000}]", "maxConcurrent": "2"},
    "lim-small": {"limits": "[{window: 5h, requests: 3, tokens: 100000}, {window: 1d, requests: 100}]"},
    "lim-none": {},
}
PROTOCOLS = ("anthropic", "openai")


@pytest.fixture(scope="module")
def redis(workdir):
    server = RedisServer(workdir)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def replicas(workdir, fake, redis):
    """Two replicas of the gateway on one Redis."""
    config_dir = workdir / "limits-shared"
    write_limits_config(config_dir, fake.url, KEYS)
    args = ("--redis-url", redis.url, "--replicas", "2", "--reservation-ttl", "20s",
            "--ledger-stream", LEDGER, "--cache-read-weight", "0.5")
    gateways = [Gateway(workdir, config_dir, *args) for _ in range(2)]
    yield [gw.url for gw in gateways]
    for gw in gateways:
        gw.stop()


@pytest.fixture(scope="module")
def in_process(workdir, fake):
    """A gateway without --redis-url: limits kept in its own memory."""
    config_dir = workdir / "limits-memory"
    write_limits_config(config_dir, fake.url, KEYS)
    gw = Gateway(workdir, config_dir, "--reservation-ttl", "20s")
    yield gw.url
    gw.stop()


async def _burst(urls: list[str], name: str, count: int) -> list[tuple[str, httpx.Response]]:
    """`count` requests at once, alternating replicas and, in pairs, protocols."""
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        async def one(i: int):
            protocol = PROTOCOLS[(i // 2) % 2]
            path, headers, body = request_parts(protocol, name, f"burst {i}")
            url = urls[i % len(urls)]
            return protocol, await client.post(f"{url}{path}", json=body, headers=headers)

        return await asyncio.gather(*(one(i) for i in range(count)))


def test_two_replicas_admit_exactly_the_request_cap_of_200_concurrent_requests(replicas, redis):
    results = asyncio.run(_burst(replicas, "lim-burst", 200))

    statuses = sorted(r.status_code for _, r in results)
    assert statuses.count(200) == 50 and statuses.count(429) == 150, statuses
    for protocol, response in results:
        assert_limit_headers(response, protocol, requests_limit=50)
        if response.status_code == 200:
            continue
        kind, message = error_of(response, protocol)
        assert kind == ("rate_limit_error" if protocol == "anthropic" else "rate_limit_exceeded")
        if protocol == "openai":
            assert response.json()["error"]["type"] == "rate_limit_error"
        assert "5h window" in message and "50 requests" in message, message
        assert "frees at" in message, message
        assert 1 <= int(response.headers["retry-after"]) <= 5 * 3600 + 300
        remaining = ("anthropic-ratelimit-requests-remaining" if protocol == "anthropic"
                     else "x-ratelimit-remaining-requests")
        assert response.headers[remaining] == "0"

    wait_settled(redis, "lim-burst")
    assert used(replicas[0], "lim-burst")["requests"] == 50
    assert used(replicas[1], "lim-burst")["requests"] == 50
    records = ledger(redis, LEDGER, "lim-burst")
    served = {r.headers["x-request-id"] for _, r in results if r.status_code == 200}
    assert sorted(r["request_id"] for r in records) == sorted(served)


def test_served_requests_bill_exactly_what_the_upstream_reported(replicas, redis, fake):
    before = used(replicas[0], "lim-bill")
    claude = send("anthropic", replicas[0], "lim-bill", "bill me [[words:7]]")
    gpt = send("openai", replicas[1], "lim-bill", "bill me too [[words:5]]")
    assert claude.status_code == 200 and gpt.status_code == 200, (claude.text, gpt.text)

    upstream = fake.requests()
    claude_in, gpt_in = (fake_input_tokens(r) for r in upstream)
    assert claude.json()["usage"]["input_tokens"] == claude_in
    assert claude.json()["usage"]["output_tokens"] == 7
    assert gpt.json()["usage"]["prompt_tokens"] == gpt_in
    assert gpt.json()["usage"]["completion_tokens"] == 5
    claude_cost = cost_micros(CLAUDE_PRICING, input=claude_in, output=7)
    gpt_cost = cost_micros(GPT_PRICING, input=gpt_in, output=5)

    first = ledger_record(redis, LEDGER, "lim-bill", claude.headers["x-request-id"])
    second = ledger_record(redis, LEDGER, "lim-bill", gpt.headers["x-request-id"])
    assert set(first) == LEDGER_FIELDS
    assert first["v"] == "1" and first["key"] == "default/lim-bill"
    assert (first["model"], first["provider"]) == ("claude-sonnet-4-6", "anthropic")
    assert (first["client_protocol"], first["upstream_protocol"]) == ("anthropic", "anthropic")
    assert (second["model"], second["provider"]) == ("gpt-5-4", "openai")
    assert (second["client_protocol"], second["upstream_protocol"]) == ("openai_chat", "openai_chat")
    for record, tokens_in, tokens_out, cost in ((first, claude_in, 7, claude_cost),
                                                (second, gpt_in, 5, gpt_cost)):
        assert int(record["input_tokens"]) == tokens_in
        assert int(record["output_tokens"]) == tokens_out
        assert int(record["cost_micros"]) == cost
        assert record["status"] == "200"
        assert int(record["started_at_ms"]) <= int(record["finished_at_ms"])

    wait_settled(redis, "lim-bill")
    after = used(replicas[1], "lim-bill")
    delta = {m: after[m] - before[m] for m in after}
    assert delta == {
        "requests": 2,
        "tokens": claude_in + gpt_in + 12,
        "input_tokens": claude_in + gpt_in,
        "output_tokens": 12,
        "cost_micros": claude_cost + gpt_cost,
    }
    assert redis_totals(redis, "lim-bill") == after


def test_streams_and_cache_reads_bill_what_the_upstream_reported(replicas, redis, fake):
    name = "lim-stream"
    before = used(replicas[0], name)
    claude = send("anthropic", replicas[0], name, "[[words:6]] [[cached:200]]", stream=True)
    # No stream_options: the gateway asks the upstream for usage and hides it from the client.
    gpt = send("openai", replicas[1], name, "[[words:9]]", stream=True, include_usage=False)
    assert (claude.status_code, gpt.status_code) == (200, 200)
    chunks = [json.loads(f.removeprefix("data: ")) for f in gpt.text.strip().split("\n\n")[:-1]]
    assert chunks and all(c.get("usage") is None for c in chunks)
    claude_in, gpt_in = (fake_input_tokens(r) for r in fake.requests())

    first = ledger_record(redis, LEDGER, name, claude.headers["x-request-id"])
    second = ledger_record(redis, LEDGER, name, gpt.headers["x-request-id"])
    assert (int(first["input_tokens"]), int(first["output_tokens"])) == (claude_in, 6)
    assert int(first["cache_read_tokens"]) == 200
    claude_cost = cost_micros({**CLAUDE_PRICING, "cache_read": "0.30"},
                              input=claude_in, output=6, cache_read=200)
    assert int(first["cost_micros"]) == claude_cost
    assert (int(second["input_tokens"]), int(second["output_tokens"])) == (gpt_in, 9)
    gpt_cost = cost_micros(GPT_PRICING, input=gpt_in, output=9)
    assert int(second["cost_micros"]) == gpt_cost

    wait_settled(redis, name)
    delta = {m: v - before[m] for m, v in used(replicas[0], name).items()}
    # --cache-read-weight 0.5: 200 cache-read tokens count as 100 input tokens.
    assert delta == {
        "requests": 2,
        "tokens": claude_in + 100 + 6 + gpt_in + 9,
        "input_tokens": claude_in + 100 + gpt_in,
        "output_tokens": 15,
        "cost_micros": claude_cost + gpt_cost,
    }


def test_upstream_error_timeout_and_early_disconnect_bill_nothing(replicas, redis, fake):
    name = "lim-fail"
    assert send("anthropic", replicas[0], name, "warm up").status_code == 200
    wait_settled(redis, name)
    before = (used(replicas[0], name), redis_totals(redis, name), len(ledger(redis, LEDGER, name)))

    failed = send("anthropic", replicas[0], name, "[[error:500]]")
    assert failed.status_code == 500
    assert_limit_headers(failed, "anthropic", requests_limit=1000)
    failed = send("openai", replicas[1], name, "[[error:500]]")
    assert failed.status_code == 500
    timed_out = send("anthropic", replicas[1], name, "[[stall]]", model="claude-slow")
    assert timed_out.status_code == 504, timed_out.text
    timed_out = send("openai", replicas[0], name, "[[stall]]", model="gpt-slow")
    assert timed_out.status_code == 504, timed_out.text
    for protocol in PROTOCOLS:
        # The client gives up before the delayed upstream answers.
        with pytest.raises(httpx.ReadTimeout):
            send(protocol, replicas[0], name, "[[delay:2500]]", timeout=1.0)
    # The warm-up request and six failures.
    wait_until(lambda: len(fake.requests()) == 7, 10, "every upstream request")
    wait_until(lambda: in_flight(redis, name) == 0, 15, "the early disconnects to end")

    after = (used(replicas[1], name), redis_totals(redis, name), len(ledger(redis, LEDGER, name)))
    assert after == before


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_client_leaving_mid_stream_is_billed_what_the_upstream_reported(replicas, redis, protocol):
    name = "lim-cut"
    before = used(replicas[0], name)
    url = replicas[0]
    path, headers, body = request_parts(protocol, name, "[[words:30]] [[stall-after:5]]",
                                        stream=True)
    with httpx.Client(timeout=10) as client:
        with client.stream("POST", f"{url}{path}", json=body, headers=headers) as response:
            assert response.status_code == 200
            assert_limit_headers(response, protocol, requests_limit=1000)
            request_id = response.headers["x-request-id"]
            seen = ""
            for chunk in response.iter_text():
                seen += chunk
                if seen.count("\n\n") >= 4:
                    break
    # The upstream stalls after five frames; the gateway must notice the client left.
    record = ledger_record(redis, LEDGER, name, request_id)
    wait_settled(redis, name)
    delta = {m: v - before[m] for m, v in used(url, name).items()}
    assert delta["requests"] == 1
    if protocol == "anthropic":
        # message_start reported the input tokens and a placeholder output count of one.
        tokens_in = int(record["input_tokens"])
        assert tokens_in > 0 and int(record["output_tokens"]) == 1
        assert int(record["cost_micros"]) == cost_micros(CLAUDE_PRICING, input=tokens_in, output=1)
        assert delta["tokens"] == tokens_in + 1
    else:
        # Chat Completions reports usage only in its last chunk, which never came.
        assert (record["input_tokens"], record["output_tokens"], record["cost_micros"]) == ("0", "0", "0")
        assert delta["tokens"] == 0 and delta["cost_micros"] == 0


def test_max_concurrent_rejects_requests_beyond_it(replicas, redis):
    name = "lim-conc"
    held: list[httpx.Response] = []
    threads = [
        threading.Thread(target=lambda i=i: held.append(
            send(PROTOCOLS[i], replicas[i], name, "[[delay:4000]]")))
        for i in range(2)
    ]
    for t in threads:
        t.start()
    wait_until(lambda: in_flight(redis, name) == 2, 10, "two requests in flight")
    for protocol, url in zip(PROTOCOLS, replicas):
        refused = send(protocol, url, name, "one too many")
        assert refused.status_code == 429, refused.text
        kind, message = error_of(refused, protocol)
        assert kind in ("rate_limit_error", "rate_limit_exceeded")
        assert "2 in flight" in message, message
        assert_limit_headers(refused, protocol, requests_limit=1000, tokens=False)
    for t in threads:
        t.join(timeout=15)
    assert [r.status_code for r in held] == [200, 200]
    wait_settled(redis, name)
    assert send("openai", replicas[1], name, "room again").status_code == 200


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_every_response_of_a_limited_key_carries_limit_headers(replicas, protocol, stream):
    limited = send(protocol, replicas[1], "lim-bill", "[[words:3]]", stream=stream)
    assert limited.status_code == 200
    assert_limit_headers(limited, protocol, requests_limit=1000)
    assert "cost_usd=" in limited.headers["x-bytespike-ratelimit-5h"]

    unlimited = send(protocol, replicas[1], "lim-none", "[[words:3]]", stream=stream)
    assert unlimited.status_code == 200
    assert_no_limit_headers(unlimited)


def test_key_without_limits_has_no_windows_but_its_requests_are_in_the_ledger(replicas, redis):
    windows = usage(replicas[0], "lim-none")
    assert windows.json() == {"object": "usage", "key": "default/lim-none", "windows": []}
    served = [send(p, replicas[0], "lim-none", "[[words:2]]") for p in PROTOCOLS]
    failed = send("anthropic", replicas[1], "lim-none", "[[error:500]]")
    assert [r.status_code for r in served] == [200, 200] and failed.status_code == 500
    for response in served:
        record = ledger_record(redis, LEDGER, "lim-none", response.headers["x-request-id"])
        assert int(record["output_tokens"]) == 2 and record["status"] == "200"
    ids = [r["request_id"] for r in ledger(redis, LEDGER, "lim-none")]
    assert failed.headers["x-request-id"] not in ids


def test_in_process_backend_enforces_the_same_limits(in_process):
    name = "lim-small"
    for i, protocol in enumerate(("anthropic", "openai", "anthropic")):
        ok = send(protocol, in_process, name, f"memory {i}")
        assert ok.status_code == 200, ok.text
        assert_limit_headers(ok, protocol, requests_limit=3)
    for protocol in PROTOCOLS:
        refused = send(protocol, in_process, name, "one more")
        assert refused.status_code == 429
        kind, message = error_of(refused, protocol)
        assert kind == ("rate_limit_error" if protocol == "anthropic" else "rate_limit_exceeded")
        assert "5h window" in message and "frees at" in message, message
        assert int(refused.headers["retry-after"]) >= 1
        assert_limit_headers(refused, protocol, requests_limit=3)
        assert "x-bytespike-ratelimit-1d" in refused.headers
    assert used(in_process, name)["requests"] == 3
