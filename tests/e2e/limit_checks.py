"""Limited keys for the limit tests, and three ways to read a key's budget back: the gateway's
`GET /v1/usage`, the Redis window hashes, and the ledger stream.

Every key lives in the `default` namespace (config files carry none), so its Redis keys share
the hash tag `{bsg:default/<name>}`.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_CEILING, Decimal
from pathlib import Path

import httpx

from harness import ROUTING_YAML, api_key_yaml, free_port, providers_yaml, wait_until

FIVE_HOURS_MS = 5 * 3600 * 1000
METRICS = ("requests", "tokens", "input_tokens", "output_tokens", "cost_micros")
LEDGER_FIELDS = {
    "v", "request_id", "key", "model", "provider", "client_protocol", "upstream_protocol",
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
    "reasoning_tokens", "cost_micros", "status", "started_at_ms", "finished_at_ms",
}
# Pricing of the suite's routing group (USD per 1M tokens), see harness.ROUTING_YAML.
CLAUDE_PRICING = {"input": "3.00", "output": "15.00"}
GPT_PRICING = {"input": "2.50", "output": "10.00"}
OPENAI_RESET = re.compile(r"^(\d+h)?(\d+m)?\d+s$")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def key_material(name: str) -> str:
    return f"bsk-{name}-0123456789abcdef"


def write_limits_config(config_dir: Path, fake_url: str, keys: dict[str, dict[str, str]]) -> None:
    """The suite's providers and routing groups, and one ApiKey per entry of `keys` (name →
    extra spec fields such as `limits` or `maxConcurrent`), all on the `main` group."""
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "providers.yaml").write_text(providers_yaml(fake_url, free_port()))
    (config_dir / "routing.yaml").write_text(ROUTING_YAML)
    docs = [api_key_yaml(name, key_material(name), "main", **extra) for name, extra in keys.items()]
    (config_dir / "keys.yaml").write_text("---\n".join(docs))


def tag(name: str) -> str:
    return f"{{bsg:default/{name}}}"


def cost_micros(pricing: dict[str, str], **tokens: int) -> int:
    """Cost as the gateway computes it: price per 1M tokens times tokens, rounded up to a micro-dollar."""
    total = sum(Decimal(price) * tokens.get(kind, 0) for kind, price in pricing.items())
    return int(total.to_integral_value(rounding=ROUND_CEILING))


def fake_input_tokens(upstream_request: dict) -> int:
    """The fake provider's input count: ceil(body bytes / 4)."""
    return math.ceil(int(upstream_request["headers"]["content-length"]) / 4)


# ---------------------------------------------------------------------------------------------
# Requests


def request_parts(protocol: str, name: str, text: str, *, stream: bool = False,
                  model: str | None = None, include_usage: bool = True) -> tuple[str, dict, dict]:
    """Path, headers and body of a model request of key `name` in `protocol`'s own shape."""
    messages = [{"role": "user", "content": text}]
    if protocol == "anthropic":
        headers = {"x-api-key": key_material(name), "anthropic-version": "2023-06-01"}
        body = {"model": model or "claude-sonnet-4-6", "max_tokens": 200, "stream": stream,
                "messages": messages}
        return "/v1/messages", headers, body
    body = {"model": model or "gpt-5-4", "stream": stream, "messages": messages}
    if stream and include_usage:
        body["stream_options"] = {"include_usage": True}
    return "/v1/chat/completions", {"authorization": f"Bearer {key_material(name)}"}, body


def send(protocol: str, gw_url: str, name: str, text: str, *, timeout: float = 20,
         **kw) -> httpx.Response:
    """One model request; `kw` as for `request_parts`."""
    path, headers, body = request_parts(protocol, name, text, **kw)
    return httpx.post(f"{gw_url}{path}", json=body, headers=headers, timeout=timeout)


# ---------------------------------------------------------------------------------------------
# Reading the budget back


def usage(gw_url: str, name: str) -> httpx.Response:
    return httpx.get(f"{gw_url}/v1/usage", headers={"authorization": f"Bearer {key_material(name)}"},
                     timeout=10)


def usage_window(gw_url: str, name: str, window: str = "5h") -> dict:
    """One window of `GET /v1/usage`, which must answer 200."""
    response = usage(gw_url, name)
    assert response.status_code == 200, response.text
    doc = response.json()
    assert doc["object"] == "usage" and doc["key"] == f"default/{name}", doc
    by_label = {w["window"]: w for w in doc["windows"]}
    assert window in by_label, doc
    return by_label[window]


