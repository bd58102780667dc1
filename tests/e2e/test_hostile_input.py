"""Hostile requests: each gets a clear 4xx in the caller's protocol (or a closed connection where
HTTP itself is broken) and never a panic, a hang, or a request reaching the upstream it should
not reach."""

from __future__ import annotations

import json
import socket
import time

import pytest

from harness import ANTHROPIC_CREDENTIAL, MAIN_KEY, Gateway, all_header_values

ANTHROPIC_HEADERS = f"x-api-key: {MAIN_KEY}\r\nanthropic-version: 2023-06-01\r\ncontent-type: application/json\r\n"
OPENAI_HEADERS = f"authorization: Bearer {MAIN_KEY}\r\ncontent-type: application/json\r\n"


@pytest.fixture(scope="module")
def strict_gw(workdir, fake):
    from harness import write_config

    config_dir = workdir / "hostile-config"
    write_config(config_dir, fake.url)
    gw = Gateway(workdir, config_dir, "--client-body-timeout", "1s", "--max-body-bytes", "1000000")
    yield gw
    gw.stop()


def raw(gw, request: bytes, timeout: float = 10) -> tuple[int, dict | None, bytes]:
    """Sends bytes as they are and reads one response: (status, JSON body or None, raw)."""
    host, port = gw.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                head, _, body = data.partition(b"\r\n\r\n")
                length = next((int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")), None)
                if length is not None and len(body) >= length:
                    break
    if not data:
        return 0, None, data
    status = int(data.split(b" ", 2)[1])
    body = data.partition(b"\r\n\r\n")[2]
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    return status, doc, data


def post(path: str, headers: str, body: bytes) -> bytes:
    return f"POST {path} HTTP/1.1\r\nhost: gw\r\n{headers}content-length: {len(body)}\r\n\r\n".encode() + body


def anthropic_type(doc) -> str | None:
    return (doc or {}).get("error", {}).get("type") if (doc or {}).get("type") == "error" else None


def openai_code(doc) -> str | None:
    return (doc or {}).get("error", {}).get("code")


CLAUDE = b'{"model":"claude-sonnet-4-6","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}'

CASES = [
    # (name, request bytes, expected status, expected Anthropic type or OpenAI code)
    ("invalid UTF-8 in JSON", post("/v1/messages", ANTHROPIC_HEADERS, b'{"model":"claude-sonnet-4-6","x":"\xff\xfe"}'), 400, "invalid_request_error"),
    ("not JSON", post("/v1/chat/completions", OPENAI_HEADERS, b"model=gpt-4o"), 400, "invalid_request"),
    ("two model fields", post("/v1/messages", ANTHROPIC_HEADERS, b'{"model":"claude-sonnet-4-6","model":"gpt-4o"}'), 400, "invalid_request_error"),
    ("deep nesting to a translated route", post("/v1/messages", f"x-api-key: {MAIN_KEY}\r\nanthropic-version: 2023-06-01\r\n", b'{"model":"gpt-5-4","max_tokens":8,"messages":[{"role":"user","content":' + b"[" * 5000 + b"]" * 5000 + b"}]}"), 400, "invalid_request_error"),
    ("path traversal to another endpoint", post("/v1/messages/../files", ANTHROPIC_HEADERS, CLAUDE), 404, "not_found_error"),
    ("double slash", post("/v1//messages", ANTHROPIC_HEADERS, CLAUDE), 404, "not_found_error"),
    ("encoded slash", post("/v1/messages%2F..%2Ffiles", ANTHROPIC_HEADERS, CLAUDE), 404, "not_found_error"),
    ("body over the limit", post("/v1/messages", ANTHROPIC_HEADERS, b'{"model":"claude-sonnet-4-6","x":"' + b"a" * 1_100_000 + b'"}'), 413, "request_too_large"),
    ("no key, own credential header", post("/v1/messages", f"authorization: Bearer {ANTHROPIC_CREDENTIAL}\r\nanthropic-version: 2023-06-01\r\n", CLAUDE), 401, "authentication_error"),
]


@pytest.mark.parametrize("name,request_bytes,status,error", CASES, ids=[c[0] for c in CASES])
def test_hostile_request_gets_a_clear_error(strict_gw, fake, name, request_bytes, status, error):
    got_status, doc, data = raw(strict_gw, request_bytes)
    assert got_status == status, data[:400]
    assert error in (anthropic_type(doc), openai_code(doc)), doc
    assert fake.requests() == [], "nothing reaches the upstream"


def test_slow_body_is_cut_with_408(strict_gw, fake):
    started = time.monotonic()
    head = f"POST /v1/messages HTTP/1.1\r\nhost: gw\r\n{ANTHROPIC_HEADERS}content-length: 1000\r\n\r\n".encode()
    status, doc, data = raw(strict_gw, head + b'{"model":"claude', timeout=10)
    assert status == 408, data[:300]
    assert anthropic_type(doc) == "invalid_request_error"
    assert time.monotonic() - started < 5
    assert fake.requests() == []


def test_client_credential_headers_never_override_the_providers(strict_gw, fake):
    smuggled = (
        f"x-api-key: {MAIN_KEY}\r\nanthropic-version: 2023-06-01\r\n"
        "authorization: Bearer sk-attacker\r\nx-goog-api-key: attacker\r\napi-key: attacker\r\ncookie: a=b\r\n"
    )
    status, _, data = raw(strict_gw, post("/v1/messages", smuggled, CLAUDE))
    assert status == 200, data[:300]
    upstream = fake.only_request()["headers"]
    assert upstream["x-api-key"] == ANTHROPIC_CREDENTIAL
    values = all_header_values([fake.only_request()])
    assert not any("attacker" in v for v in values) and MAIN_KEY not in " ".join(values)


def test_conflicting_framing_is_refused(strict_gw, fake):
    request = (
        f"POST /v1/messages HTTP/1.1\r\nhost: gw\r\n{ANTHROPIC_HEADERS}"
        f"content-length: {len(CLAUDE)}\r\ntransfer-encoding: chunked\r\n\r\n"
    ).encode() + CLAUDE
    status, _, _ = raw(strict_gw, request)
    assert status in (0, 400), "request smuggling framing is rejected or the connection closed"
    assert fake.requests() == []


# Bodies far larger than what the kernel buffers for an unread socket: a client still sending
# when the gateway answers must be able to finish and read the answer, not get a reset.
REFUSED_BIG_BODIES = [
    ("bad key", "/v1/messages", f"x-api-key: bsk-nope\r\nanthropic-version: 2023-06-01\r\n", 900_000, 401, "authentication_error"),
    ("endpoint not offered", "/v1/files", OPENAI_HEADERS, 900_000, 404, "not_found"),
    ("declared over the limit", "/v1/messages", ANTHROPIC_HEADERS, 1_900_000, 413, "request_too_large"),
]


@pytest.mark.parametrize("name,path,headers,size,status,error", REFUSED_BIG_BODIES, ids=[c[0] for c in REFUSED_BIG_BODIES])
def test_a_client_still_sending_a_refused_body_reads_the_refusal(strict_gw, fake, name, path, headers, size, status, error):
    body = b'{"model":"claude-sonnet-4-6","x":"' + b"a" * size + b'"}'
    got_status, doc, data = raw(strict_gw, post(path, headers, body))
    assert got_status == status, data[:400]
    assert error in (anthropic_type(doc), openai_code(doc)), doc
    assert fake.requests() == []


def test_an_endless_refused_body_is_not_read_forever(strict_gw, fake):
    """After a refusal the gateway reads at most twice its body limit, then closes."""
    host, port = strict_gw.url.removeprefix("http://").split(":")
    declared = 500_000_000
    head = f"POST /v1/messages HTTP/1.1\r\nhost: gw\r\n{ANTHROPIC_HEADERS}content-length: {declared}\r\n\r\n"
    sent = 0
    chunk = b"a" * 65536
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode())
        try:
            while sent < declared:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass
    # The limit is 1,000,000 bytes: about 2 MB is read and discarded, plus what the kernels
    # buffer on both sides, and then the connection is closed under the sender.
    assert sent < 64_000_000, f"the gateway kept reading a refused body ({sent} bytes)"
    assert fake.requests() == []


def test_a_refused_requests_duration_ends_with_its_answer(strict_gw, fake):
    """The rest of a refused body is read after the answer; the access log times the answer."""
    host, port = strict_gw.url.removeprefix("http://").split(":")
    head = f"POST /v1/messages HTTP/1.1\r\nhost: gw\r\n{ANTHROPIC_HEADERS}content-length: 1100000\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.encode())
        # A slow client: about 2 s of body (the gateway reads it after answering 413), then
        # nothing until the gateway gives up on the rest.
        for _ in range(7):
            sock.sendall(b"a" * 8192)
            time.sleep(0.3)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head_lines = data.partition(b"\r\n\r\n")[0].decode().split("\r\n")
    assert head_lines[0].split(" ")[1] == "413", head_lines
    request_id = next(l.split(":", 1)[1].strip() for l in head_lines if l.lower().startswith("x-request-id:"))
    entry = strict_gw.access_entry(request_id)
    assert entry["status"] == 413
    assert entry["duration_ms"] < 1000, entry
