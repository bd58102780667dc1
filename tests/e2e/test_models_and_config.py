"""Model listings and live config reload.

`GET /v1/models` answers in the caller's shape (OpenAI's, or Anthropic's when the caller sends
`anthropic-version`), marks aliases, and lists only the models of the calling key's groups; both
SDKs read it. A separate gateway with its own config directory shows edits taking effect without
a restart: a new key starts working, a broken file leaves the last good config serving, a removed
key stops working.
"""

from __future__ import annotations

import anthropic
import httpx
import openai
import pytest

from harness import (
    MAIN_KEY,
    OTHER_KEY,
    anthropic_headers,
    api_key_yaml,
    openai_headers,
    wait_until,
)

MAIN_GROUP_IDS = {
    "claude-sonnet-4-6",
    "claude-3-5-sonnet-20241022",
    "claude-sonnet-4-20250514",
    "gpt-5-4",
    "gpt-4o",
    "text-embedding-3-small",
    "gpt-image-1",
    "claude-h2",
    "gpt-h2",
    "claude-slow",
    "gpt-slow",
    "claude-dead",
    "gpt-dead",
}
ALIASES = {
    "claude-3-5-sonnet-20241022": "claude-sonnet-4-6",
    "claude-sonnet-4-20250514": "claude-sonnet-4-6",
    "gpt-4o": "gpt-5-4",
}
RELOAD_DEADLINE = 3.0


def test_openai_shape_without_anthropic_version(http, fake):
    response = http.get("/v1/models", headers=openai_headers())

    assert response.status_code == 200
    listing = response.json()
    assert listing["object"] == "list"
    assert {model["id"] for model in listing["data"]} == MAIN_GROUP_IDS
    for model in listing["data"]:
        assert model["object"] == "model"
        assert isinstance(model["created"], int)
        assert model["owned_by"] in {"anthropic", "openai"}
        assert model.get("alias_of") == ALIASES.get(model["id"])
    assert fake.requests() == [], "listings are answered by the gateway itself"


def test_anthropic_shape_with_anthropic_version(http):
    response = http.get("/v1/models", headers=anthropic_headers())

    assert response.status_code == 200
    listing = response.json()
    assert "object" not in listing
    assert listing["has_more"] is False
    ids = [model["id"] for model in listing["data"]]
    assert set(ids) == MAIN_GROUP_IDS
    assert (listing["first_id"], listing["last_id"]) == (ids[0], ids[-1])
    for model in listing["data"]:
        assert model["type"] == "model"
        assert model["display_name"]
        assert model["created_at"].endswith("Z")
        assert model.get("alias_of") == ALIASES.get(model["id"])


def test_only_the_keys_groups_are_listed(http):
    response = http.get("/v1/models", headers=openai_headers(OTHER_KEY))

    assert response.status_code == 200
    assert {model["id"] for model in response.json()["data"]} == {"claude-haiku-4-5", "gpt-5-5"}


def test_listing_needs_a_valid_key(http):
    response = http.get("/v1/models", headers=openai_headers("bsk-not-a-key"))

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_single_model_lookup(http):
    found = http.get("/v1/models/gpt-4o", headers=openai_headers())
    hidden = http.get("/v1/models/claude-haiku-4-5", headers=anthropic_headers())

    assert found.status_code == 200
    assert found.json() == {
        "id": "gpt-4o",
        "object": "model",
        "created": found.json()["created"],
        "owned_by": "openai",
        "alias_of": "gpt-5-4",
    }
    assert hidden.status_code == 404
    assert hidden.json()["error"]["type"] == "not_found_error"


def test_openai_sdk_lists_and_retrieves_models(openai_client):
    ids = {model.id for model in openai_client.models.list()}
    model = openai_client.models.retrieve("gpt-5-4")

    assert ids == MAIN_GROUP_IDS
    assert (model.id, model.owned_by) == ("gpt-5-4", "openai")


