"""How a request leaves for the upstream and a translated answer for the client.

The gateway has read the whole body before it picks the upstream, so the request's header and
body go out together, in one TCP segment when they fit one, not a segment for the header and
another for the body (one write, one wake-up of the upstream, one packet fewer per request).
A translated answer that is no stream is re-encoded once the upstream's is complete, so it
leaves whole too: header with its Content-Length and body in one write, not a header flushed
ahead of a chunked body and its last chunk.

The upstream here is a raw socket server that counts the data segments each request arrived in
(`tcpi_data_segs_in` from the kernel's TCP_INFO), and the client side of the answers is a raw
socket read the same way, so the tests see the writes themselves.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time

import anthropic
import openai
import pytest

from harness import OPENAI_CREDENTIAL, Gateway, provider_yaml

KEY = "bsk-e2e-writes-5a90"
MODEL = "writes-model"
UPSTREAM_MODEL = "writes-model-upstream"
# struct tcp_info in linux/tcp.h: tcpi_data_segs_in follows 152 bytes of older fields.
DATA_SEGS_IN_OFFSET = 152

ANSWER = json.dumps(
    {
        "id": "chatcmpl-writes",
        "object": "chat.completion",
        "created": 1,
        "model": UPSTREAM_MODEL,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
).encode()


def data_segments_in(sock: socket.socket) -> int:
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 512)
    return struct.unpack_from("<I", info, DATA_SEGS_IN_OFFSET)[0]


class CountingUpstream:
    """An OpenAI-shaped upstream that records each request with the data segments it came in."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.requests: list[dict] = []
        self.read_delay = 0.0  # seconds to wait before reading a request, to fill socket buffers
        self.extra_headers = b""  # added to every response header
        self.status = b"200 OK"
        self.answer = ANSWER
        self.cut_answer = False  # send half the answer's announced body, then close
        self.stream_events: list[bytes] = []  # when set: a chunked SSE answer, one write each
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer, segments_before = b"", 0
        with conn:
            while True:
                if not buffer:
                    time.sleep(self.read_delay)
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                lines = head.decode("latin-1").split("\r\n")
                headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
                length = int(headers["content-length"])
                while len(buffer) < length:
                    data = conn.recv(1 << 20)
                    if not data:
                        return
                    buffer += data
                body, buffer = buffer[:length], buffer[length:]
                segments = data_segments_in(conn)
                self.requests.append(
                    {
                        "request_line": lines[0],
                        "headers": headers,
                        "body": json.loads(body),
                        "segments": segments - segments_before,
                    }
                )
                segments_before = segments
                if self.stream_events:
                    self._stream(conn)
                    continue
                answer = self.answer[: len(self.answer) // 2] if self.cut_answer else self.answer
                conn.sendall(
                    b"HTTP/1.1 " + self.status + b"\r\ncontent-type: application/json\r\n"
                    + self.extra_headers
                    + f"content-length: {len(self.answer)}\r\n\r\n".encode()
                    + answer
                )
                if self.cut_answer:
                    return

    def _stream(self, conn: socket.socket) -> None:
        """The header with the first event in one write, each later event in a write of its own
        after a pause, the last one with the terminating chunk."""
        chunk = [f"{len(e):x}\r\n".encode() + e + b"\r\n" for e in self.stream_events]
        conn.sendall(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n" + chunk[0]
        )
        for middle in chunk[1:-1]:
            time.sleep(0.05)
            conn.sendall(middle)
        time.sleep(0.05)
        conn.sendall(chunk[-1] + b"0\r\n\r\n")

    def stop(self) -> None:
        self._closed = True
        self.listener.close()


def config(upstream_url: str) -> str:
    provider = provider_yaml("counting", "openai", f"{upstream_url}/v1", "openai")
    secret = (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: vendor-credentials}\nstringData:\n"
        f"  openai: {OPENAI_CREDENTIAL}\n"
    )
    group = (
        "apiVersion: gateway.bytespike.ai/v1alpha1\nkind: RoutingGroup\n"
        "metadata: {name: writes}\nspec:\n  models:\n"
        f"    - id: {MODEL}\n      targets:\n"
        f"        - {{provider: counting, model: {UPSTREAM_MODEL}}}\n"
    )
    key = (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: writes-key}\n"
        f"stringData: {{key: {KEY}}}\n---\n"
        "apiVersion: gateway.bytespike.ai/v1alpha1\nkind: ApiKey\nmetadata: {name: writes}\n"
        "spec:\n  routingGroups: [writes]\n  secretRef: {name: writes-key, key: key}\n"
    )
    return "---\n".join([provider, secret, group, key])


