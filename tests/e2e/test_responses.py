"""The OpenAI Responses API through the gateway with the official `openai` SDK: passthrough to
an OpenAI-protocol upstream and translation to Anthropic- and Gemini-protocol upstreams, plain
and streamed, text and function-call turns, and a two-turn tool loop."""

from __future__ import annotations

import json

import openai
import pytest

from harness import TRANSLATE_KEY, TR_CLAUDE_UPSTREAM, TR_GEMINI_UPSTREAM, TR_GPT_UPSTREAM

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}

# model id -> (upstream model name, path the fake provider should see)
ROUTES = {
    "tr-gpt": (TR_GPT_UPSTREAM, "/v1/responses"),
    "tr-claude": (TR_CLAUDE_UPSTREAM, "/v1/messages"),
    "tr-gemini": (TR_GEMINI_UPSTREAM, f"/v1beta/models/{TR_GEMINI_UPSTREAM}:generateContent"),
}


@pytest.fixture
def client(gateway) -> openai.OpenAI:
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key=TRANSLATE_KEY, max_retries=0, timeout=20) as c:
        yield c


def upstream_path(fake) -> str:
    return fake.only_request()["path"].split("?")[0]


@pytest.mark.parametrize("model", list(ROUTES))
def test_create_text(client, fake, model):
    response = client.responses.create(model=model, input="Say hello.", store=False)
    upstream_model, path = ROUTES[model]
    assert response.status == "completed"
    assert response.output_text.startswith("Hello from ")
    assert upstream_model in response.output_text, "the upstream received the target's model name"
    assert response.usage.output_tokens == 7
    assert response.usage.input_tokens > 0
    assert upstream_path(fake) == path


@pytest.mark.parametrize("model", list(ROUTES))
def test_stream_final_response(client, fake, model):
    deltas: list[str] = []
    with client.responses.stream(model=model, input="Say hello.", store=False) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = stream.get_final_response()
    assert final.status == "completed"
    assert "".join(deltas) == final.output_text
    assert final.output_text.startswith("Hello from ")
    assert final.usage is not None and final.usage.output_tokens == 7
    recorded = fake.only_request()
    assert recorded["body"].get("stream") is True or ":streamGenerateContent" in recorded["path"]


@pytest.mark.parametrize("model", list(ROUTES))
def test_two_turn_tool_loop(client, fake, model):
    first = client.responses.create(
        model=model, input="What is the weather in Paris? [[tool]]", tools=[WEATHER_TOOL], store=False
    )
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1, first.output
    call = calls[0]
    assert call.name == "get_weather"
    assert json.loads(call.arguments) == {"city": "sample"}
    assert call.call_id

    fake.clear()
    second = client.responses.create(
        model=model,
        tools=[WEATHER_TOOL],
        store=False,
        input=[
            {"role": "user", "content": "What is the weather in Paris? [[tool]]"},
            {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
            {"type": "function_call_output", "call_id": call.call_id, "output": "Sunny, 21 C"},
        ],
    )
    assert second.output_text == "Tool result received: Sunny, 21 C."
    upstream_body = json.dumps(fake.only_request()["body"])
    assert call.call_id in upstream_body or model == "tr-gemini", "the call id reaches the upstream"
    assert "Sunny, 21 C" in upstream_body


@pytest.mark.parametrize("model", list(ROUTES))
def test_streamed_function_call(client, model):
    with client.responses.stream(
        model=model, input="Weather in Paris and Rome? [[tool]]", tools=[WEATHER_TOOL], store=False
    ) as stream:
        argument_deltas = [e.delta for e in stream if e.type == "response.function_call_arguments.delta"]
        final = stream.get_final_response()
    calls = [item for item in final.output if item.type == "function_call"]
    assert [c.name for c in calls] == ["get_weather"]
    assert "".join(argument_deltas) == calls[0].arguments


def test_previous_response_id_is_refused_with_advice(client, fake):
    # Translated routes keep no server-side state (passthrough leaves it to the OpenAI upstream).
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="tr-claude", input="Go on.", previous_response_id="resp_123")
    assert "store" in str(err.value) and "input" in str(err.value)
    assert fake.requests() == [], "a refused request never reaches the upstream"


def test_access_log_marks_translated_and_passthrough(client, gateway):
    translated = client.responses.with_raw_response.create(model="tr-claude", input="Hi", store=False)
    passthrough = client.responses.with_raw_response.create(model="tr-gpt", input="Hi", store=False)
    t = gateway.access_entry(translated.headers["x-request-id"])
    p = gateway.access_entry(passthrough.headers["x-request-id"])
    assert (t["route"], t["client_protocol"], t["upstream_protocol"]) == ("translated", "openai_responses", "anthropic")
    assert (p["route"], p["upstream_protocol"]) == ("passthrough", "openai_responses")
    assert t["output_tokens"] == 7 and p["output_tokens"] == 7


def test_client_headers_forwarded_on_passthrough_and_dropped_on_translation(client, fake):
    codex_headers = {"originator": "codex_cli_rs", "session_id": "0199-session", "OpenAI-Beta": "responses=v1"}
    client.responses.create(model="tr-gpt", input="Hi", store=False, extra_headers=codex_headers)
    passed = fake.only_request()["headers"]
    assert passed["originator"] == "codex_cli_rs" and passed["session_id"] == "0199-session"

    fake.clear()
    client.responses.create(model="tr-claude", input="Hi", store=False, extra_headers=codex_headers)
    translated = fake.only_request()["headers"]
    assert "originator" not in translated and "session_id" not in translated and "openai-beta" not in translated
    assert translated["anthropic-version"] == "2023-06-01"
    assert not any(name.startswith("x-stainless") for name in translated), "SDK telemetry stays with its vendor"
