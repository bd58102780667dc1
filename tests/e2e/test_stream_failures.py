"""Streams that go wrong part-way, and streams over h2c.

Once a stream has started the status is already 200, so a cut connection or a stalled upstream
must end the stream with an error event in the caller's protocol, never a silent truncation;
both SDKs then raise. Upstream in-stream errors and error statuses on streamed requests pass
through. Streams also flow to an HTTP/2 (h2c) client.
"""

from __future__ import annotations

import json
import time

import anthropic
import httpx
import openai
import pytest

from harness import anthropic_headers, openai_headers, wait_until


def stream_anthropic(client, text: str, model: str = "claude-sonnet-4-6") -> list:
    events = []
    for event in client.messages.create(
        model=model, max_tokens=50, stream=True, messages=[{"role": "user", "content": text}]
    ):
        events.append(event)
    return events


def stream_openai(client, text: str, model: str = "gpt-5-4") -> list:
    chunks = []
    for chunk in client.chat.completions.create(
        model=model, stream=True, messages=[{"role": "user", "content": text}]
    ):
        chunks.append(chunk)
    return chunks


def test_cut_anthropic_stream_ends_with_an_error_event(anthropic_client, gateway, http):
    with pytest.raises(anthropic.APIStatusError) as raised:
        stream_anthropic(anthropic_client, "[[cut-after:4]]")
    assert raised.value.body["error"]["type"] == "api_error"

    body = {"model": "claude-sonnet-4-6", "max_tokens": 50, "stream": True,
            "messages": [{"role": "user", "content": "[[cut-after:4]]"}]}
    response = http.post("/v1/messages", json=body, headers=anthropic_headers())
    assert response.status_code == 200
    last_event = response.text.strip().split("\n\n")[-1]
    assert last_event.startswith("event: error\n")
    assert json.loads(last_event.split("data: ", 1)[1])["type"] == "error"
    entry = gateway.access_entry(response.headers["request-id"])
    assert entry["error"] == "upstream"


def test_cut_openai_stream_ends_with_an_error_chunk(openai_client, http):
    with pytest.raises(openai.APIError) as raised:
        stream_openai(openai_client, "[[cut-after:3]]")
    assert raised.value.body["code"] == "upstream_error"

    body = {"model": "gpt-5-4", "stream": True,
            "messages": [{"role": "user", "content": "[[cut-after:3]]"}]}
    response = http.post("/v1/chat/completions", json=body, headers=openai_headers())
    frames = [f for f in response.text.strip().split("\n\n") if f]
    assert "[DONE]" not in frames[-1]
    assert json.loads(frames[-1].removeprefix("data: "))["error"]["code"] == "upstream_error"


@pytest.mark.parametrize("protocol", ["anthropic", "openai"])
def test_stalled_stream_ends_with_a_timeout_error(anthropic_client, openai_client, protocol):
    started = time.monotonic()
    if protocol == "anthropic":
        with pytest.raises(anthropic.APIStatusError) as raised:
            stream_anthropic(anthropic_client, "[[stall-after:3]]", model="claude-slow")
        assert raised.value.body["error"]["type"] == "timeout_error"
    else:
        with pytest.raises(openai.APIError) as raised:
            stream_openai(openai_client, "[[stall-after:3]]", model="gpt-slow")
        assert raised.value.body["code"] == "timeout"
    assert time.monotonic() - started < 5


def test_upstream_in_stream_errors_pass_through(anthropic_client, openai_client):
    with pytest.raises(anthropic.APIStatusError) as raised:
        stream_anthropic(anthropic_client, "[[stream-error-after:3]]")
    assert raised.value.body["error"]["type"] == "overloaded_error"

    with pytest.raises(openai.APIError) as raised:
        stream_openai(openai_client, "[[stream-error-after:3]]")
    assert raised.value.body["type"] == "server_error"


def test_error_status_on_a_streamed_request_raises_before_any_event(
    anthropic_client, openai_client
):
    with pytest.raises(anthropic.RateLimitError):
        stream_anthropic(anthropic_client, "[[error:429]]")
    with pytest.raises(openai.RateLimitError):
        stream_openai(openai_client, "[[error:429]]")


def test_client_disconnect_mid_stream_reaches_the_upstream(anthropic_client, fake):
    before = fake.stats()["client_disconnects"]
    stream = anthropic_client.messages.create(
        model="claude-sonnet-4-6", max_tokens=50, stream=True,
        messages=[{"role": "user", "content": "[[stall-after:3]]"}],
    )
    assert next(iter(stream)).type == "message_start"
    stream.close()

    wait_until(
        lambda: fake.stats()["client_disconnects"] > before,
        5.0,
        "the gateway to close the upstream stream of a departed client",
    )


def test_h2c_client_receives_sse_streams(gateway):
    body = {"model": "gpt-5-4", "stream": True,
            "messages": [{"role": "user", "content": "[[words:6]]"}]}
    with httpx.Client(base_url=gateway.url, http1=False, http2=True, timeout=20) as http:
        with http.stream("POST", "/v1/chat/completions", json=body,
                         headers=openai_headers()) as response:
            assert response.http_version == "HTTP/2"
            lines = [line for line in response.iter_lines() if line.startswith("data: ")]

    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]
    assert all(chunk["choices"] for chunk in chunks)
    text = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks)
    assert text == " ".join(f"word{i}" for i in range(1, 7))