@pytest.fixture(scope="module")
def upstream():
    server = CountingUpstream()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gw(workdir, tmp_path_factory, upstream):
    config_dir = tmp_path_factory.mktemp("writes-config")
    (config_dir / "config.yaml").write_text(config(upstream.url))
    gateway = Gateway(workdir, config_dir)
    yield gateway
    gateway.stop()


@pytest.fixture(autouse=True)
def fresh(upstream):
    upstream.requests.clear()
    upstream.read_delay = 0.0
    upstream.extra_headers = b""
    upstream.status = b"200 OK"
    upstream.answer = ANSWER
    upstream.cut_answer = False
    upstream.stream_events = []


@pytest.fixture
def client(gw):
    with openai.OpenAI(base_url=f"{gw.url}/v1", api_key=KEY, max_retries=0, timeout=30) as c:
        yield c


def test_small_requests_reach_the_upstream_in_one_segment_each(client, upstream):
    for turn in range(3):
        answer = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": f"turn {turn}"}]
        )
        assert answer.choices[0].message.content == "ok"

    assert [r["body"]["messages"][0]["content"] for r in upstream.requests] == [
        "turn 0",
        "turn 1",
        "turn 2",
    ]
    assert all(r["body"]["model"] == UPSTREAM_MODEL for r in upstream.requests)
    # The second and third reuse the first one's pooled connection: each is still one segment.
    assert [r["segments"] for r in upstream.requests] == [1, 1, 1]


def test_a_translated_request_reaches_the_upstream_in_one_segment(gw, upstream):
    with anthropic.Anthropic(base_url=gw.url, api_key=KEY, max_retries=0, timeout=30) as c:
        answer = c.messages.create(
            model=MODEL, max_tokens=32, messages=[{"role": "user", "content": "translated"}]
        )
    assert answer.content[0].text == "ok"

    [request] = upstream.requests
    assert request["request_line"] == "POST /v1/chat/completions HTTP/1.1"
    assert request["body"]["messages"][-1]["content"] == "translated"
    assert request["segments"] == 1


def test_a_body_larger_than_the_socket_buffers_arrives_whole(client, upstream):
    """The upstream waits before reading, so the gateway's writes of header and body are cut
    short by full socket buffers and resumed: nothing may be lost or repeated."""
    upstream.read_delay = 0.5
    text = "".join(f"{i:07d} " for i in range(600_000))  # 4.8 MB
    answer = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": text}]
    )
    assert answer.choices[0].message.content == "ok"

    [request] = upstream.requests
    assert request["headers"]["authorization"] == f"Bearer {OPENAI_CREDENTIAL}"
    assert request["body"]["messages"][0]["content"] == text


def test_an_upstream_header_larger_than_the_first_read_is_read_whole(client, upstream):
    """Response headers are read into a small buffer first (most fit); a vendor's header of
    many kilobytes arrives in several reads and must still parse, with the body after it."""
    upstream.extra_headers = b"".join(
        f"x-vendor-trace-{i:03d}: {'t' * 90}\r\n".encode() for i in range(80)
    )
    assert len(upstream.extra_headers) > 8 * 1024
    for turn in range(2):
        answer = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": f"big header {turn}"}]
        )
        assert answer.choices[0].message.content == "ok"
        assert answer.usage.total_tokens == 4
    assert len(upstream.requests) == 2


def raw_messages_call(gw, text: str) -> tuple[int, dict, bytes, int]:
    """One Anthropic call on a raw socket: status, headers, body, and the data segments the
    answer arrived in."""
    body = json.dumps(
        {"model": MODEL, "max_tokens": 32, "messages": [{"role": "user", "content": text}]}
    ).encode()
    host, port = gw.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/messages HTTP/1.1\r\nhost: gateway\r\n"
            + f"x-api-key: {KEY}\r\nanthropic-version: 2023-06-01\r\n".encode()
            + b"content-type: application/json\r\n"
            + f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            assert data, f"connection closed after {answer!r}"
            answer += data
        head, rest = answer.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:])}
        assert "content-length" in headers, f"no length: {head!r}"
        while len(rest) < int(headers["content-length"]):
            data = sock.recv(65536)
            assert data, f"connection closed after {rest!r}"
            rest += data
        return int(lines[0].split()[1]), headers, rest, data_segments_in(sock)


