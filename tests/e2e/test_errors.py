"""Errors in the caller's protocol: status, body shape and type for both Anthropic and OpenAI
callers, checked on the wire and through each SDK's exception classes.

Covers key problems (missing, unknown, disabled, expired), models the key may not call or that
do not exist, unsupported endpoints, malformed bodies, oversized bodies, unreachable and stalled
upstreams, upstream errors passed through, and that no key or credential ever leaks into a
response or the gateway's logs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import anthropic
import openai
import pytest

from harness import (
    DISABLED_KEY,
    EXPIRED_KEY,
    LOG_TIMEOUT,
    MAIN_KEY,
    MAX_BODY_BYTES,
    SECRETS,
    anthropic_headers,
    openai_headers,
    wait_until,
)

UNKNOWN_KEY = "bsk-e2e-unknown-44aa19c0e7d2"
SAY_HELLO = [{"role": "user", "content": "Say hello."}]


@dataclass(frozen=True)
class Protocol:
    name: str
    path: str
    model: str

    def body(self, model: str | None = None, text: str = "Say hello.") -> dict:
        body = {"model": model or self.model, "messages": [{"role": "user", "content": text}]}
        if self.name == "anthropic":
            body["max_tokens"] = 50
        return body

    def headers(self, key: str | None = MAIN_KEY) -> dict:
        if key is None:
            return {"anthropic-version": "2023-06-01"} if self.name == "anthropic" else {}
        return anthropic_headers(key) if self.name == "anthropic" else openai_headers(key)

    def model_for(self, role: str) -> str:
        prefix = "claude" if self.name == "anthropic" else "gpt"
        return {
            "forbidden": "claude-haiku-4-5" if self.name == "anthropic" else "gpt-5-5",
            "unknown": f"{prefix}-does-not-exist",
            "dead": f"{prefix}-dead",
            "slow": f"{prefix}-slow",
        }[role]


ANTHROPIC = Protocol("anthropic", "/v1/messages", "claude-sonnet-4-6")
OPENAI = Protocol("openai", "/v1/chat/completions", "gpt-5-4")
PROTOCOLS = [pytest.param(ANTHROPIC, id="anthropic"), pytest.param(OPENAI, id="openai")]

# Gateway error kind -> (status, Anthropic error type, OpenAI error code).
KINDS = {
    "invalid": (400, "invalid_request_error", "invalid_request"),
    "authentication": (401, "authentication_error", "invalid_api_key"),
    "permission": (403, "permission_error", "model_not_permitted"),
    "model_not_found": (404, "not_found_error", "model_not_found"),
    "not_found": (404, "not_found_error", "not_found"),
    "too_large": (413, "request_too_large", "request_too_large"),
    "upstream": (502, "api_error", "upstream_error"),
    "timeout": (504, "timeout_error", "timeout"),
}


def assert_error(protocol: Protocol, response, kind: str) -> dict:
    """Checks status and the protocol's exact error envelope; returns the inner error."""
    status, anthropic_type, openai_code = KINDS[kind]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    if protocol.name == "anthropic":
        assert set(body) == {"type", "error"}, body
        assert body["type"] == "error"
        assert set(body["error"]) == {"type", "message"}, body
        assert body["error"]["type"] == anthropic_type
    else:
        assert set(body) == {"error"}, body
        assert set(body["error"]) == {"message", "type", "param", "code"}, body
        assert body["error"]["code"] == openai_code
        assert body["error"]["type"] in {"invalid_request_error", "server_error"}
    assert body["error"]["message"]
    for secret in (*SECRETS, UNKNOWN_KEY):
        assert secret not in response.text
    return body["error"]


