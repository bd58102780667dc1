"""Large request bodies reach the upstream intact.

The gateway reads the whole body before choosing an upstream (it routes on `model`), so bodies
over Pingora's 64 KiB retry buffer once hung. Bodies of ~75 KB and ~5 MB go through
`/v1/messages` and `/v1/chat/completions`, from HTTP/1.1 and h2c clients, to HTTP/1.1 and h2c
upstreams; the fake provider's record of each must match what was sent, byte for byte apart
from the rewritten model. Every request has a timeout, so a regression fails instead of hanging.
"""

from __future__ import annotations

import hashlib
import json
import math
import socket

import anthropic
import h2.config
import h2.connection
import h2.errors
import h2.events
import httpx
import openai
import pytest

from harness import (
    CLAUDE_UPSTREAM,
    GPT_UPSTREAM,
    MAIN_KEY,
    MAX_BODY_BYTES,
    anthropic_headers,
    h2_events,
    openai_headers,
)

TIMEOUT = httpx.Timeout(30.0)
SIZES = {"75KB": 75_000, "5MB": 5_000_000}

# (client-facing path, headers, model id, upstream model) per protocol and upstream version.
ANTHROPIC, OPENAI = anthropic_headers(), openai_headers()
ROUTES = {
    ("anthropic", "http1"): ("/v1/messages", ANTHROPIC, "claude-sonnet-4-6", CLAUDE_UPSTREAM),
    ("anthropic", "h2c"): ("/v1/messages", ANTHROPIC, "claude-h2", "claude-h2-upstream"),
    ("openai", "http1"): ("/v1/chat/completions", OPENAI, "gpt-5-4", GPT_UPSTREAM),
    ("openai", "h2c"): ("/v1/chat/completions", OPENAI, "gpt-h2", "gpt-h2-upstream"),
}
UPSTREAM_VERSION = {"http1": "HTTP/1.1", "h2c": "HTTP/2.0"}