def test_a_translated_answer_reaches_the_client_whole_in_one_segment(gw):
    for turn in range(2):  # the second on a kept-alive upstream connection
        status, headers, body, segments = raw_messages_call(gw, f"whole {turn}")
        assert status == 200
        assert "transfer-encoding" not in headers
        assert int(headers["content-length"]) == len(body)
        message = json.loads(body)
        assert message["type"] == "message"
        assert message["content"] == [{"type": "text", "text": "ok"}]
        assert message["usage"]["input_tokens"] == 3
        assert segments == 1, f"turn {turn}: the answer came in {segments} segments"


def test_a_translated_error_reaches_the_client_whole_in_the_callers_shape(gw, upstream):
    upstream.status = b"429 Too Many Requests"
    upstream.answer = json.dumps(
        {"error": {"message": "slow down", "type": "rate_limit_exceeded", "code": None}}
    ).encode()
    status, headers, body, segments = raw_messages_call(gw, "too many")
    assert status == 429
    assert int(headers["content-length"]) == len(body)
    error = json.loads(body)
    assert error["type"] == "error"
    assert error["error"]["type"] == "rate_limit_error"
    assert "slow down" in error["error"]["message"]
    assert segments == 1


def test_a_translated_answer_cut_short_is_an_error_not_a_truncated_success(gw, upstream):
    """The header was held back with the body, so when the upstream's body breaks off the
    client still gets a whole error in its own protocol rather than a 200 that ends early."""
    upstream.cut_answer = True
    with anthropic.Anthropic(base_url=gw.url, api_key=KEY, max_retries=0, timeout=30) as c:
        with pytest.raises(anthropic.APIStatusError) as raised:
            c.messages.create(
                model=MODEL, max_tokens=32, messages=[{"role": "user", "content": "cut"}]
            )
    assert raised.value.status_code == 502
    assert raised.value.body["type"] == "error"
    assert raised.value.body["error"]["type"] == "api_error"


def sse_event(n: int, finish: str | None = None) -> bytes:
    chunk = {
        "id": "chatcmpl-writes",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": UPSTREAM_MODEL,
        "choices": [{"index": 0, "delta": {"content": f"w{n}"}, "finish_reason": finish}],
    }
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def test_a_stream_starts_with_its_header_and_ends_with_its_last_event_in_one_write(gw, upstream):
    """The upstream sends its header with the first event, and its last event with the
    terminating chunk. Each pair reaches the client in one segment: a header is not flushed
    ahead of an event already at hand, nor the terminating chunk behind the last event."""
    usage = {"id": "chatcmpl-writes", "object": "chat.completion.chunk", "created": 1,
             "model": UPSTREAM_MODEL, "choices": [],
             "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}
    events = [sse_event(0), sse_event(1, "stop"), b"data: " + json.dumps(usage).encode() + b"\n\n",
              b"data: [DONE]\n\n"]
    upstream.stream_events = events
    body = json.dumps({"model": MODEL, "stream": True, "stream_options": {"include_usage": True},
                       "messages": [{"role": "user", "content": "stream"}]}).encode()
    host, port = gw.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nhost: gateway\r\n"
            + f"authorization: Bearer {KEY}\r\ncontent-type: application/json\r\n".encode()
            + f"content-length: {len(body)}\r\n\r\n".encode()
            + body
        )
        answer = sock.recv(65536)
        # The first read holds the header and the first event, and they came in one segment.
        head_end = answer.find(b"\r\n\r\n")
        assert head_end > 0 and answer.endswith(b"\n\n\r\n"), answer
        assert answer[head_end:].count(b"data: ") == 1, answer
        assert data_segments_in(sock) == 1
        while not answer.endswith(b"\r\n0\r\n\r\n"):
            data = sock.recv(65536)
            assert data, f"connection closed after {answer!r}"
            answer += data
        segments = data_segments_in(sock)
    head, chunked = answer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200"), head
    assert b"transfer-encoding: chunked" in head.lower()
    received = b""
    while True:
        size_line, chunked = chunked.split(b"\r\n", 1)
        size = int(size_line, 16)
        if size == 0:
            break
        received, chunked = received + chunked[:size], chunked[size + 2:]
    assert received == b"".join(events)
    # header + first event, the two middle events, the last event with the terminating chunk
    assert segments == len(events), f"{segments} segments for {len(events)} upstream writes"
