"""Per-provider timeouts: `firstByte` bounds the wait for the response, `idle` the gap between
stream events once it started, `total` the whole exchange. Each is its own limit: a slow first
byte within `firstByte` is fine even when it is longer than `idle`, and a stream whose every
gap is within `idle` still ends at `total`. A stream ended by a timeout ends with an error event
in the caller's protocol, which the official SDKs raise."""

from __future__ import annotations

import json

import anthropic
import httpx
import openai
import pytest

from harness import (
    ANTHROPIC_CREDENTIAL,
    OPENAI_CREDENTIAL,
    FakeProvider,
    Gateway,
    provider_yaml,
)

KEY = "bsk-e2e-timeouts-5d02"
# A first byte may take longer than any gap between events: reasoning before the answer.
PATIENT = "{connect: 1s, firstByte: 4s, idle: 600ms, total: 60s}"
# Events come often enough, but the exchange as a whole has a budget.
BOUNDED = "{connect: 1s, firstByte: 4s, idle: 3s, total: 1500ms}"


def config(fake_url: str) -> str:
    providers = [
        provider_yaml("patient", "anthropic", fake_url, "anthropic", timeouts=PATIENT),
        provider_yaml("patient-openai", "openai", f"{fake_url}/v1", "openai", timeouts=PATIENT),
        provider_yaml("bounded", "anthropic", fake_url, "anthropic", timeouts=BOUNDED),
    ]
    secret = (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: vendor-credentials}\nstringData:\n"
        f"  anthropic: {ANTHROPIC_CREDENTIAL}\n  openai: {OPENAI_CREDENTIAL}\n"
    )
    group = """\
apiVersion: gateway.bytespike.ai/v1alpha1
kind: RoutingGroup
metadata: {name: timeouts}
spec:
  models:
    - id: to-patient
      targets: [{provider: patient, model: to-patient-upstream}]
    - id: to-patient-openai
      targets: [{provider: patient-openai, model: to-patient-openai-upstream}]
    - id: to-bounded
      targets: [{provider: bounded, model: to-bounded-upstream}]
"""
    key = (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: timeouts-key}\n"
        f"stringData: {{key: {KEY}}}\n---\n"
        "apiVersion: gateway.bytespike.ai/v1alpha1\nkind: ApiKey\nmetadata: {name: timeouts}\n"
        "spec:\n  routingGroups: [timeouts]\n  secretRef: {name: timeouts-key, key: key}\n"
    )
    return "---\n".join(providers + [secret, group, key])


@pytest.fixture(scope="module")
def fake(workdir):
    provider = FakeProvider(workdir, name="fake-timeouts")
    yield provider
    provider.stop()


@pytest.fixture(scope="module")
def gw(workdir, tmp_path_factory, fake):
    config_dir = tmp_path_factory.mktemp("timeouts-config")
    (config_dir / "config.yaml").write_text(config(fake.url))
    gateway = Gateway(workdir, config_dir)
    yield gateway
    gateway.stop()


@pytest.fixture
def claude(gw):
    with anthropic.Anthropic(base_url=gw.url, api_key=KEY, max_retries=0, timeout=20) as c:
        yield c


@pytest.fixture
def gpt(gw):
    with openai.OpenAI(base_url=f"{gw.url}/v1", api_key=KEY, max_retries=0, timeout=20) as c:
        yield c


def say(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_a_first_byte_slower_than_idle_but_within_first_byte_is_served(claude):
    message = claude.messages.create(
        model="to-patient", max_tokens=20, messages=say("[[delay:1500]] [[words:3]]")
    )
    assert message.content[0].text == "word1 word2 word3"


def test_a_stream_whose_first_event_is_slow_is_served(claude):
    # The response header is what ends the first-byte wait; the events then flow.
    with claude.messages.stream(
        model="to-patient", max_tokens=20, messages=say("[[delay:1500]] [[words:3]]")
    ) as stream:
        text = stream.get_final_text()
    assert text == "word1 word2 word3"


def test_a_gap_longer_than_idle_ends_the_anthropic_stream_with_a_timeout_event(gw, claude):
    # Every gap is 1.2 s: within firstByte and total, over idle (600 ms).
    events = []
    with pytest.raises(anthropic.APIStatusError) as raised:
        for event in claude.messages.create(
            model="to-patient", max_tokens=20, stream=True,
            messages=say("[[frame-delay:1200]] [[words:4]]"),
        ):
            events.append(event)
    assert events and events[0].type == "message_start", "the stream had started"
    error = raised.value.body["error"]
    assert error["type"] == "timeout_error"
    assert "stalled" in error["message"] and "600ms" in error["message"]
    assert raised.value.response.headers.get("request-id")


def test_a_gap_longer_than_idle_ends_the_openai_stream_with_a_timeout_chunk(gw):
    body = {"model": "to-patient-openai", "stream": True,
            "messages": say("[[frame-delay:1200]] [[words:4]]")}
    response = httpx.post(f"{gw.url}/v1/chat/completions", json=body,
                          headers={"authorization": f"Bearer {KEY}"}, timeout=20)
    assert response.status_code == 200
    frames = [f for f in response.text.strip().split("\n\n") if f]
    assert len(frames) >= 2, "at least one event went out before the stall"
    assert "[DONE]" not in frames[-1]
    error = json.loads(frames[-1].removeprefix("data: "))["error"]
    assert error["code"] == "timeout"
    entry = gw.access_entry(response.headers["x-request-id"])
    assert entry["error"] == "timeout" and entry["status"] == 200


def test_gaps_within_idle_flow_past_what_idle_alone_would_allow(gpt):
    # 8 gaps of 300 ms: 2.4 s of stream, each gap well inside idle (600 ms).
    chunks = list(gpt.chat.completions.create(
        model="to-patient-openai", stream=True, messages=say("[[frame-delay:300]] [[words:6]]"),
    ))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "word1 word2 word3 word4 word5 word6"


def test_total_ends_a_stream_whose_events_keep_coming(gw, claude):
    # 400 ms between events never trips idle (3 s), but the stream would take over 4 s.
    events = []
    with pytest.raises(anthropic.APIStatusError) as raised:
        for event in claude.messages.create(
            model="to-bounded", max_tokens=20, stream=True,
            messages=say("[[frame-delay:400]] [[words:8]]"),
        ):
            events.append(event)
    assert any(e.type == "content_block_delta" for e in events), "events flowed before the end"
    error = raised.value.body["error"]
    assert error["type"] == "timeout_error"
    assert "total timeout" in error["message"] and "1.5s" in error["message"]


def test_total_bounds_the_wait_for_a_non_streamed_answer(claude):
    # firstByte is 4 s, but total (1.5 s) is shorter: the answer must come within it.
    with pytest.raises(anthropic.APIStatusError) as raised:
        claude.messages.create(model="to-bounded", max_tokens=20, messages=say("[[delay:2500]]"))
    assert raised.value.status_code == 504
    assert "within 1.5s" in raised.value.body["error"]["message"]


def test_timeout_errors_name_no_credential(gw):
    for line in gw.log_text().splitlines():
        assert ANTHROPIC_CREDENTIAL not in line and OPENAI_CREDENTIAL not in line
