"""Session fixtures: one fake provider and one gateway for the whole run, plain and SDK clients
on the gateway, and a clean fake-provider log for every test.

The binaries are not built here: run `cargo build --workspace --bins` first, or point
`BYTESPIKE_TARGET_DIR` at a directory holding `bytespike-gateway` and `bytespike-fake-provider`.
"""

from __future__ import annotations

from pathlib import Path

import anthropic
import httpx
import openai
import pytest

from harness import (
    MAIN_KEY,
    MAX_BODY_BYTES,
    FakeProvider,
    Gateway,
    require_binaries,
    write_config,
)


@pytest.fixture(scope="session")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def fake(workdir):
    require_binaries()
    provider = FakeProvider(workdir)
    yield provider
    provider.stop()


@pytest.fixture(scope="session")
def gateway(workdir, fake):
    config_dir = workdir / "config"
    write_config(config_dir, fake.url)
    gw = Gateway(workdir, config_dir, "--max-body-bytes", str(MAX_BODY_BYTES))
    yield gw
    gw.stop()


@pytest.fixture(scope="session")
def start_gateway(workdir, fake):
    """Starts extra gateways (own config directory) for tests that rewrite their config."""
    started: list[Gateway] = []

    def start(name: str, *extra_args: str) -> Gateway:
        config_dir = workdir / name
        write_config(config_dir, fake.url)
        gw = Gateway(workdir, config_dir, *extra_args)
        started.append(gw)
        return gw

    yield start
    for gw in started:
        gw.stop()


@pytest.fixture(autouse=True)
def clean_fake(fake):
    """Each test starts with an empty request log and the fake provider's default behaviour."""
    fake.clear()
    fake.reset_mode()


# ---------------------------------------------------------------------------------------------
# Clients


@pytest.fixture
def anthropic_client(gateway) -> anthropic.Anthropic:
    client = anthropic.Anthropic(base_url=gateway.url, api_key=MAIN_KEY, max_retries=0, timeout=20)
    yield client
    client.close()


@pytest.fixture
def openai_client(gateway) -> openai.OpenAI:
    client = openai.OpenAI(
        base_url=f"{gateway.url}/v1", api_key=MAIN_KEY, max_retries=0, timeout=20
    )
    yield client
    client.close()


@pytest.fixture
def http(gateway) -> httpx.Client:
    """A plain HTTP/1.1 client on the gateway, for what the SDKs hide."""
    client = httpx.Client(base_url=gateway.url, timeout=20)
    yield client
    client.close()


