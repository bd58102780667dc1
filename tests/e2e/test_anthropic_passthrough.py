"""Anthropic SDK through the gateway to an Anthropic upstream (passthrough).

Covers plain and streamed messages, tool use, prompt caching and thinking blocks surviving the
trip, beta and version headers, the beta path, alias resolution, token counting, the upstream
credential swap, unknown body fields, and the access-log line billed for each request.
"""

from __future__ import annotations

import math

from harness import (
    ANTHROPIC_CREDENTIAL,
    CLAUDE_UPSTREAM,
    FAKE_NAME,
    MAIN_KEY,
    all_header_values,
    anthropic_headers,
    expected_cost_usd,
)

MODEL = "claude-sonnet-4-6"
PRICING = {"input": "3.00", "output": "15.00", "cacheRead": "0.30", "cacheWrite": "3.75"}
DEFAULT_REPLY = f"Hello from {FAKE_NAME} via anthropic for {CLAUDE_UPSTREAM}."
USER = [{"role": "user", "content": "Say hello."}]
WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather of a city.",
    "input_schema": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city", "unit"],
    },
}
CACHED_SYSTEM = [
    {
        "type": "text",
        "text": "You are a terse assistant. " * 20,
        "cache_control": {"type": "ephemeral"},
    }
]
THINKING = {"type": "enabled", "budget_tokens": 1024}


def upstream_input_tokens(recorded: dict) -> int:
    """The fake's input count: a quarter of the body bytes it received, rounded up."""
    return math.ceil(int(recorded["headers"]["content-length"]) / 4)


def test_message_reaches_the_rewritten_model_and_returns_unchanged(anthropic_client, fake):
    message = anthropic_client.messages.create(model=MODEL, max_tokens=100, messages=USER)

    assert message.content[0].type == "text"
    assert message.content[0].text == DEFAULT_REPLY
    assert message.model == CLAUDE_UPSTREAM
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 7
    upstream = fake.only_request()
    assert upstream["method"] == "POST"
    assert upstream["path"] == "/v1/messages"
    assert upstream["body"] == {"model": CLAUDE_UPSTREAM, "max_tokens": 100, "messages": USER}


def test_stream_helper_builds_the_final_message(anthropic_client):
    with anthropic_client.messages.stream(model=MODEL, max_tokens=100, messages=USER) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()

    assert text == DEFAULT_REPLY
    assert final.content[0].text == DEFAULT_REPLY
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == 7


def test_raw_stream_delivers_every_event_in_order(anthropic_client, fake):
    events = list(
        anthropic_client.messages.create(model=MODEL, max_tokens=100, messages=USER, stream=True)
    )

    kinds = [event.type for event in events]
    assert kinds[0] == "message_start"
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert "content_block_start" in kinds and "content_block_stop" in kinds
    deltas = [e.delta for e in events if e.type == "content_block_delta"]
    text = "".join(d.text for d in deltas if d.type == "text_delta")
    assert text == DEFAULT_REPLY
    assert events[-2].usage.output_tokens == 7
    assert fake.only_request()["body"]["stream"] is True


def test_tool_use_block_carries_input_built_from_the_schema(anthropic_client):
    message = anthropic_client.messages.create(
        model=MODEL,
        max_tokens=200,
        tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "Weather in Paris? [[tool]]"}],
    )

    assert message.stop_reason == "tool_use"
    calls = [block for block in message.content if block.type == "tool_use"]
    assert len(calls) == 1
    assert calls[0].name == "get_weather"
    assert calls[0].input == {"city": "sample", "unit": "celsius"}
    assert calls[0].id.startswith("toolu_")


def test_streamed_tool_use_input_is_reassembled(anthropic_client):
    with anthropic_client.messages.stream(
        model=MODEL,
        max_tokens=200,
        tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "Weather in Paris? [[tool]]"}],
    ) as stream:
        final = stream.get_final_message()

    calls = [block for block in final.content if block.type == "tool_use"]
    assert [(c.name, c.input) for c in calls] == [
        ("get_weather", {"city": "sample", "unit": "celsius"})
    ]