def test_anthropic_sdk_lists_and_retrieves_models(anthropic_client):
    ids = {model.id for model in anthropic_client.models.list()}
    model = anthropic_client.models.retrieve("claude-sonnet-4-6")

    assert ids == MAIN_GROUP_IDS
    assert (model.id, model.type) == ("claude-sonnet-4-6", "model")


# ---------------------------------------------------------------------------------------------
# Live reload

NEW_KEY = "bsk-e2e-live-reload-6b0d8e31"


@pytest.fixture(scope="module")
def reloading_gateway(start_gateway):
    return start_gateway("reload-config", "--reload-interval", "100ms")


def chat_status(gateway, key: str) -> int:
    response = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        json={"model": "gpt-5-4", "messages": [{"role": "user", "content": "hi"}]},
        headers=openai_headers(key),
        timeout=10,
    )
    return response.status_code


def wait_for_status(gateway, key: str, status: int) -> None:
    wait_until(
        lambda: chat_status(gateway, key) == status,
        RELOAD_DEADLINE,
        f"the key to answer {status} after a config edit",
    )


def test_reload_adds_breaks_and_removes_config(reloading_gateway):
    gateway = reloading_gateway
    key_file = gateway.config_dir / "live-key.yaml"
    broken_file = gateway.config_dir / "broken.yaml"
    assert chat_status(gateway, NEW_KEY) == 401

    key_file.write_text(api_key_yaml("e2e-live", NEW_KEY, "main"))
    wait_for_status(gateway, NEW_KEY, 200)
    assert chat_status(gateway, MAIN_KEY) == 200

    try:
        broken_file.write_text("apiVersion: v1\nkind: [unclosed\n  : : :\n")
        key_file.unlink()
        # The broken file keeps the last good config (with the new key) serving.
        wait_until(
            lambda: "config is invalid" in gateway.log_path.read_text(),
            RELOAD_DEADLINE,
            "the gateway to report the invalid config",
        )
        assert chat_status(gateway, NEW_KEY) == 200
        assert chat_status(gateway, MAIN_KEY) == 200
        assert gateway.readyz() == 200
    finally:
        broken_file.unlink(missing_ok=True)

    # Once the directory is valid again, the key's removal takes effect.
    wait_for_status(gateway, NEW_KEY, 401)
    assert chat_status(gateway, MAIN_KEY) == 200
    assert gateway.readyz() == 200


def test_reload_changes_a_keys_groups(reloading_gateway):
    gateway = reloading_gateway
    key_file = gateway.config_dir / "group-change.yaml"
    try:
        key_file.write_text(api_key_yaml("e2e-regroup", NEW_KEY, "restricted"))
        wait_for_status(gateway, NEW_KEY, 403)
        key_file.write_text(api_key_yaml("e2e-regroup", NEW_KEY, "main"))
        wait_for_status(gateway, NEW_KEY, 200)
    finally:
        key_file.unlink(missing_ok=True)
    wait_for_status(gateway, NEW_KEY, 401)


def test_sdk_picks_up_a_new_key_without_restart(reloading_gateway):
    gateway = reloading_gateway
    key_file = gateway.config_dir / "sdk-key.yaml"
    client = anthropic.Anthropic(base_url=gateway.url, api_key=NEW_KEY, max_retries=0, timeout=10)
    try:
        with pytest.raises(anthropic.AuthenticationError):
            client.models.list()
        key_file.write_text(api_key_yaml("e2e-sdk", NEW_KEY, "main"))
        wait_for_status(gateway, NEW_KEY, 200)
        assert "claude-sonnet-4-6" in {model.id for model in client.models.list()}
        with openai.OpenAI(
            base_url=f"{gateway.url}/v1", api_key=NEW_KEY, max_retries=0, timeout=10
        ) as oa:
            assert oa.chat.completions.create(
                model="gpt-5-4", messages=[{"role": "user", "content": "hi"}]
            ).choices
    finally:
        client.close()
        key_file.unlink(missing_ok=True)
    wait_for_status(gateway, NEW_KEY, 401)
