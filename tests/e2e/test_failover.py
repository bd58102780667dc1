"""Failover across a model's targets: connect errors, timeouts, 5xx and 429 move a request to the
next target (across protocols too) before any byte reached the client, never after; one
reservation covers every attempt and failed attempts bill nothing."""

from __future__ import annotations

import anthropic
import httpx
import openai
import pytest

from harness import (
    ANTHROPIC_CREDENTIAL,
    GEMINI_CREDENTIAL,
    OPENAI_CREDENTIAL,
    FakeProvider,
    Gateway,
    free_port,
    provider_yaml,
)

KEY = "bsk-e2e-failover-41c7"
QUICK = "{connect: 1s, firstByte: 1s, idle: 1s}"


def config(a_url: str, b_url: str) -> str:
    dead = f"http://127.0.0.1:{free_port()}"
    providers = [
        provider_yaml("a", "anthropic", a_url, "anthropic", timeouts=QUICK),
        provider_yaml("b", "anthropic", b_url, "anthropic", timeouts=QUICK),
        provider_yaml("b-openai", "openai", f"{b_url}/v1", "openai", timeouts=QUICK),
        provider_yaml("dead", "anthropic", dead, "anthropic", timeouts=QUICK),
    ]
    secret = (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: vendor-credentials}\nstringData:\n"
        f"  anthropic: {ANTHROPIC_CREDENTIAL}\n  openai: {OPENAI_CREDENTIAL}\n  gemini: {GEMINI_CREDENTIAL}\n"
    )

    def model(name: str, *targets: tuple[str, int]) -> str:
        lines = [f"    - id: {name}", "      targets:"]
        lines += [f"        - {{provider: {p}, model: {name}-on-{p}, priority: {prio}}}" for p, prio in targets]
        lines.append('      pricing: {input: "3.00", output: "15.00"}')
        return "\n".join(lines)

    group = "\n".join(
        [
            "apiVersion: gateway.bytespike.ai/v1alpha1",
            "kind: RoutingGroup",
            "metadata: {name: failover}",
            "spec:",
            "  models:",
            model("fo-dead-first", ("dead", 0), ("b", 1)),
            model("fo-a-then-b", ("a", 0), ("b", 1)),
            model("fo-a-then-openai", ("a", 0), ("b-openai", 1)),
            model("fo-a-only", ("a", 0)),
        ]
    )
    key = (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: failover-key}\n"
        f"stringData: {{key: {KEY}}}\n---\n"
        "apiVersion: gateway.bytespike.ai/v1alpha1\nkind: ApiKey\nmetadata: {name: failover}\n"
        "spec:\n  routingGroups: [failover]\n  secretRef: {name: failover-key, key: key}\n"
        "  limits: [{window: 5h, requests: 1000}]\n"
    )
    return "---\n".join(providers + [secret, group + "\n", key])


@pytest.fixture(scope="module")
def fakes(workdir):
    a, b = FakeProvider(workdir, name="fake-a"), FakeProvider(workdir, name="fake-b")
    yield a, b
    a.stop()
    b.stop()


@pytest.fixture
def gw(workdir, tmp_path, fakes):
    # A gateway per test: passive health remembers failures across requests.
    a, b = fakes
    config_dir = tmp_path / "failover-config"
    config_dir.mkdir()
    (config_dir / "config.yaml").write_text(config(a.url, b.url))
    gateway = Gateway(workdir, config_dir)
    yield gateway
    gateway.stop()


@pytest.fixture(autouse=True)
def reset_fakes(fakes):
    for fake in fakes:
        fake.clear()
        fake.reset_mode()


@pytest.fixture
def client(gw):
    with anthropic.Anthropic(base_url=gw.url, api_key=KEY, max_retries=0, timeout=20) as c:
        yield c


def ask(client, model: str, text: str = "Hello"):
    return client.messages.with_raw_response.create(
        model=model, max_tokens=64, messages=[{"role": "user", "content": text}]
    )


def usage_requests(gw) -> int:
    doc = httpx.get(f"{gw.url}/v1/usage", headers={"x-api-key": KEY}).json()
    return next(w for w in doc["windows"] if w["window"] == "5h")["requests"]["used"]


def failovers_metric(gw, provider: str, reason: str) -> float:
    text = httpx.get(f"{gw.admin_url}/metrics").text
    for line in text.splitlines():
        if line.startswith("bytespike_failovers_total{") and f'provider="{provider}"' in line and f'reason="{reason}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_connect_failure_moves_to_the_next_priority(client, gw, fakes):
    raw = ask(client, "fo-dead-first")
    message = raw.parse()
    assert message.content[0].text.startswith("Hello from fake-b")
    entry = gw.access_entry(raw.headers["x-request-id"])
    assert entry["failovers"] == 1 and entry["provider"] == "b" and entry["status"] == 200
    assert len(fakes[1].requests()) == 1
    assert failovers_metric(gw, "dead", "connect") >= 1