def test_prompt_cache_usage_survives_and_is_billed(anthropic_client, gateway, fake):
    response = anthropic_client.messages.with_raw_response.create(
        model=MODEL, max_tokens=100, system=CACHED_SYSTEM, messages=USER
    )
    message = response.parse()

    assert message.usage.cache_read_input_tokens == 100
    assert message.usage.cache_creation_input_tokens == 50
    upstream = fake.only_request()
    assert upstream["body"]["system"] == CACHED_SYSTEM
    entry = gateway.access_entry(response.headers["request-id"])
    input_tokens = upstream_input_tokens(upstream)
    assert entry["cache_read_tokens"] == 100
    assert entry["cache_write_tokens"] == 50
    assert entry["input_tokens"] == input_tokens
    assert entry["output_tokens"] == 7
    assert entry["cost_usd"] == expected_cost_usd(
        PRICING, input=input_tokens, output=7, cacheRead=100, cacheWrite=50
    )


def test_prompt_cache_usage_survives_in_a_stream(anthropic_client):
    with anthropic_client.messages.stream(
        model=MODEL, max_tokens=100, system=CACHED_SYSTEM, messages=USER
    ) as stream:
        final = stream.get_final_message()

    assert final.usage.cache_read_input_tokens == 100
    assert final.usage.cache_creation_input_tokens == 50


def test_thinking_block_keeps_its_signature(anthropic_client):
    message = anthropic_client.messages.create(
        model=MODEL, max_tokens=2048, thinking=THINKING, messages=USER
    )

    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "Let me think about this."
    assert message.content[0].signature