def long_text(size: int) -> str:
    """Numbered words, so any dropped, repeated or reordered span changes the hash."""
    words = (f"w{i:07d}" for i in range(size // 9 + 1))
    return " ".join(words)[:size]


def request_body(protocol: str, model: str, text: str, **extra) -> dict:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": text}],
        "metadata_note": {"kept": True},
        **extra,
    }
    if protocol == "anthropic":
        body["max_tokens"] = 64
    return body


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def rewritten_length(raw: bytes, model: str, upstream_model: str, inserted: str = "") -> int:
    """Length of `raw` once the gateway swapped the model (and inserted `inserted`)."""
    return len(raw) - len(json.dumps(model)) + len(json.dumps(upstream_model)) + len(inserted)


def assert_arrived_intact(recorded: dict, expected: dict, expected_length: int) -> None:
    if "content-length" in recorded["headers"]:
        assert int(recorded["headers"]["content-length"]) == expected_length
    body = recorded["body"]
    assert isinstance(body, dict), "the upstream did not receive valid JSON"
    assert body["model"] == expected["model"]
    received_text = body["messages"][0]["content"]
    sent_text = expected["messages"][0]["content"]
    assert len(received_text) == len(sent_text)
    assert sha256(received_text) == sha256(sent_text)
    assert body == expected


@pytest.fixture(params=["http1", "h2c"])
def client(request, gateway):
    """A plain client on the gateway speaking HTTP/1.1 or h2c (prior knowledge)."""
    if request.param == "h2c":
        http = httpx.Client(base_url=gateway.url, http1=False, http2=True, timeout=TIMEOUT)
    else:
        http = httpx.Client(base_url=gateway.url, timeout=TIMEOUT)
    with http:
        yield request.param, http


@pytest.mark.parametrize("size", list(SIZES), ids=list(SIZES))
@pytest.mark.parametrize("upstream", ["http1", "h2c"])
@pytest.mark.parametrize("protocol", ["anthropic", "openai"])
def test_large_body_arrives_intact(client, fake, protocol, upstream, size):
    client_version, http = client
    path, headers, model, upstream_model = ROUTES[(protocol, upstream)]
    sent = request_body(protocol, model, long_text(SIZES[size]))
    raw = json.dumps(sent).encode()

    response = http.post(path, content=raw, headers=headers | {"content-type": "application/json"})

    assert response.status_code == 200, response.text[:500]
    assert response.http_version == ("HTTP/2" if client_version == "h2c" else "HTTP/1.1")
    reply = response.json()
    assert reply["model"] == upstream_model
    recorded = fake.only_request()
    assert recorded["version"] == UPSTREAM_VERSION[upstream]
    expected_length = rewritten_length(raw, model, upstream_model)
    assert_arrived_intact(recorded, {**sent, "model": upstream_model}, expected_length)


@pytest.mark.parametrize("upstream", ["http1", "h2c"])
@pytest.mark.parametrize("protocol", ["anthropic", "openai"])
def test_large_streamed_request_arrives_intact(client, gateway, fake, protocol, upstream):
    _, http = client
    path, headers, model, upstream_model = ROUTES[(protocol, upstream)]
    sent = request_body(protocol, model, long_text(SIZES["5MB"]) + " [[words:3]]", stream=True)
    raw = json.dumps(sent).encode()

    with http.stream(
        "POST", path, content=raw, headers=headers | {"content-type": "application/json"}
    ) as response:
        assert response.status_code == 200
        events = "".join(response.iter_text())

    assert "word1" in events and "word3" in events
    recorded = fake.only_request()
    expected = {**sent, "model": upstream_model}
    inserted = ""
    if protocol == "openai":
        # The gateway asks an OpenAI upstream for stream usage; the rest is as sent.
        expected["stream_options"] = {"include_usage": True}
        inserted = '"stream_options":{"include_usage":true},'
    expected_length = rewritten_length(raw, model, upstream_model, inserted)
    assert_arrived_intact(recorded, expected, expected_length)
    entry = gateway.access_entry(response.headers["x-request-id"])
    assert entry["output_tokens"] == 3
    assert entry["input_tokens"] == math.ceil(expected_length / 4)


def test_anthropic_sdk_sends_a_large_prompt(gateway, fake):
    text = long_text(SIZES["5MB"])
    client = anthropic.Anthropic(base_url=gateway.url, api_key=MAIN_KEY, max_retries=0, timeout=30)
    with client:
        message = client.messages.create(
            model="claude-h2", max_tokens=64, messages=[{"role": "user", "content": text}]
        )

    assert message.model == "claude-h2-upstream"
    received = fake.only_request()["body"]["messages"][0]["content"]
    assert sha256(received) == sha256(text)


def test_openai_sdk_sends_a_large_prompt(gateway, fake):
    text = long_text(SIZES["5MB"])
    client = openai.OpenAI(
        base_url=f"{gateway.url}/v1", api_key=MAIN_KEY, max_retries=0, timeout=30
    )
    with client:
        completion = client.chat.completions.create(
            model="gpt-5-4", messages=[{"role": "user", "content": text}]
        )

    assert completion.model == GPT_UPSTREAM
    received = fake.only_request()["body"]["messages"][0]["content"]
    assert sha256(received) == sha256(text)


def test_many_large_bodies_on_one_connection(gateway, fake):
    """Keep-alive connections stay usable after large bodies, both ways."""
    path, headers, model, upstream_model = ROUTES[("anthropic", "h2c")]
    with httpx.Client(base_url=gateway.url, timeout=TIMEOUT) as http:
        for i in range(5):
            sent = request_body("anthropic", model, f"{i} " + long_text(200_000))
            response = http.post(path, json=sent, headers=headers)
            assert response.status_code == 200, response.text[:500]

    recorded = fake.requests()
    assert [r["body"]["messages"][0]["content"][:2] for r in recorded] == [
        f"{i} " for i in range(5)
    ]


def test_h2c_oversized_body_gets_413_then_a_graceful_stream_reset(gateway):
    """Over HTTP/2 the gateway answers before reading the body, then resets the stream with
    NO_ERROR (RFC 9113 section 8.1), so the client stops sending and the connection lives on."""
    body = json.dumps(request_body("openai", "gpt-5-4", "z" * (MAX_BODY_BYTES + 1024))).encode()
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    port = int(gateway.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        conn.initiate_connection()
        conn.send_headers(1, h2_request_headers("/v1/chat/completions", len(body)))
        # The first window's worth of body, in frames of the default maximum size.
        window, frame = conn.local_flow_control_window(1), conn.max_outbound_frame_size
        for start in range(0, window, frame):
            conn.send_data(1, body[start : min(start + frame, window)])
        sock.sendall(conn.data_to_send())

        status, reset_code = None, None
        for event in h2_events(sock, conn, timeout=5):
            if isinstance(event, h2.events.ResponseReceived):
                status = dict(event.headers)[b":status"]
            elif isinstance(event, h2.events.StreamReset):
                reset_code = event.error_code
                break

    assert status == b"413"
    assert reset_code == h2.errors.ErrorCodes.NO_ERROR


def h2_request_headers(path: str, length: int) -> list[tuple[str, str]]:
    return [
        (":method", "POST"),
        (":path", path),
        (":scheme", "http"),
        (":authority", "127.0.0.1"),
        *openai_headers().items(),
        ("content-type", "application/json"),
        ("content-length", str(length)),
    ]