def used(gw_url: str, name: str) -> dict[str, int]:
    """Used amounts of the 5h window per metric, cost in micro-dollars."""
    w = usage_window(gw_url, name)
    return {
        "requests": w["requests"]["used"],
        "tokens": w["tokens"]["used"],
        "input_tokens": w["input_tokens"]["used"],
        "output_tokens": w["output_tokens"]["used"],
        "cost_micros": int(Decimal(w["cost_usd"]["used"]) * 1_000_000),
    }


def redis_totals(redis, name: str, window_ms: int = FIVE_HOURS_MS) -> dict[str, int]:
    """Sums of every bucket of a window hash, per metric (fields are `<bucket>:<metric index>`)."""
    flat = redis.cmd("HGETALL", f"{tag(name)}:w:{window_ms}") or []
    totals = dict.fromkeys(METRICS, 0)
    for field, value in zip(flat[::2], flat[1::2]):
        totals[METRICS[int(field.split(":")[1])]] += int(value)
    return totals


def in_flight(redis, name: str) -> int:
    return redis.cmd("ZCARD", f"{tag(name)}:exp")


def wait_settled(redis, name: str, timeout: float = 15) -> None:
    """Waits until the key holds no reservation (every request settled or released)."""
    wait_until(lambda: in_flight(redis, name) == 0, timeout, f"{name}'s reservations to end", 0.05)


def ledger(redis, stream: str, name: str) -> list[dict[str, str]]:
    """The ledger records of one key in `stream`, oldest first."""
    entries = redis.cmd("XRANGE", stream, "-", "+") or []
    records = [dict(zip(fields[::2], fields[1::2])) for _, fields in entries]
    return [r for r in records if r.get("key") == f"default/{name}"]


def ledger_record(redis, stream: str, name: str, request_id: str) -> dict[str, str]:
    """The one ledger record of a request, waiting for its settlement."""

    def find():
        hits = [r for r in ledger(redis, stream, name) if r["request_id"] == request_id]
        assert len(hits) <= 1, f"{len(hits)} ledger records for {request_id}"
        return hits[0] if hits else None

    return wait_until(find, 15, f"the ledger record of {request_id}", 0.05)


# ---------------------------------------------------------------------------------------------
# Headers and errors


def assert_limit_headers(response: httpx.Response, protocol: str, *, requests_limit: int,
                         tokens: bool = True, window: str = "5h") -> None:
    """The caller's convention of limit headers, plus the gateway's per-window header."""
    h = response.headers
    nouns = ("requests", "tokens") if tokens else ("requests",)
    if protocol == "anthropic":
        for noun in nouns:
            for part in ("limit", "remaining", "reset"):
                assert f"anthropic-ratelimit-{noun}-{part}" in h, (noun, part, dict(h))
            assert RFC3339.match(h[f"anthropic-ratelimit-{noun}-reset"]), dict(h)
        assert int(h["anthropic-ratelimit-requests-limit"]) == requests_limit
        assert 0 <= int(h["anthropic-ratelimit-requests-remaining"]) <= requests_limit
        assert not any(k.startswith("x-ratelimit-") for k in h), dict(h)
    else:
        for noun in nouns:
            for part in ("limit", "remaining", "reset"):
                assert f"x-ratelimit-{part}-{noun}" in h, (noun, part, dict(h))
            assert OPENAI_RESET.match(h[f"x-ratelimit-reset-{noun}"]), dict(h)
        assert int(h["x-ratelimit-limit-requests"]) == requests_limit
        assert 0 <= int(h["x-ratelimit-remaining-requests"]) <= requests_limit
        assert not any(k.startswith("anthropic-ratelimit-") for k in h), dict(h)
    own = h[f"x-bytespike-ratelimit-{window}"]
    assert re.search(rf"requests=\d+/{requests_limit};", own), own
    assert re.search(r"reset=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", own), own


def assert_no_limit_headers(response: httpx.Response) -> None:
    names = [k for k in response.headers if "ratelimit" in k]
    assert names == [], names


def error_of(response: httpx.Response, protocol: str) -> tuple[str, str]:
    """(type or code, message) of an error body in the caller's protocol."""
    body = response.json()
    if protocol == "anthropic":
        assert body["type"] == "error", body
        return body["error"]["type"], body["error"]["message"]
    return body["error"]["code"], body["error"]["message"]
