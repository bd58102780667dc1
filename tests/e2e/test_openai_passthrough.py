"""OpenAI SDK through the gateway to an OpenAI upstream (passthrough).

Covers chat completions plain and streamed (with and without the usage chunk the client asked
for), tool calls, the Responses API, embeddings, image generation, account headers kept from the
upstream, answers that leave uncompressed, and the upstream credential swap.
"""

from __future__ import annotations

import base64
import json
import math

import httpx
import openai

from harness import (
    FAKE_NAME,
    GPT_UPSTREAM,
    MAIN_KEY,
    OPENAI_CREDENTIAL,
    all_header_values,
    expected_cost_usd,
    openai_headers,
)

MODEL = "gpt-5-4"
PRICING = {"input": "2.50", "output": "10.00", "cacheRead": "0.25"}
DEFAULT_REPLY = f"Hello from {FAKE_NAME} via openai-chat for {GPT_UPSTREAM}."
USER = [{"role": "user", "content": "Say hello."}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather of a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
        },
    },
}


def upstream_input_tokens(recorded: dict) -> int:
    return math.ceil(int(recorded["headers"]["content-length"]) / 4)


def test_chat_completion_reaches_the_rewritten_model(openai_client, fake):
    completion = openai_client.chat.completions.create(model=MODEL, messages=USER)

    assert completion.choices[0].message.content == DEFAULT_REPLY
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == GPT_UPSTREAM
    assert completion.usage.completion_tokens == 7
    upstream = fake.only_request()
    assert upstream["path"] == "/v1/chat/completions"
    assert upstream["body"] == {"model": GPT_UPSTREAM, "messages": USER}


def test_alias_resolves_to_the_targets_model(openai_client, fake):
    completion = openai_client.chat.completions.create(model="gpt-4o", messages=USER)

    assert completion.choices[0].message.content == DEFAULT_REPLY
    assert fake.only_request()["body"]["model"] == GPT_UPSTREAM


def test_stream_without_stream_options_hides_the_usage_chunk_but_bills_it(
    openai_client, gateway, fake
):
    response = openai_client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "[[words:5]]"}], stream=True
    )
    chunks = list(response.parse())

    assert chunks, "the stream was empty"
    assert all(chunk.choices for chunk in chunks), "a chunk with empty choices reached the client"
    assert all(chunk.usage is None for chunk in chunks)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert text == "word1 word2 word3 word4 word5"
    assert chunks[-1].choices[0].finish_reason == "stop"
    upstream = fake.only_request()
    assert upstream["body"]["stream_options"] == {"include_usage": True}
    entry = gateway.access_entry(response.headers["x-request-id"])
    assert entry["stream"] is True
    assert entry["output_tokens"] == 5
    assert entry["input_tokens"] == upstream_input_tokens(upstream)


def test_stream_with_include_usage_delivers_the_usage_chunk(openai_client, fake):
    stream = openai_client.chat.completions.create(
        model=MODEL, messages=USER, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)

    usage_chunks = [chunk for chunk in chunks if not chunk.choices]
    assert len(usage_chunks) == 1
    assert usage_chunks[0] is chunks[-1]
    assert usage_chunks[0].usage.completion_tokens == 7
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == DEFAULT_REPLY
    assert fake.only_request()["body"]["stream_options"] == {"include_usage": True}


def test_stream_options_the_client_set_are_kept(openai_client, fake):
    stream = openai_client.chat.completions.create(
        model=MODEL,
        messages=USER,
        stream=True,
        stream_options={"include_usage": False, "include_obfuscation": False},
    )
    chunks = list(stream)

    assert all(chunk.choices for chunk in chunks)
    sent = fake.only_request()["body"]["stream_options"]
    assert sent == {"include_usage": True, "include_obfuscation": False}


def test_tool_call_carries_arguments_built_from_the_schema(openai_client):
    completion = openai_client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Weather in Paris? [[tool]]"}],
        tools=[WEATHER_TOOL],
    )

    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "sample", "unit": "celsius"}


def test_streamed_tool_call_arguments_arrive_whole(openai_client):
    stream = openai_client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "Weather in Paris? [[tool]]"}],
        tools=[WEATHER_TOOL],
        stream=True,
    )
    names, arguments = [], ""
    for chunk in stream:
        for call in chunk.choices[0].delta.tool_calls or []:
            if call.function.name:
                names.append(call.function.name)
            arguments += call.function.arguments or ""

    assert names == ["get_weather"]
    assert json.loads(arguments) == {"city": "sample", "unit": "celsius"}


def test_responses_api_is_passed_through(openai_client, fake):
    response = openai_client.responses.create(model=MODEL, input="Say hello.")

    assert GPT_UPSTREAM in response.output_text
    upstream = fake.only_request()
    assert upstream["path"] == "/v1/responses"
    assert upstream["body"]["model"] == GPT_UPSTREAM