@pytest.mark.parametrize("status", [500, 503, 429])
def test_error_status_moves_to_the_next_target_and_bills_once(client, gw, fakes, status):
    a, b = fakes
    before = usage_requests(gw)
    a.set_mode(fail_status=status)
    raw = ask(client, "fo-a-then-b")
    assert raw.parse().content[0].text.startswith("Hello from fake-b")
    assert len(a.requests()) == 1 and len(b.requests()) == 1
    assert b.only_request()["body"]["model"] == "fo-a-then-b-on-b", "the next target's model name"
    entry = gw.access_entry(raw.headers["x-request-id"])
    assert entry["failovers"] == 1
    assert entry["output_tokens"] == 7, "only the attempt that answered is billed"
    assert usage_requests(gw) == before + 1, "one request, whatever the attempts"


def test_timeout_before_the_first_byte_moves_on(client, fakes):
    a, _ = fakes
    a.set_mode(stall=True)
    message = ask(client, "fo-a-then-b").parse()
    assert message.content[0].text.startswith("Hello from fake-b")


def test_failover_may_cross_protocols(gw, fakes):
    a, b = fakes
    a.set_mode(fail_status=503)
    with anthropic.Anthropic(base_url=gw.url, api_key=KEY, max_retries=0, timeout=20) as c:
        with c.messages.stream(model="fo-a-then-openai", max_tokens=64, messages=[{"role": "user", "content": "Hi"}]) as s:
            final = s.get_final_message()
    assert final.content[0].text == "Hello from fake-b via openai-chat for fo-a-then-openai-on-b-openai."
    assert b.only_request()["path"] == "/v1/chat/completions"


def test_no_failover_once_bytes_reached_the_client(gw, fakes):
    a, b = fakes
    a.set_mode(cut_after=3)
    with anthropic.Anthropic(base_url=gw.url, api_key=KEY, max_retries=0, timeout=20) as c:
        with pytest.raises((anthropic.APIError, httpx.HTTPError)):
            with c.messages.stream(model="fo-a-then-b", max_tokens=64, messages=[{"role": "user", "content": "Hi"}]) as s:
                s.get_final_message()
    assert b.requests() == [], "a stream the client has seen is never restarted elsewhere"


def test_last_target_error_reaches_the_client_and_bills_nothing(client, gw, fakes):
    a, b = fakes
    before = usage_requests(gw)
    a.set_mode(fail_status=503)
    b.set_mode(fail_status=529)
    with pytest.raises(anthropic.APIStatusError) as err:
        ask(client, "fo-a-then-b")
    assert err.value.status_code == 529, "the last target's own answer passes through"
    with pytest.raises(anthropic.APIStatusError) as err:
        ask(client, "fo-a-only")
    assert err.value.status_code == 503
    assert usage_requests(gw) == before


def test_openai_client_fails_over_too(gw, fakes):
    a, _ = fakes
    a.set_mode(fail_status=500)
    with openai.OpenAI(base_url=f"{gw.url}/v1", api_key=KEY, max_retries=0, timeout=20) as c:
        completion = c.chat.completions.create(model="fo-a-then-b", messages=[{"role": "user", "content": "Hi"}])
    assert completion.choices[0].message.content.startswith("Hello from fake-b")


def test_a_failing_provider_is_ejected_and_skipped(client, gw, fakes):
    a, b = fakes
    a.set_mode(fail_status=503)
    for _ in range(5):
        assert ask(client, "fo-a-then-b").parse().content[0].text.startswith("Hello from fake-b")
    assert len(a.requests()) == 3, "after three failures in a row the provider is skipped"
    assert len(b.requests()) == 5
    metrics = httpx.get(f"{gw.admin_url}/metrics").text
    assert 'bytespike_upstream_ejections_total{provider="a"} 1' in metrics


def test_an_ejected_provider_is_still_tried_when_it_is_the_only_one(client, fakes):
    a, _ = fakes
    a.set_mode(fail_status=503, fail_count=3)
    for _ in range(3):
        with pytest.raises(anthropic.APIStatusError):
            ask(client, "fo-a-only")
    # Ejected, but the model has no other target: the gateway still tries it, and it recovered.
    assert ask(client, "fo-a-only").parse().content[0].text.startswith("Hello from fake-a")