# ---------------------------------------------------------------------------------------------
# On the wire


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    "key, fragment",
    [
        pytest.param(None, "no API key", id="missing"),
        pytest.param(UNKNOWN_KEY, "invalid API key", id="unknown"),
        pytest.param(DISABLED_KEY, "disabled", id="disabled"),
        pytest.param(EXPIRED_KEY, "expired", id="expired"),
    ],
)
def test_key_problems_are_401(http, fake, protocol, key, fragment):
    response = http.post(protocol.path, json=protocol.body(), headers=protocol.headers(key))

    error = assert_error(protocol, response, "authentication")
    assert fragment in error["message"]
    assert fake.requests() == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_model_outside_the_keys_groups_is_403(http, fake, protocol):
    body = protocol.body(protocol.model_for("forbidden"))
    response = http.post(protocol.path, json=body, headers=protocol.headers())

    error = assert_error(protocol, response, "permission")
    assert protocol.model_for("forbidden") in error["message"]
    assert fake.requests() == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_unknown_model_is_404_model_not_found(http, protocol):
    body = protocol.body(protocol.model_for("unknown"))
    response = http.post(protocol.path, json=body, headers=protocol.headers())

    error = assert_error(protocol, response, "model_not_found")
    assert "/v1/models" in error["message"]


UNSUPPORTED = [
    ("POST", "/v1/messages/batches", ANTHROPIC, "POST /v1/messages"),
    ("POST", "/v1/batches", OPENAI, "POST /v1/chat/completions"),
    ("POST", "/v1/files", OPENAI, "inline"),
    ("POST", "/v1/uploads", OPENAI, "inline"),
    ("POST", "/v1/assistants", OPENAI, "/v1/responses"),
    ("POST", "/v1/threads", OPENAI, "/v1/responses"),
    ("GET", "/v1/vector_stores", OPENAI, "/v1/embeddings"),
    ("GET", "/v1/fine_tuning/jobs", OPENAI, "RoutingGroup"),
]


@pytest.mark.parametrize(
    "method, path, protocol, advice", UNSUPPORTED, ids=[case[1] for case in UNSUPPORTED]
)
def test_unsupported_endpoints_are_404_with_advice(http, fake, method, path, protocol, advice):
    response = http.request(method, path, json={}, headers=protocol.headers())

    error = assert_error(protocol, response, "not_found")
    assert advice in error["message"]
    assert fake.requests() == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    "raw, fragment",
    [
        pytest.param(b'{"model": "x", "messages": [', "not valid JSON", id="malformed"),
        pytest.param(b'["not", "an", "object"]', "not valid JSON", id="not-an-object"),
        pytest.param(b'{"messages": []}', "model", id="missing-model"),
        pytest.param(b'{"model": "", "messages": []}', "model", id="empty-model"),
        pytest.param(b'{"model": "a", "model": "b", "messages": []}', "more than once", id="dup"),
    ],
)
def test_bad_bodies_are_400(http, fake, protocol, raw, fragment):
    headers = protocol.headers() | {"content-type": "application/json"}
    response = http.post(protocol.path, content=raw, headers=headers)

    error = assert_error(protocol, response, "invalid")
    assert fragment in error["message"]
    assert fake.requests() == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_body_over_the_limit_is_413(http, fake, protocol):
    raw = json.dumps(protocol.body(text="x" * (MAX_BODY_BYTES + 1024))).encode()
    headers = protocol.headers() | {"content-type": "application/json"}
    response = http.post(protocol.path, content=raw, headers=headers)

    error = assert_error(protocol, response, "too_large")
    assert str(MAX_BODY_BYTES) in error["message"]
    assert fake.requests() == []


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_unreachable_upstream_is_502(http, protocol):
    body = protocol.body(protocol.model_for("dead"))
    response = http.post(protocol.path, json=body, headers=protocol.headers())

    error = assert_error(protocol, response, "upstream")
    assert "unreachable" in error["message"]
    # The gateway closes the connection after a failed proxy, and says so.
    assert response.headers["connection"] == "close"


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_stalled_upstream_is_504(http, fake, protocol):
    body = protocol.body(protocol.model_for("slow"), text="[[stall]]")
    response = http.post(protocol.path, json=body, headers=protocol.headers(), timeout=10)

    error = assert_error(protocol, response, "timeout")
    assert "sent no response within 1s" in error["message"]
    assert len(fake.requests()) == 1


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("status", [429, 500, 503])
def test_upstream_errors_pass_through_with_status_and_body(http, protocol, status):
    body = protocol.body(text=f"[[error:{status}]]")
    response = http.post(protocol.path, json=body, headers=protocol.headers())

    assert response.status_code == status
    error = response.json()["error"]
    assert "injected by the fake provider" in error["message"]
    if protocol.name == "anthropic":
        assert response.json()["type"] == "error"
    if status == 429:
        assert response.headers["retry-after"] == "1"