def test_embeddings_are_passed_through(openai_client, gateway, fake):
    response = openai_client.embeddings.with_raw_response.create(
        model="text-embedding-3-small", input=["first text", "second text"]
    )
    embeddings = response.parse()

    assert [item.index for item in embeddings.data] == [0, 1]
    for item in embeddings.data:
        assert len(item.embedding) == 8
        assert math.isclose(sum(x * x for x in item.embedding), 1.0, rel_tol=1e-4)
    assert embeddings.data[0].embedding != embeddings.data[1].embedding
    upstream = fake.only_request()
    assert upstream["path"] == "/v1/embeddings"
    entry = gateway.access_entry(response.headers["x-request-id"])
    assert entry["input_tokens"] == embeddings.usage.prompt_tokens > 0


def test_image_generation_is_passed_through(openai_client, fake):
    images = openai_client.images.generate(model="gpt-image-1", prompt="a red square", n=2)

    assert len(images.data) == 2
    assert base64.b64decode(images.data[0].b64_json)[1:4] == b"PNG"
    upstream = fake.only_request()
    assert upstream["path"] == "/v1/images/generations"
    assert upstream["body"]["prompt"] == "a red square"


def test_organization_and_project_are_accepted_and_not_forwarded(gateway, fake):
    client = openai.OpenAI(
        base_url=f"{gateway.url}/v1",
        api_key=MAIN_KEY,
        organization="org-e2e-client",
        project="proj_e2e_client",
        max_retries=0,
        timeout=20,
    )
    with client:
        response = client.chat.completions.with_raw_response.create(model=MODEL, messages=USER)
        completion = response.parse()

    assert response.http_request.headers["openai-organization"] == "org-e2e-client"
    assert completion.choices[0].message.content == DEFAULT_REPLY
    headers = fake.only_request()["headers"]
    assert "openai-organization" not in headers
    assert "openai-project" not in headers
    assert not [v for v in headers.values() if "e2e_client" in v or "e2e-client" in v]


def test_answers_leave_uncompressed_whatever_the_client_accepts(gateway, fake):
    # The gateway reads usage from every answer as it passes, so it asks vendors for identity
    # and compresses nothing itself, whatever the client offers to decode.
    headers = openai_headers(**{"accept-encoding": "gzip, deflate, br, zstd"})
    for stream in (False, True):
        body = {"model": MODEL, "messages": USER, "stream": stream}
        with httpx.stream("POST", f"{gateway.url}/v1/chat/completions", json=body,
                          headers=headers, timeout=20) as response:
            raw = b"".join(response.iter_raw())
        assert response.status_code == 200
        assert "content-encoding" not in response.headers
        if stream:
            assert raw.startswith(b"data: {") and raw.endswith(b"data: [DONE]\n\n")
        else:
            assert json.loads(raw)["choices"][0]["message"]["content"] == DEFAULT_REPLY

    recorded = fake.requests()
    assert len(recorded) == 2
    assert [r["headers"]["accept-encoding"] for r in recorded] == ["identity", "identity"]


def test_upstream_gets_the_provider_credential_never_the_client_key(openai_client, fake):
    openai_client.chat.completions.create(model=MODEL, messages=USER)
    list(openai_client.chat.completions.create(model=MODEL, messages=USER, stream=True))
    openai_client.embeddings.create(model="text-embedding-3-small", input="x")
    openai_client.images.generate(model="gpt-image-1", prompt="x")

    recorded = fake.requests()
    assert len(recorded) == 4
    for request in recorded:
        assert request["headers"]["authorization"] == f"Bearer {OPENAI_CREDENTIAL}"
        assert "x-api-key" not in request["headers"]
    assert not [v for v in all_header_values(recorded) if MAIN_KEY in v]


def test_access_log_line_names_the_key_and_the_tokens(openai_client, gateway, fake):
    response = openai_client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": "[[words:4]] [[cached:20]]"}]
    )
    completion = response.parse()

    assert completion.usage.completion_tokens == 4
    assert completion.usage.prompt_tokens_details.cached_tokens == 20
    entry = gateway.access_entry(response.headers["x-request-id"])
    prompt = upstream_input_tokens(fake.only_request())
    assert entry["key"] == "default/e2e-main"
    assert entry["status"] == 200
    assert entry["client_protocol"] == "openai_chat"
    assert entry["provider"] == "openai"
    assert entry["output_tokens"] == 4
    assert entry["cache_read_tokens"] == 20
    assert entry["input_tokens"] == prompt - 20
    assert entry["cost_usd"] == expected_cost_usd(
        PRICING, input=prompt - 20, output=4, cacheRead=20
    )