def test_streamed_thinking_block_keeps_its_signature(anthropic_client):
    with anthropic_client.messages.stream(
        model=MODEL, max_tokens=2048, thinking=THINKING, messages=USER
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()

    assert any(
        e.type == "content_block_delta" and e.delta.type == "signature_delta" for e in events
    )
    thinking = final.content[0]
    assert thinking.type == "thinking"
    assert thinking.thinking == "Let me think about this."
    assert thinking.signature


def test_beta_and_version_headers_reach_the_upstream_verbatim(anthropic_client, fake):
    beta = "context-management-2025-06-27,interleaved-thinking-2025-05-14"
    response = anthropic_client.messages.with_raw_response.create(
        model=MODEL, max_tokens=100, messages=USER, extra_headers={"anthropic-beta": beta}
    )
    sent_version = response.http_request.headers["anthropic-version"]

    headers = fake.only_request()["headers"]
    assert headers["anthropic-beta"] == beta
    assert headers["anthropic-version"] == sent_version


def test_a_client_chosen_version_is_forwarded_not_replaced(http, fake):
    body = {"model": MODEL, "max_tokens": 10, "messages": USER}
    headers = anthropic_headers(**{"anthropic-version": "2024-10-22"})
    response = http.post("/v1/messages", json=body, headers=headers)

    assert response.status_code == 200, response.text
    assert fake.only_request()["headers"]["anthropic-version"] == "2024-10-22"


def test_beta_messages_path_with_query_works(anthropic_client, fake):
    message = anthropic_client.beta.messages.create(
        model=MODEL, max_tokens=100, messages=USER, betas=["context-management-2025-06-27"]
    )

    assert message.content[0].text == DEFAULT_REPLY
    upstream = fake.only_request()
    assert upstream["path"].split("?")[0] == "/v1/messages"
    assert upstream["headers"]["anthropic-beta"] == "context-management-2025-06-27"


def test_alias_resolves_to_the_targets_model(anthropic_client, gateway, fake):
    response = anthropic_client.messages.with_raw_response.create(
        model="claude-3-5-sonnet-20241022", max_tokens=100, messages=USER
    )
    message = response.parse()

    assert message.content[0].text == DEFAULT_REPLY
    assert fake.only_request()["body"]["model"] == CLAUDE_UPSTREAM
    entry = gateway.access_entry(response.headers["request-id"])
    assert entry["requested_model"] == "claude-3-5-sonnet-20241022"
    assert entry["model"] == MODEL
    assert entry["upstream_model"] == CLAUDE_UPSTREAM


def test_count_tokens_is_forwarded_with_the_model_rewritten(anthropic_client, fake):
    counted = anthropic_client.messages.count_tokens(model=MODEL, messages=USER)

    upstream = fake.only_request()
    assert upstream["path"] == "/v1/messages/count_tokens"
    assert upstream["body"]["model"] == CLAUDE_UPSTREAM
    assert counted.input_tokens == upstream_input_tokens(upstream)


def test_upstream_gets_the_provider_credential_never_the_client_key(anthropic_client, http, fake):
    anthropic_client.messages.create(model=MODEL, max_tokens=100, messages=USER)
    with anthropic_client.messages.stream(model=MODEL, max_tokens=100, messages=USER) as stream:
        stream.get_final_message()
    anthropic_client.messages.count_tokens(model=MODEL, messages=USER)
    bearer = {"authorization": f"Bearer {MAIN_KEY}", "anthropic-version": "2023-06-01"}
    body = {"model": MODEL, "max_tokens": 10, "messages": USER}
    assert http.post("/v1/messages", json=body, headers=bearer).status_code == 200

    recorded = fake.requests()
    assert len(recorded) == 4
    for request in recorded:
        assert request["headers"]["x-api-key"] == ANTHROPIC_CREDENTIAL
        assert "authorization" not in request["headers"]
    assert not [v for v in all_header_values(recorded) if MAIN_KEY in v]


def test_unknown_body_fields_reach_the_upstream_untouched(anthropic_client, fake):
    extra = {
        "context_management": {"edits": [{"type": "clear_tool_uses_20250919", "keep": 3}]},
        "output_config": {"effort": "medium"},
        "future_field": [1, "two", {"three": None}],
    }
    anthropic_client.messages.create(model=MODEL, max_tokens=100, messages=USER, extra_body=extra)

    body = fake.only_request()["body"]
    for field, value in extra.items():
        assert body[field] == value


def test_raw_body_bytes_are_kept_apart_from_the_model(http, fake):
    raw = (
        b'{ "messages" : [{"role":"user","content":"spacing  \\u00e9 kept"}],'
        b'"model":"claude-sonnet-4-6",  "max_tokens":10 ,"z_last":1.50}'
    )
    headers = anthropic_headers(**{"content-type": "application/json"})
    response = http.post("/v1/messages", content=raw, headers=headers)

    assert response.status_code == 200, response.text
    upstream = fake.only_request()
    expected_len = len(raw) - len(b'"claude-sonnet-4-6"') + len(f'"{CLAUDE_UPSTREAM}"')
    assert int(upstream["headers"]["content-length"]) == expected_len
    assert upstream["body"]["messages"][0]["content"] == "spacing  \u00e9 kept"


def test_access_log_line_names_the_key_and_the_tokens(anthropic_client, gateway, fake):
    response = anthropic_client.messages.with_raw_response.create(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "[[words:12]]"}]
    )
    message = response.parse()
    request_id = response.headers["request-id"]

    assert message.usage.output_tokens == 12
    entry = gateway.access_entry(request_id)
    input_tokens = upstream_input_tokens(fake.only_request())
    assert entry["key"] == "default/e2e-main"
    assert entry["status"] == 200
    assert entry["path"] == "/v1/messages"
    assert entry["provider"] == "anthropic"
    assert entry["client_protocol"] == "anthropic"
    assert entry["route"] == "passthrough"
    assert entry["input_tokens"] == input_tokens
    assert entry["output_tokens"] == 12
    assert entry["cost_usd"] == expected_cost_usd(PRICING, input=input_tokens, output=12)


def test_streamed_request_is_billed_from_the_stream(anthropic_client, gateway):
    response = anthropic_client.messages.with_raw_response.create(
        model=MODEL,
        max_tokens=100,
        messages=[{"role": "user", "content": "[[words:9]]"}],
        stream=True,
    )
    events = list(response.parse())

    assert events[-1].type == "message_stop"
    entry = gateway.access_entry(response.headers["request-id"])
    assert entry["stream"] is True
    assert entry["output_tokens"] == 9
    assert entry["input_tokens"] > 0
