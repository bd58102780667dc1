"""How the gateway reads a client's socket: a request that arrives in pieces, pipelined
requests and an h2c preface split across writes.

The listener reads the socket straight into Pingora's parser, without a read buffer in between,
so every byte boundary a slow or eager client produces has to be handled by the parser itself.
"""

from __future__ import annotations

import json
import socket
import time

import h2.config
import h2.connection
import h2.events

from harness import MAIN_KEY, h2_events, openai_headers

MODEL = "gpt-5-4"
PATH = "/v1/chat/completions"


def raw_request(content: str) -> bytes:
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": content}]})
    head = (
        f"POST {PATH} HTTP/1.1\r\nhost: gateway\r\nauthorization: Bearer {MAIN_KEY}\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body.encode()


def read_responses(sock: socket.socket, count: int, timeout: float = 10) -> list[tuple[int, dict]]:
    """Reads `count` HTTP/1.1 responses with a content-length; returns (status, JSON body)."""
    buffer, responses, deadline = b"", [], time.monotonic() + timeout
    while len(responses) < count:
        head_end = buffer.find(b"\r\n\r\n")
        if head_end >= 0:
            head = buffer[:head_end].decode("latin-1").split("\r\n")
            headers = dict(line.split(": ", 1) for line in head[1:])
            length = int({k.lower(): v for k, v in headers.items()}["content-length"])
            end = head_end + 4 + length
            if len(buffer) >= end:
                status = int(head[0].split(" ")[1])
                responses.append((status, json.loads(buffer[head_end + 4 : end])))
                buffer = buffer[end:]
                continue
        assert time.monotonic() < deadline, f"timed out with {len(responses)} responses"
        data = sock.recv(65536)
        assert data, f"the gateway closed the connection after {len(responses)} responses"
        buffer += data
    return responses


def connect(gateway) -> socket.socket:
    port = int(gateway.url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def test_request_arriving_a_few_bytes_at_a_time(gateway, fake):
    """Head and body split mid-line and mid-token, each piece its own segment."""
    content = "pieces " + "x" * 3000
    request = raw_request(content)
    with connect(gateway) as sock:
        for start in range(0, len(request), 97):
            sock.sendall(request[start : start + 97])
            time.sleep(0.002)
        [(status, body)] = read_responses(sock, 1)

    assert status == 200, body
    assert body["object"] == "chat.completion"
    assert fake.only_request()["body"]["messages"][0]["content"] == content


def test_pipelined_requests_get_the_first_answered_then_a_close(gateway, fake):
    """Pipelining is off (Pingora's default; no SDK pipelines): a client that sends three
    requests in one segment gets the first answered intact and then a clean close, so it
    retries the rest (RFC 9112 section 9.3.2). The bytes after the first request are never
    parsed as part of it, nor answered out of step."""
    contents = [f"pipelined {i} " + "y" * (i * 700) for i in range(3)]
    with connect(gateway) as sock:
        sock.sendall(b"".join(raw_request(c) for c in contents))
        [(status, body)] = read_responses(sock, 1)
        rest = b""
        while chunk := sock.recv(65536):
            rest += chunk

    assert status == 200, body
    assert rest == b"", rest[:300]
    assert fake.only_request()["body"]["messages"][0]["content"] == contents[0]


def test_h2c_preface_split_across_writes(gateway, fake):
    """The gateway tells HTTP/2 from HTTP/1.1 by the first 24 bytes; they may come in pieces."""
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    opening = conn.data_to_send()
    body = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "split"}]})
    headers = [
        (":method", "POST"),
        (":scheme", "http"),
        (":authority", "gateway"),
        (":path", PATH),
        ("content-type", "application/json"),
        ("content-length", str(len(body))),
        *openai_headers().items(),
    ]
    with connect(gateway) as sock:
        for piece in (opening[:5], opening[5:17], opening[17:]):
            sock.sendall(piece)
            time.sleep(0.05)
        conn.send_headers(1, headers)
        conn.send_data(1, body.encode(), end_stream=True)
        sock.sendall(conn.data_to_send())

        status, received = None, b""
        for event in h2_events(sock, conn, timeout=10):
            if isinstance(event, h2.events.ResponseReceived):
                status = dict(event.headers)[b":status"]
            elif isinstance(event, h2.events.DataReceived):
                received += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, 1)
            elif isinstance(event, h2.events.StreamEnded):
                break

    assert status == b"200", received[:300]
    assert json.loads(received)["object"] == "chat.completion"
    assert fake.only_request()["body"]["messages"][0]["content"] == "split"