# ---------------------------------------------------------------------------------------------
# Through the SDKs


def anthropic_call(gateway, key: str, model: str, text: str = "Say hello.", timeout: float = 20):
    client = anthropic.Anthropic(base_url=gateway.url, api_key=key, max_retries=0, timeout=timeout)
    with client:
        return client.messages.create(
            model=model, max_tokens=50, messages=[{"role": "user", "content": text}]
        )


def openai_call(gateway, key: str, model: str, text: str = "Say hello.", timeout: float = 20):
    client = openai.OpenAI(
        base_url=f"{gateway.url}/v1", api_key=key, max_retries=0, timeout=timeout
    )
    with client:
        return client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": text}]
        )


# case id -> (key, model role, user text, SDK exception name (same in both SDKs), status)
SDK_CASES = {
    "unknown-key": (UNKNOWN_KEY, "main", "hi", "AuthenticationError", 401),
    "disabled-key": (DISABLED_KEY, "main", "hi", "AuthenticationError", 401),
    "expired-key": (EXPIRED_KEY, "main", "hi", "AuthenticationError", 401),
    "forbidden": (MAIN_KEY, "forbidden", "hi", "PermissionDeniedError", 403),
    "unknown-model": (MAIN_KEY, "unknown", "hi", "NotFoundError", 404),
    "empty-model": (MAIN_KEY, "", "hi", "BadRequestError", 400),
    "upstream-429": (MAIN_KEY, "main", "[[error:429]]", "RateLimitError", 429),
    "upstream-500": (MAIN_KEY, "main", "[[error:500]]", "InternalServerError", 500),
    "dead": (MAIN_KEY, "dead", "hi", "APIStatusError", 502),
    "slow": (MAIN_KEY, "slow", "[[stall]]", "APIStatusError", 504),
}


@pytest.mark.parametrize(
    "key, model_role, text, error_name, status", SDK_CASES.values(), ids=SDK_CASES.keys()
)
@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sdk_raises_the_matching_exception(
    gateway, protocol, key, model_role, text, error_name, status
):
    if model_role == "main":
        model = protocol.model
    elif model_role == "":
        model = ""
    else:
        model = protocol.model_for(model_role)
    if protocol.name == "anthropic":
        expected, call = getattr(anthropic, error_name), anthropic_call
    else:
        expected, call = getattr(openai, error_name), openai_call

    with pytest.raises(expected) as raised:
        call(gateway, key, model, text)

    assert raised.value.status_code == status
    assert MAIN_KEY not in str(raised.value)
    assert key not in str(raised.value.body)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_sdk_sees_413_for_an_oversized_body(gateway, protocol):
    text = "y" * (MAX_BODY_BYTES + 1024)
    call = anthropic_call if protocol.name == "anthropic" else openai_call
    module = anthropic if protocol.name == "anthropic" else openai

    with pytest.raises(module.APIStatusError) as raised:
        call(gateway, MAIN_KEY, protocol.model, text)

    assert raised.value.status_code == 413


# ---------------------------------------------------------------------------------------------
# Secrets


def test_keys_and_credentials_never_reach_the_logs(http, gateway, fake):
    for protocol in (ANTHROPIC, OPENAI):
        for key in (MAIN_KEY, UNKNOWN_KEY, DISABLED_KEY, EXPIRED_KEY):
            http.post(protocol.path, json=protocol.body(), headers=protocol.headers(key))
        upstream_401 = protocol.body(text="[[error:401]]")
        http.post(protocol.path, json=upstream_401, headers=protocol.headers())
        http.post(protocol.path, content=b"{", headers=protocol.headers())
        dead = protocol.body(protocol.model_for("dead"))
        http.post(protocol.path, json=dead, headers=protocol.headers())
    assert len(fake.requests()) >= 2

    # Access lines are written in batches: wait for every request's line before reading them.
    sent = 2 * 7
    wait_until(
        lambda: sum(1 for line in gateway.log_lines() if line.get("target") == "access") >= sent,
        LOG_TIMEOUT,
        "an access-log line for every request",
    )
    log = gateway.log_text()
    for secret in (*SECRETS, UNKNOWN_KEY):
        assert secret not in log, f"a key or credential appears in the gateway's logs: {secret}"
