"""Cross-protocol translation through the running gateway, checked with the official SDKs.

Every case runs a client SDK against a model whose provider speaks another protocol (Anthropic
SDK to OpenAI Chat and Gemini providers, OpenAI SDK to Anthropic and Gemini providers), with
the fake provider answering in the upstream's protocol. The SDKs' own parsers and stream
accumulators must accept every translated response; the fake provider's request log shows what
the upstream received; the access log shows what was billed.

Token counts are deterministic: the fake provider reports ceil(upstream body bytes / 4) input
tokens (at least the cached count), one output token per word plus 10 per tool call, and the
cache counts its directives or `cache_control` ask for. The expected client-visible usage is
derived here from the upstream body the fake provider recorded.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import anthropic
import httpx
import openai
import pydantic
import pytest

from harness import (
    ANTHROPIC_CREDENTIAL,
    FAKE_NAME,
    GEMINI_CREDENTIAL,
    OPENAI_CREDENTIAL,
    TR_CLAUDE_UPSTREAM,
    TR_GEMINI_UPSTREAM,
    TR_GPT_UPSTREAM,
    TRANSLATE_KEY,
    all_header_values,
    expected_cost_usd,
)

THINKING_TEXT = "Let me think about this."
THINKING_WORDS = 5
TOOL_TOKENS = 10
SYSTEM = "You are terse. Answer in one line."


@dataclass(frozen=True)
class Upstream:
    """A model of the `translation` group and the protocol its provider speaks."""

    protocol: str  # anthropic | openai | gemini
    model: str  # the id clients use
    upstream_model: str
    provider: str
    label: str  # how the fake provider names the protocol in its default reply
    pricing: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return self.protocol

    @property
    def dialect(self) -> str:
        return "openai_chat" if self.protocol == "openai" else self.protocol

    def default_reply(self) -> str:
        return f"Hello from {FAKE_NAME} via {self.label} for {self.upstream_model}."

    def path(self, stream: bool) -> str:
        if self.protocol == "openai":
            return "/v1/chat/completions"
        if self.protocol == "anthropic":
            return "/v1/messages"
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"/v1beta/models/{self.upstream_model}:{method}"


TO_OPENAI = Upstream(
    "openai",
    "tr-gpt",
    TR_GPT_UPSTREAM,
    "openai",
    "openai-chat",
    {"input": "2.50", "output": "10.00", "cacheRead": "0.25"},
)
TO_ANTHROPIC = Upstream(
    "anthropic",
    "tr-claude",
    TR_CLAUDE_UPSTREAM,
    "anthropic",
    "anthropic",
    {"input": "3.00", "output": "15.00", "cacheRead": "0.30", "cacheWrite": "3.75"},
)
TO_GEMINI = Upstream(
    "gemini",
    "tr-gemini",
    TR_GEMINI_UPSTREAM,
    "gemini",
    "gemini",
    {"input": "0.30", "output": "2.50", "cacheRead": "0.03"},
)

# The routes of each client SDK: always an upstream of another protocol.
FROM_ANTHROPIC = pytest.mark.parametrize("up", [TO_OPENAI, TO_GEMINI], ids=str)
FROM_OPENAI = pytest.mark.parametrize("up", [TO_ANTHROPIC, TO_GEMINI], ids=str)

# Anthropic-style tools (the OpenAI ones are built from them).
WEATHER = {
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
CLOCK = {
    "name": "get_time",
    "description": "Current time in a time zone.",
    "input_schema": {
        "type": "object",
        "properties": {"zone": {"type": "string"}, "hour24": {"type": "boolean"}},
        "required": ["zone", "hour24"],
    },
}
TOOLS = [WEATHER, CLOCK]
# What the fake provider builds from each schema.
EXPECTED_CALLS = [
    ("get_weather", {"city": "sample", "unit": "celsius"}),
    ("get_time", {"zone": "sample", "hour24": True}),
]
OPENAI_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": t["name"],
            "description": t["description"],
            "parameters": t["input_schema"],
        },
    }
    for t in TOOLS
]


class Forecast(pydantic.BaseModel):
    city: str
    days: int
    rain: bool
    hours: list[int]


FORECAST_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "days": {"type": "integer"},
        "rain": {"type": "boolean"},
        "hours": {"type": "array", "items": {"type": "integer"}},
    },
    "required": ["city", "days", "rain", "hours"],
    "additionalProperties": False,
}


# ---------------------------------------------------------------------------------------------
# Clients on the key whose routing group holds the translated models


@pytest.fixture
def claude(gateway) -> anthropic.Anthropic:
    client = anthropic.Anthropic(
        base_url=gateway.url, api_key=TRANSLATE_KEY, max_retries=0, timeout=20
    )
    yield client
    client.close()


@pytest.fixture
def gpt(gateway) -> openai.OpenAI:
    client = openai.OpenAI(
        base_url=f"{gateway.url}/v1", api_key=TRANSLATE_KEY, max_retries=0, timeout=20
    )
    yield client
    client.close()


# ---------------------------------------------------------------------------------------------
# What the upstream received and reported


def check_upstream(up: Upstream, recorded: dict, stream: bool) -> dict:
    """Asserts path, vendor credential and model of a recorded upstream request; returns its
    body."""
    headers = recorded["headers"]
    body = recorded["body"]
    assert isinstance(body, dict), f"the upstream body is not JSON: {body!r}"
    assert recorded["path"] == up.path(stream)
    assert TRANSLATE_KEY not in all_header_values([recorded])
    assert TRANSLATE_KEY not in json.dumps(body)
    if up.protocol == "openai":
        assert headers["authorization"] == f"Bearer {OPENAI_CREDENTIAL}"
        assert "x-api-key" not in headers and "x-goog-api-key" not in headers
        assert not any(name.startswith("anthropic-") for name in headers)
        assert body["model"] == up.upstream_model
        assert body.get("stream", False) is stream
        if stream:
            assert body["stream_options"] == {"include_usage": True}
    elif up.protocol == "anthropic":
        assert headers["x-api-key"] == ANTHROPIC_CREDENTIAL
        assert headers["anthropic-version"] == "2023-06-01"
        assert "authorization" not in headers and "x-goog-api-key" not in headers
        assert body["model"] == up.upstream_model
        assert body.get("stream", False) is stream
        assert isinstance(body["max_tokens"], int) and body["max_tokens"] > 0
    else:
        assert headers["x-goog-api-key"] == GEMINI_CREDENTIAL
        assert "authorization" not in headers and "x-api-key" not in headers
        assert not any(name.startswith("anthropic-") for name in headers)
        assert "model" not in body and "stream" not in body
        assert isinstance(body["contents"], list) and body["contents"]
    return body


@dataclass
class Tokens:
    """Usage normalised as the gateway bills it: `input` excludes cache reads and writes."""

    input: int
    output: int
    cache_read: int = 0
    cache_write: int = 0
    reasoning: int = 0


def fake_usage(
    up: Upstream,
    recorded: dict,
    output: int,
    reasoning: int = 0,
    cached: int = 0,
    cache_control: bool = False,
) -> Tokens:
    """The usage the fake provider reported for a recorded upstream request."""
    raw = math.ceil(int(recorded["headers"]["content-length"]) / 4)
    if up.protocol == "anthropic":
        read = cached or (100 if cache_control else 0)
        write = 50 if cache_control else 0
        return Tokens(raw, output, read, write, reasoning)
    total = max(raw, cached)
    return Tokens(total - cached, output, cached, 0, reasoning)


def check_anthropic_usage(usage, expected: Tokens) -> None:
    assert usage.input_tokens == expected.input
    assert usage.output_tokens == expected.output
    assert (usage.cache_read_input_tokens or 0) == expected.cache_read
    assert (usage.cache_creation_input_tokens or 0) == expected.cache_write


def check_openai_usage(up: Upstream, usage, expected: Tokens) -> None:
    assert usage is not None, "no usage reached the client"
    prompt = expected.input + expected.cache_read + expected.cache_write
    assert usage.prompt_tokens == prompt
    assert usage.completion_tokens == expected.output
    assert usage.total_tokens == prompt + expected.output
    assert usage.prompt_tokens_details.cached_tokens == expected.cache_read
    if up.protocol == "gemini":
        # Anthropic does not report reasoning tokens; Gemini does.
        assert usage.completion_tokens_details.reasoning_tokens == expected.reasoning


def check_access_log(
    gateway, request_id: str, up: Upstream, client: str, expected: Tokens, stream: bool
) -> None:
    entry = gateway.access_entry(request_id)
    assert entry["status"] == 200
    assert entry["route"] == "translated"
    assert entry["client_protocol"] == client
    assert entry["upstream_protocol"] == up.dialect
    assert entry["provider"] == up.provider
    assert entry["requested_model"] == up.model
    assert entry["upstream_model"] == up.upstream_model
    assert entry["key"] == "default/e2e-translate"
    assert entry["stream"] is stream
    assert entry["input_tokens"] == expected.input
    assert entry["output_tokens"] == expected.output
    assert entry["cache_read_tokens"] == expected.cache_read
    assert entry["cache_write_tokens"] == expected.cache_write
    assert entry["cost_usd"] == expected_cost_usd(
        up.pricing,
        input=expected.input,
        output=expected.output,
        cacheRead=expected.cache_read,
        cacheWrite=expected.cache_write,
    )


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def words(n: int) -> str:
    return " ".join(f"word{i}" for i in range(1, n + 1))


# =============================================================================================
# Anthropic SDK -> OpenAI Chat / Gemini providers


@FROM_ANTHROPIC
def test_anthropic_message_with_system_prompt(claude, gateway, fake, up):
    response = claude.messages.with_raw_response.create(
        model=up.model, max_tokens=200, system=SYSTEM, messages=user("Count. [[words:6]]")
    )
    message = response.parse()

    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text == words(6)
    assert message.stop_reason == "end_turn"
    assert message.role == "assistant"
    assert message.model == up.model
    recorded = fake.only_request()
    body = check_upstream(up, recorded, stream=False)
    if up.protocol == "openai":
        assert body["messages"][0] == {"role": "system", "content": SYSTEM}
        assert body["messages"][1]["role"] == "user"
        assert body["max_completion_tokens"] == 200
    else:
        assert body["systemInstruction"]["parts"] == [{"text": SYSTEM}]
        assert [c["role"] for c in body["contents"]] == ["user"]
        assert body["generationConfig"]["maxOutputTokens"] == 200
    expected = fake_usage(up, recorded, output=6)
    check_anthropic_usage(message.usage, expected)
    check_access_log(gateway, response.headers["request-id"], up, "anthropic", expected, False)


@FROM_ANTHROPIC
def test_anthropic_stream_helper_accumulates_text(claude, gateway, fake, up):
    with claude.messages.stream(
        model=up.model, max_tokens=200, system=SYSTEM, messages=user("Say hello.")
    ) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
        request_id = stream.response.headers["request-id"]

    assert len(pieces) > 1, "the reply was not streamed in pieces"
    assert "".join(pieces) == up.default_reply()
    assert [block.type for block in final.content] == ["text"]
    assert final.content[0].text == up.default_reply()
    assert final.stop_reason == "end_turn"
    assert final.model == up.model
    recorded = fake.only_request()
    check_upstream(up, recorded, stream=True)
    expected = fake_usage(up, recorded, output=len(up.default_reply().split()))
    check_anthropic_usage(final.usage, expected)
    check_access_log(gateway, request_id, up, "anthropic", expected, True)


@FROM_ANTHROPIC
def test_anthropic_raw_stream_events_are_well_formed(claude, up):
    stream = claude.messages.create(
        model=up.model, max_tokens=100, messages=user("[[words:4]]"), stream=True
    )
    events = list(stream)

    types = [event.type for event in events]
    assert types[0] == "message_start"
    assert types[-2:] == ["message_delta", "message_stop"]
    assert types.count("content_block_start") == types.count("content_block_stop") == 1
    deltas = [e.delta.text for e in events if e.type == "content_block_delta"]
    assert "".join(deltas) == words(4)
    assert events[-2].delta.stop_reason == "end_turn"
    assert events[-2].usage.output_tokens == 4


@FROM_ANTHROPIC
@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "stream"])
def test_anthropic_thinking(claude, fake, up, streamed):
    kwargs = dict(
        model=up.model,
        max_tokens=4096,
        thinking={"type": "enabled", "budget_tokens": 2048},
        messages=user("Think first. [[words:3]]"),
    )
    if streamed:
        with claude.messages.stream(**kwargs) as stream:
            thinking = "".join(e.thinking for e in stream if e.type == "thinking")
            message = stream.get_final_message()
        assert thinking == THINKING_TEXT
    else:
        message = claude.messages.create(**kwargs)

    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == THINKING_TEXT
    assert isinstance(message.content[0].signature, str)
    assert message.content[1].text == words(3)
    recorded = fake.only_request()
    body = check_upstream(up, recorded, stream=streamed)
    if up.protocol == "openai":
        assert body["reasoning_effort"] == "low"
    else:
        assert body["generationConfig"]["thinkingConfig"] == {
            "thinkingBudget": 2048,
            "includeThoughts": True,
        }
    expected = fake_usage(up, recorded, output=3 + THINKING_WORDS, reasoning=THINKING_WORDS)
    check_anthropic_usage(message.usage, expected)


@FROM_ANTHROPIC
@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("calls", [1, 2], ids=["one-call", "parallel"])
def test_anthropic_tool_calls(claude, gateway, fake, up, streamed, calls):
    kwargs = dict(
        model=up.model,
        max_tokens=500,
        tools=TOOLS,
        messages=user(f"Weather and time in Paris. [[tools:{calls}]]"),
    )
    if streamed:
        with claude.messages.stream(**kwargs) as stream:
            message = stream.get_final_message()
            request_id = stream.response.headers["request-id"]
    else:
        response = claude.messages.with_raw_response.create(**kwargs)
        message = response.parse()
        request_id = response.headers["request-id"]

    uses = [block for block in message.content if block.type == "tool_use"]
    assert [(u.name, u.input) for u in uses] == EXPECTED_CALLS[:calls]
    assert all(u.id.startswith("toolu_") or u.id.startswith("call_") for u in uses)
    assert len({u.id for u in uses}) == calls
    assert message.stop_reason == "tool_use"
    recorded = fake.only_request()
    body = check_upstream(up, recorded, stream=streamed)
    if up.protocol == "openai":
        assert [t["function"]["name"] for t in body["tools"]] == ["get_weather", "get_time"]
        assert body["tools"][0]["function"]["parameters"] == WEATHER["input_schema"]
    else:
        declared = body["tools"][0]["functionDeclarations"]
        assert [d["name"] for d in declared] == ["get_weather", "get_time"]
    expected = fake_usage(up, recorded, output=TOOL_TOKENS * calls)
    check_anthropic_usage(message.usage, expected)
    check_access_log(gateway, request_id, up, "anthropic", expected, streamed)


@FROM_ANTHROPIC
def test_anthropic_tool_result_second_turn(claude, fake, up):
    question = user("What is the weather in Paris? [[tools:2]]")
    first = claude.messages.create(model=up.model, max_tokens=500, tools=TOOLS, messages=question)
    uses = [block for block in first.content if block.type == "tool_use"]
    assert len(uses) == 2
    fake.clear()

    results = [
        {"type": "tool_result", "tool_use_id": uses[0].id, "content": "18 degrees"},
        {"type": "tool_result", "tool_use_id": uses[1].id, "content": [
            {"type": "text", "text": "09:30"}
        ]},
    ]
    with claude.messages.stream(
        model=up.model,
        max_tokens=500,
        tools=TOOLS,
        messages=[
            *question,
            {"role": "assistant", "content": [u.model_dump() for u in uses]},
            {"role": "user", "content": results},
        ],
    ) as stream:
        final = stream.get_final_message()

    assert final.content[0].text == "Tool result received: 18 degrees\n09:30."
    assert final.stop_reason == "end_turn"
    body = check_upstream(up, fake.only_request(), stream=True)
    if up.protocol == "openai":
        assistant, *tool_messages = body["messages"][1:]
        assert assistant["role"] == "assistant"
        assert [c["id"] for c in assistant["tool_calls"]] == [u.id for u in uses]
        assert [json.loads(c["function"]["arguments"]) for c in assistant["tool_calls"]] == [
            u.input for u in uses
        ]
        assert [(m["role"], m["tool_call_id"]) for m in tool_messages] == [
            ("tool", uses[0].id),
            ("tool", uses[1].id),
        ]
    else:
        model_turn, result_turn = body["contents"][1:]
        assert model_turn["role"] == "model"
        calls = [p["functionCall"] for p in model_turn["parts"] if "functionCall" in p]
        assert [(c["name"], c["args"]) for c in calls] == [(u.name, u.input) for u in uses]
        responses = [p["functionResponse"] for p in result_turn["parts"]]
        assert [(r["name"], r["response"]) for r in responses] == [
            ("get_weather", {"result": "18 degrees"}),
            ("get_time", {"result": "09:30"}),
        ]


@FROM_ANTHROPIC
def test_anthropic_structured_output(claude, fake, up):
    message = claude.messages.create(
        model=up.model,
        max_tokens=500,
        messages=user("A forecast, as JSON."),
        extra_body={"output_format": {"type": "json_schema", "schema": FORECAST_SCHEMA}},
    )

    forecast = Forecast.model_validate_json(message.content[0].text)
    assert forecast == Forecast(city="sample", days=1, rain=True, hours=[])
    body = check_upstream(up, fake.only_request(), stream=False)
    if up.protocol == "openai":
        assert body["response_format"]["type"] == "json_schema"
        assert body["response_format"]["json_schema"]["schema"] == FORECAST_SCHEMA
    else:
        config = body["generationConfig"]
        assert config["responseMimeType"] == "application/json"
        assert config["responseJsonSchema"]["required"] == FORECAST_SCHEMA["required"]


@FROM_ANTHROPIC
@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "stream"])
def test_anthropic_cached_tokens(claude, gateway, fake, up, streamed):
    kwargs = dict(model=up.model, max_tokens=100, messages=user("[[cached:40]] [[words:2]]"))
    if streamed:
        with claude.messages.stream(**kwargs) as stream:
            message = stream.get_final_message()
            request_id = stream.response.headers["request-id"]
    else:
        response = claude.messages.with_raw_response.create(**kwargs)
        message = response.parse()
        request_id = response.headers["request-id"]

    expected = fake_usage(up, fake.only_request(), output=2, cached=40)
    assert expected.cache_read == 40
    check_anthropic_usage(message.usage, expected)
    check_access_log(gateway, request_id, up, "anthropic", expected, streamed)


@FROM_ANTHROPIC
@pytest.mark.parametrize(
    ("status", "error", "client_status", "error_type"),
    [
        (429, anthropic.RateLimitError, 429, "rate_limit_error"),
        (400, anthropic.BadRequestError, 400, "invalid_request_error"),
        (503, anthropic.InternalServerError, 529, "overloaded_error"),
    ],
)
def test_anthropic_sees_upstream_errors_in_its_shape(
    claude, gateway, up, status, error, client_status, error_type
):
    with pytest.raises(error) as caught:
        claude.messages.create(
            model=up.model, max_tokens=100, messages=user(f"[[error:{status}]]")
        )

    err = caught.value
    assert err.status_code == client_status
    assert err.body["type"] == "error"
    assert err.body["error"]["type"] == error_type
    assert "injected by the fake provider" in err.body["error"]["message"]
    entry = gateway.access_entry(err.response.headers["request-id"])
    assert entry["route"] == "translated"
    assert entry["upstream_status"] == status
    assert (entry["input_tokens"], entry["output_tokens"], entry["cost_usd"]) == (0, 0, 0)


@FROM_ANTHROPIC
def test_anthropic_stream_error_is_raised(claude, up):
    with pytest.raises(anthropic.APIStatusError) as caught:
        with claude.messages.stream(
            model=up.model, max_tokens=100, messages=user("[[words:8]] [[stream-error-after:3]]")
        ) as stream:
            stream.get_final_message()

    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] in {"api_error", "overloaded_error"}


@FROM_ANTHROPIC
@pytest.mark.parametrize("after", [1, 3])
def test_anthropic_cut_stream_is_raised(claude, up, after):
    with pytest.raises(anthropic.APIStatusError) as caught:
        with claude.messages.stream(
            model=up.model, max_tokens=100, messages=user(f"[[words:8]] [[cut-after:{after}]]")
        ) as stream:
            stream.get_final_message()

    # The stream ends with an `error` event in Anthropic's shape, not a silent end.
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == "api_error"


@FROM_ANTHROPIC
def test_anthropic_cut_whole_body_is_raised(claude, up):
    with pytest.raises((anthropic.APIError, httpx.HTTPError)):
        claude.messages.create(
            model=up.model, max_tokens=100, messages=user("[[words:8]] [[cut-after:1]]")
        )


# =============================================================================================
# OpenAI SDK -> Anthropic / Gemini providers


@FROM_OPENAI
def test_openai_completion_with_system_prompt(gpt, gateway, fake, up):
    response = gpt.chat.completions.with_raw_response.create(
        model=up.model,
        max_tokens=200,
        messages=[{"role": "system", "content": SYSTEM}, *user("Count. [[words:6]]")],
    )
    completion = response.parse()

    choice = completion.choices[0]
    assert choice.message.content == words(6)
    assert choice.message.role == "assistant"
    assert choice.finish_reason == "stop"
    assert completion.model == up.model
    assert completion.object == "chat.completion"
    recorded = fake.only_request()
    body = check_upstream(up, recorded, stream=False)
    if up.protocol == "anthropic":
        assert body["system"] in (SYSTEM, [{"type": "text", "text": SYSTEM}])
        assert [m["role"] for m in body["messages"]] == ["user"]
        assert body["max_tokens"] == 200
    else:
        assert body["systemInstruction"]["parts"] == [{"text": SYSTEM}]
        assert [c["role"] for c in body["contents"]] == ["user"]
        assert body["generationConfig"]["maxOutputTokens"] == 200
    expected = fake_usage(up, recorded, output=6)
    check_openai_usage(up, completion.usage, expected)
    check_access_log(gateway, response.headers["x-request-id"], up, "openai_chat", expected, False)


@FROM_OPENAI
def test_openai_stream_iteration_with_usage(gpt, gateway, fake, up):
    response = gpt.chat.completions.with_raw_response.create(
        model=up.model,
        messages=user("Say hello."),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(response.parse())

    assert len({chunk.id for chunk in chunks}) == 1
    assert all(chunk.model == up.model for chunk in chunks)
    choice_chunks = [chunk for chunk in chunks if chunk.choices]
    assert choice_chunks[0].choices[0].delta.role == "assistant"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in choice_chunks)
    assert text == up.default_reply()
    finishes = [c.choices[0].finish_reason for c in choice_chunks if c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert all(chunk.usage is None for chunk in chunks[:-1])
    recorded = fake.only_request()
    check_upstream(up, recorded, stream=True)
    expected = fake_usage(up, recorded, output=len(up.default_reply().split()))
    check_openai_usage(up, chunks[-1].usage, expected)
    check_access_log(gateway, response.headers["x-request-id"], up, "openai_chat", expected, True)


@FROM_OPENAI
def test_openai_stream_without_usage_option_hides_usage_but_bills(gpt, gateway, fake, up):
    response = gpt.chat.completions.with_raw_response.create(
        model=up.model, messages=user("[[words:7]]"), stream=True
    )
    chunks = list(response.parse())

    assert all(chunk.choices for chunk in chunks), "a usage chunk reached the client"
    assert all(chunk.usage is None for chunk in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == words(7)
    expected = fake_usage(up, fake.only_request(), output=7)
    check_access_log(gateway, response.headers["x-request-id"], up, "openai_chat", expected, True)


@FROM_OPENAI
def test_openai_stream_helper_final_completion(gpt, fake, up):
    with gpt.chat.completions.stream(
        model=up.model,
        messages=[{"role": "developer", "content": SYSTEM}, *user("[[words:5]]")],
        stream_options={"include_usage": True},
    ) as stream:
        deltas = [e.delta for e in stream if e.type == "content.delta"]
        final = stream.get_final_completion()

    assert "".join(deltas) == words(5)
    assert final.choices[0].message.content == words(5)
    assert final.choices[0].finish_reason == "stop"
    recorded = fake.only_request()
    body = check_upstream(up, recorded, stream=True)
    if up.protocol == "anthropic":
        assert SYSTEM in json.dumps(body["system"])
    else:
        assert body["systemInstruction"]["parts"] == [{"text": SYSTEM}]
    check_openai_usage(up, final.usage, fake_usage(up, recorded, output=5))


@FROM_OPENAI
@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "stream"])
def test_openai_reasoning(gpt, fake, up, streamed):
    kwargs = dict(model=up.model, reasoning_effort="low", messages=user("Think. [[words:3]]"))
    if streamed:
        chunks = list(
            gpt.chat.completions.create(
                **kwargs, stream=True, stream_options={"include_usage": True}
            )
        )
        reasoning = "".join(
            getattr(c.choices[0].delta, "reasoning_content", None) or ""
            for c in chunks
            if c.choices
        )
        content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        usage = chunks[-1].usage
    else:
        completion = gpt.chat.completions.create(**kwargs)
        reasoning = getattr(completion.choices[0].message, "reasoning_content", None)
        content = completion.choices[0].message.content
        usage = completion.usage

    assert reasoning == THINKING_TEXT
    assert content == words(3)
    recorded = fake.only_request()
    body = check_upstream(up, recorded, stream=streamed)
    if up.protocol == "anthropic":
        assert body["thinking"] == {"type": "enabled", "budget_tokens": 1024}
        assert body["max_tokens"] > 1024
    else:
        assert body["generationConfig"]["thinkingConfig"] == {
            "thinkingBudget": 1024,
            "includeThoughts": True,
        }
    expected = fake_usage(up, recorded, output=3 + THINKING_WORDS, reasoning=THINKING_WORDS)
    check_openai_usage(up, usage, expected)


@FROM_OPENAI
def test_openai_stream_helper_accepts_reasoning(gpt, up):
    with gpt.chat.completions.stream(
        model=up.model, reasoning_effort="low", messages=user("Think. [[words:2]]")
    ) as stream:
        final = stream.get_final_completion()

    assert final.choices[0].message.content == words(2)
    assert getattr(final.choices[0].message, "reasoning_content", None) == THINKING_TEXT


def check_openai_calls(tool_calls, calls: int) -> None:
    assert tool_calls is not None and len(tool_calls) == calls
    assert [(c.function.name, json.loads(c.function.arguments)) for c in tool_calls] == (
        EXPECTED_CALLS[:calls]
    )
    assert all(c.type == "function" and c.id for c in tool_calls)
    assert len({c.id for c in tool_calls}) == calls


@FROM_OPENAI
@pytest.mark.parametrize("mode", ["whole", "iterate", "helper"])
@pytest.mark.parametrize("calls", [1, 2], ids=["one-call", "parallel"])
def test_openai_tool_calls(gpt, gateway, fake, up, mode, calls):
    kwargs = dict(
        model=up.model,
        tools=OPENAI_TOOLS,
        messages=user(f"Weather and time in Paris. [[tools:{calls}]]"),
    )
    if mode == "whole":
        response = gpt.chat.completions.with_raw_response.create(**kwargs)
        completion = response.parse()
        request_id = response.headers["x-request-id"]
        tool_calls = completion.choices[0].message.tool_calls
        finish, usage = completion.choices[0].finish_reason, completion.usage
    elif mode == "iterate":
        response = gpt.chat.completions.with_raw_response.create(
            **kwargs, stream=True, stream_options={"include_usage": True}
        )
        chunks = list(response.parse())
        request_id = response.headers["x-request-id"]
        by_index: dict[int, dict] = {}
        for chunk in chunks:
            for choice in chunk.choices:
                for delta in choice.delta.tool_calls or []:
                    call = by_index.setdefault(delta.index, {"id": None, "name": "", "args": ""})
                    if delta.id:
                        assert call["id"] in (None, delta.id)
                        call["id"] = delta.id
                    if delta.function and delta.function.name:
                        call["name"] += delta.function.name
                    if delta.function and delta.function.arguments:
                        call["args"] += delta.function.arguments
        tool_calls = [
            openai.types.chat.ChatCompletionMessageToolCall(
                id=c["id"],
                type="function",
                function={"name": c["name"], "arguments": c["args"]},
            )
            for _, c in sorted(by_index.items())
        ]
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
        finish, usage = [f for f in finishes if f][-1], chunks[-1].usage
    else:
        with gpt.chat.completions.stream(
            **kwargs, stream_options={"include_usage": True}
        ) as stream:
            completion = stream.get_final_completion()
        request_id = None  # the helper does not expose the response headers
        tool_calls = completion.choices[0].message.tool_calls
        finish, usage = completion.choices[0].finish_reason, completion.usage

    check_openai_calls(tool_calls, calls)
    assert finish == "tool_calls"
    recorded = fake.only_request()
    body = check_upstream(up, recorded, stream=mode != "whole")
    if up.protocol == "anthropic":
        assert [(t["name"], t["input_schema"]) for t in body["tools"]] == [
            (t["name"], t["input_schema"]) for t in TOOLS
        ]
    else:
        declared = body["tools"][0]["functionDeclarations"]
        assert [d["name"] for d in declared] == ["get_weather", "get_time"]
    expected = fake_usage(up, recorded, output=TOOL_TOKENS * calls)
    check_openai_usage(up, usage, expected)
    if request_id is not None:
        check_access_log(gateway, request_id, up, "openai_chat", expected, mode != "whole")


@FROM_OPENAI
def test_openai_tool_result_second_turn(gpt, fake, up):
    question = user("Weather and time in Paris? [[tools:2]]")
    first = gpt.chat.completions.create(model=up.model, tools=OPENAI_TOOLS, messages=question)
    calls = first.choices[0].message.tool_calls
    check_openai_calls(calls, 2)
    fake.clear()

    second = gpt.chat.completions.create(
        model=up.model,
        tools=OPENAI_TOOLS,
        messages=[
            *question,
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": calls[0].id, "content": "18 degrees"},
            {"role": "tool", "tool_call_id": calls[1].id, "content": [
                {"type": "text", "text": "09:30"}
            ]},
        ],
    )

    assert second.choices[0].message.content == "Tool result received: 18 degrees\n09:30."
    assert second.choices[0].finish_reason == "stop"
    body = check_upstream(up, fake.only_request(), stream=False)
    if up.protocol == "anthropic":
        assistant, results = body["messages"][1:]
        uses = [b for b in assistant["content"] if b["type"] == "tool_use"]
        assert [(u["id"], u["name"], u["input"]) for u in uses] == [
            (c.id, c.function.name, json.loads(c.function.arguments)) for c in calls
        ]
        assert results["role"] == "user"
        blocks = [b for b in results["content"] if b["type"] == "tool_result"]
        assert [b["tool_use_id"] for b in blocks] == [c.id for c in calls]
    else:
        model_turn, result_turn = body["contents"][1:]
        assert [p["functionCall"]["name"] for p in model_turn["parts"] if "functionCall" in p] == [
            "get_weather",
            "get_time",
        ]
        assert [p["functionResponse"] for p in result_turn["parts"]] == [
            {"name": "get_weather", "response": {"result": "18 degrees"}},
            {"name": "get_time", "response": {"result": "09:30"}},
        ]


@FROM_OPENAI
def test_openai_structured_output_json_schema(gpt, fake, up):
    completion = gpt.chat.completions.create(
        model=up.model,
        messages=user("A forecast, as JSON."),
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "forecast", "schema": FORECAST_SCHEMA, "strict": True},
        },
    )

    content = completion.choices[0].message.content
    assert json.loads(content) == {"city": "sample", "days": 1, "rain": True, "hours": []}
    body = check_upstream(up, fake.only_request(), stream=False)
    if up.protocol == "anthropic":
        assert body["output_format"] == {"type": "json_schema", "schema": FORECAST_SCHEMA}
        headers = fake.only_request()["headers"]
        assert "structured-outputs" in headers["anthropic-beta"]
    else:
        config = body["generationConfig"]
        assert config["responseMimeType"] == "application/json"
        assert config["responseJsonSchema"]["properties"].keys() == FORECAST_SCHEMA[
            "properties"
        ].keys()


@FROM_OPENAI
@pytest.mark.parametrize("streamed", [False, True], ids=["parse", "stream"])
def test_openai_structured_output_parsed_by_the_sdk(gpt, up, streamed):
    kwargs = dict(model=up.model, messages=user("A forecast."), response_format=Forecast)
    if streamed:
        with gpt.chat.completions.stream(**kwargs) as stream:
            completion = stream.get_final_completion()
    else:
        completion = gpt.chat.completions.parse(**kwargs)

    assert completion.choices[0].message.parsed == Forecast(
        city="sample", days=1, rain=True, hours=[]
    )


@FROM_OPENAI
@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "stream"])
def test_openai_cached_tokens_directive(gpt, gateway, fake, up, streamed):
    kwargs = dict(model=up.model, messages=user("[[cached:40]] [[words:2]]"))
    if streamed:
        response = gpt.chat.completions.with_raw_response.create(
            **kwargs, stream=True, stream_options={"include_usage": True}
        )
        usage = list(response.parse())[-1].usage
    else:
        response = gpt.chat.completions.with_raw_response.create(**kwargs)
        usage = response.parse().usage

    expected = fake_usage(up, fake.only_request(), output=2, cached=40)
    check_openai_usage(up, usage, expected)
    check_access_log(
        gateway, response.headers["x-request-id"], up, "openai_chat", expected, streamed
    )


def test_openai_cache_control_reaches_anthropic_and_its_usage_is_billed(gpt, gateway, fake):
    up = TO_ANTHROPIC
    response = gpt.chat.completions.with_raw_response.create(
        model=up.model,
        messages=[
            {
                "role": "system",
                "content": [
                    {"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}
                ],
            },
            *user("[[words:2]]"),
        ],
    )
    completion = response.parse()

    recorded = fake.only_request()
    body = check_upstream(up, recorded, stream=False)
    assert body["system"] == [
        {"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}
    ]
    expected = fake_usage(up, recorded, output=2, cache_control=True)
    assert (expected.cache_read, expected.cache_write) == (100, 50)
    check_openai_usage(up, completion.usage, expected)
    check_access_log(
        gateway, response.headers["x-request-id"], up, "openai_chat", expected, False
    )


@FROM_OPENAI
@pytest.mark.parametrize(
    ("status", "error", "client_status"),
    [
        (429, openai.RateLimitError, 429),
        (400, openai.BadRequestError, 400),
        (529, openai.InternalServerError, 503),
    ],
)
def test_openai_sees_upstream_errors_in_its_shape(gpt, gateway, up, status, error, client_status):
    if up.protocol == "gemini" and status == 529:
        status = 503  # Gemini's overloaded status
    with pytest.raises(error) as caught:
        gpt.chat.completions.create(model=up.model, messages=user(f"[[error:{status}]]"))

    err = caught.value
    assert err.status_code == client_status
    assert set(err.body) >= {"message", "type"}
    assert "injected by the fake provider" in err.body["message"]
    if status == 429:
        assert err.body["type"] == "rate_limit_error" or err.code == "rate_limit_exceeded"
    entry = gateway.access_entry(err.response.headers["x-request-id"])
    assert entry["route"] == "translated"
    assert entry["upstream_status"] == status
    assert (entry["input_tokens"], entry["output_tokens"], entry["cost_usd"]) == (0, 0, 0)


@FROM_OPENAI
def test_openai_stream_error_is_raised_by_iteration(gpt, up):
    stream = gpt.chat.completions.create(
        model=up.model, messages=user("[[words:8]] [[stream-error-after:3]]"), stream=True
    )
    with pytest.raises(openai.APIError) as caught:
        for _ in stream:
            pass

    assert caught.value.body["type"] in {"server_error", "api_error"}


@FROM_OPENAI
def test_openai_stream_error_is_raised_by_the_helper(gpt, up):
    with pytest.raises(openai.APIError):
        with gpt.chat.completions.stream(
            model=up.model, messages=user("[[words:8]] [[stream-error-after:3]]")
        ) as stream:
            stream.get_final_completion()


@FROM_OPENAI
@pytest.mark.parametrize("after", [1, 3])
@pytest.mark.parametrize("helper", [False, True], ids=["iterate", "helper"])
def test_openai_cut_stream_is_raised(gpt, up, after, helper):
    messages = user(f"[[words:8]] [[cut-after:{after}]]")
    with pytest.raises(openai.APIError) as caught:
        if helper:
            with gpt.chat.completions.stream(model=up.model, messages=messages) as stream:
                stream.get_final_completion()
        else:
            for _ in gpt.chat.completions.create(model=up.model, messages=messages, stream=True):
                pass

    # An error frame in OpenAI's shape ends the stream (no `[DONE]`), not a silent end.
    assert not isinstance(caught.value, openai.APIConnectionError)
    assert caught.value.body["type"] in {"server_error", "api_error"}


@FROM_OPENAI
def test_openai_cut_whole_body_is_raised(gpt, up):
    with pytest.raises((openai.APIError, httpx.HTTPError)):
        gpt.chat.completions.create(model=up.model, messages=user("[[words:8]] [[cut-after:1]]"))


# =============================================================================================
# Multi-turn details, limits, images and refused requests


@FROM_ANTHROPIC
def test_anthropic_thinking_history_goes_back_upstream(claude, fake, up):
    question = user("Think first. [[words:2]]")
    thinking = {"type": "enabled", "budget_tokens": 2048}
    first = claude.messages.create(
        model=up.model, max_tokens=4096, thinking=thinking, messages=question
    )
    assert [block.type for block in first.content] == ["thinking", "text"]
    fake.clear()

    with claude.messages.stream(
        model=up.model,
        max_tokens=4096,
        thinking=thinking,
        messages=[
            *question,
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            *user("And again. [[words:3]]"),
        ],
    ) as stream:
        final = stream.get_final_message()

    assert final.content[-1].text == words(3)
    body = check_upstream(up, fake.only_request(), stream=True)
    if up.protocol == "openai":
        assistant = body["messages"][1]
        assert assistant["role"] == "assistant"
        assert assistant["reasoning_content"] == THINKING_TEXT
        assert assistant["content"] == words(2)
    else:
        model_turn = body["contents"][1]
        assert model_turn["role"] == "model"
        # Reasoning without a Gemini signature goes back as a thought part, without one.
        assert model_turn["parts"] == [
            {"text": THINKING_TEXT, "thought": True},
            {"text": words(2)},
        ]


def test_openai_thinking_blocks_keep_anthropic_signatures_across_turns(gpt, fake):
    up = TO_ANTHROPIC
    question = user("Think. [[tool]]")
    first = gpt.chat.completions.create(
        model=up.model, reasoning_effort="low", tools=OPENAI_TOOLS, messages=question
    )
    message = first.choices[0].message
    blocks = getattr(message, "thinking_blocks", None)
    assert blocks and blocks[0]["type"] == "thinking"
    assert blocks[0]["thinking"] == THINKING_TEXT and blocks[0]["signature"]
    check_openai_calls(message.tool_calls, 1)
    fake.clear()

    second = gpt.chat.completions.create(
        model=up.model,
        reasoning_effort="low",
        tools=OPENAI_TOOLS,
        messages=[
            *question,
            message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": "sunny"},
        ],
    )

    assert second.choices[0].message.content == "Tool result received: sunny."
    body = check_upstream(up, fake.only_request(), stream=False)
    assistant = body["messages"][1]
    assert assistant["content"][0] == {
        "type": "thinking",
        "thinking": THINKING_TEXT,
        "signature": blocks[0]["signature"],
    }
    assert assistant["content"][-1]["type"] == "tool_use"
    assert body["thinking"]["type"] == "enabled"


@FROM_ANTHROPIC
def test_anthropic_max_tokens_and_stop_sequences(claude, fake, up):
    with claude.messages.stream(
        model=up.model,
        max_tokens=5,
        stop_sequences=["END"],
        messages=user("[[words:20]]"),
    ) as stream:
        final = stream.get_final_message()

    assert final.stop_reason == "max_tokens"
    assert final.content[0].text == words(5)
    body = check_upstream(up, fake.only_request(), stream=True)
    if up.protocol == "openai":
        assert body["max_completion_tokens"] == 5
        assert body["stop"] in (["END"], "END")
    else:
        assert body["generationConfig"]["maxOutputTokens"] == 5
        assert body["generationConfig"]["stopSequences"] == ["END"]


@FROM_OPENAI
@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "stream"])
def test_openai_length_finish_and_stop(gpt, fake, up, streamed):
    kwargs = dict(model=up.model, max_tokens=5, stop=["END"], messages=user("[[words:20]]"))
    if streamed:
        # (The SDK's stream helper raises LengthFinishReasonError by design on `length`.)
        chunks = [c for c in gpt.chat.completions.create(**kwargs, stream=True) if c.choices]
        content = "".join(c.choices[0].delta.content or "" for c in chunks)
        finish = chunks[-1].choices[0].finish_reason
    else:
        completion = gpt.chat.completions.create(**kwargs)
        content = completion.choices[0].message.content
        finish = completion.choices[0].finish_reason

    assert finish == "length"
    assert content == words(5)
    body = check_upstream(up, fake.only_request(), stream=streamed)
    if up.protocol == "anthropic":
        assert (body["max_tokens"], body["stop_sequences"]) == (5, ["END"])
    else:
        assert body["generationConfig"]["maxOutputTokens"] == 5
        assert body["generationConfig"]["stopSequences"] == ["END"]


# A 1x1 transparent PNG.
PIXEL = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


@FROM_ANTHROPIC
def test_anthropic_image_reaches_the_upstream(claude, fake, up):
    claude.messages.create(
        model=up.model,
        max_tokens=50,
        messages=[
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PIXEL},
                    },
                    {"type": "text", "text": "What is this?"},
                ],
            }
        ],
    )

    body = check_upstream(up, fake.only_request(), stream=False)
    if up.protocol == "openai":
        parts = body["messages"][0]["content"]
        assert parts[0] == {
            "type": "image_url",
            "image_url": {"url": f"data:image/png;base64,{PIXEL}"},
        }
        assert parts[1] == {"type": "text", "text": "What is this?"}
    else:
        parts = body["contents"][0]["parts"]
        assert parts[0] == {"inlineData": {"mimeType": "image/png", "data": PIXEL}}
        assert parts[1] == {"text": "What is this?"}


@FROM_OPENAI
def test_openai_image_reaches_the_upstream(gpt, fake, up):
    gpt.chat.completions.create(
        model=up.model,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {
                        "type": "image_url",
                        "image_url": {"url": f"data:image/png;base64,{PIXEL}"},
                    },
                ],
            }
        ],
    )

    body = check_upstream(up, fake.only_request(), stream=False)
    if up.protocol == "anthropic":
        blocks = body["messages"][0]["content"]
        assert blocks[1] == {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": PIXEL},
        }
    else:
        parts = body["contents"][0]["parts"]
        assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": PIXEL}}


@FROM_ANTHROPIC
def test_anthropic_cache_control_is_not_sent_to_other_vendors(claude, fake, up):
    message = claude.messages.create(
        model=up.model,
        max_tokens=50,
        system=[{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}],
        messages=user("[[words:2]]"),
    )

    assert message.content[0].text == words(2)
    body = check_upstream(up, fake.only_request(), stream=False)
    assert "cache_control" not in json.dumps(body)
    assert SYSTEM in json.dumps(body)


@FROM_OPENAI
def test_openai_untranslatable_request_is_refused_in_openai_shape(gpt, gateway, fake, up):
    with pytest.raises(openai.BadRequestError) as caught:
        gpt.chat.completions.create(model=up.model, n=2, messages=user("Two answers."))

    assert caught.value.body["message"].startswith("n: ")
    assert caught.value.body["type"] == "invalid_request_error"
    assert fake.requests() == [], "a refused request reached the upstream"
    entry = gateway.access_entry(caught.value.response.headers["x-request-id"])
    assert entry["status"] == 400


@FROM_ANTHROPIC
def test_anthropic_invalid_request_names_the_field(claude, fake, up):
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(
            model=up.model,
            max_tokens=50,
            messages=[
                {
                    "role": "user",
                    "content": [{"type": "image", "source": {"type": "base64", "data": PIXEL}}],
                }
            ],
        )

    assert caught.value.body["error"]["type"] == "invalid_request_error"
    assert "messages[0].content[0].source.media_type" in caught.value.body["error"]["message"]
    assert fake.requests() == [], "a refused request reached the upstream"


# =============================================================================================
# Forced tools, strict tools, and errors at other points of a stream


@FROM_ANTHROPIC
def test_anthropic_named_tool_choice_is_forced_upstream(claude, fake, up):
    with claude.messages.stream(
        model=up.model,
        max_tokens=500,
        tools=TOOLS,
        tool_choice={"type": "tool", "name": "get_time"},
        messages=user("What time is it?"),
    ) as stream:
        final = stream.get_final_message()

    uses = [block for block in final.content if block.type == "tool_use"]
    assert [(u.name, u.input) for u in uses] == [EXPECTED_CALLS[1]]
    assert final.stop_reason == "tool_use"
    body = check_upstream(up, fake.only_request(), stream=True)
    if up.protocol == "openai":
        assert body["tool_choice"] == {"type": "function", "function": {"name": "get_time"}}
    else:
        assert body["toolConfig"]["functionCallingConfig"] == {
            "mode": "ANY",
            "allowedFunctionNames": ["get_time"],
        }


class TimeQuery(pydantic.BaseModel):
    zone: str
    hour24: bool


@FROM_OPENAI
def test_openai_required_strict_tool_is_parsed_by_the_helper(gpt, fake, up):
    with gpt.chat.completions.stream(
        model=up.model,
        tools=[openai.pydantic_function_tool(TimeQuery, name="get_time")],
        tool_choice="required",
        messages=user("What time is it?"),
    ) as stream:
        final = stream.get_final_completion()

    calls = final.choices[0].message.tool_calls
    assert len(calls) == 1 and calls[0].function.name == "get_time"
    assert calls[0].function.parsed_arguments == TimeQuery(zone="sample", hour24=True)
    body = check_upstream(up, fake.only_request(), stream=True)
    if up.protocol == "anthropic":
        assert body["tool_choice"]["type"] == "any"
    else:
        assert body["toolConfig"]["functionCallingConfig"]["mode"] == "ANY"


@FROM_ANTHROPIC
@pytest.mark.parametrize("after", [1, 2, 4])
def test_anthropic_stream_error_during_tool_calls_is_raised(claude, up, after):
    with pytest.raises(anthropic.APIStatusError) as caught:
        with claude.messages.stream(
            model=up.model,
            max_tokens=500,
            tools=TOOLS,
            messages=user(f"[[thinking]] [[tools:2]] [[stream-error-after:{after}]]"),
        ) as stream:
            stream.get_final_message()

    assert caught.value.body["type"] == "error"


@FROM_OPENAI
@pytest.mark.parametrize("after", [1, 2, 4])
def test_openai_stream_error_during_tool_calls_is_raised(gpt, up, after):
    with pytest.raises(openai.APIError) as caught:
        with gpt.chat.completions.stream(
            model=up.model,
            tools=OPENAI_TOOLS,
            messages=user(f"[[thinking]] [[tools:2]] [[stream-error-after:{after}]]"),
        ) as stream:
            stream.get_final_completion()

    assert not isinstance(caught.value, openai.APIConnectionError)
